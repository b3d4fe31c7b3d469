//! Per-pack limits on guest calls: how many of one pack's executions run at
//! once, and how many of its webhook-sensor calls. A pack whose code loops
//! then holds at most its share of the worker slots and of the guest
//! threads' time, and every other pack keeps the rest.
//!
//! Only executions run by a component count: a workflow or an inquiry
//! holds no sandbox while it waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// Executions running per pack, each counted from the moment a worker slot
/// is reserved for it until its ending is handed back.
#[derive(Debug)]
pub(super) struct PackSlots {
    limit: usize,
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    running: HashMap<String, usize>,
    /// Which pack each counted execution holds a slot of, so that a release
    /// finds it even if the pack was upgraded or removed meanwhile.
    holders: HashMap<Uuid, String>,
}

impl PackSlots {
    pub(super) fn new(limit: usize) -> Self {
        Self { limit: limit.max(1), state: Mutex::default() }
    }

    /// Counts `execution` as running for `pack` unless the pack is at its
    /// limit. Reserving twice for one execution counts it once.
    pub(super) fn try_reserve(&self, execution: Uuid, pack: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.holders.contains_key(&execution) {
            return true;
        }
        let running = state.running.get(pack).copied().unwrap_or(0);
        if running >= self.limit {
            return false;
        }
        state.running.insert(pack.to_owned(), running + 1);
        state.holders.insert(execution, pack.to_owned());
        true
    }

    /// Stops counting `execution`. Answers whether its pack was at its
    /// limit, when executions held back for it may now start.
    pub(super) fn release(&self, execution: Uuid) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(pack) = state.holders.remove(&execution) else { return false };
        let Some(running) = state.running.get_mut(&pack) else { return false };
        let was_full = *running >= self.limit;
        *running = running.saturating_sub(1);
        if *running == 0 {
            state.running.remove(&pack);
        }
        was_full
    }
}

/// Webhook-sensor calls in flight per pack. A request over the limit waits
/// for a call of the same pack to end, and as many may wait as run; one
/// past that is refused at once. Other packs' requests never wait. Calls
/// end by their deadline, so a waiting request starts within one.
#[derive(Debug)]
pub(super) struct WebhookGates {
    per_pack: usize,
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

#[derive(Debug)]
struct Gate {
    places: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Counts one request as waiting at a gate until dropped (served, or its
/// client gone).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WebhookGates {
    pub(super) fn new(per_pack: usize) -> Self {
        Self { per_pack: per_pack.max(1), gates: Mutex::default() }
    }

    /// The most webhook-sensor calls of one pack in flight at once.
    pub(super) fn limit(&self) -> usize {
        self.per_pack
    }

    /// A place among `pack`'s calls, held until dropped; `None` when the
    /// pack's calls are all taken and as many requests already wait.
    pub(super) async fn enter(&self, pack: &str) -> Option<OwnedSemaphorePermit> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
            let gate = gates.entry(pack.to_owned()).or_insert_with(|| {
                Arc::new(Gate {
                    places: Arc::new(Semaphore::new(self.per_pack)),
                    waiting: AtomicUsize::new(0),
                })
            });
            gate.clone()
        };
        if let Ok(place) = gate.places.clone().try_acquire_owned() {
            return Some(place);
        }
        if gate.waiting.fetch_add(1, Ordering::SeqCst) >= self.per_pack {
            gate.waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        let _waiting = Waiting(&gate.waiting);
        // Never closed.
        gate.places.clone().acquire_owned().await.ok()
    }
}
