//! Checks that keep the code base's written invariants true (ARCHITECTURE.md).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources(dirs: &[&str]) -> Vec<(PathBuf, String)> {
    let root = root();
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read source");
            (path.strip_prefix(&root).expect("under root").to_owned(), text)
        })
        .collect()
}

/// Code, without `//` comments, so that prose may name other crates.
fn code(text: &str) -> String {
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Host files outside `owner` that use `dependency` in code.
fn users_outside(owner: &str, dependency: &str) -> Vec<String> {
    sources(&["host/src"])
        .into_iter()
        .filter(|(path, _)| !path.starts_with(owner))
        .filter(|(_, text)| code(text).contains(dependency))
        .map(|(path, _)| path.display().to_string())
        .collect()
}

#[test]
fn only_runtime_knows_wasmtime() {
    let offenders = users_outside("host/src/runtime", "wasmtime");
    assert!(offenders.is_empty(), "only host/src/runtime may use wasmtime: {offenders:?}");
}

#[test]
fn only_store_knows_redb() {
    let offenders = users_outside("host/src/store", "redb::");
    assert!(offenders.is_empty(), "only host/src/store may use redb: {offenders:?}");
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<_> = sources(&["host/src", "host/benches", "sdk/src", "tests", "packs"])
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files do not open with a `//!` line: {missing:?}");
}

#[test]
fn files_stay_small() {
    let long: Vec<_> = sources(&["host/src", "sdk/src", "tests"])
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 800)
        .map(|(path, text)| format!("{} ({} lines)", path.display(), text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn one_host_file_per_wit_interface() {
    let root = root();
    for entry in std::fs::read_dir(root.join("sdk/wit")).expect("wit dir") {
        let path = entry.expect("entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        // Imported interfaces have a host file; `types` has no functions and
        // `action`/`sensor` are exports, called rather than implemented.
        let imported = text.contains(&format!("interface {stem} {{"))
            && !["types", "action", "sensor"].contains(&stem);
        if imported {
            let host = root.join("host/src/runtime/host").join(format!("{stem}.rs"));
            assert!(host.is_file(), "sdk/wit/{stem}.wit has no host/src/runtime/host/{stem}.rs");
        }
    }
}
