//! Every table of the store, in one place, with the encoding of its keys and
//! values. Values are JSON (`records.rs`) so that the file stays inspectable
//! and records can gain optional fields without a migration.

use redb::TableDefinition;

/// Bumped when a table's key or value encoding changes incompatibly.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// `"schema_version"` → the version as decimal text.
pub(crate) const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");

// Packs, trigger types and rules get their tables with the code that
// reads and writes them (pack lifecycle, rule API); not before.

/// Trigger instance id (UUIDv7 as u128, so key order is arrival order) →
/// [`TriggerInstance`](super::TriggerInstance).
pub(crate) const TRIGGER_INSTANCES: TableDefinition<'_, u128, &[u8]> =
    TableDefinition::new("trigger_instances");
/// Execution id (UUIDv7 as u128) → [`Execution`](super::Execution).
pub(crate) const EXECUTIONS: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("executions");
/// Execution id → nothing: executions waiting for a worker, oldest first.
pub(crate) const EXECUTION_QUEUE: TableDefinition<'_, u128, ()> =
    TableDefinition::new("execution_queue");

/// Sensor ref (`pack.sensor`) → its last committed cursor.
pub(crate) const SENSOR_CURSORS: TableDefinition<'_, &str, &str> =
    TableDefinition::new("sensor_cursors");

/// `scope` + `\0` + key → [`KvEntry`](super::records::KvEntry).
pub(crate) const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");

/// Sequence number → [`AuditEvent`](super::AuditEvent). Append-only: nothing
/// in the store updates or deletes these rows.
pub(crate) const AUDIT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit");
