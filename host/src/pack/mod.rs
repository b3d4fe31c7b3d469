//! Packs as the host sees them before any code runs: the `pack.toml`
//! manifest (name, actions with their JSON Schemas and policies, the trigger
//! types and sensors it declares).
//! Bundles, signatures, trust and the registry come with the pack lifecycle.

mod manifest;
pub mod registry;

pub use manifest::{
    ActionManifest, Concurrency, CrashPolicy, Manifest, ManifestError, OverLimit, Policy, Retry,
    RetryOn, SensorKind, SensorManifest, TriggerManifest,
};
