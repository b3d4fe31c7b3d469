//! The group-commit writer: one thread owns every write transaction. Callers
//! queue operations; the writer applies as many as are waiting in one
//! transaction, commits once (one fsync), then answers each caller. A caller
//! hears back only after its operation is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redb::Database;
use tokio::sync::oneshot;

use super::bounds::RecordLimits;
use super::error::{WriteError, storage_write};
use super::secrets::SecretKey;
use super::tx::Tx;

/// An operation queued for the writer, with the caller's answer channel.
pub(crate) type Job = Box<dyn Operation>;

/// A queued operation: applied inside a batch, or abandoned if the batch
/// cannot even start.
pub(crate) trait Operation: Send {
    fn apply(self: Box<Self>, tx: &mut Tx<'_>) -> Box<dyn Pending>;
    fn abandon(self: Box<Self>, error: &WriteError);
}

struct Queued<T, F> {
    operation: F,
    answer: oneshot::Sender<Result<T, WriteError>>,
}

impl<T, F> Operation for Queued<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, WriteError> + Send + 'static,
{
    fn apply(self: Box<Self>, tx: &mut Tx<'_>) -> Box<dyn Pending> {
        let result = (self.operation)(tx);
        Box::new(Reply { result, answer: self.answer })
    }

    fn abandon(self: Box<Self>, error: &WriteError) {
        let _ = self.answer.send(Err(error.clone()));
    }
}

/// The answer to one caller, held until the batch's commit is known.
pub(crate) trait Pending: Send {
    fn committed(self: Box<Self>);
    fn rolled_back(self: Box<Self>, error: &WriteError);
}

struct Reply<T> {
    result: Result<T, WriteError>,
    answer: oneshot::Sender<Result<T, WriteError>>,
}

impl<T: Send> Pending for Reply<T> {
    fn committed(self: Box<Self>) {
        let _ = self.answer.send(self.result);
    }

    fn rolled_back(self: Box<Self>, error: &WriteError) {
        let _ = self.answer.send(Err(error.clone()));
    }
}

/// Wraps `operation` into a [`Job`] and the receiver its caller awaits.
pub(crate) fn job<T, F>(operation: F) -> (Job, oneshot::Receiver<Result<T, WriteError>>)
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, WriteError> + Send + 'static,
{
    let (answer, receiver) = oneshot::channel();
    (Box::new(Queued { operation, answer }), receiver)
}

/// What the writer has done, for metrics and tests.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    pub(crate) commits: AtomicU64,
    pub(crate) operations: AtomicU64,
}

/// Runs until every sender is dropped, then returns after the last batch.
pub(crate) fn run(
    db: Arc<Database>,
    secrets: Arc<SecretKey>,
    limits: RecordLimits,
    jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    stats: Arc<WriterStats>,
) {
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
        commit_batch(&db, &secrets, &limits, batch);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.operations.fetch_add(size, Ordering::Relaxed);
    }
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

fn commit_batch(db: &Database, secrets: &SecretKey, limits: &RecordLimits, batch: Vec<Job>) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(error) => {
            // Nothing ran: every caller hears the same storage error.
            let error = storage_write(error);
            batch.into_iter().for_each(|job| job.abandon(&error));
            return;
        }
    };
    let mut pending = Vec::with_capacity(batch.len());
    {
        let mut tx = Tx { txn: &txn, secrets, limits };
        for job in batch {
            pending.push(job.apply(&mut tx));
        }
    }
    match txn.commit() {
        Ok(()) => pending.into_iter().for_each(Pending::committed),
        Err(error) => {
            let error = storage_write(error);
            tracing::error!(%error, operations = pending.len(), "store commit failed; batch rolled back");
            pending.into_iter().for_each(|p| p.rolled_back(&error));
        }
    }
}
