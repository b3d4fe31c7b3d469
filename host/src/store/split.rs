//! Executions and trigger instances are stored in two parts: a head with
//! everything a list shows (small, rewritten at each state change) and a
//! body with what can be large (an execution's parameters, result and
//! logs; an instance's payload). Lists read heads alone, so a page costs
//! the same whatever the records carry; a single read joins the two.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::bounds::RecordLimits;
use super::codec::{decode, encode};
use super::error::{ReadError, WriteError, storage_write};
use super::records::{Execution, ExecutionLog, TriggerInstance, TriggerInstanceStatus};
use super::schema::{EXECUTION_BODIES, EXECUTIONS, TRIGGER_INSTANCES, TRIGGER_PAYLOADS};
use super::snapshot::Snapshot;
use super::tx::{Existing, Tx};

/// What an execution's head leaves out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionBody {
    /// Parameters after validation and defaults.
    pub parameters: Value,
    /// Output JSON when it succeeded (possibly a truncation marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// What the action logged during its last attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<ExecutionLog>,
}

impl ExecutionBody {
    /// Puts the body back into a head.
    pub fn join(self, head: &mut Execution) {
        head.parameters = self.parameters;
        head.result = self.result;
        head.logs = self.logs;
    }
}

#[derive(Serialize)]
struct BodyRef<'a> {
    parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    logs: &'a [ExecutionLog],
}

/// The head of `e`: every field but the body's. Fields are listed, not
/// copied with `..`, so that a new field has to be placed.
fn execution_head(e: &Execution) -> Execution {
    Execution {
        id: e.id,
        action: e.action.clone(),
        parameters: Value::Null,
        status: e.status,
        trigger_instance: e.trigger_instance,
        rule: e.rule.clone(),
        attempt: e.attempt,
        created_at: e.created_at,
        updated_at: e.updated_at,
        started_at: e.started_at,
        finished_at: e.finished_at,
        result: None,
        error: e.error.clone(),
        logs: Vec::new(),
        retries: e.retries.clone(),
        parent: e.parent.clone(),
        user: e.user.clone(),
        chat: e.chat.clone(),
    }
}

fn instance_head(i: &TriggerInstance) -> TriggerInstance {
    TriggerInstance {
        id: i.id,
        trigger: i.trigger.clone(),
        payload: Value::Null,
        occurred_at: i.occurred_at,
        status: i.status,
        parameters: i.parameters.clone(),
        decisions: i.decisions.clone(),
    }
}

/// Head and body bytes of an execution, within `limits` when given (a
/// migration stores what it finds).
fn encode_execution(
    e: &Execution,
    limits: Option<&RecordLimits>,
) -> Result<(Vec<u8>, Vec<u8>), WriteError> {
    let mut head = execution_head(e);
    let logs = limits.and_then(|l| {
        l.bound_errors(&mut head);
        l.bound_logs(&e.logs)
    });
    let logs = logs.as_deref().unwrap_or(&e.logs);
    let mut body = BodyRef { parameters: &e.parameters, result: e.result.as_ref(), logs };
    let mut encoded = encode("execution", &body)?;
    // A body within the result cap holds a result within it: one pass.
    let marker = match (limits, e.result.as_ref()) {
        (Some(limits), Some(result)) if encoded.len() > limits.result_bytes => {
            limits.bound_result(&encode("execution result", result)?)
        }
        _ => None,
    };
    if let Some(marker) = &marker {
        body.result = Some(marker);
        encoded = encode("execution", &body)?;
    }
    Ok((encode("execution", &head)?, encoded))
}

impl Tx<'_> {
    /// Records a new trigger instance; a payload over the cap (which only
    /// the engine's own instances can reach) is stored truncated.
    pub fn insert_trigger_instance(
        &mut self,
        instance: &TriggerInstance,
    ) -> Result<(), WriteError> {
        let mut head = instance_head(instance);
        self.limits.bound_decisions(&mut head.decisions);
        let head = encode("trigger instance", &head)?;
        let payload = self.limits.bound_payload(encode("trigger instance", &instance.payload)?);
        self.put_record(
            TRIGGER_INSTANCES,
            "trigger instance",
            instance.id,
            &head,
            Existing::Refuse,
        )?;
        let mut payloads = self.table(TRIGGER_PAYLOADS).map_err(storage_write)?;
        payloads.insert(instance.id.as_u128(), payload.as_slice()).map_err(storage_write)?;
        Ok(())
    }

    /// Marks a trigger instance's rules as evaluated.
    pub fn mark_trigger_instance_processed(&mut self, id: Uuid) -> Result<(), WriteError> {
        let mut table = self.table(TRIGGER_INSTANCES).map_err(storage_write)?;
        let mut head: TriggerInstance = {
            let stored = table.get(id.as_u128()).map_err(storage_write)?;
            let stored =
                stored.ok_or_else(|| WriteError::NotFound(format!("trigger instance {id}")))?;
            decode("trigger_instances", stored.value())?
        };
        head.status = TriggerInstanceStatus::Processed;
        let bytes = encode("trigger instance", &head)?;
        table.insert(id.as_u128(), bytes.as_slice()).map_err(storage_write)?;
        Ok(())
    }

    /// Records a new execution; `enqueue` also puts it on the work queue,
    /// due at once. Parameters over the cap are refused, naming it.
    pub fn insert_execution(
        &mut self,
        execution: &Execution,
        enqueue: bool,
    ) -> Result<(), WriteError> {
        let (head, body) = encode_execution(execution, Some(self.limits))?;
        // A body within the cap holds parameters within it: one pass.
        if body.len() > self.limits.parameters_bytes {
            self.limits.refuse_parameters(execution)?;
        }
        self.put_record(EXECUTIONS, "execution", execution.id, &head, Existing::Refuse)?;
        let mut bodies = self.table(EXECUTION_BODIES).map_err(storage_write)?;
        bodies.insert(execution.id.as_u128(), body.as_slice()).map_err(storage_write)?;
        drop(bodies);
        if enqueue {
            self.enqueue_execution(execution.id, execution.created_at)?;
        }
        Ok(())
    }

    /// Replaces an existing execution record. The body is written only
    /// when it changed: a state change rewrites the small head alone.
    pub fn update_execution(&mut self, execution: &Execution) -> Result<(), WriteError> {
        let (head, body) = encode_execution(execution, Some(self.limits))?;
        self.put_record(EXECUTIONS, "execution", execution.id, &head, Existing::Require)?;
        let mut bodies = self.table(EXECUTION_BODIES).map_err(storage_write)?;
        let same = bodies
            .get(execution.id.as_u128())
            .map_err(storage_write)?
            .is_some_and(|stored| stored.value() == body.as_slice());
        if !same {
            bodies.insert(execution.id.as_u128(), body.as_slice()).map_err(storage_write)?;
        }
        Ok(())
    }

    /// The execution stored under `id`, with its body.
    pub fn execution(&mut self, id: Uuid) -> Result<Execution, WriteError> {
        let mut head: Execution = {
            let heads = self.table(EXECUTIONS).map_err(storage_write)?;
            let stored = heads.get(id.as_u128()).map_err(storage_write)?;
            let stored = stored.ok_or_else(|| WriteError::NotFound(format!("execution {id}")))?;
            decode("executions", stored.value())?
        };
        let bodies = self.table(EXECUTION_BODIES).map_err(storage_write)?;
        if let Some(body) = bodies.get(id.as_u128()).map_err(storage_write)? {
            decode::<ExecutionBody>("execution_bodies", body.value())?.join(&mut head);
        }
        Ok(head)
    }
}

impl Snapshot {
    /// A trigger instance by id, with its payload.
    pub fn trigger_instance(&self, id: Uuid) -> Result<Option<TriggerInstance>, ReadError> {
        let Some(mut head) = self.trigger_instance_head(id)? else { return Ok(None) };
        if let Some(payload) = self.trigger_payload(id)? {
            head.payload = payload;
        }
        Ok(Some(head))
    }

    /// A trigger instance without its payload (which is null).
    pub fn trigger_instance_head(&self, id: Uuid) -> Result<Option<TriggerInstance>, ReadError> {
        self.get_u128(TRIGGER_INSTANCES, "trigger_instances", id)
    }

    /// A trigger instance's payload.
    pub fn trigger_payload(&self, id: Uuid) -> Result<Option<Value>, ReadError> {
        self.get_u128(TRIGGER_PAYLOADS, "trigger_payloads", id)
    }

    /// Trigger instances after `after` (exclusive), oldest first, with
    /// their payloads.
    pub fn trigger_instances(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<TriggerInstance>, ReadError> {
        let mut heads: Vec<TriggerInstance> =
            self.page_u128(TRIGGER_INSTANCES, "trigger_instances", after, limit)?;
        for head in &mut heads {
            if let Some(payload) = self.trigger_payload(head.id)? {
                head.payload = payload;
            }
        }
        Ok(heads)
    }

    /// An execution by id, with its parameters, result and logs.
    pub fn execution(&self, id: Uuid) -> Result<Option<Execution>, ReadError> {
        let Some(mut head) = self.execution_head(id)? else { return Ok(None) };
        if let Some(body) = self.execution_body(id)? {
            body.join(&mut head);
        }
        Ok(Some(head))
    }

    /// An execution without its body (parameters null, no result or logs).
    pub fn execution_head(&self, id: Uuid) -> Result<Option<Execution>, ReadError> {
        self.get_u128(EXECUTIONS, "executions", id)
    }

    /// An execution's parameters, result and logs.
    pub fn execution_body(&self, id: Uuid) -> Result<Option<ExecutionBody>, ReadError> {
        self.get_u128(EXECUTION_BODIES, "execution_bodies", id)
    }

    /// Executions after `after` (exclusive), oldest first, whole.
    pub fn executions(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Execution>, ReadError> {
        let mut heads: Vec<Execution> = self.page_u128(EXECUTIONS, "executions", after, limit)?;
        for head in &mut heads {
            if let Some(body) = self.execution_body(head.id)? {
                body.join(head);
            }
        }
        Ok(heads)
    }
}

/// Upgrades a version 2 database in `txn`: every execution and trigger
/// instance, stored whole, is split into head and body.
pub(crate) fn migrate_from_v2(txn: &WriteTransaction) -> Result<(), String> {
    fn split<T: serde::de::DeserializeOwned>(
        txn: &WriteTransaction,
        heads: TableDefinition<'_, u128, &[u8]>,
        bodies: TableDefinition<'_, u128, &[u8]>,
        name: &'static str,
        parts: impl Fn(&T) -> Result<(Vec<u8>, Vec<u8>), WriteError>,
    ) -> Result<(), String> {
        let mut heads = txn.open_table(heads).map_err(|e| e.to_string())?;
        let mut bodies = txn.open_table(bodies).map_err(|e| e.to_string())?;
        let ids: Vec<u128> = heads
            .iter()
            .map_err(|e| e.to_string())?
            .map(|row| row.map(|(id, _)| id.value()).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        for id in ids {
            let record: T = {
                let stored = heads.get(id).map_err(|e| e.to_string())?;
                let Some(stored) = stored else { continue };
                decode(name, stored.value()).map_err(|e| e.to_string())?
            };
            let (head, body) = parts(&record).map_err(|e| e.to_string())?;
            heads.insert(id, head.as_slice()).map_err(|e| e.to_string())?;
            bodies.insert(id, body.as_slice()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
    split(txn, EXECUTIONS, EXECUTION_BODIES, "executions", |e| encode_execution(e, None))?;
    split(txn, TRIGGER_INSTANCES, TRIGGER_PAYLOADS, "trigger_instances", |i: &TriggerInstance| {
        Ok((
            encode("trigger instance", &instance_head(i))?,
            encode("trigger instance", &i.payload)?,
        ))
    })
}

#[cfg(test)]
mod tests;
