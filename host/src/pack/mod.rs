//! Packs as the host sees them before any code runs: the `pack.toml`
//! manifest, the capabilities it requests and the grants an operator gives,
//! the signed bundle format, signatures and the trust keyring, building a
//! bundle from a pack's source, and the OCI registry client.

mod build;
mod bundle;
mod capabilities;
mod layout;
mod manifest;
pub mod registry;
mod signing;
pub mod st2_import;

pub use build::{BuildSpec, Language};
pub use bundle::{Bundle, BundleError, BundleFiles};
pub use bundle::{MAX_BUNDLE_BYTES, assemble, check_header, sha256_hex};
pub use capabilities::{Capabilities, GrantParseError, parse_grants};
pub use layout::{
    LayoutError, MAX_FILES_SECTION_BYTES, MAX_MANIFEST_SECTION_BYTES, MAX_SIGNATURE_SECTION_BYTES,
};
pub(crate) use manifest::check_name as check_pack_name;
pub use manifest::{
    ActionManifest, Concurrency, CrashPolicy, Manifest, ManifestError, OverLimit, Policy, Retry,
    RetryOn, SensorKind, SensorManifest, TriggerManifest,
};
pub use signing::{
    KeyError, Keyring, SigningKey, TrustedKey, Verified, VerifyError, fingerprint, generate,
    key_id_hex, load_public_key, public_key_from_bytes, save_public_key,
};
pub use wasmsign2::PublicKey;
