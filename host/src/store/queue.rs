//! Taking one given entry off the work queue, for a dispatcher that starts
//! an execution it held back in memory and must not leave its entry behind
//! to be counted as queued.

use uuid::Uuid;

use super::error::{WriteError, storage_write};
use super::records::Millis;
use super::schema::EXECUTION_QUEUE;
use super::tx::Tx;

impl Tx<'_> {
    /// Takes `id`'s entry due at `due` off the work queue; answers whether
    /// it was there.
    pub fn unqueue_execution(&mut self, id: Uuid, due: Millis) -> Result<bool, WriteError> {
        let mut queue = self.table(EXECUTION_QUEUE).map_err(storage_write)?;
        // Keyed as `enqueue_execution` keys it: times before the epoch sort first.
        let key = (u64::try_from(due).unwrap_or(0), id.as_u128());
        Ok(queue.remove(key).map_err(storage_write)?.is_some())
    }
}
