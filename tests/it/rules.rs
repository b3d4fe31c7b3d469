//! Rules: loading StackStorm rule YAML, criteria operators, templating, `squall rule test`.

use std::collections::BTreeMap;
use std::sync::Arc;

use expect_test::{Expect, expect, expect_file};
use serde_json::{Value, json};
use squall::rules::{Datastore, MatchContext, OPERATOR_NAMES, Rule, RuleIndex};

const NOW: &str = "2024-06-01T12:00:00Z";

fn context() -> MatchContext {
    let datastore: BTreeMap<String, String> = [("threshold", "10"), ("app.env", "prod")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let datastore: Arc<dyn Datastore> = Arc::new(datastore);
    MatchContext::new(datastore, NOW.parse().expect("a valid instant"))
}

/// One line of `rules/operators.txt`, evaluated: the one-criterion rule it
/// describes is loaded from YAML and matched against the payload, and the
/// line is written back with the result.
fn evaluate_case(line: &str) -> String {
    // The pattern may hold Jinja filters (` | int`): it is what lies between
    // the first three fields and the last.
    let fields: Vec<&str> = line.splitn(4, " | ").collect();
    let [_, key, operator, rest] = fields[..] else {
        return format!("malformed case (expected 5 fields): {line}");
    };
    let Some((pattern, payload_text)) = rest.rsplit_once(" | ") else {
        return format!("malformed case (expected 5 fields): {line}");
    };
    let (type_, condition) = match operator.split_once(':') {
        Some((type_, condition)) => (type_, format!("\n    condition: {condition}")),
        None => (operator, String::new()),
    };
    let pattern_line =
        if pattern == "-" { String::new() } else { format!("\n    pattern: {pattern}") };
    let key_json = serde_json::to_string(key).expect("a string serialises");
    let yaml = format!(
        "name: case\nenabled: true\ntrigger: {{type: test.event}}\ncriteria:\n  {key_json}:\n    type: {type_}{pattern_line}{condition}\naction: {{ref: core.noop}}\n"
    );
    let payload: Value =
        serde_json::from_str(payload_text).unwrap_or_else(|e| panic!("payload in `{line}`: {e}"));
    let result = match Rule::from_yaml(&yaml, "operators.txt") {
        Ok(rule) if rule.matches(&payload, &context()) => "match".to_owned(),
        Ok(_) => "no match".to_owned(),
        Err(error) => format!("load error: {error}"),
    };
    format!("{result} | {key} | {operator} | {pattern} | {payload_text}")
}

#[test]
fn every_operator_case_agrees_with_stackstorm() {
    let fixture = include_str!("rules/operators.txt");
    let rendered: String = fixture
        .lines()
        .map(|line| {
            if line.starts_with('#') || line.trim().is_empty() {
                format!("{line}\n")
            } else {
                format!("{}\n", evaluate_case(line))
            }
        })
        .collect();
    expect_file!["rules/operators.txt"].assert_eq(&rendered);
}

#[test]
fn every_operator_name_and_alias_has_a_case() {
    let fixture = include_str!("rules/operators.txt");
    let used: Vec<&str> = fixture
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(" | ").nth(2))
        .map(|operator| operator.split(':').next().unwrap_or(operator))
        .collect();
    let missing: Vec<&str> =
        OPERATOR_NAMES.iter().map(|(name, _)| *name).filter(|name| !used.contains(name)).collect();
    assert_eq!(missing, Vec::<&str>::new(), "operators without a case in operators.txt");
    for condition in ["search:any", "search:all", "search:any2any", "search:all2any"] {
        assert!(fixture.contains(condition), "no case for {condition}");
    }
}

fn load_error(yaml: &str) -> String {
    match Rule::from_yaml(yaml, "rules/bad.yaml") {
        Ok(rule) => format!("loaded {}", rule.reference),
        Err(error) => error.to_string(),
    }
}

#[test]
fn rules_that_fail_to_load_name_the_file_the_field_and_the_expectation() {
    let cases = [
        "name: [unclosed",
        "- a list",
        "trigger: {type: t}\naction: {ref: a}",
        "name: r\naction: {ref: a}",
        "name: r\ntrigger: {}\naction: {ref: a}",
        "name: r\ntrigger: {type: t}",
        "name: r\ntrigger: {type: t}\naction: {ref: a, params: {}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncritera: {}",
        "name: r\nenabled: yes please\ntrigger: {type: t}\naction: {ref: a}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {pattern: 1}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: equal, pattern: 1}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: equals}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {'trigger.x[a]': {type: exists}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: regex, pattern: '(unclosed'}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: regex, pattern: 5}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: equals, pattern: '{{ trigger.x '}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: search, pattern: {}}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: search, condition: some, pattern: {}}}",
        "name: r\ntrigger: {type: t}\naction: {ref: a, parameters: {msg: '{% if %}'}}",
        "name: r\ntype: {ref: sometimes}\ntrigger: {type: t}\naction: {ref: a}",
        "name: r\npack: ops\ntrigger: {type: t, extra: allowed}\naction: {ref: a}",
    ];
    let rendered: Vec<String> = cases.iter().map(|yaml| load_error(yaml)).collect();
    expect![[r#"
        rules/bad.yaml: not valid YAML: did not find expected ',' or ']' at line 2 column 1, while parsing a flow sequence at line 1 column 7
        rules/bad.yaml: (document): expected a map with the rule's fields, found a list
        rules/bad.yaml: name: expected a non-empty string, found nothing
        rules/bad.yaml: trigger: expected a map, found nothing
        rules/bad.yaml: trigger.type: expected a non-empty string, found nothing
        rules/bad.yaml: action: expected a map, found nothing
        rules/bad.yaml: action.params: expected one of the fields ref, description, parameters, found an unknown field
        rules/bad.yaml: critera: expected one of the fields name, pack, ref, uid, id, description, enabled, type, trigger, criteria, action, context, tags, metadata_file, found an unknown field
        rules/bad.yaml: enabled: expected true or false, found the string "yes please"
        rules/bad.yaml: criteria.trigger.x.type: expected an operator: equals, eq, nequals, neq, iequals, ieq, contains, icontains, ncontains, incontains, startswith, istartswith, endswith, iendswith, lessthan, lt, greaterthan, gt, timediff_lt, td_lt, timediff_gt, td_gt, exists, nexists, inside, in, ninside, nin, matchwildcard, matchregex, regex, iregex, search, found nothing
        rules/bad.yaml: criteria.trigger.x.type: expected an operator (did you mean `equals`?): equals, eq, nequals, neq, iequals, ieq, contains, icontains, ncontains, incontains, startswith, istartswith, endswith, iendswith, lessthan, lt, greaterthan, gt, timediff_lt, td_lt, timediff_gt, td_gt, exists, nexists, inside, in, ninside, nin, matchwildcard, matchregex, regex, iregex, search, found the string "equal"
        rules/bad.yaml: criteria.trigger.x.pattern: expected a pattern for `equals`, found nothing
        rules/bad.yaml: criteria.trigger.x[a]: expected a list index such as `[0]` or `[*]`, not `[a]`, found the key "trigger.x[a]"
        rules/bad.yaml: criteria.trigger.x.pattern: expected a regular expression (Python `re` syntax), found missing ), unterminated subpattern
        rules/bad.yaml: criteria.trigger.x.pattern: expected a string, found the number 5
        rules/bad.yaml: criteria.trigger.x.pattern: expected a valid Jinja template, found syntax error: unexpected end of input, expected end of variable block (in criteria.trigger.x.pattern#0:1)
        rules/bad.yaml: criteria.trigger.x.condition: expected one of any, all, any2any, all2any, found nothing
        rules/bad.yaml: criteria.trigger.x.condition: expected one of any, all, any2any, all2any, found the string "some"
        rules/bad.yaml: action.parameters.msg: expected a valid Jinja template, found syntax error: unexpected end of block (in action.parameters.msg#0:1)
        rules/bad.yaml: type.ref: expected `standard` or `backstop`, found the string "sometimes"
        loaded ops.r"#]].assert_eq(&rendered.join("\n"));
}

#[test]
fn keys_without_their_root_load_with_a_warning_naming_the_field() {
    let yaml = "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria:\n  payload.x: {type: exists}\n  trigger.list: {type: search, condition: any, pattern: {trigger.y: {type: exists}}}\n  trigger.ok: {type: exists}\n";
    let rule = Rule::from_yaml(yaml, "rules/r.yaml").expect("loads, as in StackStorm");
    expect![[r#"
        criteria.payload.x: criteria keys start with `trigger.`, so "payload.x" never finds a value in the payload: the criterion always sees null, as for a missing key, and does not hold (except for operators that hold on a missing value, such as `nexists`)
        criteria.trigger.list.pattern.trigger.y: keys inside `search` start with `item.`, so "trigger.y" never finds a value in the list item: the criterion always sees null, as for a missing key, and does not hold (except for operators that hold on a missing value, such as `nexists`)"#]].assert_eq(&rule.warnings.join("\n"));
    // They see null, as for a missing key, whatever the payload holds.
    let payload = json!({"x": 1, "payload": {"x": 1}, "list": [{"y": 1}], "ok": true});
    assert!(!rule.matches(&payload, &context()));
    let nexists =
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {payload.x: {type: nexists}}";
    let rule = Rule::from_yaml(nexists, "rules/r.yaml").expect("loads");
    assert!(rule.matches(&payload, &context()), "StackStorm's `nexists` holds on null");
    let clean = Rule::from_yaml(
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria: {trigger.x: {type: exists}}",
        "rules/r.yaml",
    )
    .expect("loads");
    assert_eq!(clean.warnings, Vec::<String>::new());
}

/// A pattern that backtracks catastrophically, or a look-around pattern on
/// a long value, fails its criterion quickly instead of stalling the rules
/// engine; patterns without look-around run on any length.
#[test]
fn pathological_patterns_on_a_large_payload_fail_the_criterion_without_hanging() {
    let big = "a".repeat(1 << 20);
    let cases = [
        ("regex", r"(a*)*\1b", &big[..20_000]),
        ("regex", r"(a+)+\1b", &big[..]),
        ("iregex", r"(?=(a+)+b)", &big[..]),
        ("regex", r"(?=.*x)y", &big[..]),
        ("matchregex", r"(?:(?=.*x).)*y", &big[..]),
        ("regex", r"^(\w+\s?)*$", &big[..]),
        ("regex", r"^(a|aa)+$", &big[..]),
        ("matchwildcard", "*a*a*a*a*a*a*b", &big[..]),
    ];
    let mut rendered = Vec::new();
    for (operator, pattern, text) in cases {
        let pattern_json = serde_json::to_string(pattern).expect("a string serialises");
        let yaml = format!(
            "name: r\ntrigger: {{type: t}}\naction: {{ref: a}}\ncriteria:\n  trigger.v: {{type: {operator}, pattern: {pattern_json}}}\n"
        );
        let rule = Rule::from_yaml(&yaml, "rules/r.yaml").expect("loads");
        let started = std::time::Instant::now();
        let matched = rule.matches(&json!({"v": text}), &context());
        let elapsed = started.elapsed();
        assert!(elapsed.as_secs() < 10, "{operator} {pattern} took {elapsed:?}");
        rendered.push(format!("{operator} {pattern} on {} bytes: {matched}", text.len()));
    }
    expect![[r#"
        regex (a*)*\1b on 20000 bytes: false
        regex (a+)+\1b on 1048576 bytes: false
        iregex (?=(a+)+b) on 1048576 bytes: false
        regex (?=.*x)y on 1048576 bytes: false
        matchregex (?:(?=.*x).)*y on 1048576 bytes: false
        regex ^(\w+\s?)*$ on 1048576 bytes: true
        regex ^(a|aa)+$ on 1048576 bytes: true
        matchwildcard *a*a*a*a*a*a*b on 1048576 bytes: false"#]]
    .assert_eq(&rendered.join("\n"));
}

fn rule(yaml: &str) -> Rule {
    Rule::from_yaml(yaml, "test.yaml").unwrap_or_else(|e| panic!("rule loads: {e}"))
}

/// Decisions as `rule -> action params` lines, for snapshots.
fn decisions(index: &RuleIndex, trigger: &str, payload: Value) -> String {
    index
        .matches(trigger, &payload, &context())
        .iter()
        .map(|d| match &d.parameters {
            Ok(params) => format!(
                "{} -> {} {}",
                d.rule.reference,
                d.action_ref(),
                Value::Object(params.clone())
            ),
            Err(error) => format!("{} -> {} failed: {error}", d.rule.reference, d.action_ref()),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_index_finds_rules_by_canonical_trigger_type_and_skips_disabled_ones() {
    let index = RuleIndex::new([
        rule(
            "name: st2_name\nenabled: true\ntrigger: {type: core.st2.webhook}\naction: {ref: core.echo}",
        ),
        rule(
            "name: squall_name\nenabled: true\ntrigger: {type: core.webhook}\naction: {ref: core.noop}",
        ),
        rule(
            "name: disabled\nenabled: false\ntrigger: {type: core.webhook}\naction: {ref: core.noop}",
        ),
        rule("name: default_disabled\ntrigger: {type: core.webhook}\naction: {ref: core.noop}"),
        rule(
            "name: timer\nenabled: true\ntrigger: {type: core.st2.IntervalTimer}\naction: {ref: core.noop}",
        ),
    ]);
    assert_eq!(index.len(), 3);
    expect![[r#"
        default.st2_name -> core.echo {}
        default.squall_name -> core.noop {}"#]]
    .assert_eq(&decisions(&index, "core.webhook", json!({"body": {}})));
    expect![[r#"
        default.st2_name -> core.echo {}
        default.squall_name -> core.noop {}"#]]
    .assert_eq(&decisions(&index, "core.st2.webhook", json!({})));
    expect!["default.timer -> core.noop {}"].assert_eq(&decisions(
        &index,
        "core.interval_timer",
        json!({}),
    ));
    assert_eq!(decisions(&index, "core.cron_timer", json!({})), "");
}

#[test]
fn every_stackstorm_builtin_trigger_alias_indexes_under_squalls_name() {
    let aliases = squall::rules::TRIGGER_ALIASES
        .iter()
        .map(|(st2, squall)| format!("{st2} -> {squall}"))
        .collect::<Vec<_>>()
        .join("\n");
    expect![[r#"
        core.st2.webhook -> core.webhook
        core.st2.IntervalTimer -> core.interval_timer
        core.st2.DateTimer -> core.date_timer
        core.st2.CronTimer -> core.cron_timer
        core.st2.generic.actiontrigger -> core.execution_finished
        core.st2.key_value_pair.value_change -> core.kv_changed"#]]
    .assert_eq(&aliases);
    for (st2, squall) in squall::rules::TRIGGER_ALIASES {
        let index = RuleIndex::new([rule(&format!(
            "name: r\nenabled: true\ntrigger: {{type: {st2}}}\naction: {{ref: a}}"
        ))]);
        assert_eq!(index.rules_for(squall).count(), 1, "{st2} is found as {squall}");
    }
}

#[test]
fn backstop_rules_match_only_when_no_standard_rule_did() {
    let index = RuleIndex::new([
        rule(
            "name: disk\nenabled: true\ntrigger: {type: alert}\ncriteria: {trigger.kind: {type: eq, pattern: disk}}\naction: {ref: ops.clean}",
        ),
        rule(
            "name: fallback\nenabled: true\ntype: {ref: backstop}\ntrigger: {type: alert}\naction: {ref: ops.page}",
        ),
    ]);
    expect!["default.disk -> ops.clean {}"].assert_eq(&decisions(
        &index,
        "alert",
        json!({"kind": "disk"}),
    ));
    expect!["default.fallback -> ops.page {}"].assert_eq(&decisions(
        &index,
        "alert",
        json!({"kind": "cpu"}),
    ));
}

#[test]
fn trigger_parameters_select_rules_when_given() {
    let index = RuleIndex::new([
        rule(
            "name: a\nenabled: true\ntrigger: {type: core.st2.webhook, parameters: {url: a}}\naction: {ref: x}",
        ),
        rule(
            "name: b\nenabled: true\ntrigger: {type: core.webhook, parameters: {url: b}}\naction: {ref: x}",
        ),
    ]);
    let url_b = json!({"url": "b"});
    let url_b = url_b.as_object().expect("a map");
    let matched: Vec<String> = index
        .matches_trigger("core.webhook", url_b, &json!({"body": 1}), &context())
        .iter()
        .map(|d| d.rule.reference.clone())
        .collect();
    assert_eq!(matched, ["default.b"]);
    assert_eq!(index.matches("core.webhook", &json!({"body": 1}), &context()).len(), 2);
}

#[test]
fn action_parameters_render_with_types_kept_for_single_expressions() {
    let index = RuleIndex::new([rule(
        r#"
name: notify
pack: ops
enabled: true
trigger: {type: alert}
action:
  ref: chat.post
  parameters:
    text: "{{ trigger.host }} is at {{ trigger.usage }}% ({{ st2kv.system.app.env }})"
    usage: "{{ trigger.usage }}"
    tags: "{{ trigger.tags }}"
    limit: "{{ kv.threshold | int }}"
    nested: {hosts: ["{{ trigger.host }}", literal], up: "{{ trigger.up }}"}
    untouched: 42
    flag: "{{ trigger.up }} and {{ trigger.none }}"
"#,
    )]);
    let payload =
        json!({"host": "web-1", "usage": 93.5, "tags": ["disk"], "up": true, "none": null});
    expect![[r#"ops.notify -> chat.post {"text":"web-1 is at 93.5% (prod)","usage":93.5,"tags":["disk"],"limit":10,"nested":{"hosts":["web-1","literal"],"up":true},"untouched":42,"flag":"True and None"}"#]].assert_eq(&decisions(&index, "alert", payload));
}

#[test]
fn a_parameter_that_fails_to_render_is_reported_on_the_decision() {
    let index = RuleIndex::new([rule(
        "name: r\nenabled: true\ntrigger: {type: alert}\naction: {ref: a, parameters: {msg: '{{ trigger.missing.deeper }}'}}",
    )]);
    expect!["default.r -> a failed: default.r: action.parameters.msg: undefined value: `{{ trigger.missing.deeper }}` is undefined"].assert_eq(&decisions(&index, "alert", json!({"x": 1})));
}

#[test]
fn explain_names_the_criterion_that_failed() {
    let rule = rule(
        "name: r\ntrigger: {type: t}\naction: {ref: a}\ncriteria:\n  trigger.a: {type: exists}\n  trigger.b: {type: gt, pattern: '{{ trigger.a }}'}",
    );
    expect![[r#"Some(Criterion { key: "trigger.b", operator: "greaterthan", pattern: Ok(Number(5)), value: Number(3) })"#]].assert_eq(&format!("{:?}", rule.explain(&json!({"a": 5, "b": 3}), &context())));
    expect!["Some(EmptyPayload)"].assert_eq(&format!("{:?}", rule.explain(&json!({}), &context())));
    assert_eq!(rule.explain(&json!({"a": 5, "b": 6}), &context()), None);
}

/// Runs `squall rule test` on a rule and an instance written to a temporary
/// directory, and renders exit status, stdout and stderr.
fn rule_test(rule: &str, instance: &str, extra: &[&str], expected: Expect) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule_path = dir.path().join("rule.yaml");
    let instance_path = dir.path().join("instance.json");
    std::fs::write(&rule_path, rule).expect("write rule");
    std::fs::write(&instance_path, instance).expect("write instance");
    let mut argv = vec![
        "rule",
        "test",
        rule_path.to_str().expect("utf-8 path"),
        instance_path.to_str().expect("utf-8 path"),
    ];
    argv.extend_from_slice(extra);
    let rendered =
        squall_tests::run_cli(&argv).replace(dir.path().to_str().expect("utf-8 path"), "DIR");
    expected.assert_eq(&rendered);
}

const DISK_RULE: &str = r#"
name: disk_full
pack: ops
enabled: true
trigger:
  type: core.st2.webhook
criteria:
  trigger.body.usage:
    type: greaterthan
    pattern: "{{ st2kv.system.limit | int }}"
action:
  ref: core.echo
  parameters:
    message: "{{ trigger.body.host }} at {{ trigger.body.usage }}%"
    usage: "{{ trigger.body.usage }}"
"#;

#[test]
fn cli_a_match_exits_0_and_prints_the_rendered_parameters() {
    rule_test(
        DISK_RULE,
        r#"{"trigger": "core.webhook", "payload": {"body": {"usage": 95, "host": "web-1"}}}"#,
        &["--kv", "limit=90"],
        expect![[r#"
            exit 0
            stdout: ops.disk_full matches
            action: core.echo
            parameters: {
              "message": "web-1 at 95%",
              "usage": 95
            }
            stderr: "#]],
    );
}

#[test]
fn cli_json_output_for_a_match() {
    rule_test(
        DISK_RULE,
        r#"{"trigger": "core.st2.webhook", "payload": {"body": {"usage": 95, "host": "web-1"}}}"#,
        &["--kv", "limit=90", "--json"],
        expect![[r#"
            exit 0
            stdout: {"matched":true,"rule":"ops.disk_full","action":"core.echo","parameters":{"message":"web-1 at 95%","usage":95}}
            stderr: "#]],
    );
}

#[test]
fn cli_no_match_exits_1_and_says_which_criterion_failed() {
    rule_test(
        DISK_RULE,
        r#"{"trigger": "core.webhook", "payload": {"body": {"usage": 50, "host": "web-1"}}}"#,
        &["--kv", "limit=90"],
        expect![[r#"
            exit 1
            stdout: ops.disk_full does not match: criterion `trigger.body.usage` (greaterthan 90) does not hold for the value 50
            stderr: "#]],
    );
    rule_test(
        DISK_RULE,
        r#"{"trigger": "core.webhook", "payload": {"body": {"usage": 50}}}"#,
        &["--kv", "limit=90", "--json"],
        expect![[r#"
            exit 1
            stdout: {"matched":false,"rule":"ops.disk_full","reason":"criterion `trigger.body.usage` (greaterthan 90) does not hold for the value 50"}
            stderr: "#]],
    );
}

#[test]
fn cli_an_instance_of_another_trigger_type_does_not_match() {
    rule_test(
        DISK_RULE,
        r#"{"trigger": "core.interval_timer", "payload": {"body": {"usage": 95}}}"#,
        &["--kv", "limit=90"],
        expect![[r#"
            exit 1
            stdout: ops.disk_full does not match: it listens to `core.st2.webhook` triggers and the instance is a `core.interval_timer` trigger
            stderr: "#]],
    );
}

#[test]
fn cli_errors_exit_2_with_one_line_naming_the_file_and_field() {
    rule_test(
        "name: r\ntrigger: {type: t}\naction: {}",
        r#"{"trigger": "t", "payload": {}}"#,
        &[],
        expect![[r#"
            exit 2
            stdout: stderr: error: DIR/rule.yaml: action.ref: expected a non-empty string, found nothing
        "#]],
    );
    rule_test(
        DISK_RULE,
        r#"{"payload": {}}"#,
        &[],
        expect![[r#"
        exit 2
        stdout: stderr: error: DIR/instance.json: trigger: expected the trigger type as a string, found nothing
    "#]],
    );
    rule_test(
        "name: r\nenabled: true\ntrigger: {type: t}\naction: {ref: a, parameters: {m: '{{ trigger.nope }}'}}",
        r#"{"trigger": "t", "payload": {"x": 1}}"#,
        &[],
        expect![[r#"
            exit 2
            stdout: stderr: error: DIR/rule.yaml: action.parameters.m: undefined value: `{{ trigger.nope }}` is undefined
        "#]],
    );
    // Inside text, the error names the path that was undefined.
    rule_test(
        "name: r\nenabled: true\ntrigger: {type: t}\naction: {ref: a, parameters: {m: 'clean {{ trigger.body.mount }} now'}}",
        r#"{"trigger": "t", "payload": {"body": {}}}"#,
        &[],
        expect![[r#"
            exit 2
            stdout: stderr: error: DIR/rule.yaml: action.parameters.m: undefined value: `trigger.body.mount` is undefined
        "#]],
    );
    rule_test(
        DISK_RULE,
        "{}",
        &["--kv", "novalue"],
        expect![[r#"
        exit 2
        stdout: stderr: error: --kv `novalue`: expected KEY=VALUE
    "#]],
    );
}

#[test]
fn cli_a_disabled_rule_is_tested_as_if_enabled() {
    rule_test(
        "name: r\ntrigger: {type: t}\naction: {ref: core.noop}",
        r#"{"trigger": "t"}"#,
        &[],
        expect![[r#"
            exit 0
            stdout: default.r matches
            action: core.noop
            parameters: {}
            stderr: note: default.r is disabled; tested as if it were enabled
        "#]],
    );
}

/// Runs `squall rule validate` on a rule written to a temporary directory,
/// and renders exit status, stdout and stderr.
fn rule_validate(rule: &str, expected: Expect) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rule_path = dir.path().join("rule.yaml");
    std::fs::write(&rule_path, rule).expect("write rule");
    let argv = ["rule", "validate", rule_path.to_str().expect("utf-8 path")];
    let rendered =
        squall_tests::run_cli(&argv).replace(dir.path().to_str().expect("utf-8 path"), "DIR");
    expected.assert_eq(&rendered);
}

/// A rule whose criteria key lacks `trigger.`: it loads, with a warning.
const PAYLOAD_KEY_RULE: &str = "name: r\npack: ops\nenabled: true\ntrigger: {type: core.st2.webhook, parameters: {url: r}}\naction: {ref: core.noop}\ncriteria:\n  payload.x: {type: exists}\n";

#[test]
fn cli_validate_prints_each_warning_and_exits_0() {
    rule_validate(
        PAYLOAD_KEY_RULE,
        expect![[r#"
            exit 0
            stdout: DIR/rule.yaml: ok, ops.r, 1 warning
            stderr: warning: DIR/rule.yaml: criteria.payload.x: criteria keys start with `trigger.`, so "payload.x" never finds a value in the payload: the criterion always sees null, as for a missing key, and does not hold (except for operators that hold on a missing value, such as `nexists`)
        "#]],
    );
    rule_validate(
        &PAYLOAD_KEY_RULE.replace("payload.x", "trigger.x"),
        expect![[r#"
            exit 0
            stdout: DIR/rule.yaml: ok, ops.r
            stderr: "#]],
    );
    rule_validate(
        "name: r\ntrigger: {type: t}\naction: {}",
        expect![[r#"
            exit 2
            stdout: stderr: error: DIR/rule.yaml: action.ref: expected a non-empty string, found nothing
        "#]],
    );
}

#[test]
fn cli_test_prints_the_rules_warnings_too() {
    rule_test(
        PAYLOAD_KEY_RULE,
        r#"{"trigger": "core.webhook", "payload": {"payload": {"x": 1}}}"#,
        &[],
        expect![[r#"
            exit 1
            stdout: ops.r does not match: criterion `payload.x` (exists null) does not hold for the value null
            stderr: warning: DIR/rule.yaml: criteria.payload.x: criteria keys start with `trigger.`, so "payload.x" never finds a value in the payload: the criterion always sees null, as for a missing key, and does not hold (except for operators that hold on a missing value, such as `nexists`)
        "#]],
    );
}

/// `POST /rules` and `PUT /rules/{ref}` answer the rule's warnings (a list
/// Squall adds to StackStorm's answer), and a clean rule's answer has none.
#[tokio::test]
async fn the_api_answers_the_warnings_of_a_rule_it_stores() {
    use axum::http::{Method, StatusCode};
    let api = crate::api::Api::start().await;
    let (status, created) =
        api.call(Method::POST, "/api/v1/rules", Some(json!(PAYLOAD_KEY_RULE))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    expect![[r#"
        [
          "criteria.payload.x: criteria keys start with `trigger.`, so \"payload.x\" never finds a value in the payload: the criterion always sees null, as for a missing key, and does not hold (except for operators that hold on a missing value, such as `nexists`)"
        ]"#]]
    .assert_eq(&serde_json::to_string_pretty(&created["warnings"]).expect("json"));

    // What st2 clients do: send back what they got, warnings included.
    let mut clean = created.clone();
    clean["criteria"] = json!({"trigger.x": {"type": "exists"}});
    let (status, replaced) = api.call(Method::PUT, "/api/v1/rules/ops.r", Some(clean)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced.get("warnings"), None, "a clean rule has none: {replaced}");

    let (status, replaced) =
        api.call(Method::PUT, "/api/v1/rules/ops.r", Some(json!(PAYLOAD_KEY_RULE))).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["warnings"].as_array().map(Vec::len), Some(1), "{replaced}");

    let clean =
        PAYLOAD_KEY_RULE.replace("name: r", "name: clean").replace("payload.x", "trigger.x");
    let (status, created) = api.call(Method::POST, "/api/v1/rules", Some(json!(clean))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created.get("warnings"), None, "a clean rule has none: {created}");

    // The OpenAPI document says so: a list of strings, not always there.
    let doc = serde_json::to_value(squall::api::openapi()).expect("serialises");
    let view = &doc["components"]["schemas"]["RuleView"];
    assert_eq!(view["properties"]["warnings"]["type"], "array", "{view}");
    assert_eq!(view["properties"]["warnings"]["items"]["type"], "string", "{view}");
    let required = view["required"].as_array().expect("required");
    assert!(required.contains(&json!("ref")), "{view}");
    assert!(!required.contains(&json!("warnings")), "{view}");
}
