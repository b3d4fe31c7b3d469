//! `squall:pack/secrets`: no secret is granted yet, so every read is denied.

use super::super::bindings::squall::pack::secrets::Host;
use super::super::bindings::squall::pack::types::Error;
use super::super::sandbox::Sandbox;

impl Host for Sandbox {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        tracing::info!(pack = %self.pack, secret = %name, "denied secret read");
        Ok(Err(super::denied(format_args!("secret `{name}`"))))
    }
}
