//! Builds the shipped packs (`packs/`) and the test-only guests
//! (`tests/guests/`) for `wasm32-wasip2`, and writes their paths as constants
//! into `$OUT_DIR/guests.rs` for the harness.

use std::path::PathBuf;

use squall_build_support::{TARGET, build_workspace, repo_root, wasm_target_dir};

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
    let root = repo_root();
    // Shared with host/build.rs, which builds the core pack the binary
    // embeds.
    let wasm_target = wasm_target_dir(&root);

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
        "sdk/wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut workspaces: Vec<&str> = COMPONENTS.iter().map(|c| c.1).collect();
    workspaces.dedup();
    for workspace in workspaces {
        build_workspace(&root.join(workspace), &wasm_target, &[]);
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
