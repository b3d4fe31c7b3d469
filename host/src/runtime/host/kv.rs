//! `squall:pack/kv`: pack-scoped key-value data, backed by [`KvBackend`],
//! for a pack granted `kv`; every call of any other is denied and audited
//! with its key (or prefix).
//!
//! [`KvBackend`]: crate::runtime::KvBackend

use std::time::Duration;

use super::super::bindings::squall::pack::kv::Host;
use super::super::bindings::squall::pack::types::Error;
use super::super::sandbox::Sandbox;
use super::super::services::Capability;

/// Longest key accepted, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 512;
/// Largest value accepted, in bytes.
pub(crate) const MAX_VALUE_BYTES: usize = 1 << 20;

fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(Error::InvalidInput(format!(
            "kv key must be 1 to {MAX_KEY_BYTES} bytes, got {} bytes",
            key.len()
        )));
    }
    Ok(())
}

impl Sandbox {
    /// `Ok` when the pack was granted `kv`; otherwise the denial, audited.
    /// (`&mut`: a `Sandbox` is `Send` but not `Sync`.)
    async fn check_kv_grant(&mut self, key: &str) -> Result<(), Error> {
        if self.grants.kv {
            return Ok(());
        }
        self.audit_denial(Capability::Kv, key).await;
        Err(super::denied("key-value access"))
    }
}

impl Host for Sandbox {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        if let Err(e) = self.check_kv_grant(&key).await {
            return Ok(Err(e));
        }
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self.services.kv.get(&self.pack, &key).await.map_err(Error::Failed))
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_seconds: Option<u64>,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = self.check_kv_grant(&key).await {
            return Ok(Err(e));
        }
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Ok(Err(Error::InvalidInput(format!(
                "kv value for `{key}` is {} bytes, over the limit of {MAX_VALUE_BYTES}",
                value.len()
            ))));
        }
        let ttl = ttl_seconds.map(Duration::from_secs);
        Ok(self.services.kv.set(&self.pack, &key, value, ttl).await.map_err(Error::Failed))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, Error>> {
        if let Err(e) = self.check_kv_grant(&key).await {
            return Ok(Err(e));
        }
        if let Err(e) = check_key(&key) {
            return Ok(Err(e));
        }
        Ok(self.services.kv.delete(&self.pack, &key).await.map_err(Error::Failed))
    }

    async fn list_keys(&mut self, prefix: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        if let Err(e) = self.check_kv_grant(&prefix).await {
            return Ok(Err(e));
        }
        Ok(self.services.kv.list_keys(&self.pack, &prefix).await.map_err(Error::Failed))
    }
}
