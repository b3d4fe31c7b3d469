//! Limits on what comes from outside (issue 14, items 5, 8, 9 and the
//! datastore's parameters): deep YAML, JSON and TOML refused before they
//! are parsed, through the API and the CLI; bundle uploads bounded in size
//! and number, Squall's sections capped, and exact messages for a damaged
//! signature section or an impossible section length; the datastore's
//! scope, key-name and charset rules.

mod bundles;
mod documents;
mod keys;
mod uploads;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use super::api::{Api, json_body};

/// A refusal must come this fast, however deep the document.
const FAST: Duration = Duration::from_millis(100);

/// Sends `request` and answers its status, body and how long it took.
async fn timed(api: &Api, request: Request<Body>) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = api.send(request).await;
    let elapsed = started.elapsed();
    let status = response.status();
    (status, json_body(response).await, elapsed)
}

/// The error message of an answer.
fn error(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_else(|| panic!("no error message: {body}"))
}
