//! ChatOps: action aliases (StackStorm's format), the alias grammar that
//! turns a chat command into action parameters, which alias a command
//! means, what chat is told, and the operator's chat settings. Pure:
//! nothing here does IO.

mod alias;
mod config;
mod format;
mod matching;
mod message;

pub use alias::{ActionAlias, AliasError, AliasFormat, Message};
pub use config::{ChatConfig, ChatIdentity, ConfigError, Mattermost, Secret, Slack};
pub use format::{Format, FormatError, MAX_INPUT_BYTES};
pub use matching::{FilterError, Help, HelpString, MatchError, Matched, help, match_command};
pub use message::{ChatMessage, MAX_MESSAGE_CHARS, MAX_ROUTE_BYTES, ack, check_route, result};
