//! The operator's ChatOps settings (`squall serve --chatops FILE`): which
//! Squall user each chat user acts as, and the chat platforms Squall
//! answers itself (Slack slash commands, Mattermost outgoing webhooks).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// Why a settings file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// A secret from the settings: shown as `***` by `Debug`, so that it
/// cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for checking a signature.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Slack slash commands.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slack {
    /// The app's signing secret: every request's `X-Slack-Signature` is
    /// checked against it.
    pub signing_secret: Secret,
}

/// Mattermost (and Rocket.Chat) outgoing webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mattermost {
    /// The outgoing webhook's token, sent in every request.
    pub token: Secret,
    /// An incoming webhook URL results are posted to (outgoing webhooks
    /// have no reply address of their own).
    pub incoming_webhook: String,
}

/// The ChatOps settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    /// Chat user (as the bot or platform names them) → Squall user.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// The Squall user an unmapped chat user acts as; none: refused.
    #[serde(default)]
    pub default_user: Option<String>,
    /// Slack slash commands, when set.
    #[serde(default)]
    pub slack: Option<Slack>,
    /// Mattermost outgoing webhooks, when set.
    #[serde(default)]
    pub mattermost: Option<Mattermost>,
    /// The sandboxed action that posts replies to a platform (it needs an
    /// outbound grant for the platform's host). `http.request` by default.
    #[serde(default = "default_reply_action")]
    pub reply_action: String,
}

fn default_reply_action() -> String {
    "http.request".to_owned()
}

/// Whose permissions a chat user's command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatIdentity {
    /// Mapped, or the default user.
    User(String),
    /// Not mapped and no default: refused.
    Unmapped,
}

impl ChatConfig {
    /// Reads the settings from YAML text; errors name `file` and the field.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, ConfigError> {
        let fail = |message: String| ConfigError { file: file.to_owned(), message };
        crate::limits::check(text, crate::limits::Format::Yaml).map_err(|e| fail(e.to_string()))?;
        let config: Self = serde_yaml_ng::from_str(text).map_err(|e| fail(e.to_string()))?;
        if let Some(mattermost) = &config.mattermost
            && !(mattermost.incoming_webhook.starts_with("https://")
                || mattermost.incoming_webhook.starts_with("http://"))
        {
            return Err(fail(format!(
                "mattermost.incoming_webhook: expected an http:// or https:// URL, found `{}`",
                mattermost.incoming_webhook
            )));
        }
        if crate::limits::split_ref(&config.reply_action).is_none() {
            return Err(fail(format!(
                "reply_action: expected an action reference `pack.action`, found `{}`",
                config.reply_action
            )));
        }
        Ok(config)
    }

    /// The Squall user `chat_user` acts as.
    pub fn identity(&self, chat_user: &str) -> ChatIdentity {
        match self.users.get(chat_user).or(self.default_user.as_ref()) {
            Some(user) => ChatIdentity::User(user.clone()),
            None => ChatIdentity::Unmapped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_default_and_unmapped_users() {
        let config = ChatConfig::from_yaml("users: {U1: alice}\ndefault_user: guest\n", "c.yaml")
            .expect("valid");
        assert_eq!(config.identity("U1"), ChatIdentity::User("alice".into()));
        assert_eq!(config.identity("U2"), ChatIdentity::User("guest".into()));
        let strict = ChatConfig::from_yaml("users: {U1: alice}\n", "c.yaml").expect("valid");
        assert_eq!(strict.identity("U2"), ChatIdentity::Unmapped);
        assert_eq!(strict.reply_action, "http.request");
    }

    #[test]
    fn errors_name_the_file_and_field_and_secrets_stay_hidden() {
        let error = ChatConfig::from_yaml("slack: {signing_secret: s3cret, extra: 1}\n", "c.yaml")
            .expect_err("unknown field");
        assert!(error.to_string().starts_with("c.yaml: slack: unknown field `extra`"), "{error}");
        let error =
            ChatConfig::from_yaml("mattermost: {token: t, incoming_webhook: ftp://x}\n", "c.yaml")
                .expect_err("bad URL");
        assert!(error.to_string().contains("mattermost.incoming_webhook: expected"), "{error}");
        let config =
            ChatConfig::from_yaml("slack: {signing_secret: s3cret}\n", "c.yaml").expect("valid");
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
