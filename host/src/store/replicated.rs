//! The writer of a cluster node: the same group commit as `writer.rs`, but
//! a batch commits only once its rows are the next entry of the replicated
//! log, and every other node's entries are applied in log order.
//!
//! Invariants:
//! - the database holds exactly the entries `1..=LOG_SEQUENCE` of the log,
//!   applied in order (the sequence is written in the same transaction as
//!   the rows), so every node's redb is the same function of the log;
//! - a batch is appended only on top of the last entry this node applied
//!   (JetStream's expected-last-sequence check): its operations decided on
//!   exactly the state the log had. Losing that race rolls the batch back,
//!   applies what won, and runs the operations again;
//! - a caller hears back only after the log acknowledged (a quorum of
//!   servers stored it) and this node applied it, so it reads its own write.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase};
use tokio::sync::broadcast;

use super::error::WriteError;
use super::replica::{Change, EntryError, apply_changes, decode_entry, encode_entry};
use super::schema::{LOG_SEQUENCE, META};
use super::tx::Tx;
use super::writer::{Job, Operation, WriterContext};

/// The replicated log a cluster node writes through. `cluster` implements
/// it on a JetStream stream; the store knows only this.
pub trait ReplicatedLog: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `entry` if the log's last entry is `after`, and returns its
    /// sequence once it is durably stored (by a quorum of servers).
    fn append(&self, after: u64, entry: Vec<u8>) -> Result<u64, LogError>;
    /// Entries after `after`, in order, waiting up to `wait` for the first
    /// (an empty list when none came).
    fn read(&self, after: u64, wait: Duration) -> Result<Vec<(u64, Vec<u8>)>, LogError>;
    /// Called when the log is known to hold entries `read` has not been
    /// delivering for a while (its subscription may have died with a
    /// server): start reading afresh.
    fn refollow(&self) {}
}

/// Why the log refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The log has entries this node has not applied: apply them first.
    #[error("the replicated log is at entry {last}, ahead of this node")]
    Behind {
        /// The log's last entry.
        last: u64,
    },
    /// The log cannot be reached or did not confirm in time.
    #[error("the replicated log is unavailable: {0}")]
    Unavailable(String),
}

/// How a store replicates: through which log, as which node.
#[derive(Debug, Clone)]
pub struct Replication {
    /// The cluster's log.
    pub log: Arc<dyn ReplicatedLog>,
    /// This node's name (recorded on the executions it runs).
    pub node: String,
}

/// What a batch of other nodes' entries changed, as the store announces it.
pub type Applied = Arc<AppliedChanges>;

/// What a batch of other nodes' entries changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AppliedChanges {
    /// The tables written.
    pub tables: BTreeSet<String>,
    /// Executions whose head was written (created or changed state).
    pub executions: BTreeSet<uuid::Uuid>,
    /// Trigger instances created.
    pub trigger_instances: BTreeSet<uuid::Uuid>,
}

impl AppliedChanges {
    fn note(&mut self, change: Change) {
        let id = <[u8; 16]>::try_from(change.key.as_slice()).ok().map(u128::from_le_bytes);
        match (change.table.as_str(), id, change.value.is_some()) {
            ("executions", Some(id), true) => {
                self.executions.insert(uuid::Uuid::from_u128(id));
            }
            // A payload is written once, when its instance is created.
            ("trigger_payloads", Some(id), true) => {
                self.trigger_instances.insert(uuid::Uuid::from_u128(id));
            }
            _ => {}
        }
        self.tables.insert(change.table);
    }
}

/// How often an idle node looks for other nodes' entries.
const FOLLOW_EVERY: Duration = Duration::from_millis(20);
/// How long a node that fell behind waits for the entries it lacks.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);
/// How long entries known to be in the log may fail to arrive before the
/// log is read afresh.
const STALLED: Duration = Duration::from_millis(500);
/// Runs of one batch before its callers hear that the log is too busy.
const MAX_RACES: usize = 64;

/// The sequence of the last entry the database applied.
pub(crate) fn applied_sequence(db: &Database) -> Result<u64, String> {
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(error) => return Err(error.to_string()),
    };
    let value = meta.get(LOG_SEQUENCE).map_err(|e| e.to_string())?;
    Ok(value.and_then(|v| v.value().parse().ok()).unwrap_or(0))
}

/// Runs until every sender is dropped.
pub(crate) fn run(
    context: WriterContext,
    jobs: mpsc::Receiver<Job>,
    replication: Replication,
    announce: broadcast::Sender<Applied>,
) {
    let Ok(db) = context.slot.current() else { return };
    let mut node = Follower {
        db: &db,
        log: &*replication.log,
        sequence: applied_sequence(&db).unwrap_or(0),
        announce: &announce,
        broken: None,
    };
    loop {
        let first = match jobs.recv_timeout(FOLLOW_EVERY) {
            Ok(job) => Some(job),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut batch: Vec<Job> = first.into_iter().collect();
        while !batch.is_empty() && batch.len() < context.max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(error) = node.follow(Duration::ZERO) {
            batch.into_iter().for_each(|job| job.failed(&error));
            continue;
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(error) = context.reserve.check() {
            batch.into_iter().for_each(|job| job.failed(&error));
            continue;
        }
        let size = batch.len() as u64;
        if node.commit(&context, &replication.node, batch) {
            context.stats.commits.fetch_add(1, Ordering::Relaxed);
            context.stats.operations.fetch_add(size, Ordering::Relaxed);
        }
    }
}

struct Follower<'a> {
    db: &'a Database,
    log: &'a dyn ReplicatedLog,
    sequence: u64,
    announce: &'a broadcast::Sender<Applied>,
    /// Set when an entry cannot be applied: the node stops writing rather
    /// than diverge from the others.
    broken: Option<String>,
}

impl Follower<'_> {
    /// Applies the entries the log has after this node's, waiting up to
    /// `wait` for the first.
    fn follow(&mut self, wait: Duration) -> Result<(), WriteError> {
        if let Some(reason) = &self.broken {
            return Err(WriteError::Unavailable(reason.clone()));
        }
        let entries = self.log.read(self.sequence, wait).map_err(unavailable)?;
        if entries.is_empty() {
            return Ok(());
        }
        match self.apply(&entries) {
            Ok(()) => Ok(()),
            Err(error) => {
                let reason = format!(
                    "this node stopped writing: {error}; restart it (it resumes from entry {})",
                    self.sequence + 1
                );
                tracing::error!(%reason, "cluster: cannot apply the replicated log");
                self.broken = Some(reason.clone());
                Err(WriteError::Unavailable(reason))
            }
        }
    }

    /// Applies other nodes' entries in one transaction.
    fn apply(&mut self, entries: &[(u64, Vec<u8>)]) -> Result<(), EntryError> {
        let storage = |e: &dyn std::fmt::Display| EntryError::Storage(e.to_string());
        let txn = self.db.begin_write().map_err(|e| storage(&e))?;
        let mut sequence = self.sequence;
        let mut applied = AppliedChanges::default();
        for (at, entry) in entries {
            if *at <= sequence {
                continue; // this node's own, applied when it was appended
            }
            if *at != sequence + 1 {
                return Err(EntryError::Format(format!(
                    "entry {at} follows entry {sequence}: the log lost entries in between"
                )));
            }
            let changes = decode_entry(entry)?;
            apply_changes(&txn, &changes)?;
            changes.into_iter().for_each(|change| applied.note(change));
            sequence = *at;
        }
        if sequence == self.sequence {
            return Ok(());
        }
        set_sequence(&txn, sequence).map_err(|e| storage(&e))?;
        txn.commit().map_err(|e| storage(&e))?;
        self.sequence = sequence;
        let _ = self.announce.send(Arc::new(applied));
        Ok(())
    }

    /// Runs the batch on the newest state and appends its rows to the log;
    /// on a lost race, catches up and runs it again. Answers every caller.
    fn commit(&mut self, context: &WriterContext, node: &str, mut batch: Vec<Job>) -> bool {
        for _ in 0..MAX_RACES {
            let txn = match self.db.begin_write() {
                Ok(txn) => txn,
                Err(error) => {
                    let error = WriteError::Storage(error.to_string());
                    batch.into_iter().for_each(|job| job.failed(&error));
                    return false;
                }
            };
            let changes = RefCell::new(Vec::new());
            {
                let mut tx = Tx {
                    txn: &txn,
                    secrets: &context.secrets,
                    limits: &context.limits,
                    changes: Some(&changes),
                    node,
                };
                for job in &mut batch {
                    job.apply(&mut tx);
                }
            }
            let changes = changes.into_inner();
            if changes.is_empty() {
                // Only reads (or failed operations): nothing to replicate.
                let _ = txn.abort();
                batch.into_iter().for_each(Operation::committed);
                return true;
            }
            match self.log.append(self.sequence, encode_entry(&changes)) {
                Ok(at) => {
                    let committed = set_sequence(&txn, at)
                        .map_err(|e| e.to_string())
                        .and_then(|()| txn.commit().map_err(|e| e.to_string()));
                    return match committed {
                        Ok(()) => {
                            self.sequence = at;
                            batch.into_iter().for_each(Operation::committed);
                            true
                        }
                        Err(error) => {
                            // In the log but not here: the next follow
                            // applies it from the log.
                            let error = WriteError::Storage(format!(
                                "entry {at} is in the replicated log but this node could not \
                                 apply it yet ({error}); it will from the log"
                            ));
                            batch.into_iter().for_each(|job| job.failed(&error));
                            false
                        }
                    };
                }
                Err(LogError::Behind { last }) => {
                    let _ = txn.abort();
                    if let Err(error) = self.catch_up(last) {
                        batch.into_iter().for_each(|job| job.failed(&error));
                        return false;
                    }
                }
                Err(error) => {
                    let _ = txn.abort();
                    let error = unavailable(error);
                    batch.into_iter().for_each(|job| job.failed(&error));
                    return false;
                }
            }
        }
        let error = WriteError::Unavailable(
            "the replicated log is too busy: this node lost the race for it too often; try again"
                .into(),
        );
        batch.into_iter().for_each(|job| job.failed(&error));
        false
    }

    /// Applies entries until this node has applied `last`.
    fn catch_up(&mut self, last: u64) -> Result<(), WriteError> {
        let deadline = Instant::now() + CATCH_UP_WAIT;
        let mut progress = (self.sequence, Instant::now());
        while self.sequence < last {
            if self.sequence != progress.0 {
                progress = (self.sequence, Instant::now());
            } else if progress.1.elapsed() > STALLED {
                tracing::info!(at = self.sequence, last, "cluster: reading the log afresh");
                self.log.refollow();
                progress.1 = Instant::now();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WriteError::Unavailable(format!(
                    "this node is at entry {} of the replicated log and could not read up to {last}",
                    self.sequence
                )));
            }
            self.follow(left.min(Duration::from_millis(200)))?;
        }
        Ok(())
    }
}

fn set_sequence(txn: &redb::WriteTransaction, at: u64) -> Result<(), redb::Error> {
    let mut meta = txn.open_table(META)?;
    meta.insert(LOG_SEQUENCE, at.to_string().as_str())?;
    Ok(())
}

fn unavailable(error: LogError) -> WriteError {
    WriteError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use super::*;
    use crate::store::{KvScope, Store, StoreConfig};

    /// A log in memory with the check JetStream makes on append.
    #[derive(Debug, Default)]
    struct MemoryLog {
        entries: Mutex<Vec<Vec<u8>>>,
        grew: Condvar,
    }

    impl ReplicatedLog for MemoryLog {
        fn append(&self, after: u64, entry: Vec<u8>) -> Result<u64, LogError> {
            let mut entries = self.entries.lock().expect("it works");
            let last = entries.len() as u64;
            if last != after {
                return Err(LogError::Behind { last });
            }
            entries.push(entry);
            self.grew.notify_all();
            Ok(last + 1)
        }

        fn read(&self, after: u64, wait: Duration) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
            let entries = self.entries.lock().expect("it works");
            let (entries, _) = self
                .grew
                .wait_timeout_while(entries, wait, |e| e.len() as u64 <= after)
                .expect("it works");
            Ok((after + 1..).zip(entries[after as usize..].iter().cloned()).collect())
        }
    }

    fn node(dir: &std::path::Path, name: &str, log: &Arc<MemoryLog>) -> Store {
        let config = StoreConfig {
            replication: Some(Replication { log: log.clone(), node: name.into() }),
            secret_key: Some(dir.join("shared.key")),
            retention: None,
            min_free_bytes: 0,
            ..StoreConfig::default()
        };
        Store::open(&dir.join(format!("{name}.redb")), config).expect("it works")
    }

    fn read(store: &Store, key: &str) -> Option<String> {
        store
            .read()
            .expect("it works")
            .kv_get(&KvScope::System, key, crate::store::now_millis())
            .expect("it works")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_nodes_racing_for_the_log_end_with_the_same_rows() {
        let dir = tempfile::tempdir().expect("it works");
        let log = Arc::new(MemoryLog::default());
        let (a, b) = (node(dir.path(), "a", &log), node(dir.path(), "b", &log));
        // Both nodes increment one counter many times at once: every
        // increment reads the value it replaces, so a lost update would
        // show as a total below 200.
        let mut tasks = Vec::new();
        for store in [a.clone(), b.clone()] {
            for _ in 0..4 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..25 {
                        store
                            .write(|tx| {
                                let now = crate::store::now_millis();
                                let old = tx.kv_item(&KvScope::System, "count", now)?;
                                let n: u64 = old.map_or(0, |i| i.value.parse().expect("it works"));
                                tx.kv_set(&KvScope::System, "count", (n + 1).to_string(), None)
                            })
                            .await
                            .expect("it works");
                    }
                }));
            }
        }
        for task in tasks {
            task.await.expect("it works");
        }
        // Every increment is in the log; each node shows the total once it
        // has applied the other's last entries (at its next look at the
        // log). A lost update would leave the total below 200 for good.
        let deadline = Instant::now() + Duration::from_secs(5);
        for node in [&a, &b] {
            while read(node, "count").as_deref() != Some("200") {
                let seen = read(node, "count");
                assert!(Instant::now() < deadline, "a node stayed at {seen:?}, not 200");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        assert_eq!(a.log_sequence().expect("it works"), b.log_sequence().expect("it works"));
        assert_eq!(
            a.log_sequence().expect("it works"),
            log.entries.lock().expect("it works").len() as u64
        );
    }

    #[tokio::test]
    async fn a_node_started_late_replays_the_log_and_announces_the_tables() {
        let dir = tempfile::tempdir().expect("it works");
        let log = Arc::new(MemoryLog::default());
        let a = node(dir.path(), "a", &log);
        a.write(|tx| tx.kv_set(&KvScope::System, "greeting", "hello".into(), None))
            .await
            .expect("it works");
        let late = node(dir.path(), "late", &log);
        let mut applied = late.applied();
        let changes = tokio::time::timeout(Duration::from_secs(5), applied.recv()).await;
        assert!(changes.expect("it works").expect("it works").tables.contains("kv"));
        assert_eq!(read(&late, "greeting").as_deref(), Some("hello"));
        // Its own write lands on top of a's, not beside it.
        late.write(|tx| tx.kv_set(&KvScope::System, "reply", "hi".into(), None))
            .await
            .expect("it works");
        assert_eq!(late.log_sequence().expect("it works"), 2);
    }

    #[tokio::test]
    async fn an_unreachable_log_fails_the_write_and_stores_nothing() {
        #[derive(Debug)]
        struct Down;
        impl ReplicatedLog for Down {
            fn append(&self, _: u64, _: Vec<u8>) -> Result<u64, LogError> {
                Err(LogError::Unavailable("no servers available".into()))
            }
            fn read(&self, _: u64, _: Duration) -> Result<Vec<(u64, Vec<u8>)>, LogError> {
                Ok(Vec::new())
            }
        }
        let dir = tempfile::tempdir().expect("it works");
        let config = StoreConfig {
            replication: Some(Replication { log: Arc::new(Down), node: "a".into() }),
            retention: None,
            min_free_bytes: 0,
            ..StoreConfig::default()
        };
        let store = Store::open(&dir.path().join("a.redb"), config).expect("it works");
        let error = store
            .write(|tx| tx.kv_set(&KvScope::System, "k", "v".into(), None))
            .await
            .expect_err("it fails");
        assert!(error.to_string().contains("no servers available"), "{error}");
        assert_eq!(read(&store, "k"), None);
        assert_eq!(store.log_sequence().expect("it works"), 0);
    }
}
