//! The one `bindgen!` of the host: Rust types and traits for `squall:pack`.
//!
//! Generated for the `pack` world so that every interface appears once; a
//! component that exports only `action` (or only `sensor`) is still served,
//! because exports are looked up per interface, not per world.

wasmtime::component::bindgen!({
    world: "pack",
    path: "../sdk/wit",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wasi": wasmtime_wasi::p2::bindings,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
    },
});

pub(crate) use self::exports::squall::pack::{action, sensor};
pub(crate) use self::squall::pack::types;
