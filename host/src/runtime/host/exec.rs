//! `squall:pack/exec`: off by default; no program is granted yet, so every
//! command is denied.

use super::super::bindings::squall::pack::exec::{Command, Host, Output};
use super::super::bindings::squall::pack::types::Error;
use super::super::sandbox::Sandbox;

impl Host for Sandbox {
    async fn run(&mut self, command: Command) -> wasmtime::Result<Result<Output, Error>> {
        tracing::info!(pack = %self.pack, program = %command.program, "denied host command");
        Ok(Err(super::denied(format_args!("host command `{}`", command.program))))
    }
}
