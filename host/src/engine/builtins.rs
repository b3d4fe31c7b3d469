//! The host's own actions that run without a sandbox:
//! `chatops.post_message` (an announcement on the event stream, StackStorm's
//! `announcement` runner) and what chat asks of the engine
//! (`chatops.list_inquiries`, `chatops.respond_inquiry`,
//! `chatops.get_execution`).

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::ending::{Ending, Failure};
use super::executor::Shared;
use crate::runtime::LogBuffer;
use crate::store::Execution;

impl Shared {
    /// Runs `chatops.post_message`: its parameters but `route` are the
    /// announcement on `route`; the result is them, also under `output`,
    /// as StackStorm's announcement runner answers.
    pub(super) fn post_to_chat(&self, execution: &Execution) -> Ending {
        let mut payload = execution.parameters.as_object().cloned().unwrap_or_default();
        let route = match payload.remove("route") {
            Some(Value::String(route)) => route,
            _ => "chatops".to_owned(),
        };
        let ending = |result| Ending { result, logs: LogBuffer::default() };
        if let Err(message) = crate::chatops::check_route(&route) {
            return ending(Err(Failure::Refused(format!("parameter `route`: {message}"))));
        }
        let payload = Value::Object(payload);
        self.ingest.announce_to_chat(&route, payload.clone());
        let mut result = payload.as_object().cloned().unwrap_or_default();
        result.insert("output".into(), payload);
        ending(Ok(Value::Object(result)))
    }

    /// Runs `chatops.list_inquiries`, `chatops.respond_inquiry` or
    /// `chatops.get_execution`.
    pub(super) async fn control_inquiry(self: &Arc<Self>, execution: &Execution) -> Ending {
        let ending = |result| Ending { result, logs: LogBuffer::default() };
        if execution.action == super::actions::LIST_INQUIRIES_ACTION {
            return ending(
                self.pending_inquiries()
                    .map_err(|e| Failure::Failed(format!("cannot list inquiries: {e}"))),
            );
        }
        let parameters = &execution.parameters;
        let id = parameters.get("id").and_then(Value::as_str).unwrap_or_default();
        let Ok(id) = Uuid::parse_str(id.trim()) else {
            let message = format!("parameter `id`: expected an id (a UUID), found `{id}`");
            return ending(Err(Failure::Refused(message)));
        };
        if execution.action == super::actions::GET_EXECUTION_ACTION {
            // Status and outcome only: parameters may hold secrets.
            let found = self.ingest.store().read().and_then(|s| s.execution(id));
            return ending(match found {
                Ok(Some(e)) => Ok(serde_json::json!({
                    "id": e.id, "action": e.action, "status": e.status,
                    "result": e.result, "error": e.error,
                    "created_at": e.created_at, "finished_at": e.finished_at,
                })),
                Ok(None) => Err(Failure::Refused(format!("execution {id} not found"))),
                Err(error) => Err(Failure::Failed(format!("cannot read execution {id}: {error}"))),
            });
        }
        let response = parameters.get("response").cloned().unwrap_or(Value::Null);
        match self.respond(id, response.clone()).await {
            Ok(()) => ending(Ok(serde_json::json!({"id": id, "response": response}))),
            Err(error) => ending(Err(Failure::Refused(format!("inquiry {id}: {error}")))),
        }
    }
}
