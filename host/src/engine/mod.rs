//! The engine: trigger instances → rules → executions → workers → results,
//! with sensors, timers and policies. It is the one module that knows
//! `rules`, `workflow`, `runtime` and `store` together; today it holds the
//! adapters that let the runtime's host imports use the store.

mod datastore;
mod sensors;
mod trigger_types;

pub use datastore::StoreKv;
pub use sensors::{PollError, PollReport, PollSensor, Poller, poll_once};
pub use trigger_types::{TriggerError, TriggerType, TriggerTypes};
