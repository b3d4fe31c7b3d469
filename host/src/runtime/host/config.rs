//! `squall:pack/config`: the pack's configuration, from [`ConfigSource`].
//!
//! [`ConfigSource`]: crate::runtime::ConfigSource

use super::super::bindings::squall::pack::config::Host;
use super::super::bindings::squall::pack::types::Error;
use super::super::sandbox::Sandbox;

impl Host for Sandbox {
    async fn get(&mut self) -> wasmtime::Result<Result<String, Error>> {
        Ok(Ok(self.services.config.config(&self.pack).unwrap_or_else(|| "{}".to_owned())))
    }
}
