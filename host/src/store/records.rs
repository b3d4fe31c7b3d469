//! The records the store keeps, as the rest of the host sees them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_millis() -> Millis {
    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
}

/// A new time-ordered id (UUIDv7): key order in the store is creation order.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Whether a trigger instance's rules have been evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerInstanceStatus {
    /// Committed, rules not yet evaluated.
    Pending,
    /// Rules evaluated; the executions they started are committed with it.
    Processed,
}

/// One occurrence of a trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerInstance {
    /// Time-ordered id.
    pub id: Uuid,
    /// Canonical trigger type ref.
    pub trigger: String,
    /// Payload, validated against the trigger type's schema.
    pub payload: Value,
    /// When it was received.
    pub occurred_at: Millis,
    /// Processing state.
    pub status: TriggerInstanceStatus,
    /// The trigger's parameters (a webhook's `url`, a timer's schedule):
    /// only rules whose `trigger.parameters` equal these are considered.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub parameters: Map<String, Value>,
    /// What each matching rule did with it (StackStorm's rule enforcements),
    /// committed in the same transaction as the instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<RuleEnforcement>,
}

impl TriggerInstance {
    /// A pending instance of `trigger` received now, with a new id.
    pub fn new(trigger: impl Into<String>, payload: Value) -> Self {
        Self {
            id: new_id(),
            trigger: trigger.into(),
            payload,
            occurred_at: now_millis(),
            status: TriggerInstanceStatus::Pending,
            parameters: Map::new(),
            decisions: Vec::new(),
        }
    }
}

/// One rule that matched a trigger instance, and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEnforcement {
    /// `pack.rule`.
    pub rule: String,
    /// The execution it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Uuid>,
    /// Why no execution was started (unknown action, parameters that do not
    /// render or fit the action's schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where an execution is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Created, not yet accepted by the scheduler.
    Requested,
    /// Queued for a worker.
    Scheduled,
    /// A worker is running it.
    Running,
    /// Finished with output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped at its deadline.
    Timeout,
    /// Stopped on request.
    Canceled,
    /// Was running when the host stopped and is not retried.
    Abandoned,
    /// A workflow paused by an operator or waiting for an inquiry: tasks
    /// already running finish, no new ones start.
    Paused,
    /// A `core.ask` waiting for a person's response.
    Pending,
}

impl ExecutionStatus {
    /// True for the states an execution never leaves.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Timeout | Self::Canceled | Self::Abandoned
        )
    }
}

/// One run (or attempted run) of an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Time-ordered id; also the action's idempotency key.
    pub id: Uuid,
    /// `pack.action`.
    pub action: String,
    /// Parameters after validation and defaults.
    pub parameters: Value,
    /// Current state.
    pub status: ExecutionStatus,
    /// The trigger instance that caused it, if a rule did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_instance: Option<Uuid>,
    /// The rule that started it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Creation time.
    pub created_at: Millis,
    /// Last state change.
    pub updated_at: Millis,
    /// When the current attempt started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    /// When it reached a finished state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// Output JSON when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Error message when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the action logged during its last attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<ExecutionLog>,
    /// Earlier attempts that ended in a retry, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<Attempt>,
    /// The workflow task that started it, if a workflow did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<super::ParentTask>,
    /// The user who requested it through the API (StackStorm's
    /// `context.user`); absent for executions rules and workflows start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Where in chat it was asked for, when an action alias started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Box<ChatOrigin>>,
}

/// The chat an alias-started execution answers to (StackStorm keeps it in
/// the execution's `context` and `notify`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatOrigin {
    /// The alias, `pack.name`.
    pub alias: String,
    /// The alias's id.
    pub alias_id: Uuid,
    /// The chat user as the platform names them (StackStorm's `api_user`).
    pub chat_user: String,
    /// The channel the command came from.
    pub source_channel: String,
    /// Where the result is announced: a stream route (`chatops` unless the
    /// bot names its own), or a platform's reply address.
    pub route: ChatRoute,
    /// What the bot sent about the channel, handed back unchanged.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub source_context: Value,
}

/// Where an alias-started execution's result goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChatRoute {
    /// `st2.announcement__<route>` on the event stream, for a bot.
    Stream {
        /// The route.
        route: String,
    },
    /// A POST to a chat platform's reply URL, sent by the outbound action.
    Reply {
        /// The platform (`slack`, `mattermost`).
        platform: String,
        /// The URL the answer is posted to.
        url: String,
    },
}

impl Execution {
    /// A new execution of `action`, requested now, attempt 1.
    pub fn new(action: impl Into<String>, parameters: Value) -> Self {
        let now = now_millis();
        Self {
            id: new_id(),
            action: action.into(),
            parameters,
            status: ExecutionStatus::Requested,
            trigger_instance: None,
            rule: None,
            attempt: 1,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            result: None,
            error: None,
            logs: Vec::new(),
            retries: Vec::new(),
            parent: None,
            user: None,
            chat: None,
        }
    }
}

/// One line an action logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionLog {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// The line.
    pub message: String,
}

/// An attempt of an execution that was retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its number, from 1.
    pub attempt: u32,
    /// How it ended: `failed`, `timeout`, or `abandoned` when the host
    /// stopped while it ran.
    pub status: ExecutionStatus,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it ended (or when the host noticed it had been cut short).
    pub ended_at: Millis,
}

/// Who a key-value entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvScope {
    /// Operator-wide data (`st2kv.system`).
    System,
    /// Data of one pack.
    Pack(String),
}

impl KvScope {
    pub(crate) fn prefix(&self) -> String {
        match self {
            Self::System => "system\0".to_owned(),
            Self::Pack(pack) => format!("pack:{pack}\0"),
        }
    }

    /// The row key of `key` in this scope.
    pub(crate) fn row(&self, key: &str) -> String {
        format!("{}{key}", self.prefix())
    }
}

/// What a read of a secret entry shows instead of its value (StackStorm's
/// mask).
pub const MASKED_SECRET: &str = "********";

/// A live key-value entry as callers see it: a secret's value masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvItem {
    /// The value, or [`MASKED_SECRET`] for a secret.
    pub value: String,
    /// Whether the value is a secret (encrypted at rest, shown masked).
    pub secret: bool,
    /// When it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// A stored key-value entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvEntry {
    /// The value, or for a secret the hex of its sealed form.
    pub(crate) value: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) secret: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expires_at: Option<Millis>,
}

impl KvEntry {
    pub(crate) fn live_at(&self, now: Millis) -> bool {
        self.expires_at.is_none_or(|expiry| expiry > now)
    }

    /// What callers may see of it.
    pub(crate) fn item(self) -> KvItem {
        let value = if self.secret { MASKED_SECRET.to_owned() } else { self.value };
        KvItem { value, secret: self.secret, expires_at: self.expires_at }
    }
}

/// One line of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    pub at: Millis,
    /// Who did it: `operator`, `system`, `pack:<name>`, an API key's name.
    pub actor: String,
    /// What happened, e.g. `pack.install`, `capability.denied`.
    pub action: String,
    /// What it happened to.
    pub subject: String,
    /// Details; never secret values.
    #[serde(default)]
    pub detail: Value,
}

/// An installed pack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRecord {
    /// Pack name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Its manifest, as installed (TOML text).
    pub manifest: String,
    /// Hex sha256 of its component (the bundle, for packs installed from
    /// one).
    pub component_sha256: String,
    /// When this version was installed.
    pub installed_at: Millis,
    /// Who publishes it, as its manifest says.
    #[serde(default)]
    pub publisher: String,
    /// Name of the trusted key that signed it; `None` when it was installed
    /// unsigned (`--allow-unsigned`) or from a bare component.
    #[serde(default)]
    pub signer: Option<String>,
    /// What the operator granted, as the runtime's grant record.
    #[serde(default)]
    pub grants: Value,
    /// Whether its bundle is in the store (packs loaded from files by
    /// `squall serve --pack` are not).
    #[serde(default)]
    pub has_bundle: bool,
    /// The pack's configuration as installed (never secrets: those are
    /// named secrets in the datastore).
    #[serde(default)]
    pub config: Value,
}

/// A public key the operator trusts to sign bundles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKeyRecord {
    /// The operator's name for it.
    pub name: String,
    /// The key in wasmsign2's raw encoding, hex.
    pub public_key: String,
    /// Short identifier of the key.
    pub fingerprint: String,
    /// When it was added.
    pub added_at: Millis,
}

/// A trigger type a pack declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerTypeRecord {
    /// `pack.name`.
    pub name: String,
    /// The pack that declared it.
    pub pack: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of its payloads.
    pub payload_schema: Value,
    /// JSON Schema of `trigger.parameters`, when it takes any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_schema: Option<Value>,
}

/// A rule as the operator gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRecord {
    /// `pack.name`.
    pub reference: String,
    /// The rule's YAML (or JSON) text, kept verbatim so that what the
    /// operator wrote is what is shown and reloaded.
    pub source: String,
    /// Whether it is in force; overrides the source's `enabled`.
    pub enabled: bool,
    /// When it was first stored.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// An action alias, from a pack's `aliases/` or the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `pack.name`.
    pub reference: String,
    /// StackStorm's `id`, which bots and `ref_or_id` routes use; it stays
    /// the same when the alias is replaced.
    pub id: Uuid,
    /// The alias as YAML or JSON text, kept verbatim.
    pub source: String,
    /// Whether it came with its pack (replaced and removed with it) rather
    /// than through the API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_pack: bool,
    /// When it was first stored.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// An API key, as stored: its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Time-ordered id.
    pub id: Uuid,
    /// What it is for, for people.
    pub name: String,
    /// Hex sha256 of the key.
    pub hash: String,
    /// When it was created.
    pub created_at: Millis,
    /// When it was revoked; a revoked key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Millis>,
    /// The user it acts for, with that user's permissions. Keys made before
    /// users existed were the admin's.
    #[serde(default = "first_admin")]
    pub user: String,
    /// When not empty, the key may only send webhooks whose name matches
    /// one of these patterns (`*` matches any run), and do nothing else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<String>,
}

/// The user `squall serve` creates on first start.
pub const FIRST_ADMIN: &str = "admin";

fn first_admin() -> String {
    FIRST_ADMIN.to_owned()
}
