//! Workflow controls on `/executions/{id}`: pause and resume (cascading to
//! sub-workflows); cancel and re-run live in `executions.rs` and reach
//! workflows through the same engine calls.

use axum::Json;
use axum::extract::{Extension, State};
use serde_json::json;
use uuid::Uuid;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody, Path, parse_id};
use super::executions::{ExecutionView, Status, find, find_for};
use super::state::ApiState;
use crate::access::Permission;
use crate::engine::FlowError;

/// Pauses a running workflow: tasks already running finish, nothing new
/// starts until it is resumed. Sub-workflows pause with it.
#[utoipa::path(
    post,
    path = "/executions/{id}/pause",
    operation_id = "pause_execution",
    tag = "executions",
    params(("id" = Uuid, Path, description = "Workflow execution id")),
    responses(
        (status = 200, description = "Paused; the execution as it is now", body = ExecutionView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "Not a workflow, not started yet, or already finished", body = ErrorBody),
    ),
)]
pub(crate) async fn pause(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let id = parse_id("execution", &id)?;
    find_for(&state, &caller, id, Permission::ExecutionStop)?;
    state.engine().pause(id).await.map_err(flow_error)?;
    current(&state, id)
}

/// Resumes a paused workflow: what the pause held back starts now.
#[utoipa::path(
    post,
    path = "/executions/{id}/resume",
    operation_id = "resume_execution",
    tag = "executions",
    params(("id" = Uuid, Path, description = "Workflow execution id")),
    responses(
        (status = 200, description = "Resumed; the execution as it is now", body = ExecutionView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "Not a workflow, not started yet, or already finished", body = ErrorBody),
    ),
)]
pub(crate) async fn resume(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    let id = parse_id("execution", &id)?;
    find_for(&state, &caller, id, Permission::ExecutionStop)?;
    state.engine().resume(id).await.map_err(flow_error)?;
    current(&state, id)
}

fn current(state: &ApiState, id: Uuid) -> Result<Json<ExecutionView>, ApiError> {
    Ok(Json(ExecutionView::read(&find(state, id)?, state)?))
}

/// The answer to a refused or failed workflow control.
pub(crate) fn flow_error(error: FlowError) -> ApiError {
    match error {
        FlowError::NotFound(_) => ApiError::not_found(error.to_string()),
        FlowError::NotWorkflow(_) => ApiError::conflict(format!(
            "{error} (or it has not started yet: a workflow starts when a worker takes it)"
        )),
        FlowError::Finished(_, status) | FlowError::NotFinished(_, status) => {
            ApiError::conflict(error.to_string())
                .with_detail(json!({"status": Status::from(status)}))
        }
        FlowError::Rerun(message) => ApiError::invalid("tasks", message),
        FlowError::Read(e) => e.into(),
        FlowError::Write(e) => e.into(),
    }
}
