//! The error a pack returns, mirroring the WIT `error` variant.

use std::fmt;

use crate::__bindings::squall::pack::types::Error as WitError;

/// Why an action, sensor or host call did not succeed. The host records the
/// kind and the message on the execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The parameters, config or request were not what the pack expects.
    InvalidInput(String),
    /// The work was attempted and failed.
    Failed(String),
    /// The host refused a capability the pack was not granted.
    Denied(String),
    /// Something the pack waited on took too long.
    Timeout(String),
}

/// Result of pack functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Failed`] with the given message.
    pub fn failed(message: impl fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }

    /// An [`Error::InvalidInput`] with the given message.
    pub fn invalid_input(message: impl fmt::Display) -> Self {
        Self::InvalidInput(message.to_string())
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(m) | Self::Failed(m) | Self::Denied(m) | Self::Timeout(m) => m,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::InvalidInput(_) => "invalid input",
            Self::Failed(_) => "failed",
            Self::Denied(_) => "denied",
            Self::Timeout(_) => "timeout",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for Error {}

impl From<Error> for WitError {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidInput(m) => Self::InvalidInput(m),
            Error::Failed(m) => Self::Failed(m),
            Error::Denied(m) => Self::Denied(m),
            Error::Timeout(m) => Self::Timeout(m),
        }
    }
}

impl From<WitError> for Error {
    fn from(error: WitError) -> Self {
        match error {
            WitError::InvalidInput(m) => Self::InvalidInput(m),
            WitError::Failed(m) => Self::Failed(m),
            WitError::Denied(m) => Self::Denied(m),
            WitError::Timeout(m) => Self::Timeout(m),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::Failed(format!("JSON: {error}"))
    }
}
