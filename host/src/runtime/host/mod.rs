//! Host implementations of the `squall:pack` imports, one file per WIT
//! interface, and the function that links them.

pub(crate) mod config;
pub(crate) mod exec;
pub(crate) mod http;
pub(crate) mod kv;
pub(crate) mod log;
pub(crate) mod secrets;

use wasmtime::component::{HasSelf, Linker};

use super::bindings::squall::pack as wit;
use super::sandbox::Sandbox;

/// Adds WASI (sandboxed), `wasi:http` (filtered by the grant) and every `squall:pack`
/// import to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    wit::types::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    wit::log::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    wit::kv::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    wit::secrets::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    wit::config::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    wit::exec::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    Ok(())
}

impl wit::types::Host for Sandbox {}

/// The error a pack sees when it uses a capability it was not granted.
pub(crate) fn denied(what: impl std::fmt::Display) -> wit::types::Error {
    wit::types::Error::Denied(format!("{what} was not granted to this pack"))
}
