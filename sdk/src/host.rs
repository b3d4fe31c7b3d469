//! Host services a pack can call: logging, key-value, secrets, config, exec.
//!
//! Each call needs the matching capability granted at install; without it
//! the host answers [`Error::Denied`](crate::Error::Denied).

/// Levelled log lines attached to the current execution.
pub mod log {
    use crate::__bindings::squall::pack::log::{Level, log};

    /// Log at trace level.
    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }
    /// Log at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    /// Log at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    /// Log at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    /// Log at error level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Key-value data scoped to this pack.
pub mod kv {
    use std::time::Duration;

    use crate::__bindings::squall::pack::kv as wit;
    use crate::Result;

    /// The value under `key`, if present and not expired.
    pub fn get(key: &str) -> Result<Option<String>> {
        Ok(wit::get(key)?)
    }

    /// Store `value` under `key`, optionally expiring after `ttl`.
    pub fn set(key: &str, value: &str, ttl: Option<Duration>) -> Result<()> {
        Ok(wit::set(key, value, ttl.map(|t| t.as_secs()))?)
    }

    /// Remove `key`; true when it existed.
    pub fn delete(key: &str) -> Result<bool> {
        Ok(wit::delete(key)?)
    }

    /// Keys starting with `prefix`, in order.
    pub fn list_keys(prefix: &str) -> Result<Vec<String>> {
        Ok(wit::list_keys(prefix)?)
    }
}

/// Secrets granted to this pack by name.
pub mod secrets {
    use crate::Result;

    /// The secret `name`.
    pub fn get(name: &str) -> Result<String> {
        Ok(crate::__bindings::squall::pack::secrets::get(name)?)
    }
}

/// The pack's validated configuration.
pub mod config {
    use serde::de::DeserializeOwned;

    use crate::{Error, Result};

    /// The configuration deserialised into `C`.
    pub fn get<C: DeserializeOwned>() -> Result<C> {
        let text = crate::__bindings::squall::pack::config::get()?;
        serde_json::from_str(&text).map_err(|e| Error::InvalidInput(format!("pack config: {e}")))
    }
}

/// Allow-listed host commands.
pub mod exec {
    use crate::__bindings::squall::pack::exec as wit;
    use crate::Result;

    pub use wit::{Command, Output};

    /// Run `command` on the host; denied unless its program was granted.
    pub fn run(command: &Command) -> Result<Output> {
        Ok(wit::run(command)?)
    }
}
