//! ChatOps (issue 18): the alias format grammar against data-driven cases
//! in `chatops/formats.txt`, alias loading errors, matching a command to
//! one alias, and the help listing.

use std::path::Path;

use serde_json::{Value, json};
use squall::chatops::{ActionAlias, Format, MatchError, help, match_command};

/// One case of `formats.txt`.
#[derive(Debug, Default)]
struct Case {
    line: usize,
    format: String,
    command: String,
    expect: Option<Value>,
    error: Option<String>,
}

fn cases(path: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("read the cases");
    let mut cases = Vec::new();
    let mut case: Option<Case> = None;
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            cases.extend(case.take());
            continue;
        }
        let (key, value) = line.split_once(':').unwrap_or_else(|| panic!("line {}", number + 1));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        let current = case.get_or_insert_with(|| Case { line: number + 1, ..Case::default() });
        match key {
            "format" => current.format = value,
            "command" => current.command = value,
            "expect" => {
                current.expect = Some(serde_json::from_str(&value).expect("expect is JSON"));
            }
            "error" => current.error = Some(value),
            other => panic!("line {}: unknown key {other}", number + 1),
        }
    }
    cases.extend(case);
    cases
}

#[test]
fn alias_formats_extract_what_stackstorm_extracts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("it/chatops/formats.txt");
    let cases = cases(&path);
    assert!(cases.len() >= 25, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let got = Format::new(&case.format).and_then(|f| f.extract(&case.command));
        let ok = match (&got, &case.expect, &case.error) {
            (Ok(params), Some(expect), None) => &Value::Object(params.clone()) == expect,
            (Err(error), None, Some(expected)) => error.to_string().starts_with(expected.as_str()),
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "formats.txt:{}: {:?} with {:?}: got {got:?}, expected {}",
                case.line,
                case.format,
                case.command,
                case.expect.as_ref().map_or_else(|| format!("{:?}", case.error), Value::to_string)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn match_multiple_finds_every_occurrence() {
    // A format anchored by the whole line matches once; one with anchors
    // of its own at word boundaries matches each occurrence.
    let anchored = Format::new("host {{name}};").expect("format");
    let once = anchored.extract_all("host a; host b;").expect("extract");
    assert_eq!(once.len(), 1);
    assert_eq!(once[0]["name"], "a; host b");
    let each = Format::new(r"(?:\b|^)host (?P<name>[a-z]+)(?:\b|$)").expect("format");
    let all = each.extract_all("host a, then host b and host c").expect("extract");
    let names: Vec<_> = all.iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, vec![json!("a"), json!("b"), json!("c")]);
    assert!(each.extract_all("nothing here").expect("no error").is_empty());
}

fn alias(yaml: &str) -> ActionAlias {
    ActionAlias::from_yaml(yaml, "aliases/test.yaml", None).expect("alias loads")
}

#[test]
fn alias_files_load_with_errors_naming_file_and_field() {
    let loaded = alias(
        r#"
name: deploy
pack: ops
action_ref: ops.deploy
description: Deploys an app
formats:
  - "deploy {{app}}"
  - display: "deploy {{app}} to {{env}}"
    representation: ["deploy {{app}} to {{env}}", "ship {{app}} to {{env}}"]
ack: {enabled: true, format: "on it: {{execution.id}}", append_url: false}
result: {format: "done"}
immutable_parameters: {requested_by: chat}
"#,
    );
    assert_eq!(loaded.reference(), "ops.deploy");
    assert!(loaded.enabled, "enabled by default");
    assert_eq!(loaded.formats[1].representations().len(), 2);
    assert_eq!(loaded.immutable_parameters["requested_by"], "chat");

    let refused = |yaml: &str, pack: Option<&str>| {
        ActionAlias::from_yaml(yaml, "aliases/bad.yaml", pack).expect_err("refused").to_string()
    };
    let base = "name: x\npack: ops\naction_ref: ops.run\n";
    assert_eq!(
        refused(&format!("{base}formats: [3]"), None),
        "aliases/bad.yaml: formats[0]: expected a string or a mapping, found number 3"
    );
    assert_eq!(
        refused(&format!("{base}formats: [{{display: a, representation: [1]}}]"), None),
        "aliases/bad.yaml: formats[0].representation[0]: expected a string, found number 1"
    );
    assert_eq!(
        refused(&format!("{base}ack: {{colour: red}}"), None),
        "aliases/bad.yaml: ack.colour: expected one of enabled, format, extra, append_url, found \"colour\""
    );
    assert_eq!(
        refused("name: x\npack: ops\naction_ref: run\n", None),
        "aliases/bad.yaml: action_ref: expected an action reference `pack.name`, found \"run\""
    );
    assert_eq!(
        refused(&format!("{base}formats: ['run {{{{a-b}}}}']"), None).split(" is not").next(),
        Some("aliases/bad.yaml: formats[0]: format string \"run {{a-b}}\"")
    );
    assert_eq!(
        refused(base, Some("web")),
        "aliases/bad.yaml: pack: expected the pack the file is in, `web`, found \"ops\""
    );
    assert!(refused("name: x\naction_ref: a.b\nspeed: 3\n", Some("ops")).contains("speed"));
    // In a pack, `pack` may be left out.
    let in_pack = ActionAlias::from_yaml("name: x\naction_ref: ops.run\n", "f.yaml", Some("ops"));
    assert_eq!(in_pack.expect("loads").pack, "ops");
}

fn aliases() -> Vec<ActionAlias> {
    vec![
        alias(
            "name: restart\npack: ops\naction_ref: ops.restart\nformats: ['restart {{service}}']\n",
        ),
        alias(
            "name: restart_on\npack: ops\naction_ref: ops.restart\nformats: ['restart {{service}} on {{host}}']\n",
        ),
        alias(
            "name: status\npack: web\naction_ref: web.status\nenabled: false\nformats: ['status']\n",
        ),
        alias(
            "name: ping\npack: net\naction_ref: net.ping\nformats:\n  - {display: 'ping HOST…', representation: ['(?:\\b|^)ping (?P<host>[a-z0-9]+)(?:\\b|$)'], match_multiple: true}\n",
        ),
        alias(
            "name: status2\npack: web\naction_ref: web.status\nformats: ['status {{x=1}}', 'state']\n",
        ),
    ]
}

#[test]
fn a_command_resolves_to_exactly_one_format_or_says_why_not() {
    let aliases = aliases();
    // `restart {{service}}` takes the rest of the line, so both match.
    let ambiguous = match_command("restart nginx on web1", &aliases).expect_err("two match");
    let MatchError::Ambiguous { matches, .. } = &ambiguous else { panic!("{ambiguous:?}") };
    assert_eq!(matches.len(), 2, "{matches:?}");
    assert!(
        ambiguous
            .to_string()
            .starts_with("Command 'restart nginx on web1' matched more than 1 pattern")
    );

    let one = match_command("state", &aliases).expect("one match");
    assert_eq!(
        (one.alias.reference().as_str(), one.representation.as_str()),
        ("web.status2", "state")
    );
    // The disabled alias never matches: `status` goes to the enabled one.
    let status = match_command("status", &aliases).expect("one match");
    assert_eq!(status.alias.name, "status2");
    assert_eq!(status.parameters("status").expect("params")[0]["x"], "1");

    let none = match_command("reboot the world", &aliases).expect_err("nothing matches");
    assert_eq!(none.to_string(), "Command 'reboot the world' matched no patterns");

    // `match_multiple` aliases are tried after the rest, each match its own
    // execution.
    let multi = match_command("ping a and ping b2", &aliases).expect("the multiple alias");
    assert_eq!(multi.alias.name, "ping");
    let each = multi.parameters("ping a and ping b2").expect("params");
    let hosts: Vec<_> = each.iter().map(|p| p["host"].clone()).collect();
    assert_eq!(hosts, vec![json!("a"), json!("b2")]);
}

#[test]
fn help_lists_enabled_displays_filtered_and_paged() {
    let aliases = aliases();
    let all = help(&aliases, None, None, 0, 0).expect("help");
    let displays: Vec<_> = all.helpstrings.iter().map(|h| h.display.as_str()).collect();
    assert_eq!(
        displays,
        [
            "restart {{service}}",
            "restart {{service}} on {{host}}",
            "ping HOST…",
            "status {{x=1}}",
            "state"
        ]
    );
    assert_eq!(all.available, 5);
    let filtered = help(&aliases, Some("RESTART.*host"), None, 0, 0).expect("help");
    assert_eq!(filtered.available, 1);
    assert_eq!(filtered.helpstrings[0].display, "restart {{service}} on {{host}}");
    let page = help(&aliases, None, None, 2, 1).expect("help");
    assert_eq!(page.available, 5);
    let displays: Vec<_> = page.helpstrings.iter().map(|h| h.display.as_str()).collect();
    assert_eq!(displays, ["restart {{service}} on {{host}}", "ping HOST…"]);
    let in_pack = help(&aliases, None, Some("web"), 0, 0).expect("help");
    assert_eq!(in_pack.available, 2);
    let bad = help(&aliases, Some("(unclosed"), None, 0, 0).expect_err("bad filter");
    assert!(bad.to_string().starts_with("filter: not a valid regular expression"), "{bad}");
}
