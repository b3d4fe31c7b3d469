//! Builds the core pack (`packs/core`) for `wasm32-wasip2`, so that the
//! `squall` binary carries it (`cli/serve/builtin.rs` embeds the component
//! and `pack.toml`) and `squall serve` has `core.echo` wherever it runs.
//! The build goes where `tests/build.rs` builds the packs, so the two
//! share it.

fn main() {
    let root = squall_build_support::repo_root();
    squall_build_support::rerun_if_changed(
        &root,
        &["packs/Cargo.toml", "packs/Cargo.lock", "packs/core", "sdk"],
    );
    let release = squall_build_support::build_workspace(
        &root.join("packs"),
        &squall_build_support::wasm_target_dir(&root),
        &["squall-pack-core"],
    );
    let component = release.join("squall_pack_core.wasm");
    assert!(component.is_file(), "{} was not built", component.display());
    println!("cargo:rustc-env=SQUALL_CORE_PACK_WASM={}", component.display());
    let manifest = root.join("packs").join("core").join("pack.toml");
    println!("cargo:rustc-env=SQUALL_CORE_PACK_MANIFEST={}", manifest.display());
}
