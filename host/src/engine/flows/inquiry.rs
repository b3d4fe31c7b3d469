//! Inquiries: a `core.ask` execution waits, `pending`, for a person's
//! response. Asking pauses the workflow that asked; a response that fits
//! the inquiry's JSON Schema ends the execution succeeded with
//! `{"response": ...}` and resumes the workflow; one that does not is
//! refused and changes nothing; no response within `ttl` minutes ends it
//! timed out, which fails the task.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::{Effects, Flows, StepFn};
use crate::engine::Engine;
use crate::engine::executor::Shared;
use crate::store::{
    Execution, ExecutionStatus, InquiryRecord, InquiryStatus, Millis, ReadError, Tx, WriteError,
    now_millis,
};

/// A response was refused or could not be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InquiryError {
    /// No inquiry has that id.
    #[error("inquiry {0} not found")]
    NotFound(Uuid),
    /// It was answered, expired or canceled already.
    #[error("inquiry {id} is {state}, no longer pending", id = .0, state = .1.name())]
    NotPending(Uuid, InquiryStatus),
    /// The response does not fit the inquiry's schema: each problem names
    /// the failing path.
    #[error("the response does not fit the inquiry's schema: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Engine {
    /// Answers a pending inquiry. The response is checked against the
    /// inquiry's schema first; a refused one changes nothing.
    pub async fn respond(&self, id: Uuid, response: Value) -> Result<(), InquiryError> {
        self.shared.respond(id, response).await
    }
}

impl Shared {
    /// [`Engine::respond`], for the engine's own `chatops.respond_inquiry`
    /// too.
    pub(in crate::engine) async fn respond(
        self: &Arc<Self>,
        id: Uuid,
        response: Value,
    ) -> Result<(), InquiryError> {
        let inquiry = self.ingest.store().read()?.inquiry(id)?.ok_or(InquiryError::NotFound(id))?;
        check_response(&inquiry, &response)?;
        let step: StepFn<Result<(), InquiryError>> =
            Box::new(move |flows, tx, fx| flows.answer(tx, id, response.clone(), fx));
        self.step(step).await?
    }

    /// `chatops.list_inquiries`: the pending inquiries, oldest first, with
    /// what each asks for.
    pub(in crate::engine) fn pending_inquiries(&self) -> Result<Value, ReadError> {
        let pending = self.ingest.store().read()?.inquiries(
            Some(InquiryStatus::Pending),
            None,
            MAX_LISTED_INQUIRIES,
        )?;
        let inquiries: Vec<Value> = pending
            .iter()
            .map(|i| {
                serde_json::json!({
                    "id": i.id, "workflow": i.workflow, "route": i.route, "schema": i.schema,
                })
            })
            .collect();
        Ok(serde_json::json!({"count": inquiries.len(), "inquiries": inquiries}))
    }
}

/// Most inquiries `chatops.list_inquiries` lists (a chat message is no
/// place for more).
const MAX_LISTED_INQUIRIES: usize = 50;

/// Checks `response` against the inquiry's schema.
fn check_response(inquiry: &InquiryRecord, response: &Value) -> Result<(), InquiryError> {
    let validator = jsonschema::validator_for(&inquiry.schema)
        .map_err(|e| InquiryError::Invalid(vec![format!("the inquiry's schema: {e}")]))?;
    let problems: Vec<String> = validator
        .iter_errors(response)
        .map(|error| {
            let path = error.instance_path().to_string();
            let at = if path.is_empty() { "response".to_owned() } else { format!("`{path}`") };
            format!("{at}: {error}")
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(InquiryError::Invalid(problems)) }
}

impl Shared {
    /// Opens the inquiry of a `core.ask` execution a worker took: it
    /// commits pending, holds no worker, and pauses the workflow that asked.
    pub(in crate::engine) async fn start_inquiry(
        self: Arc<Self>,
        execution: Execution,
        permit: OwnedSemaphorePermit,
    ) {
        drop(permit);
        self.release_action_slot(&execution.action);
        let id = execution.id;
        let step: StepFn<()> = Box::new(move |flows, tx, fx| flows.ask(tx, execution.clone(), fx));
        if let Err(error) = self.step(step).await {
            tracing::error!(execution = %id, %error, "cannot open an inquiry");
        }
        self.forget_cancel(id);
    }
}

impl Flows {
    fn ask(
        &self,
        tx: &mut Tx<'_>,
        mut execution: Execution,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        if tx.inquiry(execution.id)?.is_some() {
            return Ok(());
        }
        if self.parent_ended(tx, &execution)? {
            execution.error = Some("canceled with its workflow".into());
            return self.end_execution(tx, execution, ExecutionStatus::Canceled, fx);
        }
        let parameters = &execution.parameters;
        let minutes = parameters.get("ttl").and_then(Value::as_f64).unwrap_or(1440.0);
        let now = now_millis();
        let expires_at = now.saturating_add((minutes * 60_000.0).ceil() as Millis);
        let inquiry = InquiryRecord {
            id: execution.id,
            workflow: execution.parent.as_ref().map(|p| p.workflow),
            schema: parameters.get("schema").cloned().unwrap_or_else(|| json!({})),
            route: parameters.get("route").and_then(Value::as_str).unwrap_or_default().to_owned(),
            created_at: now,
            expires_at,
            status: InquiryStatus::Pending,
            response: None,
        };
        tx.put_inquiry(&inquiry)?;
        // Pending is no longer work a restart must redo.
        execution.status = ExecutionStatus::Pending;
        execution.updated_at = now;
        tx.finish_running(&execution)?;
        fx.changed.push((execution.id, execution.action.clone(), ExecutionStatus::Pending));
        fx.expiries.push((execution.id, expires_at));
        if let Some(workflow) = inquiry.workflow
            && let Some(mut record) = tx.workflow(workflow)?
            && !record.finished
        {
            let mut parent = tx.execution(workflow)?;
            self.set_paused(tx, &mut record, &mut parent, true, fx)?;
        }
        Ok(())
    }

    fn answer(
        &self,
        tx: &mut Tx<'_>,
        id: Uuid,
        response: Value,
        fx: &mut Effects,
    ) -> Result<Result<(), InquiryError>, WriteError> {
        let Some(mut inquiry) = tx.inquiry(id)? else {
            return Ok(Err(InquiryError::NotFound(id)));
        };
        if inquiry.status != InquiryStatus::Pending {
            return Ok(Err(InquiryError::NotPending(id, inquiry.status)));
        }
        inquiry.status = InquiryStatus::Responded;
        inquiry.response = Some(response.clone());
        tx.put_inquiry(&inquiry)?;
        let mut execution = tx.execution(id)?;
        execution.result = Some(json!({ "response": response }));
        self.close(tx, &inquiry, execution, ExecutionStatus::Succeeded, fx)?;
        Ok(Ok(()))
    }

    /// An inquiry's ttl passed: unanswered, it ends timed out.
    pub(super) fn expire(
        &self,
        tx: &mut Tx<'_>,
        id: Uuid,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        let Some(mut inquiry) = tx.inquiry(id)? else { return Ok(()) };
        if inquiry.status != InquiryStatus::Pending {
            return Ok(());
        }
        inquiry.status = InquiryStatus::Expired;
        tx.put_inquiry(&inquiry)?;
        let mut execution = tx.execution(id)?;
        execution.error = Some("the inquiry expired: no response within its ttl".into());
        self.close(tx, &inquiry, execution, ExecutionStatus::Timeout, fx)
    }

    /// Ends the inquiry's execution, resuming the workflow that asked
    /// first so that the task's next steps start.
    fn close(
        &self,
        tx: &mut Tx<'_>,
        inquiry: &InquiryRecord,
        execution: Execution,
        status: ExecutionStatus,
        fx: &mut Effects,
    ) -> Result<(), WriteError> {
        if let Some(workflow) = inquiry.workflow
            && let Some(record) = tx.workflow(workflow)?
            && record.paused
            && !record.finished
        {
            // Another pending inquiry of the same run keeps it paused.
            let mut others = false;
            for child in record.children.iter().filter(|c| **c != inquiry.id) {
                others |= tx.execution(*child)?.status == ExecutionStatus::Pending;
            }
            if !others {
                self.resume(tx, workflow, fx)?.ok();
            }
        }
        self.end_execution(tx, execution, status, fx)
    }
}
