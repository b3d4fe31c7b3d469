//! `/inquiries`: the questions `core.ask` tasks put to people, and their
//! answers. A response is checked against the inquiry's JSON Schema; one
//! that does not fit is refused with every problem and changes nothing.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, Body, ErrorBody, Path, Query, parse_id};
use super::page::timestamp;
use super::state::ApiState;
use crate::engine::InquiryError;
use crate::store::{InquiryRecord, InquiryStatus};

/// Where an inquiry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum InquiryState {
    /// Waiting for a response.
    Pending,
    /// Answered.
    Responded,
    /// Its ttl passed unanswered.
    Expired,
    /// Its workflow was canceled.
    Canceled,
}

impl From<InquiryStatus> for InquiryState {
    fn from(status: InquiryStatus) -> Self {
        match status {
            InquiryStatus::Pending => Self::Pending,
            InquiryStatus::Responded => Self::Responded,
            InquiryStatus::Expired => Self::Expired,
            InquiryStatus::Canceled => Self::Canceled,
        }
    }
}

impl From<InquiryState> for InquiryStatus {
    fn from(state: InquiryState) -> Self {
        match state {
            InquiryState::Pending => Self::Pending,
            InquiryState::Responded => Self::Responded,
            InquiryState::Expired => Self::Expired,
            InquiryState::Canceled => Self::Canceled,
        }
    }
}

/// A question waiting for (or given) a person's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InquiryView {
    /// The `core.ask` execution's id.
    id: Uuid,
    /// The workflow execution that asked.
    workflow: Option<Uuid>,
    status: InquiryState,
    /// JSON Schema a response must satisfy.
    #[schema(value_type = Object)]
    schema: Value,
    /// Who is asked.
    route: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When it expires unanswered.
    #[schema(format = DateTime)]
    expires_at: String,
    /// StackStorm's `ttl`: minutes from asking to expiry.
    ttl: i64,
    /// The accepted response.
    response: Option<Value>,
}

impl From<InquiryRecord> for InquiryView {
    fn from(record: InquiryRecord) -> Self {
        Self {
            id: record.id,
            workflow: record.workflow,
            status: record.status.into(),
            schema: record.schema,
            route: record.route,
            created_at: timestamp(record.created_at),
            expires_at: timestamp(record.expires_at),
            ttl: (record.expires_at - record.created_at) / 60_000,
            response: record.response,
        }
    }
}

/// Which inquiries to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only those in this state (default: pending).
    status: Option<InquiryState>,
    /// At most this many, oldest first (default 100, at most 1000).
    limit: Option<usize>,
}

/// A response to an inquiry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResponseBody {
    /// The answer; it must fit the inquiry's schema.
    #[schema(value_type = Object)]
    response: Value,
    /// The inquiry's id, as `st2 inquiry respond` sends it along; it must
    /// be the path's.
    id: Option<String>,
}

/// Inquiries, oldest first; pending ones unless `status` says otherwise.
#[utoipa::path(
    get,
    path = "/inquiries",
    operation_id = "list_inquiries",
    tag = "inquiries",
    params(ListQuery),
    responses(
        (status = 200, description = "The inquiries", body = [InquiryView]),
        (status = 400, description = "A query parameter is malformed", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<InquiryView>>, ApiError> {
    let status = query.status.unwrap_or(InquiryState::Pending);
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = state.engine().store().read()?.inquiries(Some(status.into()), None, limit)?;
    Ok(Json(records.into_iter().map(InquiryView::from).collect()))
}

/// One inquiry.
#[utoipa::path(
    get,
    path = "/inquiries/{id}",
    operation_id = "get_inquiry",
    tag = "inquiries",
    params(("id" = Uuid, Path, description = "Inquiry id (the core.ask execution's)")),
    responses(
        (status = 200, description = "The inquiry", body = InquiryView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such inquiry", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<InquiryView>, ApiError> {
    let id = parse_id("inquiry", &id)?;
    Ok(Json(find(&state, id)?.into()))
}

/// Answers an inquiry: the workflow that asked resumes.
#[utoipa::path(
    put,
    path = "/inquiries/{id}",
    operation_id = "respond_inquiry",
    tag = "inquiries",
    params(("id" = Uuid, Path, description = "Inquiry id (the core.ask execution's)")),
    request_body = ResponseBody,
    responses(
        (status = 200, description = "Accepted; the inquiry as it is now", body = InquiryView),
        (status = 400, description = "The id is not a UUID, the body is not JSON, or its `id` is not the path's", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such inquiry", body = ErrorBody),
        (status = 409, description = "No longer pending; `detail.status` says why", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 422, description = "The response does not fit the schema; `detail.problems` lists why", body = ErrorBody),
    ),
)]
pub(crate) async fn respond(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Body(body): Body<ResponseBody>,
) -> Result<Json<InquiryView>, ApiError> {
    let id = parse_id("inquiry", &id)?;
    if body.id.as_deref().is_some_and(|given| given != id.to_string()) {
        return Err(ApiError::bad_request("id: the body names another inquiry than the path")
            .with_detail(json!({"parameter": "id"})));
    }
    state.engine().respond(id, body.response).await.map_err(|error| match error {
        InquiryError::NotFound(_) => ApiError::not_found(error.to_string()),
        InquiryError::NotPending(_, status) => ApiError::conflict(error.to_string())
            .with_detail(json!({"status": InquiryState::from(status)})),
        InquiryError::Invalid(problems) => ApiError::invalid("response", problems.join("; "))
            .with_detail(json!({"field": "response", "problems": problems})),
        InquiryError::Read(e) => e.into(),
        InquiryError::Write(e) => e.into(),
    })?;
    Ok(Json(find(&state, id)?.into()))
}

fn find(state: &ApiState, id: Uuid) -> Result<InquiryRecord, ApiError> {
    state
        .engine()
        .store()
        .read()?
        .inquiry(id)?
        .ok_or_else(|| ApiError::not_found(format!("inquiry {id} not found")))
}
