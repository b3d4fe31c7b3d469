//! `squall serve`'s caps on what one record stores (the store's
//! `RecordLimits`) and the disk space it keeps free, as flags with the
//! store's defaults.

use crate::store::RecordLimits;

#[derive(Debug, clap::Args)]
pub(crate) struct RecordArgs {
    /// Largest trigger payload stored, as JSON; a webhook or sensor event
    /// over it is refused (422) before anything commits.
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = size)]
    max_payload_size: usize,
    /// Largest parameters an execution is created with, as JSON; over it
    /// the request is refused (422), a rule's enforcement or a workflow
    /// task records the error.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = size)]
    max_parameters_size: usize,
    /// Largest result stored, as JSON; a larger one is stored as a marker
    /// (`"truncated": true`, its original size and first KiB).
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = size)]
    max_result_size: usize,
    /// Most log text stored per attempt; later lines are dropped and a
    /// last line says how many.
    #[arg(long, value_name = "SIZE", default_value = "256KiB", value_parser = size)]
    max_logs_size: usize,
    /// Space that must stay free on the database's disk: below it every
    /// write is refused with 507 (reads go on) until space is freed, and
    /// results of running actions wait for room. 0 turns the check off.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = reserve)]
    min_free_space: u64,
}

impl RecordArgs {
    /// The caps these flags give.
    pub(crate) fn limits(&self) -> RecordLimits {
        RecordLimits {
            payload_bytes: self.max_payload_size,
            parameters_bytes: self.max_parameters_size,
            result_bytes: self.max_result_size,
            logs_bytes: self.max_logs_size,
            ..RecordLimits::default()
        }
    }

    /// The free-space reserve, in bytes.
    pub(crate) fn min_free_bytes(&self) -> u64 {
        self.min_free_space
    }
}

/// A size such as `64MiB`, or 0.
fn reserve(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("expected a size such as 64MiB, or 0: {e}"))
}

/// A size such as `4MiB`, at least 1 KiB: smaller would refuse ordinary
/// records.
fn size(text: &str) -> Result<usize, String> {
    let bytes = text
        .parse::<bytesize::ByteSize>()
        .map_err(|e| format!("expected a size such as 4MiB: {e}"))?
        .as_u64();
    match usize::try_from(bytes) {
        Ok(bytes) if bytes >= 1024 => Ok(bytes),
        _ => Err(format!("expected 1KiB or more, got {text}")),
    }
}
