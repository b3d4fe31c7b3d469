//! Workflow runs and inquiries as the store keeps them: the conductor's
//! state (opaque JSON here: only `engine` and `workflow` know its shape)
//! with the children, timers and held commands the engine tracks around
//! it, the items of its with-items tasks in rows of their own, and the
//! questions a `core.ask` task puts to a person.

use redb::ReadableTable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::codec::{decode, encode};
use super::error::{ReadError, WriteError, storage_read, storage_write};
use super::records::Millis;
use super::schema::{INQUIRIES, WORKFLOW_ITEMS, WORKFLOWS};
use super::snapshot::Snapshot;
use super::tx::{Existing, Tx};

/// Where a child execution reports back: the task of a workflow that
/// started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentTask {
    /// The workflow's execution.
    pub workflow: Uuid,
    /// The task name.
    pub task: String,
    /// The task's route (0 unless the task runs once per branch).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub route: usize,
    /// The item index of a with-items task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Which retry of the task this run is: 0 for its first run, then 1, 2,
    /// … as the task's `retry` policy runs it again.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retry: u32,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A task waiting for its delay: the engine wakes the workflow at `due`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowTimer {
    /// The task name.
    pub task: String,
    /// Its route.
    #[serde(default)]
    pub route: usize,
    /// When it fires.
    pub due: Millis,
}

/// One workflow run, rewritten at every step in the same transaction as
/// the executions the step finishes and starts. Its with-items items are
/// not in it but in rows of their own ([`Tx::put_workflow_item`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    /// The workflow's own execution.
    pub execution: Uuid,
    /// The workflow action (`pack.name`).
    pub action: String,
    /// The workflow file's name, for messages.
    pub file: String,
    /// The workflow's text, pinned when the run started: an upgrade of the
    /// pack does not change a run under way.
    pub definition: String,
    /// Hex sha256 of `definition`.
    pub digest: String,
    /// The conductor's state.
    pub state: Value,
    /// Child executions started and not yet finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Uuid>,
    /// Delays being waited out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timers: Vec<WorkflowTimer>,
    /// Paused: commands the conductor gives are held, not carried out.
    #[serde(default)]
    pub paused: bool,
    /// Commands held while paused, carried out on resume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Value>,
    /// Finished (succeeded, failed or canceled): late reports are ignored.
    #[serde(default)]
    pub finished: bool,
}

/// Where an inquiry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InquiryStatus {
    /// Waiting for a response.
    Pending,
    /// Answered.
    Responded,
    /// Its ttl passed unanswered.
    Expired,
    /// Its workflow was canceled.
    Canceled,
}

impl InquiryStatus {
    /// The state as the API spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Responded => "responded",
            Self::Expired => "expired",
            Self::Canceled => "canceled",
        }
    }
}

/// A question a `core.ask` execution puts to a person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InquiryRecord {
    /// The `core.ask` execution's id, which is also the inquiry's.
    pub id: Uuid,
    /// The workflow that asked, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Uuid>,
    /// JSON Schema the response must satisfy.
    pub schema: Value,
    /// Who is asked (StackStorm's `route`), free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub route: String,
    /// When it was asked.
    pub created_at: Millis,
    /// When it expires unanswered.
    pub expires_at: Millis,
    /// Where it is.
    pub status: InquiryStatus,
    /// The accepted response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl Tx<'_> {
    /// The workflow run of execution `id`, if it has one.
    pub fn workflow(&mut self, id: Uuid) -> Result<Option<WorkflowRecord>, WriteError> {
        self.get_u128(WORKFLOWS, "workflows", id)
    }

    /// Stores a workflow run, new or updated.
    pub fn put_workflow(&mut self, record: &WorkflowRecord) -> Result<(), WriteError> {
        let bytes = encode("workflow", record)?;
        self.put_record(WORKFLOWS, "workflow", record.execution, &bytes, Existing::Any)
    }

    /// The item rows of workflow `id` under `keys` (task execution index,
    /// item index), in that order; `None` where there is none.
    pub fn workflow_items<T: DeserializeOwned>(
        &mut self,
        id: Uuid,
        keys: &[(usize, usize)],
    ) -> Result<Vec<Option<T>>, WriteError> {
        let table = self.table(WORKFLOW_ITEMS).map_err(storage_write)?;
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            let stored = table.get(item_key(id.as_u128(), *key)).map_err(storage_write)?;
            rows.push(stored.map(|bytes| decode("workflow_items", bytes.value())).transpose()?);
        }
        Ok(rows)
    }

    /// Stores one item row of workflow `id`, new or updated.
    pub fn put_workflow_item<T: Serialize>(
        &mut self,
        id: Uuid,
        key: (usize, usize),
        row: &T,
    ) -> Result<(), WriteError> {
        let bytes = encode("workflow item", row)?;
        let mut table = self.table(WORKFLOW_ITEMS).map_err(storage_write)?;
        table.insert(item_key(id.as_u128(), key), bytes.as_slice()).map_err(storage_write)?;
        Ok(())
    }

    /// Deletes every item row of workflow `id` (its record is going);
    /// returns how many there were.
    pub(crate) fn delete_workflow_items(&mut self, id: u128) -> Result<usize, WriteError> {
        self.delete_item_rows((id, 0, 0)..=(id, u64::MAX, u64::MAX))
    }

    /// Deletes the item rows of workflow `id`'s task execution `task` from
    /// item `from` on: an earlier attempt's, which its retry rendered fewer
    /// items than; returns how many there were.
    pub fn delete_workflow_items_from(
        &mut self,
        id: Uuid,
        (task, from): (usize, usize),
    ) -> Result<usize, WriteError> {
        let first = item_key(id.as_u128(), (task, from));
        self.delete_item_rows(first..=(first.0, first.1, u64::MAX))
    }

    fn delete_item_rows(
        &mut self,
        range: std::ops::RangeInclusive<(u128, u64, u64)>,
    ) -> Result<usize, WriteError> {
        let mut table = self.table(WORKFLOW_ITEMS).map_err(storage_write)?;
        let mut keys = Vec::new();
        for row in table.range(range).map_err(storage_write)? {
            keys.push(row.map_err(storage_write)?.0.value());
        }
        for key in &keys {
            table.remove(*key).map_err(storage_write)?;
        }
        Ok(keys.len())
    }

    /// Every workflow run not yet finished, oldest first.
    pub fn unfinished_workflows(&mut self) -> Result<Vec<WorkflowRecord>, WriteError> {
        let records: Vec<WorkflowRecord> = self.all_u128(WORKFLOWS, "workflows")?;
        Ok(records.into_iter().filter(|r| !r.finished).collect())
    }

    /// The inquiry `id`, if there is one.
    pub fn inquiry(&mut self, id: Uuid) -> Result<Option<InquiryRecord>, WriteError> {
        self.get_u128(INQUIRIES, "inquiries", id)
    }

    /// Stores an inquiry, new or updated.
    pub fn put_inquiry(&mut self, record: &InquiryRecord) -> Result<(), WriteError> {
        let bytes = encode("inquiry", record)?;
        self.put_record(INQUIRIES, "inquiry", record.id, &bytes, Existing::Any)
    }

    /// Every inquiry still waiting for a response, oldest first.
    pub fn pending_inquiries(&mut self) -> Result<Vec<InquiryRecord>, WriteError> {
        let records: Vec<InquiryRecord> = self.all_u128(INQUIRIES, "inquiries")?;
        Ok(records.into_iter().filter(|r| r.status == InquiryStatus::Pending).collect())
    }
}

impl Snapshot {
    /// The workflow run of execution `id`, if it has one.
    pub fn workflow(&self, id: Uuid) -> Result<Option<WorkflowRecord>, ReadError> {
        self.get_u128(WORKFLOWS, "workflows", id)
    }

    /// Every item row of workflow `id` with its key (task execution index,
    /// item index), in key order.
    pub fn workflow_items<T: DeserializeOwned>(
        &self,
        id: Uuid,
    ) -> Result<Vec<ItemRow<T>>, ReadError> {
        let Some(table) = self.open(WORKFLOW_ITEMS)? else { return Ok(Vec::new()) };
        let id = id.as_u128();
        let mut rows = Vec::new();
        for row in table.range((id, 0, 0)..=(id, u64::MAX, u64::MAX)).map_err(storage_read)? {
            let (key, bytes) = row.map_err(storage_read)?;
            let (_, task, item) = key.value();
            let key = (
                usize::try_from(task).unwrap_or(usize::MAX),
                usize::try_from(item).unwrap_or(usize::MAX),
            );
            rows.push((key, decode("workflow_items", bytes.value())?));
        }
        Ok(rows)
    }

    /// The inquiry `id`, if there is one.
    pub fn inquiry(&self, id: Uuid) -> Result<Option<InquiryRecord>, ReadError> {
        self.get_u128(INQUIRIES, "inquiries", id)
    }

    /// Inquiries after `after` (exclusive), oldest first, only those in
    /// `status` when given.
    pub fn inquiries(
        &self,
        status: Option<InquiryStatus>,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<InquiryRecord>, ReadError> {
        let Some(table) = self.open(INQUIRIES)? else { return Ok(Vec::new()) };
        let start = after.map_or(0, |id| id.as_u128().saturating_add(1));
        let mut records = Vec::new();
        for row in table.range(start..).map_err(storage_read)? {
            if records.len() >= limit {
                break;
            }
            let (_, bytes) = row.map_err(storage_read)?;
            let record: InquiryRecord = decode("inquiries", bytes.value())?;
            if status.is_none_or(|s| s == record.status) {
                records.push(record);
            }
        }
        Ok(records)
    }
}

/// A stored item row: (task execution index, item index) and the row.
pub type ItemRow<T> = ((usize, usize), T);

/// An item row's key in [`WORKFLOW_ITEMS`].
fn item_key(workflow: u128, (task, item): (usize, usize)) -> (u128, u64, u64) {
    (workflow, task as u64, item as u64)
}
