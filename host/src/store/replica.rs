//! Replication as data: what one write transaction changed, row by row
//! ([`Change`]), recorded while its operations run ([`Recorded`]), encoded
//! as one log entry ([`encode_entry`]) and applied to another node's
//! database in the same order ([`apply_entry`]).
//!
//! Why rows and not operations: every operation of [`Tx`](super::Tx)
//! decides what to write from what it reads, and the rows it ends up
//! writing are the deterministic outcome. A node that applies the same
//! entries in the same order, starting from the same (empty) database,
//! holds the same rows byte for byte, whatever the operations were and
//! whichever version of the engine decided them.

use std::borrow::Borrow;
use std::cell::RefCell;
use std::ops::Deref;

use redb::{AccessGuard, Key, StorageError, Table, TableDefinition, TableHandle, Value};
use redb::{TableError, WriteTransaction};

use super::schema::{
    ALIASES, API_KEY_HASHES, API_KEYS, AUDIT, BUNDLES, EXECUTION_BODIES, EXECUTION_QUEUE,
    EXECUTIONS, INQUIRIES, KV, PACKS, ROLES, RULES, RUNNING, RUNNING_ON, SENSOR_CURSORS,
    TOKEN_HASHES, TOKENS, TRIGGER_INSTANCES, TRIGGER_PAYLOADS, TRIGGER_TYPES, TRUSTED_KEYS, USERS,
    WORKFLOW_ITEMS, WORKFLOWS,
};

/// One row written or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The table's name (its redb name, as in `schema.rs`).
    pub(crate) table: String,
    /// The key in redb's own encoding of the table's key type.
    pub(crate) key: Vec<u8>,
    /// The new value in redb's encoding; `None` deletes the row.
    pub(crate) value: Option<Vec<u8>>,
}

/// The rows a transaction changed so far, in order.
pub(crate) type Changes = RefCell<Vec<Change>>;

/// A table opened inside a [`Tx`](super::Tx): reads go straight to redb
/// (through `Deref`), and the two writes the store uses, `insert` and
/// `remove`, are recorded when the store replicates.
pub(crate) struct Recorded<'t, K: Key + 'static, V: Value + 'static> {
    table: Table<'t, K, V>,
    changes: Option<&'t Changes>,
}

impl<'t, K: Key + 'static, V: Value + 'static> Recorded<'t, K, V> {
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        definition: TableDefinition<'_, K, V>,
        changes: Option<&'t Changes>,
    ) -> Result<Self, TableError> {
        Ok(Self { table: txn.open_table(definition)?, changes })
    }

    /// Inserts (or replaces) the row, as redb's `Table::insert`.
    pub(crate) fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        let change = self.changes.map(|_| Change {
            table: self.table.name().to_owned(),
            key: K::as_bytes(key.borrow()).as_ref().to_vec(),
            value: Some(V::as_bytes(value.borrow()).as_ref().to_vec()),
        });
        let replaced = self.table.insert(key, value)?;
        record(self.changes, change);
        Ok(replaced)
    }

    /// Deletes the row, as redb's `Table::remove`.
    pub(crate) fn remove<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        let change = self.changes.map(|_| Change {
            table: self.table.name().to_owned(),
            key: K::as_bytes(key.borrow()).as_ref().to_vec(),
            value: None,
        });
        let removed = self.table.remove(key)?;
        record(self.changes, change);
        Ok(removed)
    }
}

/// Records a row written, once redb took it: a write redb
/// refused (a value too large, say) is not replicated, so no other node
/// meets it when it applies the entry.
fn record(changes: Option<&Changes>, change: Option<Change>) {
    if let (Some(changes), Some(change)) = (changes, change) {
        changes.borrow_mut().push(change);
    }
}

impl<'t, K: Key + 'static, V: Value + 'static> Deref for Recorded<'t, K, V> {
    type Target = Table<'t, K, V>;

    fn deref(&self) -> &Self::Target {
        &self.table
    }
}

/// Why a log entry could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The bytes are not an entry this build reads.
    #[error("replicated log entry is damaged or from an unknown format: {0}")]
    Format(String),
    /// The entry names a table this build does not have (a newer node
    /// wrote it): applying the rest would leave this node inconsistent.
    #[error(
        "replicated log entry writes table `{0}`, which this version of squall does not know; upgrade this node"
    )]
    UnknownTable(String),
    /// redb refused.
    #[error("applying a replicated log entry failed: {0}")]
    Storage(String),
}

/// The first bytes of every entry, with the format's version.
const MAGIC: &[u8; 4] = b"SQR1";

/// One entry: the changes of one transaction, in order.
pub(crate) fn encode_entry(changes: &[Change]) -> Vec<u8> {
    let size: usize = changes
        .iter()
        .map(|c| 10 + c.table.len() + c.key.len() + c.value.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(8 + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(changes.len() as u32).to_le_bytes());
    for change in changes {
        out.push(change.table.len() as u8);
        out.extend_from_slice(change.table.as_bytes());
        out.extend_from_slice(&(change.key.len() as u32).to_le_bytes());
        out.extend_from_slice(&change.key);
        match &change.value {
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&(value.len() as u32).to_le_bytes());
                out.extend_from_slice(value);
            }
            None => out.push(0),
        }
    }
    out
}

/// The changes of an entry made by [`encode_entry`].
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Vec<Change>, EntryError> {
    let mut input = Input(bytes);
    if input.take(4)? != MAGIC {
        return Err(EntryError::Format("it does not start with `SQR1`".into()));
    }
    let count = input.u32()? as usize;
    let mut changes = Vec::with_capacity(count.min(bytes.len() / 6));
    for _ in 0..count {
        let name_len = input.take(1)?[0] as usize;
        let table = std::str::from_utf8(input.take(name_len)?)
            .map_err(|_| EntryError::Format("a table name is not UTF-8".into()))?
            .to_owned();
        let key_len = input.u32()? as usize;
        let key = input.take(key_len)?.to_vec();
        let value = match input.take(1)?[0] {
            0 => None,
            1 => {
                let len = input.u32()? as usize;
                Some(input.take(len)?.to_vec())
            }
            other => return Err(EntryError::Format(format!("unknown row marker {other}"))),
        };
        changes.push(Change { table, key, value });
    }
    if !input.0.is_empty() {
        return Err(EntryError::Format(format!("{} bytes after the last change", input.0.len())));
    }
    Ok(changes)
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EntryError> {
        if self.0.len() < n {
            return Err(EntryError::Format("it ends in the middle of a change".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, EntryError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// Writes every change of an entry into `txn`, in order. Tables are
/// matched by name; one this build does not know fails the whole entry.
pub(crate) fn apply_changes(txn: &WriteTransaction, changes: &[Change]) -> Result<(), EntryError> {
    for change in changes {
        apply_change(txn, change)?;
    }
    Ok(())
}

fn apply_change(txn: &WriteTransaction, change: &Change) -> Result<(), EntryError> {
    let (key, value) = (change.key.as_slice(), change.value.as_deref());
    match change.table.as_str() {
        "packs" => put(txn, PACKS, key, value),
        "bundles" => put(txn, BUNDLES, key, value),
        "trusted_keys" => put(txn, TRUSTED_KEYS, key, value),
        "trigger_types" => put(txn, TRIGGER_TYPES, key, value),
        "rules" => put(txn, RULES, key, value),
        "aliases" => put(txn, ALIASES, key, value),
        "trigger_instances" => put(txn, TRIGGER_INSTANCES, key, value),
        "trigger_payloads" => put(txn, TRIGGER_PAYLOADS, key, value),
        "executions" => put(txn, EXECUTIONS, key, value),
        "execution_bodies" => put(txn, EXECUTION_BODIES, key, value),
        "execution_queue" => put(txn, EXECUTION_QUEUE, key, value),
        "running" => put(txn, RUNNING, key, value),
        "running_on" => put(txn, RUNNING_ON, key, value),
        "workflows" => put(txn, WORKFLOWS, key, value),
        "workflow_items" => put(txn, WORKFLOW_ITEMS, key, value),
        "inquiries" => put(txn, INQUIRIES, key, value),
        "sensor_cursors" => put(txn, SENSOR_CURSORS, key, value),
        "kv" => put(txn, KV, key, value),
        "audit" => put(txn, AUDIT, key, value),
        "api_keys" => put(txn, API_KEYS, key, value),
        "api_key_hashes" => put(txn, API_KEY_HASHES, key, value),
        "users" => put(txn, USERS, key, value),
        "roles" => put(txn, ROLES, key, value),
        "tokens" => put(txn, TOKENS, key, value),
        "token_hashes" => put(txn, TOKEN_HASHES, key, value),
        other => Err(EntryError::UnknownTable(other.to_owned())),
    }
}

fn put<K: Key + 'static, V: Value + 'static>(
    txn: &WriteTransaction,
    definition: TableDefinition<'_, K, V>,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), EntryError> {
    let storage = |e: &dyn std::fmt::Display| EntryError::Storage(e.to_string());
    let mut table = txn.open_table(definition).map_err(|e| storage(&e))?;
    match value {
        Some(value) => table.insert(K::from_bytes(key), V::from_bytes(value)).map(drop),
        None => table.remove(K::from_bytes(key)).map(drop),
    }
    .map_err(|e| storage(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(table: &str, key: &[u8], value: Option<&[u8]>) -> Change {
        Change { table: table.into(), key: key.to_vec(), value: value.map(<[u8]>::to_vec) }
    }

    #[test]
    fn an_entry_decodes_to_the_changes_it_was_made_of() {
        let changes = vec![
            change("kv", b"system\0a", Some(b"{\"v\":1}")),
            change("running", &7u128.to_le_bytes(), None),
            change("execution_queue", &[0; 24], Some(b"")),
        ];
        assert_eq!(decode_entry(&encode_entry(&changes)).expect("it works"), changes);
        assert_eq!(decode_entry(&encode_entry(&[])).expect("it works"), vec![]);
    }

    #[test]
    fn a_damaged_entry_is_refused_whole() {
        let entry = encode_entry(&[change("kv", b"k", Some(b"v"))]);
        for cut in 0..entry.len() {
            assert!(decode_entry(&entry[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = entry.clone();
        longer.push(0);
        assert!(
            decode_entry(&longer)
                .expect_err("it fails")
                .to_string()
                .contains("after the last change")
        );
        assert!(decode_entry(b"XXXX\0\0\0\0").expect_err("it fails").to_string().contains("SQR1"));
    }

    #[test]
    fn an_unknown_table_fails_the_entry() {
        let dir = tempfile::tempdir().expect("it works");
        let db = redb::Database::create(dir.path().join("db")).expect("it works");
        let txn = db.begin_write().expect("it works");
        let error = apply_changes(&txn, &[change("from_the_future", b"k", Some(b"v"))])
            .expect_err("it fails");
        assert_eq!(error, EntryError::UnknownTable("from_the_future".into()));
        assert!(error.to_string().contains("upgrade this node"));
    }
}
