//! Squall: an event-driven automation host running sandboxed WebAssembly packs.
pub mod access;
pub mod api;
pub mod chatops;
pub mod cli;
pub mod cluster;
pub mod engine;
pub mod limits;
pub mod pack;
pub mod rules;
pub mod runtime;
pub mod store;
pub mod workflow;
