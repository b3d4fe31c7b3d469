//! The squall-sdk crate this squall was built with, built into the binary:
//! its WIT contract, which `squall pack build` hands to componentize-py and
//! componentize-js, and the whole crate, which `squall pack new --lang
//! rust` vendors into a scaffold until squall-sdk is on crates.io (the
//! scaffold depends on it by version and patches that version with the
//! copy). Nothing here reads the source tree at run time.

use std::path::Path;

use anyhow::Context as _;

/// The SDK's version: the workspace's, which the host shares.
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where a Rust scaffold keeps its copy of the SDK.
pub(crate) const VENDOR_DIR: &str = "vendor/squall-sdk";

/// Every file of the packaged crate (`cargo package -p squall-sdk --list`)
/// but `Cargo.toml`, whose standalone form [`manifest`] writes; under its
/// path in the crate.
const FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../../../sdk/README.md")),
    ("src/__private.rs", include_str!("../../../sdk/src/__private.rs")),
    ("src/error.rs", include_str!("../../../sdk/src/error.rs")),
    ("src/host.rs", include_str!("../../../sdk/src/host.rs")),
    ("src/http.rs", include_str!("../../../sdk/src/http.rs")),
    ("src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    ("src/sensor.rs", include_str!("../../../sdk/src/sensor.rs")),
    ("wit/action.wit", include_str!("../../../sdk/wit/action.wit")),
    ("wit/config.wit", include_str!("../../../sdk/wit/config.wit")),
    ("wit/exec.wit", include_str!("../../../sdk/wit/exec.wit")),
    ("wit/kv.wit", include_str!("../../../sdk/wit/kv.wit")),
    ("wit/log.wit", include_str!("../../../sdk/wit/log.wit")),
    ("wit/secrets.wit", include_str!("../../../sdk/wit/secrets.wit")),
    ("wit/sensor.wit", include_str!("../../../sdk/wit/sensor.wit")),
    ("wit/types.wit", include_str!("../../../sdk/wit/types.wit")),
    ("wit/world.wit", include_str!("../../../sdk/wit/world.wit")),
    ("wit/deps/README.md", include_str!("../../../sdk/wit/deps/README.md")),
    ("wit/deps/cli/cli.wit", include_str!("../../../sdk/wit/deps/cli/cli.wit")),
    ("wit/deps/clocks/clocks.wit", include_str!("../../../sdk/wit/deps/clocks/clocks.wit")),
    (
        "wit/deps/filesystem/filesystem.wit",
        include_str!("../../../sdk/wit/deps/filesystem/filesystem.wit"),
    ),
    ("wit/deps/http/http.wit", include_str!("../../../sdk/wit/deps/http/http.wit")),
    ("wit/deps/io/io.wit", include_str!("../../../sdk/wit/deps/io/io.wit")),
    ("wit/deps/random/random.wit", include_str!("../../../sdk/wit/deps/random/random.wit")),
    ("wit/deps/sockets/sockets.wit", include_str!("../../../sdk/wit/deps/sockets/sockets.wit")),
];

/// The SDK's manifest as written, with `workspace = true` keys.
const SDK_MANIFEST: &str = include_str!("../../../sdk/Cargo.toml");
/// The workspace manifest those keys resolve in.
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");

/// The `.wit` files of the contract, under their paths in `wit/`.
pub(crate) fn wit() -> impl Iterator<Item = (&'static str, &'static str)> {
    FILES.iter().filter_map(|(path, text)| {
        path.strip_prefix("wit/").filter(|p| p.ends_with(".wit")).map(|p| (p, *text))
    })
}

/// The SDK's `Cargo.toml` standing alone: each `KEY.workspace = true` is
/// the workspace's line for KEY (`[workspace.package]` for the package,
/// `[workspace.dependencies]` for a dependency), and the workspace's lints
/// are left out (they are the Squall repository's, not a pack's).
pub(crate) fn manifest() -> String {
    let mut out = format!(
        "# squall-sdk {SDK_VERSION} as squall {SDK_VERSION} carries it (`squall pack new`),\n\
         # standing alone: the values it inherited written in.\n\n"
    );
    let mut section = String::new();
    for line in SDK_MANIFEST.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.to_owned();
            if section == "lints" {
                continue;
            }
        }
        if section == "lints" {
            continue;
        }
        let inherited = trimmed
            .strip_suffix("true")
            .and_then(|s| s.trim_end().strip_suffix('='))
            .and_then(|s| s.trim_end().strip_suffix(".workspace"));
        let resolved =
            inherited.and_then(|key| workspace_line(&format!("workspace.{section}"), key));
        out.push_str(resolved.unwrap_or(line));
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// The line that sets `key` in `[section]` of the workspace manifest.
fn workspace_line(section: &str, key: &str) -> Option<&'static str> {
    let mut current = "";
    for line in WORKSPACE_MANIFEST.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = name;
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((name, _)) = trimmed.split_once('=')
            && name.trim() == key
        {
            return Some(trimmed);
        }
    }
    None
}

/// Writes the crate into `dir` (created); the paths written, relative to
/// `dir`, `Cargo.toml` first.
pub(crate) fn write_crate(dir: &Path) -> anyhow::Result<Vec<String>> {
    let manifest = manifest();
    let files = std::iter::once(("Cargo.toml", manifest.as_str())).chain(FILES.iter().copied());
    let mut written = Vec::new();
    for (path, text) in files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
        written.push(path.to_owned());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    fn sdk_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk")
    }

    fn files_under(root: &Path, dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read sdk dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                files_under(root, &path, found);
            } else {
                let relative = path.strip_prefix(root).expect("under the sdk");
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    /// What `include` in sdk/Cargo.toml packages is what the binary
    /// carries: a file added to the crate must be added to `FILES`.
    #[test]
    fn every_packaged_file_is_built_in() {
        let root = sdk_dir();
        let mut on_disk = BTreeSet::new();
        for dir in ["src", "wit"] {
            files_under(&root, &root.join(dir), &mut on_disk);
        }
        on_disk.insert("README.md".to_owned());
        let built_in: BTreeSet<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(on_disk, built_in);
    }

    #[test]
    fn the_standalone_manifest_inherits_nothing() {
        let text = manifest();
        assert!(!text.contains("workspace"), "{text}");
        let parsed: toml::Table = toml::from_str(&text).expect("a TOML manifest");
        let package = parsed["package"].as_table().expect("[package]");
        assert_eq!(package["name"].as_str(), Some("squall-sdk"));
        assert_eq!(package["version"].as_str(), Some(SDK_VERSION));
        assert_eq!(package["edition"].as_str(), Some("2024"));
        assert!(package["license"].is_str() && package["repository"].is_str());
        let dependencies = parsed["dependencies"].as_table().expect("[dependencies]");
        let names: Vec<&str> = dependencies.keys().map(String::as_str).collect();
        assert_eq!(names, ["serde", "serde_json", "wit-bindgen"]);
        assert_eq!(dependencies["wit-bindgen"]["default-features"].as_bool(), Some(false));
        assert!(!parsed.contains_key("lints"));
    }

    #[test]
    fn the_wit_is_the_contract_without_docs() {
        let names: Vec<&str> = wit().map(|(p, _)| p).collect();
        assert!(names.contains(&"world.wit") && names.contains(&"deps/http/http.wit"));
        assert!(names.iter().all(|p| p.ends_with(".wit")), "{names:?}");
    }
}
