//! `GET /stream`: committed events as Server-Sent Events, filtered by
//! type and execution; a client that falls behind is told what it missed
//! and goes on; closing the streams ends them (for a graceful stop).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use squall::engine::KvChange;
use squall::store::KvScope;

use super::{Api, HELLO_RULE};

/// An open event stream.
pub(crate) struct Events {
    body: Body,
    buffer: String,
}

impl Events {
    pub(crate) fn new(body: Body) -> Self {
        Self { body, buffer: String::new() }
    }

    /// The next event as (name, data); `None` when the stream ended.
    /// Keep-alive comments are skipped.
    pub(crate) async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if name.is_empty() {
                    continue; // a comment
                }
                return Some((name, serde_json::from_str(&data).expect("JSON data")));
            }
            let frame = tokio::time::timeout(Duration::from_secs(20), self.body.frame())
                .await
                .expect("an event within 20 s")?
                .expect("stream frame");
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(std::str::from_utf8(&data).expect("UTF-8"));
            }
        }
    }

    /// Events up to and including the first for which `last` holds.
    pub(crate) async fn until(
        &mut self,
        last: impl Fn(&str, &Value) -> bool,
    ) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let (name, data) = self.next().await.expect("the stream ended early");
            let done = last(&name, &data);
            seen.push((name, data));
            if done {
                return seen;
            }
        }
    }
}

async fn open(api: &Api, query: &str) -> Events {
    let request = api.authed(Method::GET, &format!("/api/v1/stream{query}")).body(Body::empty());
    let response = api.send(request.expect("request")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Events::new(response.into_body())
}

fn finished(id: &str) -> impl Fn(&str, &Value) -> bool + '_ {
    move |name, data| name == "execution" && data["id"] == id && data["status"] == "succeeded"
}

#[tokio::test]
async fn the_stream_sends_committed_events_filtered_by_type_and_execution() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let mut everything = open(&api, "").await;
    let mut executions = open(&api, "?events=execution").await;
    let (status, answer) =
        api.call(Method::POST, "/api/v1/webhooks/hello", Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let instance = answer["trigger_instances"][0].as_str().expect("id").to_owned();
    let stored = api.get(&format!("/api/v1/triggerinstances/{instance}")).await;
    let execution = stored["rule_enforcements"][0]["execution"].as_str().expect("id").to_owned();

    let seen = everything.until(finished(&execution)).await;
    assert_eq!(
        seen[0],
        ("trigger_instance".into(), json!({"id": instance, "trigger": "core.webhook"}))
    );
    let statuses: Vec<&str> =
        seen[1..].iter().map(|(_, d)| d["status"].as_str().expect("status")).collect();
    assert_eq!(statuses.last(), Some(&"succeeded"));
    assert_eq!(seen.last().expect("last").1["action"], "core.echo");
    let seen = executions.until(finished(&execution)).await;
    assert!(seen.iter().all(|(name, _)| name == "execution"), "{seen:?}");

    // One execution's events only.
    let request = json!({"action": "core.sleep", "parameters": {"seconds": 0.3}});
    let (_, sleeper) = api.call(Method::POST, "/api/v1/executions", Some(request)).await;
    let sleeper = sleeper["id"].as_str().expect("id").to_owned();
    let mut one = open(&api, &format!("?events=execution&execution={sleeper}")).await;
    let request = json!({"action": "core.echo", "parameters": {"message": "noise"}});
    assert_eq!(
        api.call(Method::POST, "/api/v1/executions", Some(request)).await.0,
        StatusCode::CREATED
    );
    let seen = one.until(finished(&sleeper)).await;
    assert!(seen.iter().all(|(_, data)| data["id"] == sleeper.as_str()), "{seen:?}");

    let (status, body) = api.call(Method::GET, "/api/v1/stream?events=execution,bogus", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"],
        "events: expected `trigger_instance`, `execution`, `output` or `announcement`, got `bogus`"
    );
}

#[tokio::test]
async fn a_client_that_falls_behind_is_told_what_it_missed_and_the_stream_goes_on() {
    let api = Api::start().await;
    let mut stream = open(&api, "?events=trigger_instance").await;
    // The feed keeps 4096 events; make more while the client reads none.
    let mut changes = tokio::task::JoinSet::new();
    for i in 0..4200 {
        let engine = api.engine.clone();
        changes.spawn(async move {
            let change = KvChange::Set { value: i.to_string(), secret: false, ttl: None };
            engine.kv_change(KvScope::System, &format!("k{i}"), change).await.expect("kv change");
        });
    }
    while let Some(done) = changes.join_next().await {
        done.expect("task");
    }
    let (name, data) = stream.next().await.expect("an event");
    assert_eq!(name, "lagged");
    let missed = data["missed"].as_u64().expect("missed");
    assert!((1..=4200).contains(&missed), "{data}");
    let (name, data) = stream.next().await.expect("the stream goes on");
    assert_eq!((name.as_str(), &data["trigger"]), ("trigger_instance", &json!("core.kv_changed")));
}

#[tokio::test]
async fn closing_the_streams_ends_open_ones() {
    let api = Api::start().await;
    let mut stream = open(&api, "").await;
    api.state.close_streams();
    assert_eq!(stream.next().await, None);
}
