//! `/audit`: the append-only audit log — pack installs, upgrades, removals
//! and refusals, trust changes, every capability a pack was denied, and
//! every change made through the API (rules, keys, API keys, users, roles,
//! tokens, failed sign-ins), each with its actor.

use axum::Json;
use axum::extract::{Query, RawQuery, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::page::{only_known, timestamp};
use super::state::ApiState;
use crate::store::{AuditEvent, now_millis};

/// The audit event of a change `caller` made through the API; `detail`
/// never holds a secret.
pub(crate) fn event(caller: &Caller, action: &str, subject: &str, detail: Value) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: caller.actor(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        // The audit view's `detail` is an object: none is `{}`.
        detail: if detail.is_null() { Value::Object(Default::default()) } else { detail },
    }
}

/// Most events one request returns.
const MAX_LIMIT: usize = 1000;

/// Which events.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events with a sequence number above this one (for paging and
    /// for following the log).
    #[serde(default)]
    after: u64,
    /// At most this many, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only events whose action is this, e.g. `capability.denied`.
    action: Option<String>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditView {
    /// Its sequence number: strictly increasing.
    seq: u64,
    #[schema(format = DateTime)]
    at: String,
    /// Who: `pack:<name>` for a pack, `USER (API key NAME)` or `USER
    /// (token)` for an API caller.
    actor: String,
    /// What, e.g. `pack.install`, `pack.refused`, `capability.denied`.
    action: String,
    /// What it happened to.
    subject: String,
    /// Details; never secret values.
    #[schema(value_type = Object)]
    detail: Value,
}

/// Audit events, oldest first.
#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Events after `after`, oldest first", body = [AuditView]),
        (status = 400, description = "A bad or unknown query parameter; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    // Paging is by `after`, not `offset`; times and states are not
    // filters here: saying so beats answering as if they were.
    only_known(raw.as_deref(), &["after", "limit", "action"])?;
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: expected 1 to {MAX_LIMIT}, got {limit}"
        )));
    }
    let snapshot = state.engine().store().read()?;
    let mut views = Vec::with_capacity(limit);
    let mut after = query.after;
    // Filtering happens after the read, so read on until the page is full.
    while views.len() < limit {
        let events = snapshot.audit(after, MAX_LIMIT)?;
        let Some((last, _)) = events.last() else { break };
        after = *last;
        for (seq, event) in events {
            if query.action.as_ref().is_some_and(|a| *a != event.action) {
                continue;
            }
            views.push(AuditView {
                seq,
                at: timestamp(event.at),
                actor: event.actor,
                action: event.action,
                subject: event.subject,
                detail: event.detail,
            });
            if views.len() == limit {
                break;
            }
        }
    }
    Ok(Json(views))
}
