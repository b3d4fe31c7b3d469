//! `squall:pack/secrets`: a secret whose name the pack was granted, read
//! from [`SecretSource`]; any other name is denied and audited. Values are
//! never logged.
//!
//! [`SecretSource`]: crate::runtime::SecretSource

use super::super::bindings::squall::pack::secrets::Host;
use super::super::bindings::squall::pack::types::Error;
use super::super::sandbox::Sandbox;
use super::super::services::Capability;

impl Host for Sandbox {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if !self.grants.allows_secret(&name) {
            self.audit_denial(Capability::Secret, &name).await;
            return Ok(Err(super::denied(format_args!("secret `{name}`"))));
        }
        Ok(match self.services.secrets.secret(&name).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Error::Failed(format!("secret `{name}` is not set"))),
            Err(message) => Err(Error::Failed(format!("secret `{name}`: {message}"))),
        })
    }
}
