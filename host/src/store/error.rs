//! Store errors, split by operation: opening, reading, writing.

use std::path::PathBuf;

/// Opening (or creating) the database failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another `Store` in this one) has the file open.
    #[error("{}: the database is already open (is another squall running?)", path.display())]
    AlreadyOpen {
        /// The database file.
        path: PathBuf,
    },
    /// The file was written by an incompatible version of Squall.
    #[error("{}: schema version {found}, this build reads version {expected}", path.display())]
    SchemaVersion {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: String,
        /// Version this build writes.
        expected: u32,
    },
    /// The key file for secrets is unusable.
    #[error("secret key file {}: {message}", path.display())]
    SecretKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// redb or the filesystem refused.
    #[error("{}: {message}", path.display())]
    Storage {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A read failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// redb could not read.
    #[error("store read failed: {0}")]
    Storage(String),
    /// A secret did not decrypt: another key file, or a damaged entry. The
    /// message names the key, never the value.
    #[error("secret `{key}` cannot be decrypted (wrong key file or damaged entry)")]
    SecretUnreadable {
        /// The entry's key.
        key: String,
    },
    /// The database cannot be read right now (it is being reopened after a
    /// failed write); reading again shortly will work.
    #[error("{0}")]
    Unavailable(String),
    /// A stored record did not decode (a bug or a damaged file).
    #[error("store record in `{table}` does not decode: {message}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// Decoder message.
        message: String,
    },
}

/// A write failed. Nothing of the failed operation was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The operation's precondition did not hold.
    #[error("{0} not found")]
    NotFound(String),
    /// The record already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The input was refused before anything was written.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What was expected.
        message: String,
    },
    /// A stored record the operation needed could not be decoded.
    #[error("{0}")]
    Corrupt(String),
    /// redb could not write or commit; the whole batch was rolled back.
    #[error("store write failed: {0}")]
    Storage(String),
    /// Less than the free-space reserve is left on the database's disk (or
    /// the filesystem said it is full). Nothing was written; writes resume
    /// by themselves once space is freed.
    #[error(
        "the disk holding the database is full ({} free, {} must stay free); \
         nothing was written, and writes resume by themselves once space is freed",
        bytesize::ByteSize(*free),
        bytesize::ByteSize(*reserve)
    )]
    DiskFull {
        /// Bytes free when it was refused.
        free: u64,
        /// The reserve that must stay free.
        reserve: u64,
    },
    /// The database is being reopened after a failed write; trying again
    /// shortly will work.
    #[error("{0}")]
    Unavailable(String),
    /// The writer has stopped (the store is closing).
    #[error("the store is closed")]
    Closed,
}

impl From<ReadError> for WriteError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Corrupt { .. } => Self::Corrupt(error.to_string()),
            ReadError::Unavailable(message) => Self::Unavailable(message),
            _ => Self::Storage(error.to_string()),
        }
    }
}

pub(crate) fn storage_read(error: impl std::fmt::Display) -> ReadError {
    ReadError::Storage(error.to_string())
}

pub(crate) fn storage_write(error: impl std::fmt::Display) -> WriteError {
    WriteError::Storage(error.to_string())
}
