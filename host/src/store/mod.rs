//! The durable store on redb: schema, typed access, the group-commit writer,
//! retention. Only this module knows redb.
//!
//! Writes go through one writer thread that commits many operations per
//! transaction ([`Store::write`] answers after the commit); reads take a
//! [`Snapshot`] without waiting for it.

mod access;
mod bounds;
mod codec;
mod error;
mod flows;
mod newest;
mod pack_keys;
mod queue;
mod records;
mod replica;
mod replicated;
mod retention;
mod schema;
mod secrets;
mod snapshot;
mod space;
mod split;
mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use redb::{Database, ReadableTable};

pub use access::{GrantRecord, RoleRecord, TokenRecord, UserRecord};
pub use bounds::RecordLimits;
pub(crate) use bounds::encoded_len;
pub use error::{OpenError, ReadError, WriteError};
pub use flows::{InquiryRecord, InquiryStatus, ParentTask, WorkflowRecord, WorkflowTimer};
pub use newest::{NewestFirst, SkipRecords};
pub use records::{
    AliasRecord, ApiKeyRecord, Attempt, AuditEvent, ChatOrigin, ChatRoute, Execution, ExecutionLog,
    ExecutionStatus, FIRST_ADMIN, KvItem, KvScope, MASKED_SECRET, Millis, PackRecord,
    RuleEnforcement, RuleRecord, TriggerInstance, TriggerInstanceStatus, TriggerTypeRecord,
    TrustedKeyRecord, new_id, now_millis,
};
pub use replica::EntryError;
pub use replicated::{Applied, AppliedChanges, LogError, ReplicatedLog, Replication};
pub use retention::{Collected, Retention};
pub use snapshot::Snapshot;
pub use split::ExecutionBody;
pub use tx::{MAX_KV_KEY_BYTES, Tx};

/// How the store runs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Most operations committed in one transaction.
    pub max_batch: usize,
    /// Background retention; `None` keeps everything.
    pub retention: Option<Retention>,
    /// The key file secrets are sealed with; default `<database>.key` beside
    /// the database. Created (mode 0600) when missing.
    pub secret_key: Option<PathBuf>,
    /// Caps on what one record stores.
    pub limits: RecordLimits,
    /// Memory for redb's page cache (reads and the write buffer). redb's
    /// own default, 1 GiB, would let a large database grow the process by
    /// as much.
    pub cache_bytes: usize,
    /// Bytes that must stay free on the database's disk: below it writes
    /// are refused with [`WriteError::DiskFull`] (reads go on), so redb
    /// never meets a full disk mid-commit. 0 turns the check off.
    pub min_free_bytes: u64,
    /// A cluster node's log: every commit is first an entry of it, and
    /// other nodes' entries are applied in order. `None` on a single node.
    pub replication: Option<Replication>,
}

/// The default free-space reserve: larger than what one batch of capped
/// records and redb's file growth need.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 << 20;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_batch: 1024,
            retention: Some(Retention::default()),
            secret_key: None,
            limits: RecordLimits::default(),
            cache_bytes: 64 << 20,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            replication: None,
        }
    }
}

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Write transactions committed (one fsync each).
    pub commits: u64,
    /// Operations they carried.
    pub operations: u64,
}

/// A handle to the open database. Cheap to clone; the file closes when the
/// last handle is dropped, after every queued write has committed.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    db: Arc<writer::DbSlot>,
    secrets: Arc<secrets::SecretKey>,
    jobs: Option<mpsc::Sender<writer::Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    stats: Arc<writer::WriterStats>,
    limits: RecordLimits,
    node: String,
    applied: tokio::sync::broadcast::Sender<Applied>,
    _collector: Option<mpsc::Sender<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and stop;
        // joining it means the file is closed when the last handle is gone.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take()
            && writer.thread().id() != std::thread::current().id()
        {
            let _ = writer.join();
        }
    }
}

impl Store {
    /// Opens the database at `path`, creating it (and the schema) if needed.
    pub fn open(path: &Path, config: StoreConfig) -> Result<Self, OpenError> {
        let storage = |message: String| OpenError::Storage { path: path.to_owned(), message };
        let db = match Database::builder().set_cache_size(config.cache_bytes).create(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(OpenError::AlreadyOpen { path: path.to_owned() });
            }
            Err(error) => return Err(storage(error.to_string())),
        };
        check_schema(&db, path)?;
        let key_path = config.secret_key.clone().unwrap_or_else(|| secrets::default_key_path(path));
        let secrets = Arc::new(secrets::SecretKey::load_or_create(&key_path)?);
        let db = Arc::new(writer::DbSlot::new(db, path, config.cache_bytes));
        let stats = Arc::new(writer::WriterStats::default());
        let (jobs, queue) = mpsc::channel();
        let (applied, _) = tokio::sync::broadcast::channel(256);
        let node = config.replication.as_ref().map(|r| r.node.clone()).unwrap_or_default();
        let limits = config.limits;
        let writer = {
            let context = writer::WriterContext {
                slot: db.clone(),
                secrets: secrets.clone(),
                limits,
                reserve: space::Reserve::new(path, config.min_free_bytes),
                max_batch: config.max_batch.max(1),
                stats: stats.clone(),
            };
            let builder = std::thread::Builder::new().name("squall-store-writer".into());
            match config.replication.clone() {
                None => builder.spawn(move || writer::run(context, queue)),
                Some(replication) => {
                    let announce = applied.clone();
                    builder.spawn(move || replicated::run(context, queue, replication, announce))
                }
            }
            .map_err(|e| storage(format!("cannot start the writer thread: {e}")))?
        };
        let inner = Arc::new_cyclic(|weak| Inner {
            path: path.to_owned(),
            db,
            secrets,
            jobs: Some(jobs),
            writer: Some(writer),
            stats,
            limits,
            node,
            applied,
            _collector: config.retention.map(|r| retention::spawn_collector(weak.clone(), r)),
        });
        Ok(Self { inner })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The caps on what one record stores.
    pub fn limits(&self) -> &RecordLimits {
        &self.inner.limits
    }

    /// Runs `operation` in the next group commit and returns its result once
    /// the commit is durable. If `operation` fails, it must not have written
    /// anything (every [`Tx`] method checks before it writes); the other
    /// operations of the batch commit regardless.
    pub async fn write<T, F>(&self, operation: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: FnMut(&mut Tx<'_>) -> Result<T, WriteError> + Send + 'static,
    {
        let (job, answer) = writer::job(operation);
        let jobs = self.inner.jobs.as_ref().ok_or(WriteError::Closed)?;
        jobs.send(job).map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// Like [`Store::write`] for work that must not be dropped because the
    /// disk is full for a while (the end of an execution): while writes are
    /// refused for space, or the database is being reopened, it waits and
    /// tries again, until it commits, fails otherwise, or the store closes.
    pub async fn write_patiently<T, F>(&self, operation: F) -> Result<T, WriteError>
    where
        T: Send + 'static,
        F: Fn(&mut Tx<'_>) -> Result<T, WriteError> + Clone + Send + 'static,
    {
        let mut pause = std::time::Duration::from_millis(50);
        loop {
            match self.write(operation.clone()).await {
                Err(error @ WriteError::DiskFull { .. }) => {
                    tracing::warn!(%error, "store: waiting for disk space to record a result");
                }
                Err(WriteError::Unavailable(_)) => {}
                other => return other,
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(2));
        }
    }

    /// A consistent view of everything committed so far.
    pub fn read(&self) -> Result<Snapshot, ReadError> {
        Snapshot::begin(&*self.inner.db.current()?, self.inner.secrets.clone())
    }

    /// This node's name in a cluster; empty on a single node.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether this store is a cluster node's, replicating every write.
    pub fn replicated(&self) -> bool {
        !self.inner.node.is_empty()
    }

    /// Announces, per batch of other nodes' log entries applied, the tables
    /// they changed (a single node never announces anything).
    pub fn applied(&self) -> tokio::sync::broadcast::Receiver<Applied> {
        self.inner.applied.subscribe()
    }

    /// The last replicated log entry this database applied (0 on a single
    /// node).
    pub fn log_sequence(&self) -> Result<u64, ReadError> {
        replicated::applied_sequence(&*self.inner.db.current()?).map_err(ReadError::Storage)
    }

    /// Commits and operations since opening.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.inner.stats.commits.load(Ordering::Relaxed),
            operations: self.inner.stats.operations.load(Ordering::Relaxed),
        }
    }
}

/// The secret key file a database at `db` uses unless told otherwise.
pub fn secret_key_path(db: &Path) -> PathBuf {
    secrets::default_key_path(db)
}

fn check_schema(db: &Database, path: &Path) -> Result<(), OpenError> {
    let storage = |e: &dyn std::fmt::Display| OpenError::Storage {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let txn = db.begin_write().map_err(|e| storage(&e))?;
    {
        let mut meta = txn.open_table(schema::META).map_err(|e| storage(&e))?;
        let found =
            meta.get("schema_version").map_err(|e| storage(&e))?.map(|v| v.value().to_owned());
        match found {
            None => {
                let version = schema::SCHEMA_VERSION.to_string();
                meta.insert("schema_version", version.as_str()).map_err(|e| storage(&e))?;
            }
            Some(found) if found == schema::SCHEMA_VERSION.to_string() => {}
            Some(found) if found == "2" || found == "3" => {
                if found == "2" {
                    split::migrate_from_v2(&txn).map_err(|e| storage(&e))?;
                }
                pack_keys::move_to_system(&txn).map_err(|e| storage(&e))?;
                let version = schema::SCHEMA_VERSION.to_string();
                meta.insert("schema_version", version.as_str()).map_err(|e| storage(&e))?;
            }
            Some(found) => {
                return Err(OpenError::SchemaVersion {
                    path: path.to_owned(),
                    found,
                    expected: schema::SCHEMA_VERSION,
                });
            }
        }
    }
    txn.commit().map_err(|e| storage(&e))
}
