//! Builds the shipped packs (`packs/`) and the test-only guests
//! (`tests/guests/`) for `wasm32-wasip2`, and writes their paths as constants
//! into `$OUT_DIR/guests.rs` for the harness.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// (constant name, workspace dir relative to the repository, artefact stem)
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("CORE_PACK", "packs", "squall_pack_core"),
    ("DISKGUARD_PACK", "packs", "squall_pack_diskguard"),
    ("GITHUB_PACK", "packs", "squall_pack_github"),
    ("HTTP_PACK", "packs", "squall_pack_http"),
    ("CAPS_GUEST", "tests/guests", "guest_caps"),
    ("HOSTILE_GUEST", "tests/guests", "guest_hostile"),
    ("NO_ACTION_GUEST", "tests/guests", "guest_no_action"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.parent().expect("tests/ sits in the repository root").to_owned();
    // Kept beside the host's target dir, not inside the pack workspaces, so
    // that `rerun-if-changed` on those workspaces does not see build output.
    let wasm_target = root.join("target").join("wasm");

    for watched in [
        "packs/Cargo.toml",
        "packs/Cargo.lock",
        "packs/core",
        "packs/diskguard",
        "packs/github",
        "packs/http",
        "tests/guests/Cargo.toml",
        "tests/guests/caps",
        "tests/guests/hostile",
        "tests/guests/no-action",
        "sdk",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut workspaces: Vec<&str> = COMPONENTS.iter().map(|c| c.1).collect();
    workspaces.dedup();
    for workspace in workspaces {
        build_workspace(&root.join(workspace), &wasm_target);
    }

    let release = wasm_target.join(TARGET).join("release");
    let mut constants = String::new();
    for (name, _, stem) in COMPONENTS {
        let path = release.join(format!("{stem}.wasm"));
        assert!(path.is_file(), "{} was not built", path.display());
        constants.push_str(&format!(
            "/// `{stem}.wasm`, built by `tests/build.rs`.\npub const {name}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("guests.rs");
    std::fs::write(&out, constants).expect("write guests.rs");
}

fn build_workspace(dir: &Path, target_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--locked", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    // What the outer build set for the host must not leak into the guests'
    // build: clippy's wrapper, host rustflags, a forced target.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        command.env_remove(var);
    }
    let status =
        command.status().unwrap_or_else(|e| panic!("cannot run cargo for {}: {e}", dir.display()));
    assert!(status.success(), "building {} for {TARGET} failed", dir.display());
}
