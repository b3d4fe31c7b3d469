//! With-items bookkeeping: which item rows an event needs from the store,
//! which ones changed and must be written back, and starting pending items
//! up to the task's concurrency. The rows live in their own table, so a
//! thousand items never make the workflow state a thousand entries long.

use std::ops::Range;

use super::super::state::{Command, ItemKey, ItemState, TaskId, TaskStatus};
use super::{Commands, Conductor};

impl Conductor<'_> {
    /// Hands in item rows the next event reads ([`Conductor::items_wanted`]).
    /// A row already at hand is kept: it may be newer than the one given.
    pub fn load_items(&mut self, rows: impl IntoIterator<Item = (ItemKey, ItemState)>) {
        for (key, row) in rows {
            self.rows.entry(key).or_insert(row);
        }
    }

    /// The item rows rendered or ended since the last call, to be stored
    /// with the state.
    pub fn take_item_writes(&mut self) -> Vec<(ItemKey, ItemState)> {
        std::mem::take(&mut self.written)
            .into_iter()
            .filter_map(|key| self.rows.get(&key).map(|row| (key, row.clone())))
            .collect()
    }

    /// Task executions whose items were rendered again (a retry) since the
    /// last call, each with its new number of items: the stored rows from
    /// that item on are an earlier attempt's, to be deleted with the state.
    pub fn take_stale_items(&mut self) -> Vec<(usize, usize)> {
        std::mem::take(&mut self.stale).into_iter().collect()
    }

    /// Forgets the rows of an earlier attempt of task execution `index`
    /// from item `total` on, about to render `total` items. A first attempt
    /// has none, and its render reads and deletes nothing.
    pub(super) fn drop_earlier_items(&mut self, index: usize, total: usize) {
        let retried = self.state.sequence[index].retry.as_ref().is_some_and(|r| r.tally > 0);
        if !retried {
            return;
        }
        let stale =
            ItemKey { task: index, item: total }..=ItemKey { task: index, item: usize::MAX };
        let keys: Vec<ItemKey> = self.rows.range(stale).map(|(key, _)| *key).collect();
        for key in keys {
            self.rows.remove(&key);
            self.written.remove(&key);
        }
        self.stale.insert(index, total);
    }

    /// The item rows that reporting `item` of `task` ended (`failed` or
    /// not) reads and that are not at hand: the item's own, the ones it
    /// would start next, or every row of the task when it completes the
    /// task (its result is every item's). Empty for anything else.
    pub fn items_wanted(&self, task: &TaskId, item: Option<usize>, failed: bool) -> Vec<ItemKey> {
        let Some(item) = item else { return Vec::new() };
        let Some(index) = self.running(task) else { return Vec::new() };
        let execution = &self.state.sequence[index];
        let Some(counts) = execution.item_counts else { return Vec::new() };
        if item >= counts.next {
            return Vec::new();
        }
        let running = counts.running.saturating_sub(1);
        let any_failed = failed || counts.failed > 0;
        // The ended item's row, and the rows of the items it would start.
        let (own, next): (Range<usize>, Range<usize>) =
            if running == 0 && (any_failed || counts.next >= counts.total) {
                // The task completes: its result is every item's.
                (0..counts.total, 0..0)
            } else if any_failed {
                (item..item + 1, 0..0)
            } else {
                let limit = execution.concurrency.map_or(usize::MAX, |c| c as usize);
                let free = limit.saturating_sub(running);
                (item..item + 1, counts.next..counts.total.min(counts.next.saturating_add(free)))
            };
        own.chain(next)
            .map(|item| ItemKey { task: index, item })
            .filter(|key| !self.rows.contains_key(key))
            .collect()
    }

    /// The task execution of `task` that is running, if one is.
    pub(super) fn running(&self, task: &TaskId) -> Option<usize> {
        self.state.sequence.iter().rposition(|t| &t.id == task && t.status == TaskStatus::Running)
    }

    /// Starts pending items, in order, while fewer than `concurrency` are
    /// in flight. Their rows are at hand: rendered in this step, or handed
    /// in as [`Conductor::items_wanted`] asked.
    pub(super) fn dispatch_items(&mut self, index: usize, commands: &mut Commands) {
        let execution = &self.state.sequence[index];
        let id = execution.id.clone();
        let retry = execution.retry.as_ref().map_or(0, |r| r.tally);
        let limit = execution.concurrency.map_or(usize::MAX, |c| c as usize);
        let Some(mut counts) = execution.item_counts else { return };
        if counts.failed > 0 {
            // After a failed item nothing more starts; the task fails once
            // the items in flight are done.
            return;
        }
        while counts.running < limit && counts.next < counts.total {
            let key = ItemKey { task: index, item: counts.next };
            let Some(entry) = self.rows.get(&key) else { break };
            commands.push(Command::RunAction {
                task: id.clone(),
                action: entry.action.clone(),
                input: entry.input.clone(),
                item: Some(counts.next),
                retry,
            });
            counts.next += 1;
            counts.running += 1;
        }
        self.state.sequence[index].item_counts = Some(counts);
    }
}
