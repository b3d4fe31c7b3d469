//! `squall pack import`: StackStorm packs written here in StackStorm's
//! layout (`fixtures/NAME/`), each imported with `--json` and checked as
//! data against `fixtures/NAME.expected.json`: the import report (or the
//! error, for the `bad_*` ones), every file written, and the `pack.toml`
//! made. `UPDATE_EXPECT=1 cargo test` rewrites the expected files.
//! `build.rs` here builds one imported pack with componentize-py and runs
//! its actions as StackStorm's Python runner would; `web.rs` does the same
//! for one whose actions call HTTP with `requests` and `urllib`. The `web`
//! fixture's requirements are fetched from PyPI by the import.

mod build;
mod web;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("it").join("import").join("fixtures")
}

fn fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("the fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `squall pack import FIXTURE -o OUT --json`: (exit status, stdout JSON).
fn import(fixture: &Path, out: &Path) -> (u8, Value) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let argv = ["squall", "pack", "import", path(fixture), "-o", path(out), "--json"];
    let status = squall::cli::execute(argv, &mut stdout, &mut stderr);
    let text = String::from_utf8_lossy(&stdout);
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {text} {}", String::from_utf8_lossy(&stderr)));
    (status, value)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// What a fixture's import shows, with this machine's paths taken out.
fn outcome(fixture: &Path) -> Value {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let out = scratch.path().join("out");
    let (status, mut shown) = import(fixture, &out);
    if status != 0 {
        let prefix = format!("{}/", fixture.display());
        let error = shown["error"].as_str().unwrap_or_default().replace(&prefix, "");
        return json!({ "exit": status, "error": error, "files": files(&out) });
    }
    assert_eq!(shown["out"], json!(path(&out)), "the report names where it wrote");
    shown.as_object_mut().expect("an object").remove("out");
    let manifest = std::fs::read_to_string(out.join("pack.toml")).expect("pack.toml written");
    json!({
        "exit": status,
        "report": shown,
        "files": vendored_as_packages(files(&out)),
        "pack_toml": manifest.lines().collect::<Vec<_>>(),
    })
}

/// Files fetched into `vendor/` by package (`vendor/requests/`), without
/// their `.dist-info` (which names versions PyPI moves on from).
fn vendored_as_packages(files: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for file in files {
        let shown = match file.strip_prefix("vendor/").and_then(|rest| rest.split_once('/')) {
            Some((top, _)) if top.ends_with(".dist-info") => continue,
            Some((top, _)) => format!("vendor/{top}/"),
            None => file,
        };
        if !out.contains(&shown) {
            out.push(shown);
        }
    }
    out
}

#[test]
fn every_fixture_imports_as_its_expected_file_says() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut differ = Vec::new();
    let all = fixtures();
    assert!(all.len() >= 6, "fixtures missing: {all:?}");
    for fixture in all {
        let actual = serde_json::to_string_pretty(&outcome(&fixture)).expect("JSON") + "\n";
        let expected_path = fixture.with_extension("expected.json");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual == expected {
            continue;
        }
        if update {
            std::fs::write(&expected_path, &actual).expect("writing the expected file");
        } else {
            differ.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{} fixture(s) differ (UPDATE_EXPECT=1 rewrites them):\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn bad_fixtures_fail_and_the_others_do_not() {
    for fixture in fixtures() {
        let name = fixture.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let shown = outcome(&fixture);
        assert_eq!(shown["exit"] != json!(0), name.starts_with("bad_"), "{name}: {shown}");
        if name.starts_with("bad_") {
            assert_eq!(shown["files"], json!([]), "{name}: a refused import writes nothing");
        }
    }
}

#[test]
fn every_file_of_a_pack_is_in_the_report_or_the_output() {
    // Nothing is dropped silently: each file of the StackStorm pack is
    // written somewhere, and each is named by the report.
    for fixture in fixtures().into_iter().filter(|f| !f.ends_with("bad_no_pack_yaml")) {
        let shown = outcome(&fixture);
        let Some(items) = shown["report"]["items"].as_array() else { continue };
        let written: Vec<String> = shown["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f.as_str().unwrap_or_default().to_owned())
            .collect();
        for file in files(&fixture) {
            let reported = items.iter().any(|i| i["source"] == json!(file))
                || items.iter().any(|i| {
                    i["notes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(Some(&i["reason"]))
                        .any(|n| n.as_str().unwrap_or_default().contains(&file))
                });
            let kept = written.iter().any(|w| *w == file || w.ends_with(&format!("/{file}")));
            assert!(reported, "{}: {file} is not in the report", fixture.display());
            assert!(kept, "{}: {file} was not written", fixture.display());
        }
    }
}

#[test]
fn an_output_directory_with_files_in_it_is_refused() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(scratch.path().join("mine.txt"), "keep me").expect("a file");
    let (status, shown) = import(&fixtures_dir().join("minimal"), scratch.path());
    assert_eq!(status, 2);
    let error = shown["error"].as_str().unwrap_or_default();
    assert!(
        error.ends_with("(directory): exists and is not empty; choose another with -o DIR"),
        "{error}"
    );
    assert_eq!(files(scratch.path()), ["mine.txt"]);
}

#[test]
fn symbolic_links_are_reported_and_not_followed() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let pack = scratch.path().join("pack");
    std::fs::create_dir_all(pack.join("actions")).expect("a pack");
    let minimal = fixtures_dir().join("minimal");
    std::fs::copy(minimal.join("pack.yaml"), pack.join("pack.yaml")).expect("pack.yaml");
    std::os::unix::fs::symlink("..", pack.join("actions/up")).expect("a link to a parent");
    let outside = scratch.path().join("outside.txt");
    std::fs::write(&outside, "not the pack's").expect("a file outside");
    std::os::unix::fs::symlink(&outside, pack.join("notes.txt")).expect("a link out");
    let out = scratch.path().join("out");
    let (status, shown) = import(&pack, &out);
    assert_eq!(status, 0, "{shown}");
    let links: Vec<&Value> =
        shown["items"].as_array().expect("items").iter().filter(|i| i["kind"] == "file").collect();
    assert_eq!(links.len(), 2, "{shown}");
    for link in links {
        assert_eq!(link["status"], "not_converted");
        assert!(link["reason"].as_str().unwrap_or_default().starts_with("a symbolic link"));
    }
    assert_eq!(files(&out), ["pack.toml", "pack.yaml"]);
}

#[test]
fn offline_imports_fetch_nothing_and_say_what_that_costs() {
    // No index is asked: each requirement is reported as not fetched, and
    // the actions whose module imports one are not converted.
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let out = scratch.path().join("out");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let fixture = fixtures_dir().join("web");
    let argv =
        ["squall", "pack", "import", path(&fixture), "-o", path(&out), "--json", "--offline"];
    let status = squall::cli::execute(argv, &mut stdout, &mut stderr);
    assert_eq!(status, 0, "{}", String::from_utf8_lossy(&stderr));
    let shown: Value = serde_json::from_slice(&stdout).expect("JSON");
    let items = shown["items"].as_array().expect("items");
    let item = |kind: &str, name: &str| {
        items.iter().find(|i| i["kind"] == kind && i["name"] == name).cloned().unwrap_or_default()
    };
    for name in ["requests", "cryptography"] {
        let requirement = item("requirement", name);
        assert_eq!(requirement["status"], "not_converted", "{requirement}");
        let reason = requirement["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("not fetched (--offline)"), "{reason}");
    }
    for action in ["get_status", "post_item", "sign", "seal"] {
        assert_eq!(item("action", action)["status"], "not_converted", "{action}");
    }
    // A helper module of the pack that imports one counts as the action's.
    let sealed = item("action", "seal");
    let reason = sealed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("actions/lib/sealing.py imports `cryptography`")
            && reason.ends_with("(via actions/seal.py)"),
        "{reason}"
    );
    // urllib is the standard library's: that action still converts.
    assert_eq!(item("action", "fetch_text")["status"], "converted");
    assert!(!out.join("vendor").exists());
    let manifest = std::fs::read_to_string(out.join("pack.toml")).expect("pack.toml");
    assert!(
        manifest.contains("[actions.fetch_text]") && !manifest.contains("[actions.get_status]")
    );
}
