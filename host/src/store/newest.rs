//! Newest-first reads of the UUIDv7-keyed tables and of the audit log
//! (keyed by its sequence number): a reverse range over the keys, so the
//! first page costs the same at a thousand records as at a million, and
//! counts read from the table's length instead of its rows.

use std::marker::PhantomData;

use redb::{ReadableTableMetadata, TableDefinition};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::codec::decode;
use super::error::{ReadError, storage_read};
use super::records::{AuditEvent, Execution, TriggerInstance};
use super::schema::{AUDIT, EXECUTIONS, TRIGGER_INSTANCES};
use super::snapshot::Snapshot;

type Rows<K> = redb::Range<'static, K, &'static [u8]>;

/// Heads of a table newest first (see `split.rs`: no parameters, result,
/// logs or payload), decoded one at a time as they are taken; `K` is the
/// table's key: a UUIDv7 (`u128`, the records hold their ids) or the
/// audit log's sequence number (`u64`, yielded with each event).
pub struct NewestFirst<T, K: redb::Key + 'static = u128> {
    rows: Option<Rows<K>>,
    table: &'static str,
    record: PhantomData<fn() -> T>,
}

impl<T, K: redb::Key + 'static> std::fmt::Debug for NewestFirst<T, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NewestFirst({})", self.table)
    }
}

/// Records that can be passed over without decoding them.
pub trait SkipRecords {
    /// Passes over `n` records without decoding them; returns how many
    /// there were.
    fn skip_records(&mut self, n: usize) -> Result<usize, ReadError>;
}

impl<T, K: redb::Key + 'static> SkipRecords for NewestFirst<T, K> {
    fn skip_records(&mut self, n: usize) -> Result<usize, ReadError> {
        NewestFirst::skip_records(self, n)
    }
}

impl<T, K: redb::Key + 'static> NewestFirst<T, K> {
    /// Passes over `n` records without decoding them; returns how many
    /// there were.
    pub fn skip_records(&mut self, n: usize) -> Result<usize, ReadError> {
        let Some(rows) = &mut self.rows else { return Ok(0) };
        for skipped in 0..n {
            match rows.next_back() {
                Some(row) => drop(row.map_err(storage_read)?),
                None => return Ok(skipped),
            }
        }
        Ok(n)
    }
}

impl<T: DeserializeOwned> Iterator for NewestFirst<T> {
    type Item = Result<T, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.as_mut()?.next_back()?;
        Some(row.map_err(storage_read).and_then(|(_, bytes)| decode(self.table, bytes.value())))
    }
}

/// The audit log's events with their sequence numbers.
impl Iterator for NewestFirst<AuditEvent, u64> {
    type Item = Result<(u64, AuditEvent), ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.as_mut()?.next_back()?;
        Some(
            row.map_err(storage_read)
                .and_then(|(seq, bytes)| Ok((seq.value(), decode(self.table, bytes.value())?))),
        )
    }
}

impl Snapshot {
    /// Execution heads with ids from `oldest` to `newest` (both included),
    /// newest first.
    pub fn executions_newest_first(
        &self,
        oldest: Uuid,
        newest: Uuid,
    ) -> Result<NewestFirst<Execution>, ReadError> {
        self.newest_first(EXECUTIONS, "executions", oldest, newest)
    }

    /// Trigger instance heads with ids from `oldest` to `newest` (both
    /// included), newest first.
    pub fn trigger_instances_newest_first(
        &self,
        oldest: Uuid,
        newest: Uuid,
    ) -> Result<NewestFirst<TriggerInstance>, ReadError> {
        self.newest_first(TRIGGER_INSTANCES, "trigger_instances", oldest, newest)
    }

    /// Audit events with sequence numbers after `after`, newest first.
    pub fn audit_newest_first(
        &self,
        after: u64,
    ) -> Result<NewestFirst<AuditEvent, u64>, ReadError> {
        let rows = match (self.open(AUDIT)?, after.checked_add(1)) {
            (Some(opened), Some(first)) => Some(opened.range(first..).map_err(storage_read)?),
            _ => None,
        };
        Ok(NewestFirst { rows, table: "audit", record: PhantomData })
    }

    /// How many audit events are stored, without reading them.
    pub fn audit_count(&self) -> Result<u64, ReadError> {
        match self.open(AUDIT)? {
            Some(table) => table.len().map_err(storage_read),
            None => Ok(0),
        }
    }

    /// How many executions are stored, without reading them.
    pub fn execution_count(&self) -> Result<u64, ReadError> {
        self.count(EXECUTIONS)
    }

    /// How many trigger instances are stored, without reading them.
    pub fn trigger_instance_count(&self) -> Result<u64, ReadError> {
        self.count(TRIGGER_INSTANCES)
    }

    fn newest_first<T>(
        &self,
        definition: TableDefinition<'static, u128, &'static [u8]>,
        table: &'static str,
        oldest: Uuid,
        newest: Uuid,
    ) -> Result<NewestFirst<T>, ReadError> {
        let rows = match self.open(definition)? {
            Some(opened) if oldest <= newest => {
                Some(opened.range(oldest.as_u128()..=newest.as_u128()).map_err(storage_read)?)
            }
            _ => None,
        };
        Ok(NewestFirst { rows, table, record: PhantomData })
    }

    fn count(
        &self,
        definition: TableDefinition<'static, u128, &'static [u8]>,
    ) -> Result<u64, ReadError> {
        match self.open(definition)? {
            Some(table) => table.len().map_err(storage_read),
            None => Ok(0),
        }
    }
}
