//! What the build scripts of `squall` (`host/build.rs`, which embeds the
//! core pack in the binary) and `squall-tests` (`tests/build.rs`, which
//! builds the packs and test guests the integration tests run) share: a
//! nested cargo that builds a workspace of WebAssembly components.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every pack and guest is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The repository root, for a build script of a crate one level below it
/// (`host/`, `tests/`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo for build scripts"),
    );
    manifest_dir.parent().expect("the crate sits one level below the repository root").to_owned()
}

/// Where both build scripts put what they build (`<repo>/target/wasm`), so
/// that they share one build. Beside the host's target directory, not
/// inside the pack workspaces, so that `rerun-if-changed` on those
/// workspaces does not see build output.
pub fn wasm_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("wasm")
}

/// Prints `cargo:rerun-if-changed` for each of `paths` (relative to `root`)
/// that exists: cargo reruns a build script on every build for a path
/// that does not.
pub fn rerun_if_changed(root: &Path, paths: &[&str]) {
    for path in paths {
        let path = root.join(path);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// Builds the cargo workspace in `dir` for [`TARGET`] (release, `--locked`)
/// into `target_dir`: the members in `packages`, or all of them if it is
/// empty. Answers the directory the `.wasm` files are in. Panics if the
/// build fails, which fails the calling build script.
pub fn build_workspace(dir: &Path, target_dir: &Path, packages: &[&str]) -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--release", "--locked", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    for package in packages {
        command.args(["--package", package]);
    }
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
    target_dir.join(TARGET).join("release")
}
