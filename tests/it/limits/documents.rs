//! Deeply nested documents — the reviewer's 200 KB rule nested 100,000
//! deep took 48 s — are refused in well under 100 ms with a message naming
//! the limit: rules, roles and JSON bodies through the API, workflows,
//! rules and trigger instances through the CLI, `pack.toml` and role files
//! through their readers. Nothing is stored.

use std::path::Path;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};

use super::{Api, FAST, error, timed};

const LIMIT: &str = "nested deeper than the limit of 64 levels";

/// The reviewer's shapes: flow sequences and maps, closed or not, and
/// block sequences opened on one line.
fn deep_yaml(prefix: &str) -> Vec<(&'static str, String)> {
    let n = 100_000;
    vec![
        ("flow sequences", format!("{prefix}{}{}", "[".repeat(n), "]".repeat(n))),
        ("flow maps", format!("{prefix}{}", "{a: ".repeat(n / 2))),
        ("unclosed", format!("{prefix}{}", "[".repeat(n))),
        ("dashes", format!("{prefix}\n  {}x", "- ".repeat(n))),
    ]
}

#[tokio::test]
async fn deep_rules_roles_and_json_bodies_are_400_naming_the_limit() {
    let api = Api::start().await;
    let stored = api.stored();
    for (shape, yaml) in deep_yaml("name: deep\npack: tests\ntrigger: ") {
        let request = api
            .authed(Method::POST, "/api/v1/rules")
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(Body::from(yaml))
            .expect("request");
        let (status, body, elapsed) = timed(&api, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "rule, {shape}: {body}");
        assert!(error(&body).contains(LIMIT), "rule, {shape}: {body}");
        assert!(elapsed < FAST, "rule, {shape}: took {elapsed:?}");
    }
    for (shape, yaml) in deep_yaml("name: deep\npermission_grants: ") {
        let request = api
            .authed(Method::PUT, "/api/v1/rbac/roles/deep")
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(Body::from(yaml))
            .expect("request");
        let (status, body, elapsed) = timed(&api, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "role, {shape}: {body}");
        assert!(error(&body).contains(LIMIT), "role, {shape}: {body}");
        assert!(elapsed < FAST, "role, {shape}: took {elapsed:?}");
    }
    let deep_json = format!("{{\"value\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    for (method, path) in [
        (Method::POST, "/api/v1/rules"),
        (Method::PUT, "/api/v1/keys/deep"),
        (Method::POST, "/api/v1/executions"),
        (Method::POST, "/api/v1/apikeys"),
    ] {
        let request = api
            .authed(method.clone(), path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(deep_json.clone()))
            .expect("request");
        let (status, body, elapsed) = timed(&api, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert!(error(&body).contains(&format!("line 1: {LIMIT}")), "{method} {path}: {body}");
        assert!(elapsed < FAST, "{method} {path}: took {elapsed:?}");
    }
    assert_eq!(api.stored(), stored, "a refused document stored something");
}

#[tokio::test]
async fn documents_within_the_limit_still_load() {
    let api = Api::start().await;
    // Brackets in quoted scalars and comments are text, not nesting.
    let rule = format!(
        "name: quoted\npack: tests\ntrigger: {{type: core.st2.webhook, parameters: {{url: q}}}}\n\
         action:\n  ref: core.noop\ndescription: \"{}\"\n# {}\n",
        "[".repeat(500),
        "{".repeat(500)
    );
    api.add_rule(&rule).await;
    // 61 levels of parameters under the rule's own 3: 64 in all.
    let deep: serde_json::Value =
        serde_json::from_str(&format!("{}1{}", "[".repeat(61), "]".repeat(61))).expect("JSON");
    let rule = serde_json::json!({
        "name": "nested", "pack": "tests",
        "trigger": {"type": "core.st2.webhook", "parameters": {"url": "n"}},
        "action": {"ref": "core.noop", "parameters": {"deep": deep}},
    });
    let (status, body) = api.call(Method::POST, "/api/v1/rules", Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Runs the CLI; answers its exit status, what it printed, and how long
/// it took.
fn cli(args: &[&str]) -> (u8, String, std::time::Duration) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let status = squall::cli::execute(args.iter().copied(), &mut out, &mut err);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err);
    (status, text, elapsed)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn deep_files_are_refused_by_the_cli_and_the_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let instance =
        write(dir.path(), "instance.json", r#"{"trigger": "core.st2.webhook", "payload": {}}"#);
    let rule = write(
        dir.path(),
        "rule.yaml",
        "name: r\npack: p\ntrigger: {type: core.st2.webhook}\naction: {ref: core.noop}\n",
    );
    for (shape, yaml) in deep_yaml("version: 1.0\ntasks: ") {
        let workflow = write(dir.path(), "deep.yaml", &yaml);
        let (status, text, elapsed) = cli(&["squall", "workflow", "validate", &workflow]);
        assert_ne!(status, 0, "workflow, {shape}: {text}");
        assert!(text.contains(LIMIT), "workflow, {shape}: {text}");
        assert!(elapsed < FAST, "workflow, {shape}: took {elapsed:?}");
    }
    for (shape, yaml) in deep_yaml("name: deep\npack: p\ntrigger: ") {
        let deep = write(dir.path(), "deep_rule.yaml", &yaml);
        let (status, text, elapsed) = cli(&["squall", "rule", "test", &deep, &instance]);
        assert_eq!(status, 2, "rule, {shape}: {text}");
        assert!(text.contains(LIMIT), "rule, {shape}: {text}");
        assert!(elapsed < FAST, "rule, {shape}: took {elapsed:?}");
        let deep = write(dir.path(), "deep_instance.yaml", &yaml);
        let (status, text, elapsed) = cli(&["squall", "rule", "test", &rule, &deep]);
        assert_eq!(status, 2, "instance, {shape}: {text}");
        assert!(text.contains(LIMIT), "instance, {shape}: {text}");
        assert!(elapsed < FAST, "instance, {shape}: took {elapsed:?}");
    }
    for toml in [
        format!("name = \"p\"\nversion = \"1.0.0\"\nx = {}", "[".repeat(100_000)),
        format!("name = \"p\"\nversion = \"1.0.0\"\nx = {}", "{a = ".repeat(50_000)),
        format!("name = \"p\"\nversion = \"1.0.0\"\n[{}]", "a.".repeat(50_000)),
    ] {
        let started = Instant::now();
        let e = squall::pack::Manifest::from_toml(&toml, Path::new("pack.toml")).expect_err("deep");
        assert!(started.elapsed() < FAST, "pack.toml: took {:?}", started.elapsed());
        assert_eq!(e.field, "line 3", "{e}");
        assert!(e.to_string().contains(LIMIT), "{e}");
    }
    let (_, yaml) = deep_yaml("username: u\nroles: ").swap_remove(0);
    let e = squall::access::parse_assignment(&yaml, Path::new("u.yaml")).expect_err("deep");
    assert_eq!(e.to_string(), format!("u.yaml: line 2: {LIMIT}"));
    let big = format!("name: big\ndescription: \"{}\"\n", "x".repeat(2 << 20));
    let e = squall::access::parse_role(&big, Path::new("big.yaml")).expect_err("too big");
    assert!(e.to_string().contains("over the limit of 1048576 bytes for one document"), "{e}");
}
