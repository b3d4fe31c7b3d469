//! The engine: trigger instances → rules → executions → workers → results,
//! with sensors, timers and policies. It is the one module that knows
//! `rules`, `workflow`, `runtime` and `store` together.

mod actions;
mod audit;
mod builtins;
mod catalog;
mod control;
mod datastore;
mod dispatch;
mod ending;
mod error;
mod executor;
mod flows;
mod ingest;
mod inline;
mod invoke;
mod kv;
mod lifecycle;
mod pack_config;
mod pack_limits;
mod packs;
mod schedule;
mod sensors;
mod timers;
mod trigger_types;
mod webhooks;

pub use actions::{
    ASK_ACTION, ActionSpec, Actions, CatalogError, POST_MESSAGE_ACTION, Runner, WorkflowDefinition,
    compile_parameters, fill_defaults, prepare_parameters,
};
pub use audit::{CAPABILITY_DENIED, StoreAudit, denial_event};
pub use catalog::{Catalog, RegisterError, register_rule_files};
pub use control::{ControlError, SensorInfo};
pub use datastore::{StoreKv, StoreSecrets};
pub use error::{CancelError, EmitError, EngineError, RequestError};
pub use executor::{Engine, EngineConfig};
pub use flows::{FlowError, InquiryError};
pub use ingest::{Decided, Emitted, EngineEvent, Event, Ingest, OutputLine};
pub use kv::{KvChange, KvChanged};
pub use lifecycle::{
    InstallRequest, Installed, LifecycleError, PackManager, Removed, RestoredPack, load_installed,
};
pub use pack_config::{ConfigProblem, PackConfigs, config_problems, mask_config_secrets};
pub use packs::InstallError;
pub use schedule::{CronSchedule, Schedule, ScheduleError};
pub use sensors::{PollError, PollReport, PollSensor, Poller, SensorStatus, poll_once};
pub use timers::{MISFIRE_GRACE, Timers};
pub use trigger_types::{TriggerError, TriggerType, TriggerTypes};
pub use webhooks::{WebhookError, WebhookReply, WebhookSensor, WebhookSensors, webhook_payload};
