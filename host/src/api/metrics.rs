//! `GET /metrics`: Prometheus text exposition of what is cheap to know —
//! HTTP requests by route and status, trigger instances and execution
//! state changes since start (from the engine's live feed), the store's
//! commits and operations, executions queued and running.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast;

use super::error::{ApiError, ErrorBody};
use super::state::ApiState;
use crate::engine::EngineEvent;
use crate::store::ExecutionStatus;

/// Counters kept since the API started.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// (method, route, status) → requests.
    http: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    /// Trigger type → instances announced.
    triggers: Mutex<BTreeMap<String, u64>>,
    /// Status → executions that reached it.
    executions: Mutex<BTreeMap<&'static str, u64>>,
    /// Events the counter missed by falling behind the feed.
    missed: AtomicU64,
}

impl Metrics {
    /// Counts the engine's events until the feed closes.
    pub(crate) async fn count(
        self: std::sync::Arc<Self>,
        mut feed: broadcast::Receiver<EngineEvent>,
    ) {
        loop {
            match feed.recv().await {
                // This node's own work: each node counts what it committed.
                Ok(EngineEvent::TriggerInstance { trigger, elsewhere: false, .. }) => {
                    *lock(&self.triggers).entry(trigger).or_default() += 1;
                }
                Ok(EngineEvent::Execution { status, elsewhere: false, .. }) => {
                    *lock(&self.executions).entry(status_name(status)).or_default() += 1;
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.missed.fetch_add(missed, Ordering::Relaxed);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn record_request(&self, method: &Method, route: String, status: u16) {
        *lock(&self.http).entry((method_name(method), route, status)).or_default() += 1;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The status as the API and the store spell it.
pub(crate) fn status_name(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Requested => "requested",
        ExecutionStatus::Scheduled => "scheduled",
        ExecutionStatus::Running => "running",
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::Timeout => "timeout",
        ExecutionStatus::Canceled => "canceled",
        ExecutionStatus::Abandoned => "abandoned",
        ExecutionStatus::Paused => "paused",
        ExecutionStatus::Pending => "pending",
    }
}

/// Standard methods by name; anything else is `other`, so that clients
/// cannot grow the label set at will.
fn method_name(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("other", |(_, name)| name)
}

/// Counts every request by method, route template and status.
pub(crate) async fn track(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics().record_request(&method, route, response.status().as_u16());
    response
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "get_metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn render(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let store = state.engine().store();
    let (queued, running) = {
        let snapshot = store.read()?;
        (snapshot.queued_executions()?, snapshot.running_executions()?)
    };
    let stats = store.stats();
    let metrics = state.metrics();
    let mut out = String::new();
    family(
        &mut out,
        "squall_http_requests_total",
        "counter",
        "HTTP requests answered, by method, route template and status.",
    );
    for ((method, route, status), count) in lock(&metrics.http).iter() {
        let labels =
            [("method", *method), ("route", route.as_str()), ("status", &status.to_string())];
        sample(&mut out, "squall_http_requests_total", &labels, *count);
    }
    family(
        &mut out,
        "squall_trigger_instances_total",
        "counter",
        "Trigger instances the engine announced since start, by trigger type.",
    );
    for (trigger, count) in lock(&metrics.triggers).iter() {
        sample(&mut out, "squall_trigger_instances_total", &[("trigger", trigger)], *count);
    }
    family(
        &mut out,
        "squall_executions_total",
        "counter",
        "Execution state changes committed since start, by the state reached.",
    );
    for (status, count) in lock(&metrics.executions).iter() {
        sample(&mut out, "squall_executions_total", &[("status", status)], *count);
    }
    family(
        &mut out,
        "squall_engine_events_missed_total",
        "counter",
        "Engine events the metrics missed by falling behind the feed.",
    );
    sample(
        &mut out,
        "squall_engine_events_missed_total",
        &[],
        metrics.missed.load(Ordering::Relaxed),
    );
    family(
        &mut out,
        "squall_store_commits_total",
        "counter",
        "Store write transactions committed (one fsync each).",
    );
    sample(&mut out, "squall_store_commits_total", &[], stats.commits);
    family(
        &mut out,
        "squall_store_operations_total",
        "counter",
        "Operations those transactions carried.",
    );
    sample(&mut out, "squall_store_operations_total", &[], stats.operations);
    family(&mut out, "squall_executions_queued", "gauge", "Executions waiting on the work queue.");
    sample(&mut out, "squall_executions_queued", &[], queued);
    family(&mut out, "squall_executions_running", "gauge", "Executions a worker is running.");
    sample(&mut out, "squall_executions_running", &[], running);
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value escaped as the text format requires.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
