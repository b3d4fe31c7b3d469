//! `squall serve`'s connection limits: the flags, and the open-file limit
//! raised at start so that the connection cap fits in it.

use std::io::Write;
use std::time::Duration;

use crate::api::{self, ConnectionLimits};

/// The open-file soft limit `squall serve` raises itself to (within the
/// hard limit) when the connection cap needs no more. Not the hard limit
/// itself: programs the `exec` capability starts inherit the soft limit, and
/// some walk every possible descriptor at start.
const OPEN_FILES_WANTED: u64 = 65_536;

#[derive(Debug, clap::Args)]
pub(crate) struct LimitArgs {
    /// How long a client may take to send a request's headers, counted
    /// from the connection's start or the request's first byte; a slower
    /// client is disconnected.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request, and
    /// a response for its client to read it, before it is closed.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    idle_timeout: Duration,
    /// Most connections open at once; one more is answered 503 and closed
    /// [default: the open-file limit less 256, at most 10000].
    #[arg(long, value_name = "N", value_parser = connection_count)]
    max_connections: Option<usize>,
}

impl LimitArgs {
    /// Raises the open-file limit toward what the limits need and settles
    /// the connection cap; problems are warnings on `stderr`, not errors.
    pub(crate) fn resolve(&self, stderr: &mut dyn Write) -> ConnectionLimits {
        let mut limits = ConnectionLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections.unwrap_or(api::DEFAULT_MAX_CONNECTIONS),
        };
        let wanted = limits.open_files_needed().max(OPEN_FILES_WANTED);
        let open_files = match rlimit::increase_nofile_limit(wanted) {
            Ok(limit) => limit,
            Err(error) => {
                let _ = writeln!(
                    stderr,
                    "squall serve: cannot raise the open-file limit to {wanted}: {error}"
                );
                current_open_files().unwrap_or(wanted)
            }
        };
        match self.max_connections {
            None => limits.max_connections = ConnectionLimits::max_connections_for(open_files),
            Some(max) if limits.open_files_needed() > open_files => {
                let _ = writeln!(
                    stderr,
                    "squall serve: --max-connections {max} needs about {} open files but the limit \
                     is {open_files} (raise the hard limit: ulimit -Hn, or LimitNOFILE= under systemd); \
                     past about {} connections, new ones wait until a descriptor is free",
                    limits.open_files_needed(),
                    open_files.saturating_sub(api::RESERVED_FILES),
                );
            }
            Some(_) => {}
        }
        limits
    }
}

#[cfg(unix)]
fn current_open_files() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
}

#[cfg(not(unix))]
fn current_open_files() -> Option<u64> {
    None
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration longer than zero, like 10s, 500ms or 2m";
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err(expected.to_owned()),
        Err(error) => Err(format!("{error}; {expected}")),
    }
}

fn connection_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count > 0 => Ok(count),
        _ => Err("expected a whole number of connections, at least 1".to_owned()),
    }
}
