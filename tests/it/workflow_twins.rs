//! The conversion check of issue 16: every workflow under `tests/` and
//! `packs/` written with Jinja behaves the same written with YAQL.
//!
//! `workflows/twins/` holds, for each such workflow, a twin with every
//! Jinja expression rewritten by hand in YAQL and everything else kept as
//! it was; its first line is `# twin_of: PATH` (from the repository root;
//! `PATH#KEY` is the workflow `KEY` of an engine fixture's `workflows:`).
//! `twins/index.json` maps each twin to its original and the scripts it
//! runs with (default: the original's `NAME.script.json`, if any), may
//! list known differences (`"differs": {"SCRIPT": "why"}`, a run with that
//! script that does not behave the same, with the reason), and lists under
//! `no_twin` the Jinja workflows that have none, each with the reason.
//!
//! Original and twin run through the same simulated runner as
//! `workflow_run.rs` (its `Script` and `run` are copied here, not shared:
//! that file and `tests/lib.rs` are not this check's to change), with the
//! engine fixture's `kv:` as the datastore of `st2kv()`. Their traces —
//! the load warnings, every action run with its input, every outcome and
//! timer, the final status, output and errors — must be identical, except
//! for the text of expression errors, which names the expression and its
//! engine. A twin matches its original line for line after the `twin_of`
//! line, and only lines holding Jinja may differ. The workflows of engine
//! fixtures run here in the simulated runner too, with scripts giving the
//! core actions' result shapes, not in the real engine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use squall::rules::Datastore;
use squall::workflow::{self, Workflow};
use squall_tests::simulated::{self, Options, Script};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn twins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("it/workflows/twins")
}

/// One twin as `index.json` describes it.
struct Entry {
    twin: String,
    original: String,
    scripts: Vec<PathBuf>,
    /// Script file name → why the run with it differs.
    differs: BTreeMap<String, String>,
}

struct Index {
    twins: Vec<Entry>,
    no_twin: BTreeMap<String, String>,
}

fn index() -> Index {
    let path = twins_dir().join("index.json");
    let text = std::fs::read_to_string(&path).expect("twins/index.json");
    let index: Value = serde_json::from_str(&text).expect("index.json is JSON");
    let twins = index["twins"]
        .as_object()
        .expect("index.json: `twins` is an object")
        .iter()
        .map(|(twin, entry)| {
            let original = entry["original"].as_str().expect("`original` is a string").to_owned();
            let listed: Vec<PathBuf> = entry
                .get("scripts")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|s| twins_dir().join(s.as_str().expect("a script path")))
                        .collect()
                })
                .unwrap_or_default();
            let scripts = if listed.is_empty() && !original.contains('#') {
                let beside = repo_root().join(&original).with_extension("script.json");
                if beside.exists() { vec![beside] } else { Vec::new() }
            } else {
                listed
            };
            let differs = entry
                .get("differs")
                .and_then(Value::as_object)
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().expect("a reason").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            Entry { twin: twin.clone(), original, scripts, differs }
        })
        .collect();
    let no_twin = index
        .get("no_twin")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter().map(|(k, v)| (k.clone(), v.as_str().expect("a reason").to_owned())).collect()
        })
        .unwrap_or_default();
    Index { twins, no_twin }
}

fn has_jinja(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The workflow text `original` names (`PATH` or `PATH#KEY`) and the
/// datastore its fixture sets (`kv:`, engine fixtures only).
fn original_text(original: &str) -> (String, BTreeMap<String, String>) {
    let (path, key) = match original.split_once('#') {
        Some((path, key)) => (path, Some(key)),
        None => (original, None),
    };
    let text = std::fs::read_to_string(repo_root().join(path))
        .unwrap_or_else(|e| panic!("the original {path}: {e}"));
    let Some(key) = key else { return (text, BTreeMap::new()) };
    let fixture: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("a YAML fixture");
    let workflow = fixture["workflows"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has no workflow `{key}`"))
        .to_owned();
    let kv = fixture
        .get("kv")
        .and_then(serde_yaml_ng::Value::as_mapping)
        .map(|map| {
            map.iter()
                .map(|(k, v)| {
                    let text = |v: &serde_yaml_ng::Value| {
                        v.as_str().map_or_else(
                            || serde_yaml_ng::to_string(v).expect("YAML").trim().to_owned(),
                            str::to_owned,
                        )
                    };
                    (text(k), text(v))
                })
                .collect()
        })
        .unwrap_or_default();
    (workflow, kv)
}

/// An error message with the text of an expression error left out: the
/// field it names stays (`publish \`x\``, `next[0].when`), what the
/// evaluator said goes, and so does any quoted expression.
fn without_expression_text(message: &str) -> String {
    const FIELDS: [&str; 7] =
        ["retry when", "retry", "delay", "concurrency", "action", "input", "with items"];
    let message = match message.split_once(": ") {
        Some((field, _))
            if field.contains('`') || field.starts_with("next[") || FIELDS.contains(&field) =>
        {
            format!("{field}: <expression error>")
        }
        _ => message.to_owned(),
    };
    // Quoted expressions (`{{ … }}`, `<% … %>`) name the engine.
    let mut out = String::new();
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 && (part.contains("{{") || part.contains("<%") || part.contains("{%")) {
            out.push_str("<expression>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Runs `workflow` against `script` in the shared simulated runner, with
/// the load warnings first and expression error texts left out.
fn run(
    workflow: &Workflow,
    script_path: Option<&Path>,
    kv: &BTreeMap<String, String>,
    what: &str,
) -> String {
    let mut trace = String::new();
    for warning in &workflow.warnings {
        trace.push_str(&format!("warning: {}: {}\n", warning.path, warning.message));
    }
    let datastore: Arc<dyn Datastore> = Arc::new(kv.clone());
    let options = Options {
        datastore: Some(datastore),
        clean: Some(without_expression_text),
        ..Options::default()
    };
    trace + &simulated::trace(workflow, Script::load(script_path), &options, what)
}

/// Both traces of one twin under one script.
struct Compared {
    /// The script's file name, `-` for none.
    script: String,
    label: String,
    original: String,
    twin: String,
}

fn compare(entry: &Entry) -> Vec<Compared> {
    let (original_text, kv) = original_text(&entry.original);
    let twin_path = twins_dir().join(&entry.twin);
    let twin_text = std::fs::read_to_string(&twin_path)
        .unwrap_or_else(|e| panic!("the twin {}: {e}", entry.twin));
    let original = workflow::load(&original_text, &entry.original)
        .unwrap_or_else(|e| panic!("the original {} does not load: {e}", entry.original));
    let twin = workflow::load(&twin_text, &entry.twin)
        .unwrap_or_else(|e| panic!("the twin {} does not load: {e}", entry.twin));
    let scripts: Vec<Option<&Path>> = if entry.scripts.is_empty() {
        vec![None]
    } else {
        entry.scripts.iter().map(|p| Some(p.as_path())).collect()
    };
    scripts
        .into_iter()
        .map(|script| {
            let name = script
                .and_then(Path::file_name)
                .map_or_else(|| "-".to_owned(), |n| n.to_string_lossy().into_owned());
            Compared {
                label: format!("{} with {name}", entry.twin),
                script: name,
                original: run(&original, script, &kv, &entry.original),
                twin: run(&twin, script, &kv, &entry.twin),
            }
        })
        .collect()
}

#[test]
fn every_twin_behaves_like_its_jinja_original() {
    let index = index();
    assert!(index.twins.len() >= 20, "twins missing from index.json");
    let mut differ = Vec::new();
    let mut stale = Vec::new();
    let mut known = Vec::new();
    for entry in &index.twins {
        for c in compare(entry) {
            match (entry.differs.get(&c.script), c.original == c.twin) {
                (None, true) => {}
                (None, false) => differ.push(format!(
                    "{} (twin of {}):\n--- original\n{}--- twin\n{}",
                    c.label, entry.original, c.original, c.twin
                )),
                (Some(why), false) => known.push(format!("{}: {why}", c.label)),
                (Some(_), true) => stale.push(c.label),
            }
        }
    }
    for line in &known {
        eprintln!("known difference: {line}");
    }
    assert!(
        stale.is_empty(),
        "listed as differing in index.json but now behaving the same (drop `differs`): {stale:?}"
    );
    assert!(
        differ.is_empty(),
        "{} twin run(s) differ from their Jinja original:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn every_twin_is_yaql_only_and_every_original_has_jinja() {
    for entry in index().twins {
        let twin = std::fs::read_to_string(twins_dir().join(&entry.twin)).expect("a twin");
        let first = twin.lines().next().unwrap_or_default();
        assert_eq!(first, format!("# twin_of: {}", entry.original), "{}: first line", entry.twin);
        assert!(!has_jinja(&twin), "{}: Jinja left in the twin", entry.twin);
        assert!(twin.contains("<%"), "{}: the twin has no YAQL", entry.twin);
        let (original, _) = original_text(&entry.original);
        assert!(has_jinja(&original), "{}: no Jinja in {}", entry.twin, entry.original);
        // Only expressions were rewritten: the same lines, in the same order.
        let body: Vec<&str> = twin.lines().skip(1).collect();
        let original: Vec<&str> = original.lines().collect();
        assert_eq!(body.len(), original.len(), "{}: lines added or removed", entry.twin);
        for (twin_line, original_line) in body.iter().zip(&original) {
            if !has_jinja(original_line) {
                assert_eq!(
                    twin_line, original_line,
                    "{}: a line without Jinja changed",
                    entry.twin
                );
            }
        }
        workflow::load(&twin, &entry.twin)
            .unwrap_or_else(|e| panic!("the twin {} does not load: {e}", entry.twin));
    }
}

/// Every workflow file under `tests/` and `packs/` (and every workflow an
/// engine fixture declares) that holds Jinja has a twin or a reason in
/// `no_twin`, so a new Jinja workflow cannot slip past the check.
#[test]
fn every_jinja_workflow_has_a_twin_or_a_reason() {
    fn walk(dir: &Path, skip: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "node_modules")
                    && path != skip
                {
                    walk(&path, skip, found);
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                found.push(path);
            }
        }
    }
    let root = repo_root();
    let skip = root.join("tests/it/workflows/twins");
    let mut files = Vec::new();
    walk(&root.join("tests"), &skip, &mut files);
    walk(&root.join("packs"), &skip, &mut files);
    let mut jinja = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&root).expect("under the root");
        let relative = relative.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("a YAML file");
        match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
            Ok(doc) if doc.get("tasks").is_some() => {
                if has_jinja(&text) {
                    jinja.insert(relative);
                }
            }
            Ok(doc) => {
                let workflows = doc.get("workflows").and_then(serde_yaml_ng::Value::as_mapping);
                for (key, value) in workflows.into_iter().flatten() {
                    if let (Some(key), Some(text)) = (key.as_str(), value.as_str())
                        && has_jinja(text)
                    {
                        jinja.insert(format!("{relative}#{key}"));
                    }
                }
            }
            Err(_) if text.contains("tasks:") && has_jinja(&text) => {
                jinja.insert(relative);
            }
            Err(_) => {}
        }
    }
    assert!(jinja.len() >= 20, "the walk found too few Jinja workflows: {jinja:?}");
    let index = index();
    let covered: BTreeSet<String> = index
        .twins
        .iter()
        .map(|e| e.original.clone())
        .chain(index.no_twin.keys().cloned())
        .collect();
    let uncovered: Vec<&String> = jinja.difference(&covered).collect();
    assert!(uncovered.is_empty(), "Jinja workflows with no twin and no reason: {uncovered:?}");
    let unknown: Vec<&String> = covered.difference(&jinja).collect();
    assert!(unknown.is_empty(), "index.json names no Jinja workflow at: {unknown:?}");
    for (original, reason) in &index.no_twin {
        assert!(!reason.trim().is_empty(), "{original}: no_twin without a reason");
    }
}

/// Nothing in `twins/` that the index does not name.
#[test]
fn the_twins_directory_holds_only_what_the_index_names() {
    let index = index();
    let mut named: BTreeSet<PathBuf> = BTreeSet::from([twins_dir().join("index.json")]);
    for entry in &index.twins {
        named.insert(twins_dir().join(&entry.twin));
        named.extend(entry.scripts.iter().filter(|p| p.starts_with(twins_dir())).cloned());
        for (script, why) in &entry.differs {
            assert!(!why.trim().is_empty(), "{}: `differs` without a reason", entry.twin);
            let runs = entry
                .scripts
                .iter()
                .any(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == script.as_str()))
                || (entry.scripts.is_empty() && script == "-");
            assert!(runs, "{}: `differs` names {script}, which it does not run with", entry.twin);
        }
    }
    for path in &named {
        assert!(path.exists(), "index.json names {} but it is missing", path.display());
    }
    let present: BTreeSet<PathBuf> = std::fs::read_dir(twins_dir())
        .expect("the twins directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    let extra: Vec<&PathBuf> = present.difference(&named).collect();
    assert!(extra.is_empty(), "files in twins/ that index.json does not name: {extra:?}");
}
