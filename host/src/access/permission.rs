//! Permission types and resource types, named as StackStorm's RBAC names
//! them (`st2common/rbac/types.py`), plus Squall's own for what StackStorm
//! lacks (the trust keyring, capability grants, the audit log, users and
//! roles).

use std::fmt;
use std::str::FromStr;

/// The kinds of resource a grant can name (`resource_uid` starts with one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    RunnerType,
    Pack,
    SensorType,
    Action,
    ActionAlias,
    Rule,
    RuleEnforcement,
    Execution,
    KeyValuePair,
    Webhook,
    Timer,
    ApiKey,
    Trace,
    Trigger,
    PolicyType,
    Policy,
    Stream,
    Inquiry,
    // Squall's own.
    Trust,
    Capability,
    Audit,
    User,
    Role,
    Metrics,
}

impl ResourceType {
    /// The name as it starts a resource uid (`action` in `action:core:echo`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunnerType => "runner_type",
            Self::Pack => "pack",
            Self::SensorType => "sensor_type",
            Self::Action => "action",
            Self::ActionAlias => "action_alias",
            Self::Rule => "rule",
            Self::RuleEnforcement => "rule_enforcement",
            Self::Execution => "execution",
            Self::KeyValuePair => "key_value_pair",
            Self::Webhook => "webhook",
            Self::Timer => "timer",
            Self::ApiKey => "api_key",
            Self::Trace => "trace",
            Self::Trigger => "trigger_type",
            Self::PolicyType => "policy_type",
            Self::Policy => "policy",
            Self::Stream => "stream",
            Self::Inquiry => "inquiry",
            Self::Trust => "trust",
            Self::Capability => "capability",
            Self::Audit => "audit",
            Self::User => "user",
            Self::Role => "role",
            Self::Metrics => "metrics",
        }
    }

    /// Every resource type a `resource_uid` may start with.
    pub const ALL: [Self; 24] = [
        Self::RunnerType,
        Self::Pack,
        Self::SensorType,
        Self::Action,
        Self::ActionAlias,
        Self::Rule,
        Self::RuleEnforcement,
        Self::Execution,
        Self::KeyValuePair,
        Self::Webhook,
        Self::Timer,
        Self::ApiKey,
        Self::Trace,
        Self::Trigger,
        Self::PolicyType,
        Self::Policy,
        Self::Stream,
        Self::Inquiry,
        Self::Trust,
        Self::Capability,
        Self::Audit,
        Self::User,
        Self::Role,
        Self::Metrics,
    ];

    /// Whether resources of this type live inside a pack, so that a grant
    /// on the pack covers them (StackStorm's content-pack resolvers).
    pub fn in_pack(self) -> bool {
        matches!(self, Self::Action | Self::ActionAlias | Self::Rule | Self::SensorType)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! permissions {
    ($($variant:ident = $name:literal on $resource:ident $(global $global:tt)?;)*) => {
        /// A permission type: what a grant allows on its resource type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($variant,)*
        }

        impl Permission {
            /// Every permission type, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// Its name, as StackStorm's role files spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The resource type it applies to.
            pub fn resource_type(self) -> ResourceType {
                match self {
                    $(Self::$variant => ResourceType::$resource,)*
                }
            }

            /// Global permissions are not about one resource: a grant holds
            /// them whatever its `resource_uid` (StackStorm's
            /// `GLOBAL_PERMISSION_TYPES`, every `*_list` among them).
            pub fn is_global(self) -> bool {
                match self {
                    $(Self::$variant => permissions!(@global $($global)?),)*
                }
            }
        }
    };
    (@global) => { false };
    (@global $t:tt) => { true };
}

permissions! {
    RunnerTypeList = "runner_type_list" on RunnerType global *;
    RunnerTypeView = "runner_type_view" on RunnerType;
    RunnerTypeModify = "runner_type_modify" on RunnerType;
    RunnerTypeAll = "runner_type_all" on RunnerType;

    PackList = "pack_list" on Pack global *;
    PackView = "pack_view" on Pack;
    PackCreate = "pack_create" on Pack global *;
    PackModify = "pack_modify" on Pack;
    PackDelete = "pack_delete" on Pack;
    PackInstall = "pack_install" on Pack global *;
    PackUninstall = "pack_uninstall" on Pack global *;
    PackRegister = "pack_register" on Pack global *;
    PackConfig = "pack_config" on Pack global *;
    PackSearch = "pack_search" on Pack global *;
    PackViewsIndexHealth = "pack_views_index_health" on Pack global *;
    PackAll = "pack_all" on Pack;

    SensorTypeList = "sensor_type_list" on SensorType global *;
    SensorTypeView = "sensor_type_view" on SensorType;
    SensorTypeModify = "sensor_type_modify" on SensorType;
    SensorTypeAll = "sensor_type_all" on SensorType;

    ActionList = "action_list" on Action global *;
    ActionView = "action_view" on Action;
    ActionCreate = "action_create" on Action;
    ActionModify = "action_modify" on Action;
    ActionDelete = "action_delete" on Action;
    ActionExecute = "action_execute" on Action;
    ActionAll = "action_all" on Action;

    ActionAliasList = "action_alias_list" on ActionAlias global *;
    ActionAliasView = "action_alias_view" on ActionAlias;
    ActionAliasCreate = "action_alias_create" on ActionAlias;
    ActionAliasModify = "action_alias_modify" on ActionAlias;
    ActionAliasMatch = "action_alias_match" on ActionAlias global *;
    ActionAliasHelp = "action_alias_help" on ActionAlias global *;
    ActionAliasDelete = "action_alias_delete" on ActionAlias;
    // Squall's: StackStorm checks only `action_execute` on the alias's
    // action; here a chat command needs this on the alias too.
    ActionAliasExecute = "action_alias_execute" on ActionAlias;
    ActionAliasAll = "action_alias_all" on ActionAlias;

    ExecutionList = "execution_list" on Execution global *;
    ExecutionView = "execution_view" on Execution;
    ExecutionRerun = "execution_rerun" on Execution;
    ExecutionStop = "execution_stop" on Execution;
    ExecutionAll = "execution_all" on Execution;
    ExecutionViewsFiltersList = "execution_views_filters_list" on Execution global *;

    RuleList = "rule_list" on Rule global *;
    RuleView = "rule_view" on Rule;
    RuleCreate = "rule_create" on Rule;
    RuleModify = "rule_modify" on Rule;
    RuleDelete = "rule_delete" on Rule;
    RuleAll = "rule_all" on Rule;

    RuleEnforcementList = "rule_enforcement_list" on RuleEnforcement global *;
    RuleEnforcementView = "rule_enforcement_view" on RuleEnforcement;

    KeyValuePairList = "key_value_pair_list" on KeyValuePair global *;
    KeyValuePairView = "key_value_pair_view" on KeyValuePair;
    KeyValuePairSet = "key_value_pair_set" on KeyValuePair;
    KeyValuePairDelete = "key_value_pair_delete" on KeyValuePair;
    KeyValuePairAll = "key_value_pair_all" on KeyValuePair;

    WebhookList = "webhook_list" on Webhook global *;
    WebhookView = "webhook_view" on Webhook;
    WebhookCreate = "webhook_create" on Webhook;
    WebhookSend = "webhook_send" on Webhook;
    WebhookDelete = "webhook_delete" on Webhook;
    WebhookAll = "webhook_all" on Webhook;

    TimerList = "timer_list" on Timer global *;
    TimerView = "timer_view" on Timer;
    TimerAll = "timer_all" on Timer;

    ApiKeyList = "api_key_list" on ApiKey global *;
    ApiKeyView = "api_key_view" on ApiKey;
    ApiKeyCreate = "api_key_create" on ApiKey global *;
    ApiKeyModify = "api_key_modify" on ApiKey;
    ApiKeyDelete = "api_key_delete" on ApiKey;
    ApiKeyAll = "api_key_all" on ApiKey;

    TraceList = "trace_list" on Trace global *;
    TraceView = "trace_view" on Trace;
    TraceAll = "trace_all" on Trace;

    TriggerList = "trigger_list" on Trigger global *;
    TriggerView = "trigger_view" on Trigger;
    TriggerAll = "trigger_all" on Trigger;

    PolicyTypeList = "policy_type_list" on PolicyType global *;
    PolicyTypeView = "policy_type_view" on PolicyType;
    PolicyTypeAll = "policy_type_all" on PolicyType;

    PolicyList = "policy_list" on Policy global *;
    PolicyView = "policy_view" on Policy;
    PolicyCreate = "policy_create" on Policy global *;
    PolicyModify = "policy_modify" on Policy;
    PolicyDelete = "policy_delete" on Policy;
    PolicyAll = "policy_all" on Policy;

    StreamView = "stream_view" on Stream global *;

    InquiryList = "inquiry_list" on Inquiry global *;
    InquiryView = "inquiry_view" on Inquiry global *;
    InquiryRespond = "inquiry_respond" on Inquiry global *;
    InquiryAll = "inquiry_all" on Inquiry;

    // Squall's own, for what StackStorm does not have.
    TrustView = "trust_view" on Trust global *;
    TrustModify = "trust_modify" on Trust global *;
    CapabilityGrant = "capability_grant" on Capability global *;
    AuditView = "audit_view" on Audit global *;
    UserList = "user_list" on User global *;
    UserView = "user_view" on User;
    UserCreate = "user_create" on User global *;
    UserModify = "user_modify" on User;
    UserDelete = "user_delete" on User;
    RoleList = "role_list" on Role global *;
    RoleView = "role_view" on Role;
    RoleModify = "role_modify" on Role global *;
    MetricsView = "metrics_view" on Metrics global *;
}

/// Other spellings accepted in role files, mapped to the canonical name:
/// the short key names and `execution_re_run` (StackStorm's Python constant
/// is `EXECUTION_RE_RUN`, its value `execution_rerun`).
const ALIASES: [(&str, Permission); 6] = [
    ("key_list", Permission::KeyValuePairList),
    ("key_view", Permission::KeyValuePairView),
    ("key_set", Permission::KeyValuePairSet),
    ("key_delete", Permission::KeyValuePairDelete),
    ("key_all", Permission::KeyValuePairAll),
    ("execution_re_run", Permission::ExecutionRerun),
];

impl Permission {
    /// The last word of the name: `view`, `list`, `execute`, `all`, …
    pub fn verb(self) -> &'static str {
        let name = self.as_str();
        let prefix = self.resource_type().as_str();
        // `trigger_*` names the resource type `trigger_type`.
        let prefix = if self.resource_type() == ResourceType::Trigger { "trigger" } else { prefix };
        name.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('_')).unwrap_or(name)
    }

    /// Whether StackStorm's `observer` role holds it: every `view`, `list`
    /// and `search`.
    pub fn is_read(self) -> bool {
        let verb = self.verb();
        // Matching a command and listing help reveal no more than the
        // alias list does, so observers have them (chat bots need both).
        verb == "view"
            || verb == "search"
            || verb.ends_with("list")
            || (self.resource_type() == ResourceType::ActionAlias
                && (verb == "match" || verb == "help"))
    }

    /// The `*_all` permission of its resource type, when it has one.
    pub fn all_of_type(self) -> Option<Self> {
        let all = self.resource_type();
        Self::ALL.iter().copied().find(|p| p.resource_type() == all && p.verb() == "all")
    }

    /// The permissions that also imply this one on the same resource
    /// (besides itself): for a `view`, every create, modify, delete,
    /// execute and all of the type, as StackStorm's resolvers read them;
    /// for the others, the type's `all`.
    pub fn implied_by(self) -> Vec<Self> {
        let mut implying = vec![self];
        if self.verb() == "view" {
            implying.extend(Self::ALL.iter().copied().filter(|p| {
                p.resource_type() == self.resource_type()
                    && matches!(
                        p.verb(),
                        "create" | "modify" | "delete" | "execute" | "all" | "set"
                    )
            }));
        } else if let Some(all) = self.all_of_type().filter(|all| *all != self) {
            implying.push(all);
        }
        implying
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a permission type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission type `{0}` (expected one of StackStorm's, e.g. `action_execute`)")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == text)
            .or_else(|| ALIASES.iter().find(|(alias, _)| *alias == text).map(|(_, p)| *p))
            .ok_or_else(|| UnknownPermission(text.to_owned()))
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for ResourceType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|t| t.as_str() == text).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
            format!("unknown resource type `{text}` (expected one of {})", known.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_map_to_canonical_names() {
        for permission in Permission::ALL {
            assert_eq!(permission.as_str().parse::<Permission>(), Ok(*permission));
        }
        assert_eq!("key_view".parse(), Ok(Permission::KeyValuePairView));
        assert_eq!("execution_re_run".parse(), Ok(Permission::ExecutionRerun));
        assert!("action_fly".parse::<Permission>().is_err());
    }

    #[test]
    fn verbs_and_reads() {
        assert_eq!(Permission::KeyValuePairSet.verb(), "set");
        assert_eq!(Permission::TriggerView.verb(), "view");
        assert_eq!(Permission::ExecutionViewsFiltersList.verb(), "views_filters_list");
        assert_eq!(Permission::PackViewsIndexHealth.verb(), "views_index_health");
        assert!(Permission::ActionList.is_read() && Permission::StreamView.is_read());
        assert!(Permission::PackSearch.is_read() && Permission::AuditView.is_read());
        assert!(!Permission::ActionExecute.is_read() && !Permission::PackInstall.is_read());
    }

    #[test]
    fn view_is_implied_by_writes_of_the_same_type() {
        let implying = Permission::ActionView.implied_by();
        for p in [Permission::ActionExecute, Permission::ActionAll, Permission::ActionCreate] {
            assert!(implying.contains(&p), "{p}");
        }
        assert!(!implying.contains(&Permission::RuleAll));
        assert_eq!(
            Permission::ActionExecute.implied_by(),
            vec![Permission::ActionExecute, Permission::ActionAll]
        );
        assert_eq!(Permission::StreamView.implied_by(), vec![Permission::StreamView]);
    }
}
