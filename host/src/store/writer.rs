//! The group-commit writer: one thread owns every write transaction. Callers
//! queue operations; the writer applies as many as are waiting in one
//! transaction, commits once (one fsync), then answers each caller. A caller
//! hears back only after its operation is durable.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, mpsc};
use std::time::{Duration, Instant};

use redb::{Database, StorageError};
use tokio::sync::oneshot;

use super::bounds::RecordLimits;
use super::error::{ReadError, WriteError, storage_write};
use super::secrets::SecretKey;
use super::space::{Reserve, is_disk_full};
use super::tx::Tx;

/// The open database, replaceable: once redb has failed an I/O operation it
/// refuses every later one (reads too) until the file is opened again, and
/// the writer does that by itself as soon as it can.
#[derive(Debug)]
pub(crate) struct DbSlot {
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    cache_bytes: usize,
}

impl DbSlot {
    pub(crate) fn new(db: Database, path: &Path, cache_bytes: usize) -> Self {
        Self { db: RwLock::new(Some(Arc::new(db))), path: path.to_owned(), cache_bytes }
    }

    /// The database, or why there is none right now.
    pub(crate) fn current(&self) -> Result<Arc<Database>, ReadError> {
        self.db.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or_else(|| {
            ReadError::Unavailable(
                "the database is being reopened after a failed write; try again shortly".into(),
            )
        })
    }

    /// Closes the failed database and opens the file again (redb repairs it
    /// on open). Fails while a reader still holds the old handle or while
    /// the repair cannot write; the writer tries again with its next batch.
    fn reopen(&self) -> Result<(), String> {
        let mut slot = self.db.write().unwrap_or_else(PoisonError::into_inner);
        slot.take();
        let db = Database::builder()
            .set_cache_size(self.cache_bytes)
            .create(&self.path)
            .map_err(|e| e.to_string())?;
        *slot = Some(Arc::new(db));
        Ok(())
    }
}

/// An operation queued for the writer, with the caller's answer channel.
pub(crate) type Job = Box<dyn Operation>;

/// A queued operation. It runs inside a batch and keeps its result until
/// the batch's fate is known. On a cluster node a batch that lost the race
/// for the replicated log is rolled back and run again on the newer state,
/// so an operation may run more than once before one run commits.
pub(crate) trait Operation: Send {
    fn apply(&mut self, tx: &mut Tx<'_>);
    fn committed(self: Box<Self>);
    fn failed(self: Box<Self>, error: &WriteError);
}

struct Queued<T, F> {
    operation: F,
    result: Option<Result<T, WriteError>>,
    answer: oneshot::Sender<Result<T, WriteError>>,
}

impl<T, F> Operation for Queued<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut Tx<'_>) -> Result<T, WriteError> + Send + 'static,
{
    fn apply(&mut self, tx: &mut Tx<'_>) {
        self.result = Some((self.operation)(tx));
    }

    // The operation is dropped before its caller hears back: what it
    // captured (often a handle on this store) is gone once the answer
    // arrives, so a caller that waited for its writes holds the last handle.
    fn committed(self: Box<Self>) {
        let Self { operation, result, answer } = *self;
        drop(operation);
        let _ = answer.send(result.unwrap_or(Err(WriteError::Closed)));
    }

    fn failed(self: Box<Self>, error: &WriteError) {
        let Self { operation, answer, .. } = *self;
        drop(operation);
        let _ = answer.send(Err(error.clone()));
    }
}

/// Wraps `operation` into a [`Job`] and the receiver its caller awaits.
pub(crate) fn job<T, F>(operation: F) -> (Job, oneshot::Receiver<Result<T, WriteError>>)
where
    T: Send + 'static,
    F: FnMut(&mut Tx<'_>) -> Result<T, WriteError> + Send + 'static,
{
    let (answer, receiver) = oneshot::channel();
    (Box::new(Queued { operation, result: None, answer }), receiver)
}

/// What the writer has done, for metrics and tests.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    pub(crate) commits: AtomicU64,
    pub(crate) operations: AtomicU64,
}

/// What the writer works with besides its queue.
#[derive(Debug)]
pub(crate) struct WriterContext {
    pub(crate) slot: Arc<DbSlot>,
    pub(crate) secrets: Arc<SecretKey>,
    pub(crate) limits: RecordLimits,
    pub(crate) reserve: Reserve,
    pub(crate) max_batch: usize,
    pub(crate) stats: Arc<WriterStats>,
}

/// Runs until every sender is dropped, then returns after the last batch.
pub(crate) fn run(context: WriterContext, jobs: mpsc::Receiver<Job>) {
    let WriterContext { slot, secrets, limits, reserve, max_batch, stats } = context;
    let mut failed = false;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            linger(&jobs, &mut batch, max_batch);
        }
        let size = batch.len() as u64;
        if let Err(error) = ready(&slot, &reserve, &mut failed) {
            batch.into_iter().for_each(|job| job.failed(&error));
            continue;
        }
        let Ok(db) = slot.current() else { continue };
        if let Err(io_failed) = commit_batch(&db, &secrets, &limits, &reserve, batch) {
            failed |= io_failed;
            continue;
        }
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.operations.fetch_add(size, Ordering::Relaxed);
    }
}

/// Whether a batch may be tried: the database reopened if an I/O error
/// failed it, and the free-space reserve there.
fn ready(slot: &DbSlot, reserve: &Reserve, failed: &mut bool) -> Result<(), WriteError> {
    reserve.check()?;
    if *failed {
        match slot.reopen() {
            Ok(()) => {
                tracing::warn!("store: the database is open again after a failed write");
                *failed = false;
            }
            Err(error) => {
                tracing::debug!(%error, "store: cannot reopen the database yet");
                return Err(WriteError::Unavailable(format!(
                    "the database is recovering from a failed write ({error}); try again shortly"
                )));
            }
        }
    }
    Ok(())
}

/// A write error from redb, as callers see it, and whether it left redb
/// refusing everything until the file is reopened.
fn classify(error: StorageError, reserve: &Reserve) -> (WriteError, bool) {
    let io_failed = matches!(error, StorageError::Io(_) | StorageError::PreviousIo);
    if is_disk_full(&error) {
        return (reserve.disk_full(), io_failed);
    }
    (storage_write(error), io_failed)
}

/// Longest wait between two arrivals for a batch to keep growing.
const ARRIVAL_GAP: Duration = Duration::from_micros(50);
/// Longest a batch waits for more operations in all.
const MAX_LINGER: Duration = Duration::from_micros(400);

/// Under concurrent load (more than one operation was waiting), callers
/// answered by the previous commit are about to send their next operation:
/// waiting for them while they keep arriving turns two half-full commits
/// into one full one, and a commit (its fsync) is the cost that matters. A
/// lone caller never waits here.
fn linger(jobs: &mpsc::Receiver<Job>, batch: &mut Vec<Job>, max_batch: usize) {
    let deadline = Instant::now() + MAX_LINGER;
    while batch.len() < max_batch {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match jobs.recv_timeout(left.min(ARRIVAL_GAP)) {
            Ok(job) => batch.push(job),
            Err(_) => return,
        }
    }
}

/// Applies and commits one batch; `Err(io_failed)` when it did not commit.
fn commit_batch(
    db: &Database,
    secrets: &SecretKey,
    limits: &RecordLimits,
    reserve: &Reserve,
    batch: Vec<Job>,
) -> Result<(), bool> {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(error) => {
            // Nothing ran: every caller hears the same storage error.
            let (error, io_failed) = match error {
                redb::TransactionError::Storage(error) => classify(error, reserve),
                other => (storage_write(other), false),
            };
            batch.into_iter().for_each(|job| job.failed(&error));
            return Err(io_failed);
        }
    };
    let mut pending = batch;
    {
        let mut tx = Tx { txn: &txn, secrets, limits, changes: None, node: "" };
        for job in &mut pending {
            job.apply(&mut tx);
        }
    }
    match txn.commit() {
        Ok(()) => {
            pending.into_iter().for_each(Operation::committed);
            Ok(())
        }
        Err(error) => {
            let (error, io_failed) = match error {
                redb::CommitError::Storage(error) => classify(error, reserve),
                other => (storage_write(other), false),
            };
            tracing::error!(%error, operations = pending.len(), "store commit failed; batch rolled back");
            pending.into_iter().for_each(|p| p.failed(&error));
            Err(io_failed)
        }
    }
}
