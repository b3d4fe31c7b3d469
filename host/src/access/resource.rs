//! [`Resource`]: what a permission is checked on, named by StackStorm's
//! resource uids (`pack:core`, `action:core:echo`, `webhook:github`).

use super::permission::ResourceType;

/// One resource a permission is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its type.
    pub kind: ResourceType,
    /// Its uid, e.g. `action:core:echo`.
    pub uid: String,
    /// The uid of the pack it lives in, for pack content (`pack:core`).
    pub pack_uid: Option<String>,
    /// For an execution: the action it runs, whose grants decide
    /// (StackStorm's execution resolver).
    pub action: Option<Box<Resource>>,
}

impl Resource {
    fn plain(kind: ResourceType, name: &str) -> Self {
        Self { kind, uid: format!("{kind}:{name}"), pack_uid: None, action: None }
    }

    /// Pack content named by its ref `pack.name`: uid `type:pack:name`.
    fn in_pack(kind: ResourceType, reference: &str) -> Self {
        let (pack, name) = crate::limits::split_ref(reference).unwrap_or(("", reference));
        Self {
            kind,
            uid: format!("{kind}:{pack}:{name}"),
            pack_uid: Some(format!("pack:{pack}")),
            action: None,
        }
    }

    /// A pack by name.
    pub fn pack(name: &str) -> Self {
        Self::plain(ResourceType::Pack, name)
    }

    /// An action by ref (`core.echo`).
    pub fn action(reference: &str) -> Self {
        Self::in_pack(ResourceType::Action, reference)
    }

    /// An action alias by ref.
    pub fn action_alias(reference: &str) -> Self {
        Self::in_pack(ResourceType::ActionAlias, reference)
    }

    /// A rule by ref.
    pub fn rule(reference: &str) -> Self {
        Self::in_pack(ResourceType::Rule, reference)
    }

    /// A runner type by name (`wasm`).
    pub fn runner_type(name: &str) -> Self {
        Self::plain(ResourceType::RunnerType, name)
    }

    /// A sensor type by ref.
    pub fn sensor_type(reference: &str) -> Self {
        Self::in_pack(ResourceType::SensorType, reference)
    }

    /// A trigger type by ref.
    pub fn trigger_type(reference: &str) -> Self {
        Self::in_pack(ResourceType::Trigger, reference)
    }

    /// A webhook by the name it is posted to (`github` for
    /// `/webhooks/github`).
    pub fn webhook(name: &str) -> Self {
        Self::plain(ResourceType::Webhook, name)
    }

    /// A datastore key; `scope` is StackStorm's (`st2kv.system`) or
    /// Squall's `pack:NAME`.
    pub fn key(scope: &str, name: &str) -> Self {
        let scope = if scope == "system" { "st2kv.system" } else { scope };
        Self::plain(ResourceType::KeyValuePair, &format!("{scope}:{name}"))
    }

    /// An execution of the action `action_ref`.
    pub fn execution(id: &str, action_ref: &str) -> Self {
        Self {
            action: Some(Box::new(Self::action(action_ref))),
            ..Self::plain(ResourceType::Execution, id)
        }
    }

    /// An API key by id.
    pub fn api_key(id: &str) -> Self {
        Self::plain(ResourceType::ApiKey, id)
    }

    /// A user by name.
    pub fn user(name: &str) -> Self {
        Self::plain(ResourceType::User, name)
    }

    /// A role by name.
    pub fn role(name: &str) -> Self {
        Self::plain(ResourceType::Role, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_stackstorms() {
        assert_eq!(Resource::action("core.echo").uid, "action:core:echo");
        assert_eq!(Resource::action("core.echo").pack_uid.as_deref(), Some("pack:core"));
        assert_eq!(Resource::rule("ops.disk_full").uid, "rule:ops:disk_full");
        assert_eq!(Resource::webhook("github").uid, "webhook:github");
        assert_eq!(Resource::key("system", "a").uid, "key_value_pair:st2kv.system:a");
        assert_eq!(Resource::trigger_type("core.st2.webhook").uid, "trigger_type:core:st2.webhook");
        let execution = Resource::execution("0193", "core.echo");
        assert_eq!(execution.action.map(|a| a.uid).as_deref(), Some("action:core:echo"));
    }
}
