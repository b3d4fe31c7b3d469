//! [`Snapshot`]: a consistent read view, taken without waiting for writers.

use redb::{
    ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use uuid::Uuid;

use std::sync::Arc;

use super::codec::decode;
use super::error::{ReadError, storage_read};
use super::records::MASKED_SECRET;
use super::records::{
    AliasRecord, ApiKeyRecord, AuditEvent, KvEntry, KvItem, KvScope, Millis, PackRecord,
    RuleRecord, TriggerTypeRecord, TrustedKeyRecord,
};
use super::schema::{
    ALIASES, API_KEY_HASHES, API_KEYS, AUDIT, BUNDLES, EXECUTION_QUEUE, KV, PACKS, RULES, RUNNING,
    SENSOR_CURSORS, TRIGGER_TYPES, TRUSTED_KEYS,
};
use super::secrets::SecretKey;

/// A read transaction: every read through it sees the same committed state.
pub struct Snapshot {
    pub(crate) txn: ReadTransaction,
    pub(crate) secrets: Arc<SecretKey>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Snapshot")
    }
}

impl Snapshot {
    pub(crate) fn begin(db: &redb::Database, secrets: Arc<SecretKey>) -> Result<Self, ReadError> {
        Ok(Self { txn: db.begin_read().map_err(storage_read)?, secrets })
    }

    /// How many executions wait on the work queue.
    pub fn queued_executions(&self) -> Result<u64, ReadError> {
        match self.txn.open_table(EXECUTION_QUEUE) {
            Ok(table) => table.len().map_err(storage_read),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(error) => Err(storage_read(error)),
        }
    }

    /// How many executions a worker started and has not finished.
    pub fn running_executions(&self) -> Result<u64, ReadError> {
        match self.txn.open_table(RUNNING) {
            Ok(table) => table.len().map_err(storage_read),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(error) => Err(storage_read(error)),
        }
    }

    /// The live value of `key` in `scope` at time `now`; a secret shows as
    /// [`MASKED_SECRET`].
    pub fn kv_get(
        &self,
        scope: &KvScope,
        key: &str,
        now: Millis,
    ) -> Result<Option<String>, ReadError> {
        Ok(self
            .kv_entry(scope, key, now)?
            .map(|entry| if entry.secret { MASKED_SECRET.to_owned() } else { entry.value }))
    }

    /// Whether `key` in `scope` holds a live secret.
    pub fn kv_is_secret(&self, scope: &KvScope, key: &str, now: Millis) -> Result<bool, ReadError> {
        Ok(self.kv_entry(scope, key, now)?.is_some_and(|entry| entry.secret))
    }

    /// The live value of `key` in `scope`, with a secret decrypted. Only for
    /// handing a granted secret to a pack; never for display.
    pub fn kv_reveal(
        &self,
        scope: &KvScope,
        key: &str,
        now: Millis,
    ) -> Result<Option<String>, ReadError> {
        let Some(entry) = self.kv_entry(scope, key, now)? else { return Ok(None) };
        if !entry.secret {
            return Ok(Some(entry.value));
        }
        let unreadable = || ReadError::SecretUnreadable { key: key.to_owned() };
        let sealed = hex::decode(&entry.value).map_err(|_| unreadable())?;
        self.secrets.open(&scope.row(key), &sealed).map(Some).ok_or_else(unreadable)
    }

    /// The live entry under `key` in `scope`, a secret masked.
    pub fn kv_item(
        &self,
        scope: &KvScope,
        key: &str,
        now: Millis,
    ) -> Result<Option<KvItem>, ReadError> {
        Ok(self.kv_entry(scope, key, now)?.map(KvEntry::item))
    }

    fn kv_entry(
        &self,
        scope: &KvScope,
        key: &str,
        now: Millis,
    ) -> Result<Option<KvEntry>, ReadError> {
        let Some(table) = self.open(KV)? else { return Ok(None) };
        let Some(bytes) = table.get(scope.row(key).as_str()).map_err(storage_read)? else {
            return Ok(None);
        };
        let entry: KvEntry = decode("kv", bytes.value())?;
        Ok(entry.live_at(now).then_some(entry))
    }

    /// Live keys of `scope` starting with `prefix`, in order.
    pub fn kv_keys(
        &self,
        scope: &KvScope,
        prefix: &str,
        now: Millis,
    ) -> Result<Vec<String>, ReadError> {
        let Some(table) = self.open(KV)? else { return Ok(Vec::new()) };
        let scope_prefix = scope.prefix();
        let start = format!("{scope_prefix}{prefix}");
        let mut keys = Vec::new();
        for row in table.range(start.as_str()..).map_err(storage_read)? {
            let (key, bytes) = row.map_err(storage_read)?;
            let Some(rest) = key.value().strip_prefix(start.as_str()) else { break };
            let entry: KvEntry = decode("kv", bytes.value())?;
            if entry.live_at(now) {
                keys.push(format!("{prefix}{rest}"));
            }
        }
        Ok(keys)
    }

    /// A sensor's last committed cursor.
    pub fn sensor_cursor(&self, sensor: &str) -> Result<Option<String>, ReadError> {
        let Some(table) = self.open(SENSOR_CURSORS)? else { return Ok(None) };
        Ok(table.get(sensor).map_err(storage_read)?.map(|c| c.value().to_owned()))
    }

    /// An installed pack by name.
    pub fn pack(&self, name: &str) -> Result<Option<PackRecord>, ReadError> {
        self.get_named(PACKS, "packs", name)
    }

    /// Every installed pack, by name.
    pub fn packs(&self) -> Result<Vec<PackRecord>, ReadError> {
        self.all_named(PACKS, "packs")
    }

    /// The bundle `pack` was installed from.
    pub fn bundle(&self, pack: &str) -> Result<Option<Vec<u8>>, ReadError> {
        let Some(table) = self.open(BUNDLES)? else { return Ok(None) };
        Ok(table.get(pack).map_err(storage_read)?.map(|b| b.value().to_vec()))
    }

    /// Every trusted key, by name.
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKeyRecord>, ReadError> {
        self.all_named(TRUSTED_KEYS, "trusted_keys")
    }

    /// A stored trigger type by name.
    pub fn trigger_type(&self, name: &str) -> Result<Option<TriggerTypeRecord>, ReadError> {
        self.get_named(TRIGGER_TYPES, "trigger_types", name)
    }

    /// Every stored trigger type, by name.
    pub fn trigger_types(&self) -> Result<Vec<TriggerTypeRecord>, ReadError> {
        self.all_named(TRIGGER_TYPES, "trigger_types")
    }

    /// A rule by reference.
    pub fn rule(&self, reference: &str) -> Result<Option<RuleRecord>, ReadError> {
        self.get_named(RULES, "rules", reference)
    }

    /// Every rule, by reference.
    pub fn rules(&self) -> Result<Vec<RuleRecord>, ReadError> {
        self.all_named(RULES, "rules")
    }

    /// The action alias `reference`, if stored.
    pub fn alias(&self, reference: &str) -> Result<Option<AliasRecord>, ReadError> {
        self.get_named(ALIASES, "aliases", reference)
    }

    /// Every action alias, by reference.
    pub fn aliases(&self) -> Result<Vec<AliasRecord>, ReadError> {
        self.all_named(ALIASES, "aliases")
    }

    pub(super) fn get_named<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        name: &'static str,
        key: &str,
    ) -> Result<Option<T>, ReadError> {
        let Some(table) = self.open(table)? else { return Ok(None) };
        let bytes = table.get(key).map_err(storage_read)?;
        bytes.map(|b| decode(name, b.value())).transpose()
    }

    pub(super) fn all_named<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        name: &'static str,
    ) -> Result<Vec<T>, ReadError> {
        let Some(table) = self.open(table)? else { return Ok(Vec::new()) };
        let mut records = Vec::new();
        for row in table.iter().map_err(storage_read)? {
            let (_, bytes) = row.map_err(storage_read)?;
            records.push(decode(name, bytes.value())?);
        }
        Ok(records)
    }

    /// Every API key, oldest first (hashes only).
    pub fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, ReadError> {
        self.page_u128(API_KEYS, "api_keys", None, usize::MAX)
    }

    /// The API key whose sha256 is `hash`, revoked or not.
    pub fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>, ReadError> {
        let Some(hashes) = self.open(API_KEY_HASHES)? else { return Ok(None) };
        let Some(id) = hashes.get(hash).map_err(storage_read)? else { return Ok(None) };
        self.get_u128(API_KEYS, "api_keys", Uuid::from_u128(id.value()))
    }

    /// Audit events with sequence numbers after `after`, oldest first.
    pub fn audit(&self, after: u64, limit: usize) -> Result<Vec<(u64, AuditEvent)>, ReadError> {
        let Some(table) = self.open(AUDIT)? else { return Ok(Vec::new()) };
        let mut events = Vec::new();
        for row in table.range(after.saturating_add(1)..).map_err(storage_read)?.take(limit) {
            let (seq, bytes) = row.map_err(storage_read)?;
            events.push((seq.value(), decode("audit", bytes.value())?));
        }
        Ok(events)
    }

    pub(super) fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: TableDefinition<'_, K, V>,
    ) -> Result<Option<redb::ReadOnlyTable<K, V>>, ReadError> {
        match self.txn.open_table(table) {
            Ok(table) => Ok(Some(table)),
            // A table is created by its first write; before that it is empty.
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(error) => Err(storage_read(error)),
        }
    }

    pub(super) fn get_u128<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<'_, u128, &[u8]>,
        name: &'static str,
        id: Uuid,
    ) -> Result<Option<T>, ReadError> {
        let Some(table) = self.open(table)? else { return Ok(None) };
        let bytes = table.get(id.as_u128()).map_err(storage_read)?;
        bytes.map(|b| decode(name, b.value())).transpose()
    }

    pub(super) fn page_u128<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<'_, u128, &[u8]>,
        name: &'static str,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<T>, ReadError> {
        let Some(table) = self.open(table)? else { return Ok(Vec::new()) };
        let start = after.map_or(0, |id| id.as_u128().saturating_add(1));
        let mut records = Vec::new();
        for row in table.range(start..).map_err(storage_read)?.take(limit) {
            let (_, bytes) = row.map_err(storage_read)?;
            records.push(decode(name, bytes.value())?);
        }
        Ok(records)
    }
}

impl Snapshot {
    /// Every running execution a cluster node recorded as its own, with
    /// that node.
    pub fn running_on(&self) -> Result<Vec<(Uuid, String)>, ReadError> {
        let table = match self.txn.open_table(super::schema::RUNNING_ON) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(storage_read(error)),
        };
        let mut rows = Vec::new();
        for row in table.iter().map_err(storage_read)? {
            let (id, node) = row.map_err(storage_read)?;
            rows.push((Uuid::from_u128(id.value()), node.value().to_owned()));
        }
        Ok(rows)
    }
}
