//! The dispatcher: takes due executions off the durable queue, as many as
//! there are free worker slots, under the actions' concurrency policies and
//! the per-pack limit, and hands them to workers.
//!
//! An execution whose pack already runs its limit is held: its queue entry
//! is put back a few seconds ahead (so it stays durable and the dispatcher
//! does not spin on it), and it waits in memory, oldest first, until a run
//! of its pack ends, which wakes the dispatcher to start it at once and
//! take that entry off the queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use uuid::Uuid;

use super::actions::{Actions, Runner};
use super::executor::Shared;
use super::pack_limits::PackSlots;
use crate::pack::OverLimit;
use crate::store::{Execution, ExecutionStatus, Millis, Tx, WriteError, now_millis};

/// How far ahead a held execution's queue entry is put back. It normally
/// starts long before (when its pack has room); the entry matters after a
/// restart, which forgets what was held, and bounds the wait then.
const HOLD: Millis = 5_000;

/// Most queue entries one round takes off, so that a long run of held
/// executions does not make one transaction long; the next round goes on.
const MAX_POPPED: usize = 4_096;

/// What one dispatch round took off the queue.
struct Taken {
    started: Vec<Execution>,
    /// Over a concurrency threshold with `cancel`: marked running so a crash
    /// cannot lose them, and canceled right away.
    refused: Vec<Execution>,
    next_due: Option<Millis>,
    /// The round stopped at [`MAX_POPPED`]; more may be due.
    more: bool,
    held: Held,
}

/// Executions held back because their pack was at its limit.
#[derive(Debug, Default, Clone)]
struct Held {
    /// Per pack, oldest first.
    by_pack: HashMap<String, VecDeque<Uuid>>,
    /// When each one's entry on the queue is due.
    due: HashMap<Uuid, Millis>,
}

/// One round's inputs, moved into the store's writer.
#[derive(Clone)]
struct Round {
    now: Millis,
    limit: usize,
    actions: Arc<Actions>,
    running: HashMap<String, u32>,
    shared: Arc<Shared>,
    /// Pack slots reserved by the round, released again if it fails.
    reserved: Arc<Mutex<Vec<Uuid>>>,
}

/// Takes due executions off the queue, as many as there are free slots, and
/// hands them to workers; sleeps until more work is queued, a pack has room
/// again, or work comes due.
pub(super) async fn dispatch(shared: Arc<Shared>) {
    let mut held = Held::default();
    loop {
        let free = shared.slots.available_permits();
        if free == 0 {
            // Wait for a worker to finish.
            drop(shared.slots.clone().acquire_owned().await);
            continue;
        }
        let reserved = Arc::new(Mutex::new(Vec::new()));
        let round = Round {
            now: now_millis(),
            limit: free,
            actions: shared.ingest.actions(),
            running: shared
                .running_by_action
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            shared: shared.clone(),
            reserved: reserved.clone(),
        };
        let holding = std::mem::take(&mut held);
        let taken = match shared
            .ingest
            .store()
            .write(move |tx| {
                // A cluster node runs the round again when its batch lost
                // the race for the replicated log: what the lost run
                // reserved is given back first.
                for id in round.reserved.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
                    round.shared.pack_slots.release(id);
                }
                round.clone().take(tx, holding.clone())
            })
            .await
        {
            Ok(taken) => taken,
            Err(error) => {
                // Nothing was taken: give back the pack slots, and forget
                // who was held (their entries bring them back).
                for id in reserved.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
                    shared.pack_slots.release(id);
                }
                tracing::error!(%error, "cannot take executions off the queue; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Taken { started, refused, next_due, more, held: still_held } = taken;
        held = still_held;
        let took = started.len() + refused.len();
        for (execution, refused) in
            started.into_iter().map(|e| (e, false)).chain(refused.into_iter().map(|e| (e, true)))
        {
            // Emits may have claimed slots since they were counted: wait
            // for one rather than leave a running execution unrun.
            let Ok(permit) = shared.slots.clone().acquire_owned().await else { return };
            shared.announce(execution.id, &execution.action, ExecutionStatus::Running);
            shared.start(execution, permit, refused);
        }
        if more || (took == free && took > 0) {
            continue;
        }
        let pause = match next_due {
            Some(due) => {
                Duration::from_millis(u64::try_from(due - now_millis()).unwrap_or(0).max(1))
            }
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            () = shared.ingest.work_signal().notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

impl Round {
    /// One dispatch transaction: starts held executions whose pack has
    /// room, then pops due executions and marks them running, or holds
    /// them back per their action's concurrency policy or their pack's
    /// limit.
    fn take(mut self, tx: &mut Tx<'_>, mut held: Held) -> Result<Taken, WriteError> {
        let mut taken = Taken {
            started: Vec::new(),
            refused: Vec::new(),
            next_due: None,
            more: false,
            held: Held::default(),
        };
        if !tx.node().is_empty() {
            // A cluster node: concurrency policies count what runs on every
            // node, as the store (the cluster's log) has it, not this
            // node's own count.
            self.running.clear();
            for execution in tx.running_executions()? {
                *self.running.entry(execution.action).or_default() += 1;
            }
        }
        self.start_held(tx, &mut held, &mut taken)?;
        let mut popped = 0;
        while taken.started.len() + taken.refused.len() < self.limit && popped < MAX_POPPED {
            let want =
                (self.limit - taken.started.len() - taken.refused.len()).min(MAX_POPPED - popped);
            let (ids, _) = tx.dequeue_executions(self.now, want)?;
            if ids.is_empty() {
                break;
            }
            popped += ids.len();
            for id in ids {
                self.take_one(tx, id, &mut held, &mut taken)?;
            }
        }
        taken.more = popped >= MAX_POPPED;
        taken.next_due = tx.dequeue_executions(self.now, 0)?.1;
        taken.held = held;
        Ok(taken)
    }

    /// Starts held executions, oldest first per pack, while their pack has
    /// room and slots are free.
    fn start_held(
        &mut self,
        tx: &mut Tx<'_>,
        held: &mut Held,
        taken: &mut Taken,
    ) -> Result<(), WriteError> {
        let shared = self.shared.clone();
        let slots = &shared.pack_slots;
        for (pack, waiting) in &mut held.by_pack {
            while taken.started.len() < self.limit
                && let Some(&id) = waiting.front()
                && slots.try_reserve(id, pack)
            {
                waiting.pop_front();
                if let Some(due) = held.due.remove(&id) {
                    tx.unqueue_execution(id, due)?;
                }
                let Some(execution) = runnable(tx, id)? else {
                    slots.release(id);
                    continue;
                };
                self.reserved.lock().unwrap_or_else(PoisonError::into_inner).push(id);
                taken.started.push(self.mark_running(tx, execution)?);
            }
        }
        held.by_pack.retain(|_, waiting| !waiting.is_empty());
        Ok(())
    }

    /// Decides one execution popped off the queue.
    fn take_one(
        &mut self,
        tx: &mut Tx<'_>,
        id: Uuid,
        held: &mut Held,
        taken: &mut Taken,
    ) -> Result<(), WriteError> {
        if let Some(due) = held.due.get_mut(&id) {
            // Still waiting for its pack: it starts from memory when the
            // pack has room; keep an entry for a restart.
            *due = self.now.saturating_add(HOLD);
            return tx.enqueue_execution(id, *due);
        }
        let Some(mut execution) = runnable(tx, id)? else { return Ok(()) };
        let spec = self.actions.get(&execution.action);
        let policy = spec.and_then(|a| a.policy.concurrency.clone());
        let count = self.running.entry(execution.action.clone()).or_default();
        let over = policy.as_ref().filter(|c| *count >= c.threshold);
        match over.map(|c| c.over_limit) {
            Some(OverLimit::Delay(delay)) => {
                execution.updated_at = self.now;
                execution.status = ExecutionStatus::Scheduled;
                tx.update_execution(&execution)?;
                let due = self
                    .now
                    .saturating_add(Millis::try_from(delay.as_millis()).unwrap_or(Millis::MAX));
                tx.enqueue_execution(id, due)?;
            }
            Some(OverLimit::Cancel) => {
                execution.status = ExecutionStatus::Running;
                execution.started_at = Some(self.now);
                execution.updated_at = self.now;
                tx.start_running(&execution)?;
                taken.refused.push(execution);
            }
            None => {
                let sandboxed = spec.filter(|a| matches!(a.runner, Runner::Wasm(_)));
                if let Some(spec) = sandboxed
                    && !reserve(&self.shared.pack_slots, held, id, &spec.pack)
                {
                    let due = self.now.saturating_add(HOLD);
                    held.by_pack.entry(spec.pack.clone()).or_default().push_back(id);
                    held.due.insert(id, due);
                    return tx.enqueue_execution(id, due);
                }
                if sandboxed.is_some() {
                    self.reserved.lock().unwrap_or_else(PoisonError::into_inner).push(id);
                }
                taken.started.push(self.mark_running(tx, execution)?);
            }
        }
        Ok(())
    }

    fn mark_running(
        &mut self,
        tx: &mut Tx<'_>,
        mut execution: Execution,
    ) -> Result<Execution, WriteError> {
        *self.running.entry(execution.action.clone()).or_default() += 1;
        execution.status = ExecutionStatus::Running;
        execution.started_at = Some(self.now);
        execution.updated_at = self.now;
        tx.start_running(&execution)?;
        Ok(execution)
    }
}

/// A pack slot for `id`, unless the pack is full or older executions of it
/// are already waiting (they go first).
fn reserve(slots: &PackSlots, held: &Held, id: Uuid, pack: &str) -> bool {
    !held.by_pack.contains_key(pack) && slots.try_reserve(id, pack)
}

/// The execution `id` if it still waits to run.
fn runnable(tx: &mut Tx<'_>, id: Uuid) -> Result<Option<Execution>, WriteError> {
    let execution = match tx.execution(id) {
        Ok(execution) => execution,
        // Removed by retention or unreadable: nothing left to run.
        Err(error @ (WriteError::NotFound(_) | WriteError::Corrupt(_))) => {
            tracing::error!(execution = %id, %error, "queued execution skipped");
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    // Otherwise canceled while it waited, or already started.
    Ok(matches!(execution.status, ExecutionStatus::Requested | ExecutionStatus::Scheduled)
        .then_some(execution))
}
