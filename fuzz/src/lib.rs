//! The bodies of the fuzz targets, one function per parser that takes
//! outside input. Each `fuzz_targets/NAME.rs` runs [`NAME`](TARGETS) under
//! libFuzzer ([`driver`]); `tests/it/fuzz_regressions.rs` runs every file
//! of `fuzz/corpus/NAME/` through the same function, so a finding kept
//! there is a normal test too.
//!
//! A target returns nothing and asserts nothing beyond what the parser
//! itself does: a panic, a stack overflow, a hang (libFuzzer's `-timeout`)
//! or an allocation over libFuzzer's memory limit is the finding.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use serde_json::{Map, Value, json};
use squall::engine::Schedule;
use squall::pack::{Bundle, Keyring, TrustedKey};
use squall::rules::{MatchContext, Rule};
use squall::runtime::WebhookRequest;

pub mod driver;
pub mod seeds;

/// A target body: runs one input through a parser.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/run.sh` and the corpus directories name
/// them.
pub const TARGETS: &[(&str, Target)] = &[
    ("rule_yaml", rule_yaml),
    ("workflow_yaml", workflow_yaml),
    ("pack_manifest", pack_manifest),
    ("bundle", bundle),
    ("signature", signature),
    ("webhook_body", webhook_body),
    ("jinja", jinja),
    ("cron", cron),
    ("rbac", rbac),
];

/// A trigger payload with a bit of everything for criteria and templates
/// to reach into.
static PAYLOAD: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "body": {"a": 1, "b": [1, 2.5, "x", null], "c": {"d": "hello", "e": [{"f": true}]}},
        "headers": {"content-type": "application/json", "x-github-event": "push"},
        "s": "Some Text", "n": null, "t": true, "v": 5, "f": -0.5,
        "when": "2024-06-01T11:59:00Z",
        "list": ["a", "b", "c"],
    })
});

/// The datastore templates see (`st2kv.system.threshold`, `kv.app.env`)
/// and a fixed "now", as in the rule tests.
fn match_context() -> MatchContext {
    let datastore: BTreeMap<String, String> = [("threshold", "10"), ("app.env", "prod")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let now = "2024-06-01T12:00:00Z".parse().expect("a valid instant");
    MatchContext::new(Arc::new(datastore), now)
}

/// Matches and renders a loaded rule against [`PAYLOAD`]: the compiled
/// criteria, operators and templates all run.
fn exercise(rule: &Rule) {
    let context = match_context();
    let _ = rule.matches(&PAYLOAD, &context);
    let _ = rule.explain(&PAYLOAD, &context);
    let _ = rule.render_parameters(&PAYLOAD, &context);
}

/// `Rule::from_yaml`, the rule loader behind `POST /rules`, `squall rule`
/// and pack installs; a rule that loads is then matched and rendered.
pub fn rule_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(rule) = Rule::from_yaml(text, "fuzz.yaml") {
        exercise(&rule);
    }
}

/// `workflow::load` (the Orquesta reader and validator behind pack installs
/// and `squall workflow validate`); a workflow that loads is rendered as
/// `squall workflow inspect` shows it.
pub fn workflow_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(workflow) = squall::workflow::load(text, "fuzz.yaml") {
        let _ = squall::workflow::render(&workflow);
    }
}

/// `Manifest::from_toml`, the `pack.toml` reader.
pub fn pack_manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = squall::pack::Manifest::from_toml(text, Path::new("fuzz/pack.toml"));
}

/// The bundle reader (`POST /packs`, `squall pack install`): the header
/// check, then the sections, the embedded `pack.toml`, rules and
/// workflows.
pub fn bundle(data: &[u8]) {
    if squall::pack::check_header(data, "fuzz.wasm").is_ok() {
        let _ = Bundle::read(data, "fuzz.wasm");
    }
}

/// The keyring the `signature` target verifies against: the key the
/// generated seeds are signed with (see [`seeds`]).
static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
    Keyring::new(vec![TrustedKey { name: "fuzz".into(), key: seeds::public_key() }])
});

/// Signature verification (`Keyring::verify`, run on every install before
/// the bundle is read) and the public-key reader behind `squall trust add`
/// and `POST /trust`.
pub fn signature(data: &[u8]) {
    let _ = KEYRING.verify(data);
    let _ = squall::pack::public_key_from_bytes(data);
}

/// How a plain webhook request becomes `trigger.headers` and
/// `trigger.body`. The input's first line is the `Content-Type` header,
/// the rest the body.
pub fn webhook_body(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b""[..], data),
    };
    let request = WebhookRequest {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![
            ("Content-Type".into(), String::from_utf8_lossy(content_type).into_owned()),
            ("X-Repeated".into(), "a".into()),
            ("x-repeated".into(), "b".into()),
        ],
        body: body.to_vec(),
    };
    let _ = squall::engine::webhook_payload(&request);
}

/// Jinja through the rules' environment (a criteria pattern and action
/// parameters, compiled and rendered against [`PAYLOAD`]), through the
/// workflow expression checker (the text as a transition condition, a
/// publish and an output), and the YAQL-to-Jinja translation.
pub fn jinja(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let rule = json!({
        "name": "fuzz",
        "pack": "fuzz",
        "trigger": {"type": "core.webhook", "parameters": {"url": "fuzz"}},
        "criteria": {"trigger.s": {"type": "equals", "pattern": text}},
        "action": {"ref": "core.echo", "parameters": {"message": text, "list": [text]}},
    });
    if let Ok(rule) = Rule::from_value(&rule, "fuzz.yaml") {
        exercise(&rule);
    }
    let _ = squall::workflow::check_yaql(text);
    let workflow = json!({
        "version": "1.0",
        "input": ["x"],
        "tasks": {"a": {"action": "core.noop", "next": [{"when": text, "publish": [{"y": text}]}]}},
        "output": [{"z": text}],
    });
    let _ = squall::workflow::load(&workflow.to_string(), "fuzz.yaml");
}

/// The `core.cron_timer` fields, in the order the line form gives them.
const CRON_FIELDS: [&str; 9] =
    ["second", "minute", "hour", "day", "month", "day_of_week", "year", "week", "timezone"];

/// Timer schedules (`Schedule::from_trigger`, run for every timer rule),
/// then the next few firings. An input that is a JSON object is tried as
/// the parameters of each of the three timers; otherwise each line is one
/// cron field in [`CRON_FIELDS`] order (an empty line leaves it out).
pub fn cron(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let timers: Vec<(&str, Map<String, Value>)> = match serde_json::from_str(text) {
        Ok(Value::Object(parameters)) => {
            ["core.cron_timer", "core.interval_timer", "core.date_timer"]
                .into_iter()
                .map(|timer| (timer, parameters.clone()))
                .collect()
        }
        _ => {
            let fields = CRON_FIELDS
                .iter()
                .zip(text.lines())
                .filter(|(_, value)| !value.is_empty())
                .map(|(name, value)| ((*name).to_owned(), Value::String(value.to_owned())))
                .collect();
            vec![("core.cron_timer", fields)]
        }
    };
    let starts = ["2026-01-01T00:00:00Z", "2028-02-29T23:59:59.5Z", "2026-03-29T00:59:59Z"];
    for (timer, parameters) in timers {
        let Ok(schedule) = Schedule::from_trigger(timer, &parameters) else { continue };
        for start in starts {
            let mut after = start.parse().expect("a valid instant");
            for _ in 0..3 {
                match schedule.next_after(after) {
                    Some(next) => after = next,
                    None => break,
                }
            }
        }
    }
}

/// StackStorm RBAC files: a role definition and a user's role assignment
/// (`squall role load`, `/rbac`).
pub fn rbac(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = squall::access::parse_role(text, Path::new("roles/fuzz.yaml"));
    let _ = squall::access::parse_assignment(text, Path::new("assignments/fuzz.yaml"));
}
