//! `/ruleenforcements`: what each rule that matched a trigger instance did
//! with it (StackStorm's rule enforcements), newest first. They are
//! stored with their trigger instance, committed in its transaction, so
//! the list reads instances newest first and answers their enforcements.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody, Query};
use super::page::{
    Fields, Page, check_order, only_known, saturating_offset, summary_of, timestamp,
};
use super::state::ApiState;
use crate::store::ReadError;

/// One rule's enforcement: the rule matched a trigger instance and
/// started an execution, or could not (`failure_reason`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnforcementView {
    /// `INSTANCE:N`: the trigger instance's id and the enforcement's
    /// place among its rules' (Squall stores enforcements with their
    /// instance).
    id: String,
    rule: RuleRefView,
    trigger_instance_id: Uuid,
    /// The execution it started.
    execution_id: Option<Uuid>,
    /// Why it started none (the action is not installed, its parameters
    /// did not render or fit).
    failure_reason: Option<String>,
    /// `succeeded` when it started an execution, `failed` otherwise.
    #[schema(example = "succeeded")]
    status: &'static str,
    /// When the trigger instance occurred.
    #[schema(format = DateTime)]
    enforced_at: String,
}

/// The rule of an enforcement.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuleRefView {
    /// `pack.name` (rules are identified by ref).
    id: String,
    #[serde(rename = "ref")]
    reference: String,
    /// `rule:PACK:NAME`.
    uid: String,
}

summary_of!(EnforcementSummary, EnforcementView);

/// Filters and paging of the enforcement list, as `st2
/// rule-enforcement list` sends them.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this rule's (`pack.name`).
    rule_ref: Option<String>,
    /// The same: rules are identified by ref.
    rule_id: Option<String>,
    /// Only those of this trigger instance.
    trigger_instance: Option<Uuid>,
    /// Only the one that started this execution.
    execution: Option<Uuid>,
    /// Only those with this status: `failed` (they started nothing, and
    /// `failure_reason` says why) or `succeeded`. Squall's addition.
    #[param(pattern = "^(succeeded|failed)$")]
    status: Option<String>,
    /// Page size, 1 to 1000, or -1 for the largest page; default 50.
    #[param(minimum = -1, maximum = 1000)]
    limit: Option<i64>,
    /// Enforcements to skip, newest first.
    #[serde(default, deserialize_with = "saturating_offset")]
    offset: Option<usize>,
    /// StackStorm's order: `true` (the default here: newest first).
    #[param(pattern = "^(true|false|True|False)$")]
    sort_desc: Option<String>,
    /// StackStorm's order: only `false` is taken (newest first).
    #[param(pattern = "^(false|False)$")]
    sort_asc: Option<String>,
    /// Only these attributes, separated by commas (`id` always comes
    /// too; `rule.ref` chooses `rule`).
    include_attributes: Option<String>,
}

/// Every attribute of an enforcement, in the order the view has them.
const ATTRIBUTES: &[&str] = &[
    "id",
    "rule",
    "trigger_instance_id",
    "execution_id",
    "failure_reason",
    "status",
    "enforced_at",
];

const PARAMETERS: &[&str] = &[
    "rule_ref",
    "rule_id",
    "trigger_instance",
    "execution",
    "status",
    "limit",
    "offset",
    "sort_desc",
    "sort_asc",
    "include_attributes",
];

/// Rule enforcements newest first (by their trigger instance).
#[utoipa::path(
    get,
    path = "/ruleenforcements",
    operation_id = "list_rule_enforcements",
    tag = "rules",
    params(ListQuery),
    responses(
        (status = 200, description = "Matching enforcements, newest first (the attributes asked for)", body = [EnforcementSummary],
            headers(("x-total-count" = u64, description = "How many match, when the scan reached the last one"))),
        (status = 400, description = "A filter or paging value is malformed, or a parameter is unknown; the message names it", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    only_known(raw.as_deref(), PARAMETERS)?;
    check_order(query.sort_asc.as_deref(), query.sort_desc.as_deref())?;
    let page = Page::new(query.limit, query.offset)?;
    let fields = Fields::parse(query.include_attributes.as_deref(), None, ATTRIBUTES, &[])?;
    let rule = match (query.rule_ref, query.rule_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request("rule_id: names another rule than rule_ref")
                .with_detail(json!({"parameter": "rule_id"})));
        }
        (a, b) => a.or(b),
    };
    let failed = match query.status.as_deref() {
        None => None,
        Some("failed") => Some(true),
        Some("succeeded") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status: expected `succeeded` or `failed`, found `{other}`"
            ))
            .with_detail(json!({"parameter": "status"})));
        }
    };
    let store = state.engine().store().clone();
    let scan = move || -> Result<(Vec<EnforcementView>, bool), ReadError> {
        let snapshot = store.read()?;
        let (oldest, newest) = match query.trigger_instance {
            Some(id) => (id, id),
            None => (Uuid::nil(), Uuid::max()),
        };
        let mut found = Vec::new();
        let mut skipped = 0;
        for instance in snapshot.trigger_instances_newest_first(oldest, newest)? {
            let instance = instance?;
            for (n, decision) in instance.decisions.iter().enumerate() {
                if rule.as_deref().is_some_and(|r| r != decision.rule)
                    || query.execution.is_some_and(|e| decision.execution != Some(e))
                    || failed.is_some_and(|f| f != decision.execution.is_none())
                {
                    continue;
                }
                if skipped < page.offset {
                    skipped += 1;
                    continue;
                }
                if found.len() == page.limit {
                    return Ok((found, true));
                }
                let (pack, name) =
                    crate::limits::split_ref(&decision.rule).unwrap_or(("", &decision.rule));
                found.push(EnforcementView {
                    id: format!("{}:{n}", instance.id),
                    rule: RuleRefView {
                        id: decision.rule.clone(),
                        reference: decision.rule.clone(),
                        uid: format!("rule:{pack}:{name}"),
                    },
                    trigger_instance_id: instance.id,
                    execution_id: decision.execution,
                    failure_reason: decision.error.clone(),
                    status: if decision.execution.is_some() { "succeeded" } else { "failed" },
                    enforced_at: timestamp(instance.occurred_at),
                });
            }
        }
        Ok((found, false))
    };
    let (found, more) = tokio::task::spawn_blocking(scan).await.map_err(ApiError::internal)??;
    let total = (!more).then(|| (page.offset + found.len()).to_string());
    let found: Vec<_> = found.iter().map(|e| fields.select(e)).collect();
    let mut response = Json(found).into_response();
    if let Some(total) = total.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert("x-total-count", total);
    }
    Ok(response)
}
