//! [`Tx`]: the typed operations a write transaction offers. Every operation
//! checks its preconditions before it writes, so one that fails leaves the
//! transaction as it found it and the rest of the batch commits.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use uuid::Uuid;

use super::bounds::RecordLimits;
use super::codec::{decode, encode};
use super::error::{WriteError, storage_write};
use super::records::{
    AliasRecord, ApiKeyRecord, AuditEvent, Execution, KvEntry, KvItem, KvScope, Millis, PackRecord,
    RuleRecord, TriggerInstance, TriggerInstanceStatus, TriggerTypeRecord, TrustedKeyRecord,
};
use super::replica::{Changes, Recorded};
use super::schema::{
    ALIASES, API_KEY_HASHES, API_KEYS, AUDIT, BUNDLES, EXECUTION_BODIES, EXECUTION_QUEUE,
    EXECUTIONS, INQUIRIES, KV, PACKS, RULES, RUNNING, RUNNING_ON, SENSOR_CURSORS,
    TRIGGER_INSTANCES, TRIGGER_PAYLOADS, TRIGGER_TYPES, TRUSTED_KEYS, WORKFLOWS,
};
use super::secrets::SecretKey;

/// What [`Tx::put_record`] requires of a record already under the id.
#[derive(Debug, Clone, Copy)]
pub(super) enum Existing {
    /// Inserting: there must be none.
    Refuse,
    /// Replacing: there must be one.
    Require,
    /// Either.
    Any,
}

/// Longest key-value key, in bytes.
pub const MAX_KV_KEY_BYTES: usize = 512;

/// One write transaction, shared by every operation of a batch.
pub struct Tx<'a> {
    pub(crate) txn: &'a WriteTransaction,
    pub(crate) secrets: &'a SecretKey,
    pub(crate) limits: &'a RecordLimits,
    /// Where every row written is recorded when the store replicates (a
    /// cluster node); `None` on a single node.
    pub(crate) changes: Option<&'a Changes>,
    /// This node's name in a cluster; empty on a single node.
    pub(crate) node: &'a str,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl<'a> Tx<'a> {
    /// Opens a table of this transaction; what is written through it is
    /// recorded for replication (`replica.rs`). Every write of the store
    /// goes through here.
    pub(super) fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        definition: TableDefinition<'_, K, V>,
    ) -> Result<Recorded<'a, K, V>, redb::TableError> {
        Recorded::open(self.txn, definition, self.changes)
    }

    /// This node's name in a cluster; empty on a single node.
    pub fn node(&self) -> &str {
        self.node
    }

    /// Puts an execution on the work queue, due at `due`.
    pub fn enqueue_execution(&mut self, id: Uuid, due: Millis) -> Result<(), WriteError> {
        let mut queue = self.table(EXECUTION_QUEUE).map_err(storage_write)?;
        queue.insert((millis_key(due), id.as_u128()), ()).map_err(storage_write)?;
        Ok(())
    }

    /// Records that a worker started `execution` (already set to running):
    /// until [`Self::finish_running`], a restart treats it as cut short.
    pub fn start_running(&mut self, execution: &Execution) -> Result<(), WriteError> {
        self.update_execution(execution)?;
        self.mark_running(execution.id)
    }

    /// Marks a new execution, inserted with status running, as started by a
    /// worker: the engine hands it over without queueing it.
    pub fn mark_running(&mut self, id: Uuid) -> Result<(), WriteError> {
        let mut running = self.table(RUNNING).map_err(storage_write)?;
        running.insert(id.as_u128(), ()).map_err(storage_write)?;
        if !self.node.is_empty() {
            let mut on = self.table(RUNNING_ON).map_err(storage_write)?;
            on.insert(id.as_u128(), self.node).map_err(storage_write)?;
        }
        Ok(())
    }

    /// Stores the outcome of a running execution (finished, or set back to
    /// scheduled for a retry) and takes it off the running set.
    pub fn finish_running(&mut self, execution: &Execution) -> Result<(), WriteError> {
        self.update_execution(execution)?;
        let mut running = self.table(RUNNING).map_err(storage_write)?;
        running.remove(execution.id.as_u128()).map_err(storage_write)?;
        // Only a cluster node records who runs what: a single node's hot
        // path does not touch the table.
        if !self.node.is_empty() {
            let mut on = self.table(RUNNING_ON).map_err(storage_write)?;
            if on.get(execution.id.as_u128()).map_err(storage_write)?.is_some() {
                on.remove(execution.id.as_u128()).map_err(storage_write)?;
            }
        }
        Ok(())
    }

    /// Whether `id` is still marked running, by `node` (`None`: by no node
    /// in particular, as on a single node).
    pub fn still_running_on(&mut self, id: Uuid, node: Option<&str>) -> Result<bool, WriteError> {
        let running = self.table(RUNNING).map_err(storage_write)?;
        if running.get(id.as_u128()).map_err(storage_write)?.is_none() {
            return Ok(false);
        }
        Ok(self.running_on(id)?.as_deref() == node)
    }

    /// The cluster node running `id` (a single node records none).
    pub fn running_on(&mut self, id: Uuid) -> Result<Option<String>, WriteError> {
        let on = self.table(RUNNING_ON).map_err(storage_write)?;
        Ok(on.get(id.as_u128()).map_err(storage_write)?.map(|node| node.value().to_owned()))
    }

    /// Every execution marked running, oldest first.
    pub fn running_executions(&mut self) -> Result<Vec<Execution>, WriteError> {
        let ids: Vec<u128> = {
            let running = self.table(RUNNING).map_err(storage_write)?;
            let mut ids = Vec::new();
            for row in running.iter().map_err(storage_write)? {
                ids.push(row.map_err(storage_write)?.0.value());
            }
            ids
        };
        ids.into_iter().map(|id| self.execution(Uuid::from_u128(id))).collect()
    }

    /// Writes `bytes` under `id`, after checking that a record exists or does
    /// not, as `existing` asks; `what` names the record in the error.
    pub(super) fn put_record(
        &mut self,
        definition: TableDefinition<'_, u128, &[u8]>,
        what: &str,
        id: Uuid,
        bytes: &[u8],
        existing: Existing,
    ) -> Result<(), WriteError> {
        let mut table = self.table(definition).map_err(storage_write)?;
        let present = table.get(id.as_u128()).map_err(storage_write)?.is_some();
        match (existing, present) {
            (Existing::Refuse, true) => Err(WriteError::AlreadyExists(format!("{what} {id}"))),
            (Existing::Require, false) => Err(WriteError::NotFound(format!("{what} {id}"))),
            _ => {
                table.insert(id.as_u128(), bytes).map_err(storage_write)?;
                Ok(())
            }
        }
    }

    /// The record under `id` in `definition`, if any.
    pub(super) fn get_u128<T: serde::de::DeserializeOwned>(
        &mut self,
        definition: TableDefinition<'_, u128, &[u8]>,
        name: &'static str,
        id: Uuid,
    ) -> Result<Option<T>, WriteError> {
        let table = self.table(definition).map_err(storage_write)?;
        let stored = table.get(id.as_u128()).map_err(storage_write)?;
        Ok(stored.map(|bytes| decode(name, bytes.value())).transpose()?)
    }

    /// Every record in `definition`, in key order.
    pub(super) fn all_u128<T: serde::de::DeserializeOwned>(
        &mut self,
        definition: TableDefinition<'_, u128, &[u8]>,
        name: &'static str,
    ) -> Result<Vec<T>, WriteError> {
        let table = self.table(definition).map_err(storage_write)?;
        let mut records = Vec::new();
        for row in table.iter().map_err(storage_write)? {
            records.push(decode(name, row.map_err(storage_write)?.1.value())?);
        }
        Ok(records)
    }

    /// Takes up to `limit` executions due at or before `now` off the front of
    /// the work queue, earliest due first. Also says when the next one left
    /// on the queue is due.
    pub fn dequeue_executions(
        &mut self,
        now: Millis,
        limit: usize,
    ) -> Result<(Vec<Uuid>, Option<Millis>), WriteError> {
        let mut queue = self.table(EXECUTION_QUEUE).map_err(storage_write)?;
        let mut taken = Vec::new();
        let now = millis_key(now);
        loop {
            let next = queue.first().map_err(storage_write)?.map(|(key, _)| key.value());
            match next {
                Some((due, id)) if due <= now && taken.len() < limit => {
                    queue.remove((due, id)).map_err(storage_write)?;
                    taken.push(Uuid::from_u128(id));
                }
                Some((due, _)) => return Ok((taken, Some(Millis::try_from(due).unwrap_or(0)))),
                None => return Ok((taken, None)),
            }
        }
    }

    /// Stores `value` under `key` in `scope`, expiring at `expires_at`.
    pub fn kv_set(
        &mut self,
        scope: &KvScope,
        key: &str,
        value: String,
        expires_at: Option<Millis>,
    ) -> Result<(), WriteError> {
        check_new_kv_key(key)?;
        self.put_kv(&scope.row(key), &KvEntry { value, secret: false, expires_at })
    }

    /// Stores a secret: sealed with the store's key before it is written, so
    /// the plaintext never reaches the file. Reads show it masked.
    pub fn kv_set_secret(
        &mut self,
        scope: &KvScope,
        key: &str,
        plaintext: &str,
        expires_at: Option<Millis>,
    ) -> Result<(), WriteError> {
        check_new_kv_key(key)?;
        let row = scope.row(key);
        let sealed = self
            .secrets
            .seal(&row, plaintext)
            .map_err(|message| WriteError::Invalid { field: "secret", message })?;
        self.put_kv(&row, &KvEntry { value: hex::encode(sealed), secret: true, expires_at })
    }

    fn put_kv(&mut self, row: &str, entry: &KvEntry) -> Result<(), WriteError> {
        let bytes = encode("kv value", entry)?;
        let mut table = self.table(KV).map_err(storage_write)?;
        table.insert(row, bytes.as_slice()).map_err(storage_write)?;
        Ok(())
    }

    /// The live entry under `key` in `scope`, a secret masked.
    pub fn kv_item(
        &mut self,
        scope: &KvScope,
        key: &str,
        now: Millis,
    ) -> Result<Option<KvItem>, WriteError> {
        let table = self.table(KV).map_err(storage_write)?;
        let Some(bytes) = table.get(scope.row(key).as_str()).map_err(storage_write)? else {
            return Ok(None);
        };
        let entry: KvEntry = decode("kv", bytes.value())?;
        Ok(entry.live_at(now).then(|| entry.item()))
    }

    /// Removes `key` from `scope`; true when a live entry was removed.
    pub fn kv_delete(
        &mut self,
        scope: &KvScope,
        key: &str,
        now: Millis,
    ) -> Result<bool, WriteError> {
        check_kv_key(key)?;
        let mut table = self.table(KV).map_err(storage_write)?;
        let removed = table.remove(scope.row(key).as_str()).map_err(storage_write)?;
        match removed {
            Some(bytes) => Ok(decode::<KvEntry>("kv", bytes.value())?.live_at(now)),
            None => Ok(false),
        }
    }

    /// On a cluster node: whether this node's secret key is the cluster's.
    /// The first node to ask stores a value sealed with its key; every
    /// other node must be able to open it, or a secret set through one node
    /// would not decrypt on another.
    pub fn secret_key_is_shared(&mut self) -> Result<bool, WriteError> {
        const ROW: &str = "cluster:secret-key-check";
        const PLAIN: &str = "squall cluster secret key";
        match self.sensor_cursor(ROW)? {
            Some(stored) => {
                let sealed = hex::decode(stored).unwrap_or_default();
                Ok(self.secrets.open(ROW, &sealed).as_deref() == Some(PLAIN))
            }
            None => {
                let sealed = self.secrets.seal(ROW, PLAIN).map_err(WriteError::Storage)?;
                self.set_sensor_cursor(ROW, &hex::encode(sealed))?;
                Ok(true)
            }
        }
    }

    /// The last committed cursor of `sensor` (or a timer's last firing).
    pub fn sensor_cursor(&mut self, sensor: &str) -> Result<Option<String>, WriteError> {
        let table = self.table(SENSOR_CURSORS).map_err(storage_write)?;
        Ok(table.get(sensor).map_err(storage_write)?.map(|v| v.value().to_owned()))
    }

    /// Commits a sensor's cursor (with the events of the same poll).
    pub fn set_sensor_cursor(&mut self, sensor: &str, cursor: &str) -> Result<(), WriteError> {
        let mut table = self.table(SENSOR_CURSORS).map_err(storage_write)?;
        table.insert(sensor, cursor).map_err(storage_write)?;
        Ok(())
    }

    /// Appends to the audit log; returns the event's sequence number.
    pub fn append_audit(&mut self, event: &AuditEvent) -> Result<u64, WriteError> {
        let bytes = encode("audit event", event)?;
        let mut table = self.table(AUDIT).map_err(storage_write)?;
        let next = match table.last().map_err(storage_write)? {
            Some((seq, _)) => seq.value() + 1,
            None => 1,
        };
        table.insert(next, bytes.as_slice()).map_err(storage_write)?;
        Ok(next)
    }
}

fn check_kv_key(key: &str) -> Result<(), WriteError> {
    if key.is_empty() || key.len() > MAX_KV_KEY_BYTES || key.contains('\0') {
        return Err(WriteError::Invalid {
            field: "key",
            message: format!(
                "expected 1 to {MAX_KV_KEY_BYTES} bytes without NUL, got {} bytes",
                key.len()
            ),
        });
    }
    Ok(())
}

/// A key about to be written: [`check_kv_key`], and the one rule for names
/// people read (`crate::limits::NAME_RULE`) — on writes only, so that an
/// entry stored before the rule existed can still be deleted.
fn check_new_kv_key(key: &str) -> Result<(), WriteError> {
    check_kv_key(key)?;
    crate::limits::check_name_text(key)
        .map_err(|message| WriteError::Invalid { field: "key", message })
}

/// The catalog: packs, the trigger types they declare, rules. Keyed by
/// name; a put replaces, a delete says whether there was one.
impl Tx<'_> {
    /// Stores (or replaces) an installed pack.
    pub fn put_pack(&mut self, pack: &PackRecord) -> Result<(), WriteError> {
        self.put_named(PACKS, "pack", &pack.name, pack)
    }

    /// Replaces the configuration of the installed pack `name`, keeping
    /// the rest of its record; `NotFound` when it is not installed.
    pub fn set_pack_config(
        &mut self,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<PackRecord, WriteError> {
        let mut pack: PackRecord = self
            .get_named(PACKS, "pack", name)?
            .ok_or_else(|| WriteError::NotFound(format!("pack {name}")))?;
        pack.config = config.clone();
        self.put_pack(&pack)?;
        Ok(pack)
    }

    /// Removes a pack; true when it was installed.
    pub fn delete_pack(&mut self, name: &str) -> Result<bool, WriteError> {
        self.delete_named(PACKS, name)
    }

    /// Stores (or replaces) the bundle `pack` was installed from.
    pub fn put_bundle(&mut self, pack: &str, bundle: &[u8]) -> Result<(), WriteError> {
        let mut table = self.table(BUNDLES).map_err(storage_write)?;
        table.insert(pack, bundle).map_err(storage_write)?;
        Ok(())
    }

    /// Removes `pack`'s bundle; true when there was one.
    pub fn delete_bundle(&mut self, pack: &str) -> Result<bool, WriteError> {
        self.delete_named(BUNDLES, pack)
    }

    /// Adds (or replaces) a trusted key.
    pub fn put_trusted_key(&mut self, key: &TrustedKeyRecord) -> Result<(), WriteError> {
        self.put_named(TRUSTED_KEYS, "trusted key", &key.name, key)
    }

    /// Removes a trusted key; true when it was there.
    pub fn delete_trusted_key(&mut self, name: &str) -> Result<bool, WriteError> {
        self.delete_named(TRUSTED_KEYS, name)
    }

    /// Names of every stored trigger type.
    pub fn trigger_type_names(&mut self) -> Result<Vec<String>, WriteError> {
        self.names(TRIGGER_TYPES)
    }

    /// References of every stored rule.
    pub fn rule_references(&mut self) -> Result<Vec<String>, WriteError> {
        self.names(RULES)
    }

    fn names(
        &mut self,
        definition: TableDefinition<'_, &str, &[u8]>,
    ) -> Result<Vec<String>, WriteError> {
        let table = self.table(definition).map_err(storage_write)?;
        let mut names = Vec::new();
        for row in table.iter().map_err(storage_write)? {
            let (name, _) = row.map_err(storage_write)?;
            names.push(name.value().to_owned());
        }
        Ok(names)
    }

    /// Stores (or replaces) a trigger type.
    pub fn put_trigger_type(&mut self, trigger_type: &TriggerTypeRecord) -> Result<(), WriteError> {
        self.put_named(TRIGGER_TYPES, "trigger type", &trigger_type.name, trigger_type)
    }

    /// Removes a trigger type; true when it existed.
    pub fn delete_trigger_type(&mut self, name: &str) -> Result<bool, WriteError> {
        self.delete_named(TRIGGER_TYPES, name)
    }

    /// Stores (or replaces) a rule.
    pub fn put_rule(&mut self, rule: &RuleRecord) -> Result<(), WriteError> {
        self.put_named(RULES, "rule", &rule.reference, rule)
    }

    /// Removes a rule; true when it existed.
    pub fn delete_rule(&mut self, reference: &str) -> Result<bool, WriteError> {
        self.delete_named(RULES, reference)
    }

    /// Stores an action alias. One that replaces another keeps its id and
    /// creation time, so that bots and links that name it by id still work;
    /// the record stored is returned.
    pub fn put_alias(&mut self, alias: &AliasRecord) -> Result<AliasRecord, WriteError> {
        let mut record = alias.clone();
        if let Some(existing) = self.alias(&alias.reference)? {
            record.id = existing.id;
            record.created_at = existing.created_at;
        }
        self.put_named(ALIASES, "action alias", &record.reference, &record)?;
        Ok(record)
    }

    /// The action alias `reference`, if stored.
    pub fn alias(&mut self, reference: &str) -> Result<Option<AliasRecord>, WriteError> {
        self.get_named(ALIASES, "action alias", reference)
    }

    /// Every stored action alias, by reference.
    pub fn aliases(&mut self) -> Result<Vec<AliasRecord>, WriteError> {
        self.all_named(ALIASES, "action alias")
    }

    /// Removes an action alias; true when it existed.
    pub fn delete_alias(&mut self, reference: &str) -> Result<bool, WriteError> {
        self.delete_named(ALIASES, reference)
    }

    /// The record under `name` in `definition`, if any.
    pub(super) fn get_named<T: serde::de::DeserializeOwned>(
        &mut self,
        definition: TableDefinition<'_, &str, &[u8]>,
        what: &'static str,
        name: &str,
    ) -> Result<Option<T>, WriteError> {
        let table = self.table(definition).map_err(storage_write)?;
        let stored = table.get(name).map_err(storage_write)?;
        Ok(stored.map(|bytes| decode(what, bytes.value())).transpose()?)
    }

    /// Every record in `definition`, in key order.
    pub(super) fn all_named<T: serde::de::DeserializeOwned>(
        &mut self,
        definition: TableDefinition<'_, &str, &[u8]>,
        what: &'static str,
    ) -> Result<Vec<T>, WriteError> {
        let table = self.table(definition).map_err(storage_write)?;
        let mut records = Vec::new();
        for row in table.iter().map_err(storage_write)? {
            records.push(decode(what, row.map_err(storage_write)?.1.value())?);
        }
        Ok(records)
    }

    pub(super) fn put_named<T: serde::Serialize>(
        &mut self,
        definition: TableDefinition<'_, &str, &[u8]>,
        what: &'static str,
        name: &str,
        record: &T,
    ) -> Result<(), WriteError> {
        if name.is_empty() || name.len() > MAX_KV_KEY_BYTES {
            return Err(WriteError::Invalid {
                field: "name",
                message: format!("{what} name must be 1 to {MAX_KV_KEY_BYTES} bytes"),
            });
        }
        let bytes = encode(what, record)?;
        let mut table = self.table(definition).map_err(storage_write)?;
        table.insert(name, bytes.as_slice()).map_err(storage_write)?;
        Ok(())
    }

    pub(super) fn delete_named(
        &mut self,
        definition: TableDefinition<'_, &str, &[u8]>,
        name: &str,
    ) -> Result<bool, WriteError> {
        let mut table = self.table(definition).map_err(storage_write)?;
        Ok(table.remove(name).map_err(storage_write)?.is_some())
    }
}

/// API keys: stored by id, found by hash.
impl Tx<'_> {
    /// Stores a new API key; refused if its id or hash is already stored.
    pub fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), WriteError> {
        {
            let hashes = self.table(API_KEY_HASHES).map_err(storage_write)?;
            if hashes.get(key.hash.as_str()).map_err(storage_write)?.is_some() {
                return Err(WriteError::AlreadyExists("API key with this hash".into()));
            }
        }
        let bytes = encode("API key", key)?;
        self.put_record(API_KEYS, "API key", key.id, &bytes, Existing::Refuse)?;
        let mut hashes = self.table(API_KEY_HASHES).map_err(storage_write)?;
        hashes.insert(key.hash.as_str(), key.id.as_u128()).map_err(storage_write)?;
        Ok(())
    }

    /// Revokes an API key at `at`; false when it was already revoked.
    pub fn revoke_api_key(&mut self, id: Uuid, at: Millis) -> Result<bool, WriteError> {
        let mut keys = self.table(API_KEYS).map_err(storage_write)?;
        let mut key: ApiKeyRecord = {
            let stored = keys.get(id.as_u128()).map_err(storage_write)?;
            let stored = stored.ok_or_else(|| WriteError::NotFound(format!("API key {id}")))?;
            decode("api_keys", stored.value())?
        };
        if key.revoked_at.is_some() {
            return Ok(false);
        }
        key.revoked_at = Some(at);
        let bytes = encode("API key", &key)?;
        keys.insert(id.as_u128(), bytes.as_slice()).map_err(storage_write)?;
        Ok(true)
    }
}

/// A UUIDv7-keyed table of JSON records.
type Records<'a> = TableDefinition<'a, u128, &'static [u8]>;

/// Where a garbage-collection pass stopped, so the next batch resumes there.
pub(crate) type Resume = Option<u128>;

impl Tx<'_> {
    /// Deletes up to `limit` processed trigger instances that arrived before
    /// `cutoff`, scanning from `start`. Pending ones are kept: their rules have
    /// not run yet.
    pub(crate) fn collect_trigger_instances(
        &mut self,
        cutoff: Millis,
        start: u128,
        limit: usize,
    ) -> Result<(usize, Resume), WriteError> {
        let (victims, resume) = self.collect_before(
            (TRIGGER_INSTANCES, TRIGGER_PAYLOADS),
            "trigger_instances",
            cutoff,
            start,
            limit,
            |instance: TriggerInstance| instance.status == TriggerInstanceStatus::Processed,
        )?;
        Ok((victims.len(), resume))
    }

    /// Deletes up to `limit` executions that finished before `cutoff`,
    /// scanning from `start`.
    pub(crate) fn collect_executions(
        &mut self,
        cutoff: Millis,
        start: u128,
        limit: usize,
    ) -> Result<(usize, Resume), WriteError> {
        let (victims, resume) = self.collect_before(
            (EXECUTIONS, EXECUTION_BODIES),
            "executions",
            cutoff,
            start,
            limit,
            |execution: Execution| {
                execution.status.is_finished()
                    && execution.finished_at.is_some_and(|at| at < cutoff)
            },
        )?;
        // A workflow run's record, its item rows and an inquiry go with
        // their execution.
        for table in [WORKFLOWS, INQUIRIES] {
            let mut table = self.table(table).map_err(storage_write)?;
            for id in &victims {
                table.remove(*id).map_err(storage_write)?;
            }
        }
        for id in &victims {
            self.delete_workflow_items(*id)?;
        }
        Ok((victims.len(), resume))
    }

    /// Scans heads created before `cutoff` from `start` and deletes up to
    /// `limit` of those `doomed` selects, with their bodies; returns their
    /// keys and where to resume.
    fn collect_before<T: serde::de::DeserializeOwned>(
        &mut self,
        (definition, bodies): (Records<'_>, Records<'_>),
        name: &'static str,
        cutoff: Millis,
        start: u128,
        limit: usize,
        doomed: impl Fn(T) -> bool,
    ) -> Result<(Vec<u128>, Resume), WriteError> {
        let mut table = self.table(definition).map_err(storage_write)?;
        let mut victims = Vec::new();
        let mut resume = None;
        for row in table.range(start..id_floor(cutoff)).map_err(storage_write)? {
            let (id, bytes) = row.map_err(storage_write)?;
            if victims.len() == limit {
                resume = Some(id.value());
                break;
            }
            if doomed(decode(name, bytes.value())?) {
                victims.push(id.value());
            }
        }
        for id in &victims {
            table.remove(*id).map_err(storage_write)?;
        }
        let mut bodies = self.table(bodies).map_err(storage_write)?;
        for id in &victims {
            bodies.remove(*id).map_err(storage_write)?;
        }
        Ok((victims, resume))
    }

    /// Deletes up to `limit` expired key-value entries.
    pub(crate) fn collect_kv(&mut self, now: Millis, limit: usize) -> Result<usize, WriteError> {
        let mut table = self.table(KV).map_err(storage_write)?;
        let mut doomed = Vec::new();
        for row in table.iter().map_err(storage_write)? {
            let (key, bytes) = row.map_err(storage_write)?;
            if !decode::<KvEntry>("kv", bytes.value())?.live_at(now) {
                doomed.push(key.value().to_owned());
                if doomed.len() == limit {
                    break;
                }
            }
        }
        for key in &doomed {
            table.remove(key.as_str()).map_err(storage_write)?;
        }
        Ok(doomed.len())
    }
}

/// A queue key's time part: times before the epoch sort first.
fn millis_key(at: Millis) -> u64 {
    u64::try_from(at).unwrap_or(0)
}

/// The smallest UUIDv7 of millisecond `at`: every id created before `at`
/// sorts below it.
fn id_floor(at: Millis) -> u128 {
    u128::from(u64::try_from(at).unwrap_or(0)) << 80
}
