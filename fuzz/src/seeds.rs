//! Seeds that are generated rather than kept in the repository: bundles
//! (binary, and best made from the packs as they are now) for the `bundle`
//! and `signature` targets. `fuzz/run.sh` asks a target binary for them by
//! starting it with `SQUALL_FUZZ_WRITE_SEEDS=DIR`: [`crate::driver::run`]
//! then calls [`write_if_asked`], which writes them and exits.
//!
//! Each pack under `packs/` becomes a bundle of its `pack.toml`, rules and
//! workflows around the smallest component (the 8-byte header), unsigned
//! and signed with the fixed key [`public_key`] belongs to; the core pack
//! also around its real component when `cargo test` has built it
//! (`target/wasm/wasm32-wasip2/release/squall_pack_core.wasm`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use squall::pack::{BundleFiles, PublicKey, SigningKey, assemble};

/// The environment variable naming the directory to write seeds into.
pub const WRITE_SEEDS: &str = "SQUALL_FUZZ_WRITE_SEEDS";

/// The smallest component: its header alone.
const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// The fixed Ed25519 key pair seeds are signed with; fuzzing needs the
/// same key every run, and it signs nothing else.
fn key_pair() -> ed25519_compact::KeyPair {
    ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([0x5a; 32]))
}

/// The public half of the fixed key, which the `signature` target trusts.
pub fn public_key() -> PublicKey {
    PublicKey { pk: key_pair().pk, key_id: None }
}

fn signing_key(dir: &Path) -> std::io::Result<SigningKey> {
    let path = dir.join("fuzz.key");
    let secret = wasmsign2::SecretKey { sk: key_pair().sk };
    std::fs::write(&path, secret.to_bytes())?;
    let key = SigningKey::load(&path).map_err(std::io::Error::other);
    std::fs::remove_file(&path)?;
    key
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("fuzz/ is in the repository").to_owned()
}

/// `*.yaml` files of `dir` by file name, as `squall pack build` reads them.
fn yaml_files(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), text))
        })
        .collect()
}

/// Every pack directory with a `pack.toml`: `packs/*` and
/// `packs/examples/*`.
fn pack_dirs() -> Vec<PathBuf> {
    let packs = repository().join("packs");
    let mut dirs: Vec<PathBuf> = [packs.clone(), packs.join("examples")]
        .iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|dir| dir.join("pack.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Writes the generated bundle seeds into `dir`; returns how many.
pub fn write_bundles(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let key = signing_key(dir)?;
    let core_component =
        repository().join("target/wasm/wasm32-wasip2/release/squall_pack_core.wasm");
    let mut count = 0;
    for pack in pack_dirs() {
        let name = pack.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let files = BundleFiles {
            manifest: std::fs::read_to_string(pack.join("pack.toml"))?,
            rules: yaml_files(&pack.join("rules")),
            workflows: yaml_files(&pack.join("workflows")),
            aliases: yaml_files(&pack.join("aliases")),
        };
        let mut components = vec![("header".to_owned(), EMPTY_COMPONENT.to_vec())];
        if name == "core"
            && let Ok(component) = std::fs::read(&core_component)
        {
            components.push(("component".to_owned(), component));
        }
        for (kind, component) in components {
            let bundle = assemble(&component, &files, &name).map_err(std::io::Error::other)?;
            let signed = key.sign(&bundle).map_err(std::io::Error::other)?;
            std::fs::write(dir.join(format!("{name}-{kind}-unsigned.wasm")), &bundle)?;
            std::fs::write(dir.join(format!("{name}-{kind}-signed.wasm")), &signed)?;
            count += 2;
        }
    }
    Ok(count)
}

/// When [`WRITE_SEEDS`] names a directory, writes the generated seeds
/// there and exits the process; otherwise does nothing.
pub fn write_if_asked() {
    let Some(dir) = std::env::var_os(WRITE_SEEDS) else { return };
    match write_bundles(Path::new(&dir)) {
        Ok(count) => {
            eprintln!("wrote {count} generated seeds to {}", Path::new(&dir).display());
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("cannot write seeds to {}: {error}", Path::new(&dir).display());
            std::process::exit(1);
        }
    }
}
