//! `squall:pack/log`: lines are captured into the invocation's result.

use super::super::bindings::squall::pack::log::{Host, Level};
use super::super::sandbox::{LogLevel, Sandbox};

impl Host for Sandbox {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        self.logs.push(level, message);
        Ok(())
    }
}
