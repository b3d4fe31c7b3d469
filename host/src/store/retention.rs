//! Retention: old trigger instances, finished executions and expired
//! key-value entries are deleted in the background, in small batches through
//! the writer, so writers never wait behind one long transaction.

use std::sync::mpsc;
use std::time::Duration;

use super::Store;
use super::error::WriteError;
use super::records::{Millis, now_millis};
use super::tx::{Resume, Tx};

/// How long records are kept. Audit events are never deleted here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Age after which processed trigger instances are deleted.
    pub trigger_instances: Duration,
    /// Age (since finishing) after which executions are deleted.
    pub executions: Duration,
    /// How often the background collector runs.
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        let week = Duration::from_secs(7 * 24 * 3600);
        Self { trigger_instances: week, executions: week, interval: Duration::from_secs(600) }
    }
}

/// What one collection deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    /// Trigger instances deleted.
    pub trigger_instances: usize,
    /// Executions deleted.
    pub executions: usize,
    /// Expired key-value entries deleted.
    pub kv_entries: usize,
    /// Tokens expired for a day or more, deleted.
    pub tokens: usize,
}

/// Rows examined per writer batch: small enough that a batch of ordinary
/// writes queued behind it waits milliseconds, not seconds.
const ROWS_PER_BATCH: usize = 512;

fn cutoff(now: Millis, age: Duration) -> Millis {
    now.saturating_sub(Millis::try_from(age.as_millis()).unwrap_or(Millis::MAX))
}

impl Store {
    /// Deletes what `retention` says is too old at time `now`.
    pub async fn collect_garbage(
        &self,
        retention: &Retention,
        now: Millis,
    ) -> Result<Collected, WriteError> {
        let mut collected = Collected::default();
        let instances_before = cutoff(now, retention.trigger_instances);
        collected.trigger_instances = self
            .sweep(move |tx, start| {
                tx.collect_trigger_instances(instances_before, start, ROWS_PER_BATCH)
            })
            .await?;
        let executions_before = cutoff(now, retention.executions);
        collected.executions = self
            .sweep(move |tx, start| tx.collect_executions(executions_before, start, ROWS_PER_BATCH))
            .await?;
        loop {
            let deleted = self.write(move |tx| tx.collect_kv(now, ROWS_PER_BATCH)).await?;
            collected.kv_entries += deleted;
            if deleted < ROWS_PER_BATCH {
                break;
            }
        }
        // A day's grace, so that a refusal can still say "expired" in logs.
        let token_cutoff = now.saturating_sub(24 * 60 * 60 * 1000);
        loop {
            let deleted =
                self.write(move |tx| tx.collect_tokens(token_cutoff, ROWS_PER_BATCH)).await?;
            collected.tokens += deleted;
            if deleted < ROWS_PER_BATCH {
                break;
            }
        }
        Ok(collected)
    }

    /// Runs `batch` from the start of its table, one writer batch at a time,
    /// resuming where the previous one stopped; returns how many it deleted.
    async fn sweep(
        &self,
        batch: impl Fn(&mut Tx<'_>, u128) -> Result<(usize, Resume), WriteError> + Send + Copy + 'static,
    ) -> Result<usize, WriteError> {
        let (mut deleted, mut start) = (0, 0);
        loop {
            let (count, resume) = self.write(move |tx| batch(tx, start)).await?;
            deleted += count;
            match resume {
                Some(next) => start = next,
                None => return Ok(deleted),
            }
        }
    }
}

/// Runs [`Store::collect_garbage`] every `retention.interval` until the
/// returned sender is dropped.
pub(crate) fn spawn_collector(
    store: std::sync::Weak<super::Inner>,
    retention: Retention,
) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("squall-retention".into()).spawn(move || {
        let Ok(executor) = tokio::runtime::Builder::new_current_thread().build() else {
            tracing::error!("retention: cannot start its executor; nothing will expire");
            return;
        };
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(retention.interval) {
            let Some(inner) = store.upgrade() else { return };
            let store = Store { inner };
            match executor.block_on(store.collect_garbage(&retention, now_millis())) {
                Ok(collected) if collected != Collected::default() => {
                    tracing::info!(?collected, "retention: deleted expired records");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "retention pass failed; will retry"),
            }
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the retention thread; nothing will expire");
    }
    stop
}
