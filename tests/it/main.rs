//! The one integration-test binary: every test runs against the real
//! runtime and components built from source by `tests/build.rs`.

mod access_cli;
mod actions;
mod api;
mod capabilities;
mod catalog;
mod cli;
mod client;
mod control;
mod crash;
mod datastore;
mod engine;
mod lifecycle;
mod loading;
mod pack_cli;
mod packs;
mod polling;
mod polyglot;
mod registry;
mod rules;
mod sandbox;
mod sensors;
mod services;
mod shipped_packs;
mod signing_interop;
mod store;
mod tidy;
mod timer_firing;
mod timers;
mod triggers;
mod webhooks;
mod workflow_cli;
mod workflow_crash;
mod workflow_dsl;
mod workflow_engine;
mod workflow_run;
