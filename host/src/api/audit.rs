//! `/audit`: the append-only audit log — pack installs, upgrades, removals
//! and refusals, trust changes, every capability a pack was denied, and
//! every change made through the API (rules, keys, API keys, users, roles,
//! tokens, failed sign-ins), each with its actor.

use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::page::{Page, check_order, newest_first, only_known, saturating_offset, timestamp};
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

/// Which events, in which order.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only events with a sequence number above this one (for paging
    /// oldest first and for following the log).
    #[serde(default)]
    after: u64,
    /// At most this many, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only events whose action is this, e.g. `capability.denied`.
    action: Option<String>,
    /// Only events of this actor: exactly this (`pack:ops`), or this
    /// user through any API key or token (`admin` matches `admin (token)`
    /// and `admin (API key ci)`).
    actor: Option<String>,
    /// `true`: newest first, paged by `offset` (`x-next-offset` says where
    /// the next page starts); without it (or `false`), oldest first, paged
    /// by `after`.
    #[param(pattern = "^(true|false|True|False)$")]
    sort_desc: Option<String>,
    /// Matching events to skip, newest first; only with `sort_desc=true`.
    #[serde(default, deserialize_with = "saturating_offset")]
    offset: Option<usize>,
}

impl AuditQuery {
    fn keeps(&self, event: &AuditEvent) -> bool {
        self.action.as_ref().is_none_or(|a| *a == event.action)
            && self.actor.as_deref().is_none_or(|actor| {
                event.actor == actor
                    || event
                        .actor
                        .strip_prefix(actor)
                        .is_some_and(|rest| rest.starts_with(" (") && rest.ends_with(')'))
            })
    }
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

impl AuditView {
    fn new(seq: u64, event: AuditEvent) -> Self {
        Self {
            seq,
            at: timestamp(event.at),
            actor: event.actor,
            action: event.action,
            subject: event.subject,
            detail: event.detail,
        }
    }
}

/// Audit events: oldest first after `after` by default; newest first with
/// `sort_desc=true`, paged by `offset` and read from the log's end, so the
/// newest page costs the same however long the log is.
#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Matching events after `after`: oldest first, or newest first with `sort_desc=true`", body = [AuditView],
            headers(
                ("x-total-count" = u64, description = "Newest first only: how many events match, when known without reading them all (always without filters)"),
                ("x-next-offset" = usize, description = "Newest first only: the offset of the next page, when more events match"),
                ("x-page-truncated" = String, description = "Newest first only: `true` when the page stopped at 4 MiB of JSON before `limit`; the next page starts at `x-next-offset`"),
            )),
        (status = 400, description = "A bad or unknown query parameter, or `offset` without `sort_desc=true`; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    // Times and states are not filters here: saying so beats answering as
    // if they were.
    only_known(raw.as_deref(), &["after", "limit", "action", "actor", "sort_desc", "offset"])?;
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: expected 1 to {MAX_LIMIT}, got {limit}"
        )));
    }
    check_order(None, query.sort_desc.as_deref())?;
    let newest = matches!(query.sort_desc.as_deref(), Some("true" | "True"));
    let snapshot = state.engine().store().read()?;
    if newest {
        let page = Page { limit, offset: query.offset.unwrap_or(0) };
        let filtered = query.after > 0 || query.action.is_some() || query.actor.is_some();
        let count = if filtered { None } else { Some(snapshot.audit_count()?) };
        let listing = newest_first(
            snapshot.audit_newest_first(query.after)?,
            |(_, event)| query.keeps(event),
            |(seq, event)| {
                Ok(match serde_json::to_value(AuditView::new(seq, event)) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                })
            },
            page,
            count,
        )?;
        return Ok(listing.into_response());
    }
    if query.offset.is_some() {
        return Err(ApiError::bad_request(
            "offset: pages newest first only (sort_desc=true); oldest first pages by after",
        )
        .with_detail(json!({"parameter": "offset"})));
    }
    let mut views = Vec::with_capacity(limit);
    let mut after = query.after;
    // Filtering happens after the read, so read on until the page is full.
    while views.len() < limit {
        let events = snapshot.audit(after, MAX_LIMIT)?;
        let Some((last, _)) = events.last() else { break };
        after = *last;
        for (seq, event) in events {
            if !query.keeps(&event) {
                continue;
            }
            views.push(AuditView::new(seq, event));
            if views.len() == limit {
                break;
            }
        }
    }
    Ok(Json(views).into_response())
}
