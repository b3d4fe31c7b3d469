//! ChatOps: action aliases (StackStorm's format), the alias grammar that
//! turns a chat command into action parameters, and which alias a command
//! means. Pure: nothing here does IO.

mod alias;
mod format;
mod matching;

pub use alias::{ActionAlias, AliasError, AliasFormat, Message};
pub use format::{Format, FormatError, MAX_INPUT_BYTES};
pub use matching::{FilterError, Help, HelpString, MatchError, Matched, help, match_command};
