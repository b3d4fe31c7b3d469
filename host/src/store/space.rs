//! The free-space reserve: writes stop, with a clear error, while the disk
//! holding the database has less than the reserve free, so redb itself
//! never runs into a full disk (after a failed write it refuses even
//! reads until the file is reopened).

use std::path::{Path, PathBuf};

use super::error::WriteError;

/// Checks the free space of the filesystem holding one file.
#[derive(Debug, Clone)]
pub(crate) struct Reserve {
    path: PathBuf,
    bytes: u64,
}

impl Reserve {
    /// Keeps `bytes` free on the filesystem holding `path`; 0 turns the
    /// check off.
    pub(crate) fn new(path: &Path, bytes: u64) -> Self {
        Self { path: path.to_owned(), bytes }
    }

    /// `Err(DiskFull)` while less than the reserve is free. A filesystem
    /// that cannot say how full it is does not stop writes.
    pub(crate) fn check(&self) -> Result<(), WriteError> {
        if self.bytes == 0 {
            return Ok(());
        }
        match free_bytes(&self.path) {
            Ok(free) if free < self.bytes => {
                Err(WriteError::DiskFull { free, reserve: self.bytes })
            }
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::debug!(%error, path = %self.path.display(), "cannot read free space");
                Ok(())
            }
        }
    }

    /// The reserve, for errors that come from the filesystem itself.
    pub(crate) fn disk_full(&self) -> WriteError {
        let free = free_bytes(&self.path).unwrap_or(0);
        WriteError::DiskFull { free, reserve: self.bytes }
    }
}

/// Bytes an unprivileged process may still write on the filesystem holding
/// `path`.
pub(crate) fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Whether a redb error says the disk (or the user's quota) is full.
pub(crate) fn is_disk_full(error: &redb::StorageError) -> bool {
    matches!(error, redb::StorageError::Io(io) if is_full_io(io))
}

fn is_full_io(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}
