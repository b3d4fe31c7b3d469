//! A failing or blocked log sink costs log lines, never answers: `squall
//! serve` with debug logging and its standard error on `/dev/full`, or on a
//! pipe nobody reads, still answers every request, the ones that log
//! errors included, and stops cleanly.

use std::process::Stdio;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::server::{Launch, Server};

const RULE: &str = r#"
name: logged
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: logged}}
action:
  ref: core.echo
  parameters: {message: "hello {{ trigger.body.name }}"}
"#;

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stderr_on_dev_full_requests_still_get_answers() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    answers_with_stderr(Stdio::from(full)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_stderr_on_a_pipe_nobody_reads_requests_still_get_answers() {
    // `Server` keeps the pipe's reading end open and never reads it: once
    // its buffer is full, every write to it would block.
    answers_with_stderr(Stdio::piped()).await;
}

async fn answers_with_stderr(stderr: Stdio) {
    let dir = tempfile::tempdir().expect("tempdir");
    let launch = Launch {
        packs: true,
        env: vec![("SQUALL_LOG", "debug")],
        stderr: Some(stderr),
        ..Launch::default()
    };
    let (server, _) = Server::launch(&dir.path().join("data"), launch);
    let response =
        server.send(Method::POST, "/api/v1/rules", "application/yaml", RULE.into()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // Enough requests, each logged at debug, to fill a pipe's buffer.
    for _ in 0..200 {
        let (status, _) = server.call(Method::GET, "/api/v1/health", None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = server.call(Method::GET, "/api/v1/no-such-thing", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.call(Method::POST, "/api/v1/webhooks/unknown", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response =
        server.send(Method::POST, "/api/v1/webhooks/logged", "application/json", "x{".into()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (status, _) = server.call(Method::GET, "/api/v1/executions/not-an-id", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let execution = server.fire("logged", "", json!({"name": "logs"})).await;
    let done: Value = server.finished(&execution).await;
    assert_eq!(done["result"], json!({"message": "hello logs"}));
    let said = server.stop();
    assert!(said.iter().any(|l| l == "squall serve: stopped"), "{said:#?}");
}
