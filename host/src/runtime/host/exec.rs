//! `squall:pack/exec`: runs a host program the pack was granted by its exact
//! absolute path; every other command is denied and audited.
//!
//! There is no shell: the program gets `args` as they are, an empty
//! environment, `/` as working directory and the command's `stdin` (or
//! nothing). Its stdout and stderr are kept up to [`MAX_STREAM_BYTES`] each
//! (the rest is read and dropped, so the program never blocks on a full
//! pipe), and it is killed when `timeout-ms` (default
//! [`DEFAULT_TIMEOUT`], at most [`MAX_TIMEOUT`]) passes or the invocation
//! ends.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::super::bindings::squall::pack::exec::{Command, Host, Output};
use super::super::bindings::squall::pack::types::Error;
use super::super::sandbox::Sandbox;
use super::super::services::Capability;

/// Bytes of stdout, and separately of stderr, handed back to the pack.
pub(crate) const MAX_STREAM_BYTES: usize = 1 << 20;
/// How long a command may run when it names no `timeout-ms`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `timeout-ms` accepted.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(5 * 60);

impl Host for Sandbox {
    async fn run(&mut self, command: Command) -> wasmtime::Result<Result<Output, Error>> {
        if !self.grants.allows_exec(&command.program) {
            self.audit_denial(Capability::Exec, &command.program).await;
            return Ok(Err(super::denied(format_args!("host command `{}`", command.program))));
        }
        Ok(run_granted(command).await)
    }
}

fn timeout(command: &Command) -> Result<Duration, Error> {
    let Some(ms) = command.timeout_ms else { return Ok(DEFAULT_TIMEOUT) };
    let timeout = Duration::from_millis(u64::from(ms));
    if ms == 0 || timeout > MAX_TIMEOUT {
        return Err(Error::InvalidInput(format!(
            "timeout-ms of host command `{}` must be 1 to {}, got {ms}",
            command.program,
            MAX_TIMEOUT.as_millis()
        )));
    }
    Ok(timeout)
}

async fn run_granted(command: Command) -> Result<Output, Error> {
    let limit = timeout(&command)?;
    let program = command.program;
    let mut child = tokio::process::Command::new(&program)
        .args(&command.args)
        .env_clear()
        .current_dir("/")
        .stdin(if command.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropping the invocation (its own deadline) kills the program too.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Failed(format!("cannot start host command `{program}`: {e}")))?;

    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let finished = async {
        let write = async {
            if let (Some(mut pipe), Some(input)) = (stdin, command.stdin) {
                // A program that exits without reading its input is not an
                // error of the pack's.
                let _ = pipe.write_all(input.as_bytes()).await;
            }
        };
        let ((), stdout, stderr) = tokio::join!(write, read_capped(stdout), read_capped(stderr));
        let status = child.wait().await;
        (status, stdout, stderr)
    };
    let outcome = tokio::time::timeout(limit, finished).await;
    let (status, stdout, stderr) = match outcome {
        Ok(done) => done,
        Err(_elapsed) => {
            let _ = child.kill().await;
            return Err(Error::Timeout(format!(
                "host command `{program}` did not finish within {} ms and was killed",
                limit.as_millis()
            )));
        }
    };
    let failed = |e: std::io::Error| Error::Failed(format!("host command `{program}`: {e}"));
    let status = status.map_err(failed)?;
    Ok(Output {
        // `None` when a signal ended it.
        status: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout.map_err(failed)?).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.map_err(failed)?).into_owned(),
    })
}

/// Reads `stream` to its end, keeping the first [`MAX_STREAM_BYTES`].
async fn read_capped(stream: Option<impl AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let Some(mut stream) = stream else { return Ok(Vec::new()) };
    let mut kept = Vec::new();
    let mut buffer = vec![0; 64 << 10];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(kept);
        }
        let room = MAX_STREAM_BYTES - kept.len();
        kept.extend_from_slice(&buffer[..read.min(room)]);
    }
}
