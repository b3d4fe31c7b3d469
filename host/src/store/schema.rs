//! Every table of the store, in one place, with the encoding of its keys and
//! values. Values are JSON (`records.rs`) so that the file stays inspectable
//! and records can gain optional fields without a migration.

use redb::TableDefinition;

/// Bumped when a table's key or value encoding changes incompatibly.
/// Version 3 split executions and trigger instances into a head and a
/// body (see [`EXECUTION_BODIES`]); `split::migrate` upgrades version 2.
/// Version 4 keeps a pack's keys named `PACK.…` in the system scope;
/// `pack_keys::move_to_system` upgrades versions 2 and 3.
pub(crate) const SCHEMA_VERSION: u32 = 4;

/// `"schema_version"` → the version as decimal text.
pub(crate) const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");

/// Pack name → [`PackRecord`](super::PackRecord): what is installed.
pub(crate) const PACKS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("packs");
/// Pack name → the signed bundle it was installed from, byte for byte, so
/// that a restart reloads exactly what was verified.
pub(crate) const BUNDLES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bundles");
/// Trusted key name → [`TrustedKeyRecord`](super::TrustedKeyRecord): the
/// operator's keyring.
pub(crate) const TRUSTED_KEYS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("trusted_keys");
/// Trigger type name (`pack.name`) → [`TriggerTypeRecord`](super::TriggerTypeRecord):
/// the types packs declared; the built-in ones are not stored.
pub(crate) const TRIGGER_TYPES: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("trigger_types");
/// Rule reference (`pack.name`) → [`RuleRecord`](super::RuleRecord).
pub(crate) const RULES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("rules");
/// Action alias reference (`pack.name`) → [`AliasRecord`](super::AliasRecord).
pub(crate) const ALIASES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("aliases");

/// Trigger instance id (UUIDv7 as u128, so key order is arrival order) →
/// its head: the [`TriggerInstance`](super::TriggerInstance) with a null
/// payload, which lives in [`TRIGGER_PAYLOADS`]. Lists read heads only.
pub(crate) const TRIGGER_INSTANCES: TableDefinition<'_, u128, &[u8]> =
    TableDefinition::new("trigger_instances");
/// Trigger instance id → its payload (JSON).
pub(crate) const TRIGGER_PAYLOADS: TableDefinition<'_, u128, &[u8]> =
    TableDefinition::new("trigger_payloads");
/// Execution id (UUIDv7 as u128) → its head: the
/// [`Execution`](super::Execution) without parameters, result and logs,
/// which live in [`EXECUTION_BODIES`]. Lists read heads only, and a state
/// change rewrites only the head.
pub(crate) const EXECUTIONS: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("executions");
/// Execution id → [`ExecutionBody`](super::ExecutionBody): parameters,
/// result, logs.
pub(crate) const EXECUTION_BODIES: TableDefinition<'_, u128, &[u8]> =
    TableDefinition::new("execution_bodies");
/// (due time in [`Millis`](super::Millis) as u64, execution id) → nothing:
/// executions waiting for a worker, earliest due first. New executions are
/// due at once; retries and executions held back by a concurrency policy are
/// due later.
pub(crate) const EXECUTION_QUEUE: TableDefinition<'_, (u64, u128), ()> =
    TableDefinition::new("execution_queue");
/// Execution id → nothing: executions a worker has started and not yet
/// finished. After a crash these are the ones to retry or abandon.
pub(crate) const RUNNING: TableDefinition<'_, u128, ()> = TableDefinition::new("running");

/// Workflow execution id → [`WorkflowRecord`](super::WorkflowRecord): the
/// conductor's state of a workflow run, rewritten at every step.
pub(crate) const WORKFLOWS: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("workflows");
/// (workflow execution id, task execution index, item index) → one item of
/// a with-items task: its rendered action and input, status and result (the
/// conductor's `ItemState`, opaque JSON here). Written when the task renders
/// its items and again when that item ends, so the step that ends an item
/// writes this row and the run's [`WORKFLOWS`] record, which keeps only
/// counters, and not every item. Deleted with the run's record; a retry
/// that renders fewer items deletes the earlier attempt's rows beyond them.
pub(crate) const WORKFLOW_ITEMS: TableDefinition<'_, (u128, u64, u64), &[u8]> =
    TableDefinition::new("workflow_items");
/// `core.ask` execution id → [`InquiryRecord`](super::InquiryRecord).
pub(crate) const INQUIRIES: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("inquiries");

/// Sensor ref (`pack.sensor`) → its last committed cursor.
pub(crate) const SENSOR_CURSORS: TableDefinition<'_, &str, &str> =
    TableDefinition::new("sensor_cursors");

/// `scope` + `\0` + key → [`KvEntry`](super::records::KvEntry).
pub(crate) const KV: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("kv");

/// Sequence number → [`AuditEvent`](super::AuditEvent). Append-only: nothing
/// in the store updates or deletes these rows.
pub(crate) const AUDIT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit");

/// API key id (UUIDv7 as u128) → [`ApiKeyRecord`](super::ApiKeyRecord).
pub(crate) const API_KEYS: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("api_keys");
/// Hex sha256 of an API key → its id: how a presented key is found. The key
/// itself is never stored.
pub(crate) const API_KEY_HASHES: TableDefinition<'_, &str, u128> =
    TableDefinition::new("api_key_hashes");

/// User name → [`UserRecord`](super::UserRecord).
pub(crate) const USERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("users");
/// Role name → [`RoleRecord`](super::RoleRecord): custom roles (the system
/// roles are built in, never stored).
pub(crate) const ROLES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("roles");
/// Token id (UUIDv7 as u128) → [`TokenRecord`](super::TokenRecord).
pub(crate) const TOKENS: TableDefinition<'_, u128, &[u8]> = TableDefinition::new("tokens");
/// Hex sha256 of a token → its id; the token itself is never stored.
pub(crate) const TOKEN_HASHES: TableDefinition<'_, &str, u128> =
    TableDefinition::new("token_hashes");

/// Execution id → the cluster node running it: written with the row in
/// [`RUNNING`] by a node of a cluster (never by a single node), so that when
/// a node dies the others know which executions it cut short.
pub(crate) const RUNNING_ON: TableDefinition<'_, u128, &str> = TableDefinition::new("running_on");

/// The META key holding the sequence of the last replicated log entry this
/// database has applied (a cluster node's; a single node has none).
pub(crate) const LOG_SEQUENCE: &str = "log_sequence";
