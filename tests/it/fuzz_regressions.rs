//! The fuzz corpus as ordinary tests: every input kept in
//! `fuzz/corpus/TARGET/` (the seeds, and each finding of `fuzz/run.sh` kept
//! as a regression case, docs/security.md's findings log) runs through the
//! same target body libFuzzer runs, without libFuzzer: none may panic or
//! take longer than libFuzzer's `-timeout`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use squall::rules::{MatchContext, Rule};

/// `fuzz/run.sh` passes `-timeout=10`.
const TIMEOUT: Duration = Duration::from_secs(10);

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_fuzz_input_runs_through_its_target() {
    for (target, run) in squall_fuzz::TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target}/ has no seeds");
        for file in files {
            let input = std::fs::read(&file).expect("a corpus file");
            let start = Instant::now();
            run(&input);
            let took = start.elapsed();
            assert!(took < TIMEOUT, "{}: took {took:?}", file.display());
        }
    }
}

#[test]
fn every_corpus_directory_is_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for entry in std::fs::read_dir(&root).expect("fuzz/corpus") {
        let name = entry.expect("a directory entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            squall_fuzz::TARGETS.iter().any(|(target, _)| *target == name),
            "fuzz/corpus/{name}/ belongs to no target in squall_fuzz::TARGETS"
        );
    }
}

#[test]
fn run_sh_and_the_binaries_name_every_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let script = std::fs::read_to_string(fuzz.join("run.sh")).expect("fuzz/run.sh");
    let listed = script
        .lines()
        .find_map(|line| line.strip_prefix("targets=("))
        .and_then(|rest| rest.strip_suffix(')'))
        .expect("fuzz/run.sh has a `targets=(...)` line");
    let names: Vec<&str> = squall_fuzz::TARGETS.iter().map(|(name, _)| *name).collect();
    assert_eq!(listed.split_whitespace().collect::<Vec<_>>(), names, "fuzz/run.sh's targets");
    for name in names {
        let binary = fuzz.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(binary.is_file(), "no {}", binary.display());
    }
}

/// A finding kept: nested loops over `range(100000)` in a rule's template
/// ran for hours on an engine thread. Every render now has a bound
/// (minijinja's fuel, `squall::rules::TEMPLATE_FUEL`), and running out is
/// a render error like any other.
#[test]
fn a_template_that_would_loop_for_hours_runs_out_of_fuel() {
    let spin = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
    let yaml = format!(
        "name: spin\npack: tests\ntrigger: {{type: core.webhook}}\n\
         criteria: {{trigger.v: {{type: equals, pattern: '{spin}'}}}}\n\
         action: {{ref: core.echo, parameters: {{message: '{spin}'}}}}\n"
    );
    let rule = Rule::from_yaml(&yaml, "spin.yaml").expect("the rule loads");
    let context = MatchContext::without_datastore(jiff::Timestamp::UNIX_EPOCH);
    let payload = serde_json::json!({"v": "x"});
    let start = Instant::now();
    assert!(!rule.matches(&payload, &context), "a pattern that runs out of fuel does not match");
    let error = rule.render_parameters(&payload, &context).expect_err("out of fuel");
    assert!(error.to_string().contains("fuel"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

/// A finding kept: string concatenation in a template doubled a 100 MB
/// string until it asked for gigabytes (fuel counts instructions, not
/// bytes). Every render now has a byte budget
/// (`squall::rules::RENDER_BYTES`), charged before anything is built.
#[test]
fn a_template_that_would_build_gigabytes_runs_out_of_its_byte_budget() {
    let context = MatchContext::without_datastore(jiff::Timestamp::UNIX_EPOCH);
    let payload = serde_json::json!({"v": "x", "body": "y".repeat(1 << 20)});
    let budget = format!("{} MiB", squall::rules::RENDER_BYTES >> 20);
    for (what, template) in [
        ("a folded constant", r#"{{ ("a" * 9999 * 9999) | length }}"#),
        ("repetition", r#"{{ ("a" * 99999999 * (trigger.v | length)) | length }}"#),
        (
            "doubling",
            "{% set x = trigger.body %}{% for i in range(40) %}{% set x = x ~ x %}{% endfor %}{{ x | length }}",
        ),
        (
            "addition",
            "{% set x = trigger.body %}{% for i in range(40) %}{% set x = x + x %}{% endfor %}{{ x | length }}",
        ),
        (
            "a macro",
            "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{{ d(d(d(d(d(d(trigger.body)))))) | length }}",
        ),
        ("a lazy list", "{{ ([trigger.body] * 1000) | join(',') | length }}"),
        ("a list as JSON", "{{ ([trigger.body] * 1000) | tojson | length }}"),
        ("a list as text", "{{ [trigger.body] * 1000 }}"),
        ("replace", "{{ trigger.body | replace('y', trigger.body) | length }}"),
        ("a printf width", "{{ '%999999999s' | format('x') | length }}"),
        ("output in a loop", "{% for i in range(1000) %}{{ trigger.body }}{% endfor %}"),
    ] {
        let yaml = format!(
            "name: big\npack: tests\ntrigger: {{type: core.webhook}}\n\
             action: {{ref: core.echo, parameters: {{message: '{}'}}}}\n",
            template.replace('\'', "''")
        );
        let start = Instant::now();
        // A constant the compiler would fold is refused when the rule
        // loads; the rest when it renders.
        let error = match Rule::from_yaml(&yaml, "big.yaml") {
            Ok(rule) => rule.render_parameters(&payload, &context).expect_err(what).to_string(),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(&budget), "{what}: {error}");
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: took {:?}", start.elapsed());
    }
    // The checked operators cannot be replaced from inside a template.
    let yaml = "name: r\npack: tests\ntrigger: {type: core.webhook}\n\
                action: {ref: core.echo, parameters: {message: '{% macro __squall_concat(a, b) %}{% endmacro %}{{ trigger.v ~ trigger.v }}'}}\n";
    let error = Rule::from_yaml(yaml, "r.yaml").expect_err("reserved names are refused");
    assert!(error.to_string().contains("names starting with `__squall_` are reserved"), "{error}");
    // What templates ordinarily do is well inside it.
    let yaml = "name: ok\npack: tests\ntrigger: {type: core.webhook}\n\
                action: {ref: core.echo, parameters: {message: '{{ (trigger.body ~ \"!\") | length }} {{ [1, 2] + [3] }} {{ 2 * 3 }} {{ \"ab\" * 2 }}'}}\n";
    let rule = Rule::from_yaml(yaml, "ok.yaml").expect("the rule loads");
    let rendered = rule.render_parameters(&payload, &context).expect("renders");
    assert_eq!(rendered["message"], format!("{} [1, 2, 3] 6 abab", (1 << 20) + 1));
}
