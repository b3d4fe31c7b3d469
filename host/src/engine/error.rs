//! The engine's errors, one type per operation callers match on.

use uuid::Uuid;

use super::trigger_types::TriggerError;
use crate::store::{ExecutionStatus, ReadError, WriteError};

/// The engine could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The worker threads could not be created.
    #[error("cannot start the worker threads: {0}")]
    Workers(String),
    /// Executions left running by the previous process could not be
    /// recovered; nothing was started.
    #[error("cannot recover executions left running: {0}")]
    Recover(WriteError),
}

/// An event was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// Unknown trigger type or a payload that does not fit it.
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(WriteError),
}

/// A direct execution request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// No installed action has that reference.
    #[error("unknown action `{0}`")]
    UnknownAction(String),
    /// The parameters do not fit the action's schema.
    #[error("{0}")]
    Parameters(String),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(WriteError),
}

/// An execution could not be canceled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No execution has that id.
    #[error("execution {0} not found")]
    NotFound(Uuid),
    /// It already ended.
    #[error("execution {0} already finished ({1:?})")]
    Finished(Uuid, ExecutionStatus),
    /// The store could not be read.
    #[error(transparent)]
    Read(ReadError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(WriteError),
}
