//! Trigger types: built-ins (with StackStorm's names), payload and parameter
//! validation with the failing path named, registering pack trigger types.

use expect_test::{Expect, expect};
use serde_json::{Value, json};
use squall::engine::{TriggerError, TriggerType, TriggerTypes};

/// Validates each `(trigger, payload)` and renders one line per case.
fn check_payloads(cases: &[(&str, Value)], expected: Expect) {
    let types = TriggerTypes::builtin();
    let rendered: String = cases
        .iter()
        .map(|(trigger, payload)| match types.validate_payload(trigger, payload) {
            Ok(()) => format!("{trigger} {payload} => ok\n"),
            Err(error) => format!("{trigger} {payload} => {error}\n"),
        })
        .collect();
    expected.assert_eq(&rendered);
}

#[test]
fn builtin_payloads_are_checked_and_the_failing_path_is_named() {
    check_payloads(
        &[
            ("core.webhook", json!({"headers": {}, "body": {"disk": "/var"}})),
            ("core.st2.webhook", json!({"headers": {}, "body": null})),
            ("core.webhook", json!({"body": {}})),
            ("core.webhook", json!({"headers": "x", "body": {}})),
            ("core.interval_timer", json!({"executed_at": "2026-11-21T08:00:00Z", "schedule": {}})),
            (
                "core.execution_finished",
                json!({"execution_id": "e1", "status": "exploded", "action_ref": "core.noop"}),
            ),
            (
                "core.st2.key_value_pair.value_change",
                json!({"old_object": null, "new_object": {"name": "k"}}),
            ),
            ("nope.nothing", json!({})),
        ],
        expect![[r#"
            core.webhook {"headers":{},"body":{"disk":"/var"}} => ok
            core.st2.webhook {"headers":{},"body":null} => ok
            core.webhook {"body":{}} => trigger type `core.webhook`: payload at `/`: "headers" is a required property
            core.webhook {"headers":"x","body":{}} => trigger type `core.webhook`: payload at `/headers`: "x" is not of type "object"
            core.interval_timer {"executed_at":"2026-11-21T08:00:00Z","schedule":{}} => ok
            core.execution_finished {"execution_id":"e1","status":"exploded","action_ref":"core.noop"} => trigger type `core.execution_finished`: payload at `/status`: "exploded" is not one of "succeeded", "failed" or 3 other candidates
            core.st2.key_value_pair.value_change {"old_object":null,"new_object":{"name":"k"}} => ok
            nope.nothing {} => unknown trigger type `nope.nothing`
        "#]],
    );
}

#[test]
fn timer_parameters_in_rules_are_checked() {
    let types = TriggerTypes::builtin();
    let rendered: String = [
        ("core.st2.IntervalTimer", json!({"unit": "seconds", "delta": 30})),
        ("core.st2.IntervalTimer", json!({"unit": "fortnights", "delta": 1})),
        ("core.st2.IntervalTimer", json!({"unit": "seconds", "delta": 0})),
        ("core.st2.DateTimer", json!({"date": "2026-12-24 18:00:00", "timezone": "Europe/Berlin"})),
        ("core.st2.CronTimer", json!({"minute": "*/5", "hour": 3, "timezone": "UTC"})),
        ("core.st2.CronTimer", json!({"minutes": 5})),
        ("core.execution_finished", json!({"anything": 1})),
        ("core.execution_finished", json!({})),
    ]
    .iter()
    .map(|(trigger, parameters)| match types.validate_parameters(trigger, parameters) {
        Ok(()) => format!("{trigger} {parameters} => ok\n"),
        Err(error) => format!("{trigger} {parameters} => {error}\n"),
    })
    .collect();
    expect![[r#"
        core.st2.IntervalTimer {"unit":"seconds","delta":30} => ok
        core.st2.IntervalTimer {"unit":"fortnights","delta":1} => trigger type `core.interval_timer`: parameters at `/unit`: "fortnights" is not one of "weeks", "days" or 3 other candidates
        core.st2.IntervalTimer {"unit":"seconds","delta":0} => trigger type `core.interval_timer`: parameters at `/delta`: 0 is less than the minimum of 1
        core.st2.DateTimer {"date":"2026-12-24 18:00:00","timezone":"Europe/Berlin"} => ok
        core.st2.CronTimer {"minute":"*/5","hour":3,"timezone":"UTC"} => ok
        core.st2.CronTimer {"minutes":5} => trigger type `core.cron_timer`: parameters at `/`: Additional properties are not allowed ('minutes' was unexpected)
        core.execution_finished {"anything":1} => trigger type `core.execution_finished`: parameters at `/`: this trigger type takes no parameters
        core.execution_finished {} => ok
    "#]].assert_eq(&rendered);
}

#[test]
fn stackstorm_names_resolve_to_squall_types() {
    let types = TriggerTypes::builtin();
    let names: Vec<_> = types.iter().map(|t| t.name.as_str()).collect();
    expect![[r#"
        [
            "core.cron_timer",
            "core.date_timer",
            "core.execution_finished",
            "core.interval_timer",
            "core.kv_changed",
            "core.webhook",
        ]
    "#]]
    .assert_debug_eq(&names);
    assert_eq!(types.get("core.st2.CronTimer").map(|t| t.name.as_str()), Some("core.cron_timer"));
    assert_eq!(
        types.get("core.st2.generic.actiontrigger").map(|t| t.name.as_str()),
        Some("core.execution_finished")
    );
}

#[test]
fn a_pack_trigger_type_with_a_broken_schema_is_refused() {
    let mut types = TriggerTypes::builtin();
    let broken = TriggerType {
        name: "github.push".into(),
        description: "a push".into(),
        payload_schema: json!({"type": "objekt"}),
        parameters_schema: None,
    };
    let error = types.register(broken).expect_err("invalid schema");
    assert!(
        matches!(&error, TriggerError::InvalidSchema { trigger, which: "payload", .. } if trigger == "github.push"),
        "{error:?}"
    );
    assert_eq!(
        types.validate_payload("github.push", &json!({})),
        Err(TriggerError::Unknown("github.push".into()))
    );

    let push = TriggerType {
        name: "github.push".into(),
        description: "a push".into(),
        payload_schema: json!({"type": "object", "required": ["ref"], "properties": {"ref": {"type": "string"}}}),
        parameters_schema: None,
    };
    types.register(push).expect("valid schema");
    assert_eq!(types.validate_payload("github.push", &json!({"ref": "main"})), Ok(()));
    let error = types.validate_payload("github.push", &json!({"ref": 7})).expect_err("wrong type");
    assert_eq!(
        error.to_string(),
        "trigger type `github.push`: payload at `/ref`: 7 is not of type \"string\""
    );
}
