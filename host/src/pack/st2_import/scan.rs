//! Walks a StackStorm pack and decides, file by file, what each becomes:
//! the pack's metadata and config schema go into `pack.toml`; actions by
//! runner (Python actions through the compatibility layer, Orquesta
//! workflows carried over); rules and aliases carried over when what they
//! name exists; everything else copied and reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::actions::Converted;
use super::metadata::{self, ActionMeta};
use super::python;
use super::report::{Item, Kind, Report};
use super::requirements::{self, Dependencies, Fetched, Needed, VENDOR};
use super::toml_text::{ManifestAction, ManifestText, nulls};
use super::{Contents, ImportError, Known, Plan};
use crate::pack::capabilities::check_secret_name;

/// Where rules and aliases Squall would refuse are kept, so that the pack
/// still builds and nothing is lost.
pub(super) const NOT_CONVERTED: &str = "not_converted";

/// Directories that are not the pack's content.
const SKIPPED_DIRS: &[&str] = &[".git", "__pycache__"];

/// What in a pack's Python code reaches the datastore, so that the pack
/// asks for `kv`.
const DATASTORE_CALLS: &[&str] =
    &["action_service", "get_value(", "set_value(", "delete_value(", "list_values("];

/// Reads the StackStorm pack in `dir` into a plan; `known` says which
/// trigger types and actions exist outside it, `deps` what became of the
/// packages [`needs`] listed.
pub fn plan(dir: &Path, known: &Known<'_>, deps: &Dependencies) -> Result<Plan, ImportError> {
    let (mut files, mut links) = (BTreeSet::new(), Vec::new());
    walk(dir, dir, &mut files, &mut links)?;
    let all = files.clone();
    let mut scan = Scan { dir, all, files, links, items: Vec::new(), out: Vec::new() };
    scan.run(known, deps)
}

/// What the pack in `dir` needs from a package index: the packages its
/// `requirements.txt` lists, and `requests` when its Python code imports
/// it without listing it.
pub fn needs(dir: &Path) -> Result<Needed, ImportError> {
    let (mut files, mut links) = (BTreeSet::new(), Vec::new());
    walk(dir, dir, &mut files, &mut links)?;
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    let requests = files
        .iter()
        .filter(|f| f.ends_with(".py"))
        .filter_map(|f| read(f))
        .any(|code| requirements::imports(&code).contains("requests"));
    let text = files.contains("requirements.txt").then(|| read("requirements.txt")).flatten();
    Ok(requirements::needed(text.as_deref(), requests))
}

/// Every file under `dir`, relative to `root`; symbolic links apart, in
/// `links`: they are not followed, so that nothing outside the pack is
/// read or copied (and a link to a parent cannot loop).
fn walk(
    root: &Path,
    dir: &Path,
    found: &mut BTreeSet<String>,
    links: &mut Vec<String>,
) -> Result<(), ImportError> {
    let io = |e: std::io::Error| ImportError::new(dir, "(directory)", e.to_string());
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            if !SKIPPED_DIRS.iter().any(|s| name == *s) {
                walk(root, &path, found, links)?;
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
        if kind.is_symlink() {
            links.push(parts.join("/"));
        } else {
            found.insert(parts.join("/"));
        }
    }
    Ok(())
}

pub(super) struct Scan<'a> {
    pub(super) dir: &'a Path,
    /// Every file of the pack, relative to `dir`.
    pub(super) all: BTreeSet<String>,
    /// Symbolic links in the pack, which are reported and not followed.
    pub(super) links: Vec<String>,
    /// Files not yet claimed by an item, relative to `dir`.
    pub(super) files: BTreeSet<String>,
    pub(super) items: Vec<Item>,
    pub(super) out: Vec<(String, Contents)>,
}

pub(super) fn is_yaml(path: &str) -> bool {
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

    fn run(&mut self, known: &Known<'_>, deps: &Dependencies) -> Result<Plan, ImportError> {
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
                Converted::Python(action, module, item) => match self.missing(&module, deps) {
                    // Its module imports a package that is not in the pack.
                    Some(reason) => {
                        Item::not_converted(item.kind, &item.name, &item.source, reason)
                    }
                    None => {
                        python_actions.push(module);
                        actions.push(action);
                        item
                    }
                },
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
        let vendored = self.requirements(deps, python);
        self.rest(python);

        let code: Vec<(String, String)> = self
            .out
            .iter()
            .filter(|(path, _)| path.ends_with(".py") && !path.starts_with("vendor/"))
            .filter_map(|(path, c)| match c {
                Contents::Copy(from) => Some((path.clone(), std::fs::read_to_string(from).ok()?)),
                Contents::Text(_) => None,
            })
            .collect();
        let uses_kv = python
            && code.iter().any(|(_, text)| DATASTORE_CALLS.iter().any(|call| text.contains(call)));
        let mut secrets = BTreeSet::new();
        for (path, text) in code.iter().filter(|_| python) {
            for name in python::secrets_read(&pack.name, text) {
                let note = match check_secret_name(&name) {
                    Ok(()) => {
                        format!(
                            "asks for the secret `{name}`, which {path} reads with decrypt=True"
                        )
                    }
                    Err(why) => format!(
                        "{path} reads `{name}` with decrypt=True, a name a grant cannot give: {why}"
                    ),
                };
                if secrets.insert(name) {
                    self.items[0].notes.push(note);
                }
            }
        }
        secrets.retain(|n: &String| check_secret_name(n).is_ok());
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
                    vendored,
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
            outbound_hosts: match (&config, python) {
                (Some(schema), true) => requirements::default_hosts(schema),
                _ => Vec::new(),
            },
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
        for (host, property) in &manifest.outbound_hosts {
            self.items[0].notes.push(format!(
                "asks for outbound HTTP to {host}, the default of the config's `{property}`"
            ));
        }
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
}

impl Scan<'_> {
    /// Why a Python action cannot convert: its module, or a module of the
    /// pack it imports however indirectly, imports a package of the
    /// requirements that is not in the pack.
    fn missing(&self, module: &python::PythonAction, deps: &Dependencies) -> Option<String> {
        let entry = format!("{}/{}.py", module.dir, module.module);
        for (file, imported) in self.local_imports(&entry, &module.dir) {
            let found = deps.outcomes.iter().find_map(|(requirement, fetched)| {
                let Fetched::Missing(why) = fetched else { return None };
                let name = requirements::modules(&requirement.name)
                    .into_iter()
                    .find(|m| imported.contains(m))?;
                Some(format!(
                    "{file} imports `{name}` ({}), which is not in the pack: {why}",
                    requirement.spec
                ))
            });
            if let Some(found) = found {
                let via = if file == entry { String::new() } else { format!(" (via {entry})") };
                return Some(found + &via);
            }
        }
        None
    }

    /// The top-level imports of `entry` and of every module of the pack it
    /// reaches, file by file from `entry`: a module is found where
    /// StackStorm's Python runner looks for it, beside the action (`dir`)
    /// or in `actions/lib`, as `NAME.py` or a package directory `NAME/`.
    fn local_imports(&self, entry: &str, dir: &str) -> Vec<(String, BTreeSet<String>)> {
        let roots = [dir, "actions/lib"];
        let (mut queue, mut seen) = (vec![entry.to_owned()], BTreeSet::from([entry.to_owned()]));
        let mut found = Vec::new();
        while let Some(file) = queue.pop() {
            let Ok(code) = self.read(&file) else { continue };
            let imported = requirements::imports(&code);
            for name in &imported {
                for root in roots {
                    let module = format!("{root}/{name}.py");
                    let package = format!("{root}/{name}/");
                    let files = self.all.iter().filter(|f| {
                        **f == module || (f.starts_with(&package) && f.ends_with(".py"))
                    });
                    for next in files {
                        if seen.insert(next.clone()) {
                            queue.push(next.clone());
                        }
                    }
                }
            }
            found.push((file, imported));
        }
        found.sort_by(|a, b| (a.0 != entry, &a.0).cmp(&(b.0 != entry, &b.0)));
        found
    }

    /// `requirements.txt` and what was fetched for it: each requirement
    /// an item, the packages fetched copied to `vendor/`. Returns whether
    /// any were.
    fn requirements(&mut self, deps: &Dependencies, python: bool) -> bool {
        let listed = self.files.remove("requirements.txt");
        if listed {
            self.copy("requirements.txt", "requirements.txt");
        }
        if !python {
            if listed {
                self.items.push(Item::copied(
                    "requirements.txt",
                    "the pack has no Python code Squall runs: nothing fetched",
                ));
            }
            return false;
        }
        let mut fetched = BTreeSet::new();
        for (requirement, outcome) in &deps.outcomes {
            let source = if requirement.listed { "requirements.txt" } else { "(code)" };
            let item = match outcome {
                Fetched::Bundled(names) => {
                    fetched.extend(names.iter().cloned());
                    let mut item = Item::converted(Kind::Requirement, &requirement.name, source);
                    item.notes.push(format!(
                        "{}: bundled from {} in {VENDOR}/: {}",
                        requirement.spec,
                        deps.source,
                        names.join(", ")
                    ));
                    item
                }
                Fetched::Missing(why) => Item::not_converted(
                    Kind::Requirement,
                    &requirement.name,
                    source,
                    format!("{}: {why}", requirement.spec),
                ),
            };
            let item = if requirement.listed {
                item
            } else {
                item.note("not in requirements.txt: the pack's Python code imports it")
            };
            self.items.push(item);
        }
        if listed {
            let mut item = Item::converted(Kind::File, "requirements.txt", "requirements.txt");
            item.notes.push(if deps.outcomes.is_empty() {
                "lists no package".to_owned()
            } else {
                format!(
                    "its packages are fetched from {}: each is a `requirement` item",
                    deps.source
                )
            });
            for (line, why) in &deps.skipped {
                item.notes.push(format!("`{line}`: {why}"));
            }
            if !fetched.is_empty() {
                let names: Vec<String> = fetched.into_iter().collect();
                item.notes.push(format!("{VENDOR}/ holds {}, on sys.path", names.join(", ")));
            }
            self.items.push(item);
        }
        let Some(site) = deps.site.as_ref() else { return false };
        let (mut found, mut links) = (BTreeSet::new(), Vec::new());
        if walk(site, site, &mut found, &mut links).is_err() {
            return false;
        }
        let mut any = false;
        for file in found.into_iter().filter(|f| !f.starts_with("bin/")) {
            self.out.push((format!("{VENDOR}/{file}"), Contents::Copy(site.join(&file))));
            any = true;
        }
        any
    }
}

/// The parameters an action declares, runner parameters left out:
/// StackStorm gives each one, `None` when it has no value.
pub(super) fn declared(meta: &ActionMeta, runner: &[&str]) -> Vec<String> {
    meta.parameters.keys().filter(|k| !runner.contains(&k.as_str())).cloned().collect()
}

/// Notes for the `null`s of a schema, which TOML cannot hold.
pub(super) fn null_notes(schema: &Value, what: &str) -> Vec<String> {
    let mut found = Vec::new();
    nulls(schema, "", &mut found);
    found
        .into_iter()
        .map(|at| format!("{what}: `{at}` is null, which pack.toml cannot hold: left out"))
        .collect()
}
