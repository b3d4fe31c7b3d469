//! `squall run`, driven in-process through `squall::cli::execute`.

use expect_test::{Expect, expect};
use squall_tests::{CORE_PACK, HOSTILE_GUEST, NO_ACTION_GUEST, run_cli};

/// Runs the CLI with `args` after `squall run --cache-dir <tmp>` and renders
/// exit status, stdout and stderr, with paths replaced by names.
fn check(args: &[&str], expected: Expect) {
    let cache = tempfile::tempdir().expect("cache dir");
    let mut argv = vec!["run", "--cache-dir", cache.path().to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    let rendered = run_cli(&argv)
        .replace(CORE_PACK, "CORE")
        .replace(HOSTILE_GUEST, "HOSTILE")
        .replace(NO_ACTION_GUEST, "NO_ACTION");
    expected.assert_eq(&rendered);
}

#[test]
fn echo_prints_its_message_as_json() {
    check(
        &["--component", CORE_PACK, "echo", "message=hi"],
        expect![[r#"
            exit 0
            stdout: {"message":"hi"}
            stderr: "#]],
    );
}

#[test]
fn values_are_json_where_they_parse() {
    check(
        &["--component", CORE_PACK, "core.sleep", "seconds=0.01"],
        expect![[r#"
            exit 0
            stdout: {"slept_seconds":0.01}
            stderr: "#]],
    );
}

#[test]
fn an_action_error_exits_1_with_one_line() {
    check(
        &["--component", CORE_PACK, "core.fail", "message=disk full"],
        expect![[r#"
            exit 1
            stdout: stderr: error: core.fail: failed: disk full
        "#]],
    );
}

#[test]
fn logs_go_to_stderr() {
    check(
        &["--component", HOSTILE_GUEST, "chatter", "lines=2", "bytes=8"],
        expect![[r#"
            exit 0
            stdout: {"written":2}
            stderr: [info] line 0 .
            [info] line 1 .
        "#]],
    );
}

#[test]
fn the_deadline_and_memory_flags_apply() {
    check(
        &["--component", HOSTILE_GUEST, "--timeout", "200ms", "spin"],
        expect![[r#"
            exit 1
            stdout: stderr: error: guest_hostile.spin: timed out after 200ms
        "#]],
    );
    check(
        &["--component", HOSTILE_GUEST, "--memory", "8MiB", "bomb"],
        expect![[r#"
            exit 1
            stdout: stderr: error: guest_hostile.bomb: memory limit exceeded: the pack asked for 8454144 bytes, the cap is 8388608 bytes
        "#]],
    );
}

#[test]
fn unusable_input_exits_2_with_one_line() {
    check(
        &["--component", "Cargo.toml", "echo"],
        expect![[r#"
            exit 2
            stdout: stderr: error: Cargo.toml: not a WebAssembly file (it does not start with the `\0asm` magic bytes)
        "#]],
    );
    check(
        &["--component", CORE_PACK, "echo", "message"],
        expect![[r#"
            exit 2
            stdout: stderr: error: parameter `message`: expected KEY=VALUE
        "#]],
    );
    check(
        &["--component", CORE_PACK, "--timeout", "soon", "echo"],
        expect![[r#"
            exit 2
            stdout: stderr: error: invalid value 'soon' for '--timeout <TIMEOUT>': expected number at 0

            For more information, try '--help'.
        "#]],
    );
}

#[test]
fn a_component_without_actions_says_so() {
    check(
        &["--component", NO_ACTION_GUEST, "echo"],
        expect![[r#"
            exit 2
            stdout: stderr: error: guest_no_action.wasm: does not export `squall:pack/action@0.1.0`, so it has no actions to run
        "#]],
    );
}

#[test]
fn completion_scripts_name_the_subcommands() {
    let bash = run_cli(&["completion", "bash"]);
    assert!(bash.starts_with("exit 0\n"), "{bash}");
    for command in ["serve", "rule", "execution", "workflow"] {
        assert!(bash.contains(command), "bash completion lacks `{command}`");
    }
    for shell in ["zsh", "fish"] {
        let script = run_cli(&["completion", shell]);
        assert!(script.starts_with("exit 0\n"), "{script}");
        assert!(script.contains("execution"), "{shell} completion lacks `execution`");
    }
    let unknown = run_cli(&["completion", "tcsh"]);
    assert!(unknown.starts_with("exit 2\n"), "{unknown}");
}

/// Runs the CLI and parses its standard output as JSON.
fn cli_json(args: &[&str]) -> (u8, serde_json::Value) {
    let argv = std::iter::once("squall").chain(args.iter().copied());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = squall::cli::execute(argv, &mut stdout, &mut stderr);
    let parsed = serde_json::from_slice(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
    });
    (code, parsed)
}

#[test]
fn pack_new_build_and_verify_print_json() {
    use serde_json::json;
    let work = tempfile::tempdir().expect("work dir");
    let utf8 = |p: &std::path::Path| p.to_str().expect("utf-8 path").to_owned();

    // The diskguard pack's source, with one more rule that StackStorm
    // loads but that likely does not do what it seems to (a warning).
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs/diskguard");
    let src = work.path().join("diskguard");
    for sub in ["rules", "workflows"] {
        std::fs::create_dir_all(src.join(sub)).expect("dir");
        for file in std::fs::read_dir(from.join(sub)).expect("read").flatten() {
            std::fs::copy(file.path(), src.join(sub).join(file.file_name())).expect("copy");
        }
    }
    std::fs::copy(from.join("pack.toml"), src.join("pack.toml")).expect("pack.toml");
    std::fs::write(
        src.join("rules/warned.yaml"),
        "name: warned\npack: diskguard\ntrigger:\n  type: core.execution_finished\n\
         criteria:\n  status:\n    type: equals\n    pattern: failed\n\
         action:\n  ref: core.noop\n",
    )
    .expect("rule");

    let key = work.path().join("publisher");
    assert_eq!(run_cli(&["pack", "keygen", &utf8(&key)]).lines().next(), Some("exit 0"));
    let bundle = work.path().join("diskguard.wasm");
    let (code, built) = cli_json(&[
        "pack",
        "build",
        &utf8(&src),
        "--component",
        squall_tests::DISKGUARD_PACK,
        "--out",
        &utf8(&bundle),
        "--sign",
        &utf8(&key.with_extension("key")),
        "--json",
    ]);
    assert_eq!(code, 0, "{built}");
    assert_eq!(built["name"], json!("diskguard"));
    assert_eq!(built["version"], json!("0.1.0"));
    assert_eq!(built["bundle"], json!(utf8(&bundle)));
    assert_eq!(built["signed"], json!(true));
    assert!(built["bytes"].as_u64().is_some_and(|n| n > 0), "{built}");
    let warnings = built["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w.as_str().is_some_and(|w| w.contains("warned.yaml"))),
        "{built}"
    );

    let (code, verified) = cli_json(&[
        "pack",
        "verify",
        &utf8(&bundle),
        "--key",
        &utf8(&key.with_extension("pub")),
        "--json",
    ]);
    assert_eq!(code, 0, "{verified}");
    assert_eq!(verified["signature"], json!("ok"));
    assert_eq!(verified["name"], json!("diskguard"));
    assert!(verified["fingerprint"].as_str().is_some_and(|f| !f.is_empty()), "{verified}");
    assert!(verified["requests"].as_array().is_some_and(|r| !r.is_empty()), "{verified}");

    let created = work.path().join("demo");
    let (code, new) =
        cli_json(&["pack", "new", "demo", "--lang", "python", "--dir", &utf8(&created), "--json"]);
    assert_eq!(code, 0, "{new}");
    assert_eq!(new["name"], json!("demo"));
    assert_eq!(new["language"], json!("python"));
    assert_eq!(new["dir"], json!(utf8(&created)));
    assert!(new["files"].as_array().is_some_and(|f| f.contains(&json!("pack.toml"))), "{new}");
    assert!(created.join("app.py").is_file());

    // Exit statuses are those of the text output: a refused command is 2,
    // with the error as JSON on stdout (where the script reads) and as a
    // line on stderr.
    let (code, refused) = cli_json(&["pack", "new", "demo", "--dir", &utf8(&created), "--json"]);
    assert_eq!(code, 2, "{refused}");
    assert!(refused["error"].as_str().is_some_and(|e| e.contains("exists")), "{refused}");
    let text = run_cli(&["pack", "new", "demo", "--dir", &utf8(&created), "--json"]);
    assert!(text.contains("stderr: error: "), "{text}");

    // Every command that prints a result prints it as JSON on request.
    let other = work.path().join("other");
    let (code, keys) = cli_json(&["pack", "keygen", &utf8(&other), "--json"]);
    assert_eq!(code, 0, "{keys}");
    assert_eq!(keys["secret_key"], json!(utf8(&other.with_extension("key"))));
    assert!(keys["fingerprint"].as_str().is_some_and(|f| f.len() == 16), "{keys}");
    let (code, signed) = cli_json(&[
        "pack",
        "sign",
        &utf8(&bundle),
        "--key",
        &utf8(&other.with_extension("key")),
        "--json",
    ]);
    assert_eq!(code, 0, "{signed}");
    assert_eq!(signed["name"], json!("diskguard"));
    assert_eq!(signed["bundle"], json!(utf8(&bundle)));
    let rule = src.join("rules/warned.yaml");
    let (code, valid) = cli_json(&["rule", "validate", &utf8(&rule), "--json"]);
    assert_eq!(code, 0, "{valid}");
    assert_eq!(valid["ref"], json!("diskguard.warned"));
    assert_eq!(valid["warnings"].as_array().map(Vec::len), Some(1), "{valid}");
}

/// Enumerated values are checked before anything is sent, with the value
/// meant when one is close.
#[test]
fn a_misspelt_status_gets_the_possible_values_and_a_suggestion() {
    for (args, meant) in [
        (&["execution", "list", "--status", "faild"][..], "failed"),
        (&["inquiry", "list", "--status", "pendin"][..], "pending"),
    ] {
        let out = run_cli(args);
        assert!(out.starts_with("exit 2\n"), "{out}");
        assert!(out.contains(&format!("a similar value exists: '{meant}'")), "{out}");
        assert!(out.contains("possible values:"), "{out}");
    }
}

/// `squall serve` with its log going to a file: plain text, no ANSI colour
/// codes (tracing's colours are for a terminal only).
#[test]
fn serve_logs_to_a_file_without_colour_codes() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("serve.log");
    let mut child = squall_tests::serve_in(env!("CARGO_BIN_EXE_squall-host"), dir.path())
        .env_remove("NO_COLOR")
        .env("SQUALL_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start squall serve");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let started = lines.map_while(Result::ok).any(|line| line.contains("listening on "));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(started, "squall serve did not start: {text}");
    assert!(!text.trim().is_empty(), "nothing was logged");
    assert!(!text.contains("\x1b["), "colour codes in a log file: {text:?}");
}

/// The core pack's manifest, beside its sources.
const CORE_MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../packs/core/pack.toml");

#[test]
fn with_the_manifest_a_local_run_checks_and_defaults_as_the_server_does() {
    // Refused before the sandbox runs, with the server's message.
    check(
        &["--component", CORE_PACK, "--manifest", CORE_MANIFEST, "core.echo", "bogus=1"],
        expect![[r#"
            exit 2
            stdout: stderr: error: action core.echo: parameters: Additional properties are not allowed ('bogus' was unexpected)
        "#]],
    );
    // The pack comes from the manifest when ACTION names none (without it,
    // from the file name: `squall_pack_core.fail`).
    check(
        &["--component", CORE_PACK, "--manifest", CORE_MANIFEST, "fail"],
        expect![[r#"
            exit 1
            stdout: stderr: error: core.fail: failed: core.fail was asked to fail
        "#]],
    );
    check(
        &["--component", CORE_PACK, "--manifest", CORE_MANIFEST, "other.echo", "message=hi"],
        expect![[r#"
            exit 2
            stdout: stderr: error: --manifest declares pack `core`, not `other`
        "#]],
    );
}
