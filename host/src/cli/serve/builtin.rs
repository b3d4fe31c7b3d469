//! The core pack built into the binary: `host/build.rs` builds `packs/core`
//! for `wasm32-wasip2` and names the component and its `pack.toml`, which
//! are embedded here, so `squall serve` has `core.echo` wherever it runs.

use std::path::Path;

use anyhow::Context as _;

use crate::pack::Manifest;
use crate::runtime::{LoadedComponent, Runtime};

/// The built-in pack's name; a pack of this name given with `--pack` or
/// installed from a bundle replaces it.
pub(super) const NAME: &str = "core";

const MANIFEST: &str = include_str!(env!("SQUALL_CORE_PACK_MANIFEST"));
const COMPONENT: &[u8] = include_bytes!(env!("SQUALL_CORE_PACK_WASM"));

/// How errors name the embedded files.
const MANIFEST_NAME: &str = "core/pack.toml (built into squall)";
const COMPONENT_NAME: &str = "core.wasm (built into squall)";

/// The built-in core pack, compiled (or taken from the compile cache, which
/// is keyed by the component's sha256).
pub(super) fn load(runtime: &Runtime) -> anyhow::Result<(Manifest, LoadedComponent)> {
    let manifest = Manifest::from_toml(MANIFEST, Path::new(MANIFEST_NAME))?;
    let component = runtime
        .load_bytes(Path::new(COMPONENT_NAME), COMPONENT, &manifest.name)
        .with_context(|| format!("pack {} (built in)", manifest.name))?;
    Ok((manifest, component))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_manifest_is_the_core_pack() {
        let manifest = Manifest::from_toml(MANIFEST, Path::new(MANIFEST_NAME)).expect("manifest");
        assert_eq!(manifest.name, NAME);
        assert!(manifest.actions.contains_key("echo"));
        assert!(COMPONENT.starts_with(b"\0asm"));
    }
}
