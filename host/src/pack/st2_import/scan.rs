//! Walks a StackStorm pack and decides, file by file, what each becomes:
//! the pack's metadata and config schema go into `pack.toml`; actions by
//! runner (Python actions through the compatibility layer, Orquesta
//! workflows carried over); rules and aliases carried over when what they
//! name exists; everything else copied and reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::metadata::{self, ActionMeta, PYTHON_RUNNER_PARAMETERS};
use super::python::{self, PythonAction, PythonScript, PythonShell};
use super::report::{Item, Kind, Report};
use super::toml_text::{ManifestAction, ManifestText, nulls};
use super::{Contents, ImportError, Known, Plan};

/// Where rules and aliases Squall would refuse are kept, so that the pack
/// still builds and nothing is lost.
pub(super) const NOT_CONVERTED: &str = "not_converted";

/// Directories that are not the pack's content.
const SKIPPED_DIRS: &[&str] = &[".git", "__pycache__"];

/// What in a pack's Python code reaches the datastore, so that the pack
/// asks for `kv`.
const DATASTORE_CALLS: &[&str] =
    &["action_service", "get_value(", "set_value(", "delete_value(", "list_values("];

/// StackStorm's Python runner's default timeout, in seconds.
const PYTHON_TIMEOUT_SECONDS: u64 = 600;

/// Reads the StackStorm pack in `dir` into a plan; `known` says which
/// trigger types and actions exist outside it.
pub fn plan(dir: &Path, known: &Known<'_>) -> Result<Plan, ImportError> {
    let mut files = BTreeSet::new();
    walk(dir, dir, &mut files)?;
    let mut scan = Scan { dir, all: files.clone(), files, items: Vec::new(), out: Vec::new() };
    scan.run(known)
}

fn walk(root: &Path, dir: &Path, found: &mut BTreeSet<String>) -> Result<(), ImportError> {
    let io = |e: std::io::Error| ImportError::new(dir, "(directory)", e.to_string());
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                walk(root, &path, found)?;
            }
            continue;
        }
        if path.extension().is_some_and(|e| e == "pyc") {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let parts: Option<Vec<&str>> =
            relative.components().map(|c| c.as_os_str().to_str()).collect();
        let parts = parts.ok_or_else(|| {
            ImportError::new(&path, "(file)", "the file name is not UTF-8".into())
        })?;
        found.insert(parts.join("/"));
    }
    Ok(())
}

pub(super) struct Scan<'a> {
    pub(super) dir: &'a Path,
    /// Every file of the pack, relative to `dir`.
    pub(super) all: BTreeSet<String>,
    /// Files not yet claimed by an item, relative to `dir`.
    pub(super) files: BTreeSet<String>,
    pub(super) items: Vec<Item>,
    pub(super) out: Vec<(String, Contents)>,
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// `base/NAME.yaml` directly in `base` (not deeper).
pub(super) fn directly_in(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .and_then(|p| p.strip_prefix('/'))
        .is_some_and(|p| !p.contains('/') && is_yaml(p))
}

impl Scan<'_> {
    pub(super) fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub(super) fn read(&self, relative: &str) -> Result<String, ImportError> {
        let path = self.path(relative);
        std::fs::read_to_string(&path)
            .map_err(|e| ImportError::new(&path, "(file)", format!("cannot read: {e}")))
    }

    pub(super) fn copy(&mut self, from: &str, to: &str) {
        self.out.push((to.to_owned(), Contents::Copy(self.path(from))));
    }

    pub(super) fn matching(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.files.iter().filter(|f| keep(f)).cloned().collect()
    }

    fn run(&mut self, known: &Known<'_>) -> Result<Plan, ImportError> {
        if !self.files.remove("pack.yaml") {
            return Err(ImportError::new(
                &self.path("pack.yaml"),
                "(file)",
                "missing: a StackStorm pack has a pack.yaml".into(),
            ));
        }
        let pack = metadata::pack(&self.read("pack.yaml")?, &self.path("pack.yaml"))?;
        let mut item = Item::converted(Kind::Pack, &pack.name, "pack.yaml");
        item.notes.clone_from(&pack.notes);
        // The originals go along, for reference: Squall reads pack.toml.
        self.copy("pack.yaml", "pack.yaml");
        self.items.push(item);

        let mut config = None;
        for name in ["config.schema.yaml", "config.schema.yml"] {
            if self.files.remove(name) {
                let (schema, notes) = metadata::config(&self.read(name)?, &self.path(name))?;
                self.copy(name, name);
                let mut item = Item::converted(Kind::Config, "config", name);
                item.notes = notes;
                item.notes.extend(null_notes(&schema, "config"));
                self.items.push(item);
                config = Some(schema);
            }
        }

        let mut actions = Vec::new();
        let mut python_actions = Vec::new();
        let mut workflow_files = BTreeSet::new();
        let mut workflows = Vec::new();
        let mut shells = Vec::new();
        let mut scripts = Vec::new();
        for file in self.matching(|f| directly_in(f, "actions")) {
            self.files.remove(&file);
            let meta = metadata::action(&self.read(&file)?, &self.path(&file))?;
            let taken = actions.iter().any(|a: &ManifestAction| a.name == meta.name);
            let item = match self.action(&file, &meta, taken, &mut workflow_files)? {
                Converted::Python(action, module, item) => {
                    python_actions.push(module);
                    actions.push(action);
                    item
                }
                Converted::Shell(action, shell, item) => {
                    shells.push(shell);
                    actions.push(action);
                    item
                }
                Converted::Script(action, script, item) => {
                    scripts.push(script);
                    actions.push(action);
                    item
                }
                Converted::Workflow(action, calls, item) => {
                    actions.push(action);
                    workflows.push((self.items.len(), calls));
                    item
                }
                Converted::No(item) => item,
            };
            self.items.push(item);
        }
        // The whole actions/ tree goes along unchanged: Python actions
        // import their neighbours and `lib/` from there.
        let tree: Vec<String> =
            self.all.iter().filter(|f| f.starts_with("actions/")).cloned().collect();
        for file in tree {
            self.copy(&file, &file);
        }

        let own: BTreeSet<String> =
            actions.iter().map(|a| format!("{}.{}", pack.name, a.name)).collect();
        // A workflow that runs an action Squall lacks still loads; it fails
        // when it reaches that task, which the report says now.
        for (index, calls) in workflows {
            for (task, action) in calls {
                if !own.contains(&action) && !(known.action)(&action) {
                    self.items[index].notes.push(format!(
                        "task `{task}` runs `{action}`, which is not an action of the converted pack, of core, or of the host: the workflow fails when it gets there"
                    ));
                }
            }
        }
        let sensors = self.sensors(&pack.name)?;
        let own_triggers: BTreeSet<String> =
            sensors.triggers.iter().map(|t| format!("{}.{}", pack.name, t.name)).collect();
        self.rules(&pack.name, known, &own, &own_triggers)?;
        self.aliases(&pack.name, known, &own)?;
        let python = !python_actions.is_empty()
            || !sensors.python.is_empty()
            || !shells.is_empty()
            || !scripts.is_empty();
        self.rest(python);

        let code: Vec<(String, String)> = self
            .out
            .iter()
            .filter(|(path, _)| path.ends_with(".py"))
            .filter_map(|(path, c)| match c {
                Contents::Copy(from) => Some((path.clone(), std::fs::read_to_string(from).ok()?)),
                Contents::Text(_) => None,
            })
            .collect();
        let uses_kv = python
            && code.iter().any(|(_, text)| DATASTORE_CALLS.iter().any(|call| text.contains(call)));
        let mut secrets = BTreeSet::new();
        for (path, text) in code.iter().filter(|_| python) {
            for name in python::secrets_read(text) {
                let grantable = name.len() <= 128
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                let note = if grantable {
                    format!("asks for the secret `{name}`, which {path} reads with decrypt=True")
                } else {
                    format!(
                        "{path} reads `{name}` with decrypt=True, a name a grant cannot give (letters, digits and `._-`)"
                    )
                };
                if secrets.insert(name) {
                    self.items[0].notes.push(note);
                }
            }
        }
        secrets.retain(|n: &String| {
            n.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && n.len() <= 128
        });
        let lib = self.out.iter().any(|(path, _)| path.starts_with("lib/"));
        let python_entry = python.then(|| python::ENTRY.to_owned());
        if python {
            for (path, text) in python::LAYER {
                self.out.push(((*path).to_owned(), Contents::Text((*text).to_owned())));
            }
            self.out.push((
                python::ENTRY.to_owned(),
                Contents::Text(python::entry(
                    &pack.name,
                    &python_actions,
                    &sensors.python,
                    &shells,
                    &scripts,
                    lib,
                )),
            ));
        }
        let manifest = ManifestText {
            header: vec![
                format!(
                    "Imported from the StackStorm pack `{}` by `squall pack import`.",
                    pack.name
                ),
                "The import report lists what converted and what did not.".into(),
            ],
            name: pack.name.clone(),
            version: pack.version.clone(),
            description: pack.description.clone(),
            publisher: pack.publisher.clone(),
            python_entry,
            kv: uses_kv,
            secrets: secrets.into_iter().collect(),
            exec: {
                let mut programs: BTreeSet<String> =
                    scripts.iter().filter_map(|s| s.argv.first().cloned()).collect();
                if !shells.is_empty() {
                    programs.insert(super::shell::SHELL.to_owned());
                }
                programs.into_iter().collect()
            },
            config,
            actions,
            triggers: sensors.triggers,
            sensors: sensors.manifest,
        };
        let text = manifest.render();
        // The importer's own check: what it writes loads as any manifest.
        crate::pack::Manifest::from_toml(&text, Path::new("pack.toml")).map_err(|e| {
            ImportError::new(
                &self.path("pack.yaml"),
                "(converted)",
                format!("the pack.toml made from it does not load: {e}"),
            )
        })?;
        self.out.insert(0, ("pack.toml".into(), Contents::Text(text)));
        Ok(Plan {
            files: std::mem::take(&mut self.out),
            report: Report::new(&pack.name, &pack.version, std::mem::take(&mut self.items)),
        })
    }

    fn action(
        &mut self,
        file: &str,
        meta: &ActionMeta,
        taken: bool,
        workflow_files: &mut BTreeSet<String>,
    ) -> Result<Converted, ImportError> {
        let kind = if meta.runner == "orquesta" { Kind::Workflow } else { Kind::Action };
        let no =
            |reason: String| Ok(Converted::No(Item::not_converted(kind, &meta.name, file, reason)));
        if let Err(message) = crate::pack::check_pack_name(&meta.name) {
            return no(format!("name: Squall does not accept this action name yet: {message}"));
        }
        if taken {
            return no(format!(
                "name: another action of the pack is named `{}` already",
                meta.name
            ));
        }
        if !meta.enabled {
            return no("enabled: false: the action is disabled in StackStorm, and Squall has no disabled actions".into());
        }
        let path = self.path(file);
        match meta.runner.as_str() {
            "python-script" => {
                let Some(entry) = meta.entry_point.as_deref().filter(|e| e.ends_with(".py")) else {
                    return Err(ImportError::new(&path, "entry_point", "expected the action's Python file, e.g. `my_action.py`".into()));
                };
                let source = format!("actions/{entry}");
                if !self.all.contains(&source) {
                    return Err(ImportError::new(&path, "entry_point", format!("`{entry}` is not a file in actions/")));
                }
                self.files.remove(&source);
                let (dir, module) = match source.rsplit_once('/') {
                    Some((dir, name)) => (dir.to_owned(), name.trim_end_matches(".py").to_owned()),
                    None => ("actions".to_owned(), source.clone()),
                };
                let (parameters, mut notes) = metadata::schema(&meta.parameters, PYTHON_RUNNER_PARAMETERS, false, &path, "parameters")?;
                let timeout = runner_timeout(meta, &path)?;
                let runner_set: Vec<&str> = PYTHON_RUNNER_PARAMETERS
                    .iter()
                    .copied()
                    .filter(|p| *p != "timeout" && meta.parameters.contains_key(*p))
                    .collect();
                if meta.parameters.contains_key("timeout") {
                    notes.push(format!("timeout: {timeout} s, the runner parameter's default, is the action's policy.timeout"));
                }
                if !runner_set.is_empty() {
                    notes.push(format!("runner parameters left out (the Python runner's, never given to run()): {}", runner_set.join(", ")));
                }
                notes.extend(null_notes(&parameters, "parameters"));
                let mut item = Item::converted(Kind::Action, &meta.name, file);
                item.notes = notes;
                item.notes.insert(0, format!("python-script: {source} runs through the StackStorm compatibility layer"));
                let action = ManifestAction {
                    name: meta.name.clone(),
                    description: meta.description.clone(),
                    parameters,
                    workflow: None,
                    timeout: Some(format!("{timeout}s")),
                };
                Ok(Converted::Python(action, PythonAction { name: meta.name.clone(), dir, module, parameters: declared(meta, PYTHON_RUNNER_PARAMETERS) }, item))
            }
            "orquesta" => {
                let Some(entry) = meta.entry_point.as_deref() else {
                    return Err(ImportError::new(&path, "entry_point", "expected the workflow's file, e.g. `workflows/my_workflow.yaml`".into()));
                };
                let source = format!("actions/{entry}");
                if !self.all.contains(&source) {
                    return Err(ImportError::new(&path, "entry_point", format!("`{entry}` is not a file in actions/")));
                }
                let base = source.rsplit('/').next().unwrap_or(&source).to_owned();
                if !is_yaml(&base) || base.starts_with('.') {
                    return no(format!("entry_point: Squall reads workflows from `.yaml` files, not `{entry}`"));
                }
                if !workflow_files.insert(base.clone()) {
                    return no(format!("entry_point: another workflow's file is also named `{base}`; Squall keeps workflows by file name"));
                }
                let text = self.read(&source)?;
                let loaded = match crate::workflow::load(&text, &source) {
                    Ok(loaded) => loaded,
                    Err(invalid) => {
                        let first = invalid.diagnostics.first().map(ToString::to_string).unwrap_or_default();
                        return no(format!("{source}: Squall's workflow checks refuse it: {first}"));
                    }
                };
                // Tasks whose action is written out (not an expression).
                let calls: Vec<(String, String)> = loaded
                    .tasks
                    .iter()
                    .filter_map(|t| Some((t.name.clone(), t.action.clone()?)))
                    .filter_map(|(task, action)| {
                        let reference = action.split_whitespace().next()?.to_owned();
                        let plain = reference.contains('.') && !reference.contains(['{', '<', '%']);
                        plain.then_some((task, reference))
                    })
                    .collect();
                let (parameters, mut notes) = metadata::schema(&meta.parameters, &[], false, &path, "parameters")?;
                notes.extend(null_notes(&parameters, "parameters"));
                let target = format!("workflows/{base}");
                notes.insert(0, format!("orquesta: {source} carried over unchanged as {target}"));
                self.copy(&source, &target);
                self.files.remove(&source);
                let mut item = Item::converted(Kind::Workflow, &meta.name, file);
                item.notes = notes;
                let action = ManifestAction {
                    name: meta.name.clone(),
                    description: meta.description.clone(),
                    parameters,
                    workflow: Some(target),
                    timeout: None,
                };
                Ok(Converted::Workflow(action, calls, item))
            }
            "local-shell-cmd" => match super::shell::command(meta, file, &path)? {
                Ok((action, shell, item)) => Ok(Converted::Shell(action, shell, item)),
                Err(reason) => no(reason),
            },
            "local-shell-script" => {
                let Some(entry) = meta.entry_point.as_deref() else {
                    return Err(ImportError::new(&path, "entry_point", "expected the action's script, e.g. `my_script.sh`".into()));
                };
                let source = format!("actions/{entry}");
                if !self.all.contains(&source) {
                    return Err(ImportError::new(&path, "entry_point", format!("`{entry}` is not a file in actions/")));
                }
                let text = self.read(&source)?;
                self.files.remove(&source);
                match super::shell::script(meta, file, &path, &source, text)? {
                    Ok((action, script, item)) => Ok(Converted::Script(action, script, item)),
                    Err(reason) => no(reason),
                }
            }
            "remote-shell-cmd" | "remote-shell-script" => no(format!(
                "runner_type `{}`: Squall runs nothing on other hosts over SSH",
                meta.runner
            )),
            "action-chain" => no("runner_type `action-chain`: not converted yet (to be converted to Orquesta); the chain file stays in actions/".into()),
            other => no(format!("runner_type `{other}`: Squall has no counterpart for this runner yet")),
        }
    }
}

enum Converted {
    Python(ManifestAction, PythonAction, Item),
    Shell(ManifestAction, PythonShell, Item),
    Script(ManifestAction, PythonScript, Item),
    /// With the (task, action) pairs it runs.
    Workflow(ManifestAction, Vec<(String, String)>, Item),
    No(Item),
}

/// The Python runner's `timeout` an action sets among its parameters
/// (its default), else StackStorm's default.
fn runner_timeout(meta: &ActionMeta, file: &Path) -> Result<u64, ImportError> {
    let Some(default) = meta.parameters.get("timeout").and_then(|t| t.get("default")) else {
        return Ok(PYTHON_TIMEOUT_SECONDS);
    };
    default.as_u64().filter(|t| *t > 0).ok_or_else(|| {
        ImportError::new(
            file,
            "parameters.timeout.default",
            format!("expected a whole number of seconds above zero, got {default}"),
        )
    })
}

/// The parameters an action declares, runner parameters left out:
/// StackStorm gives each one, `None` when it has no value.
pub(super) fn declared(meta: &ActionMeta, runner: &[&str]) -> Vec<String> {
    meta.parameters.keys().filter(|k| !runner.contains(&k.as_str())).cloned().collect()
}

/// Notes for the `null`s of a schema, which TOML cannot hold.
fn null_notes(schema: &Value, what: &str) -> Vec<String> {
    let mut found = Vec::new();
    nulls(schema, "", &mut found);
    found
        .into_iter()
        .map(|at| format!("{what}: `{at}` is null, which pack.toml cannot hold: left out"))
        .collect()
}
