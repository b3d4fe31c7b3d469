//! One StackStorm action's metadata turned into a Squall action by its
//! runner: `python-script` through the compatibility layer, `orquesta`
//! carried over as a workflow, the local shell runners through `exec`
//! (`shell.rs`); any other runner reported with the reason.

use std::collections::BTreeSet;
use std::path::Path;

use super::ImportError;
use super::metadata::{self, ActionMeta, PYTHON_RUNNER_PARAMETERS};
use super::python::{PythonAction, PythonScript, PythonShell};
use super::report::{Item, Kind};
use super::scan::{Scan, declared, is_yaml, null_notes};
use super::toml_text::ManifestAction;

/// The action-chain runner's own parameters, which are not the chain's.
const CHAIN_RUNNER_PARAMETERS: &[&str] = &["skip_notify", "display_published"];

/// StackStorm's Python runner's default timeout, in seconds.
const PYTHON_TIMEOUT_SECONDS: u64 = 600;

impl Scan<'_> {
    /// The file under `actions/` that an action's `entry_point` names;
    /// `entry` is None when it is missing or not what the runner reads, and
    /// the error then says what was `expected`.
    fn entry_file(
        &self,
        entry: Option<&str>,
        path: &Path,
        expected: &str,
    ) -> Result<String, ImportError> {
        let Some(entry) = entry else {
            return Err(ImportError::new(path, "entry_point", format!("expected {expected}")));
        };
        let source = format!("actions/{entry}");
        if !self.all.contains(&source) {
            return Err(ImportError::new(
                path,
                "entry_point",
                format!("`{entry}` is not a file in actions/"),
            ));
        }
        Ok(source)
    }

    pub(super) fn action(
        &mut self,
        file: &str,
        meta: &ActionMeta,
        taken: bool,
        workflow_files: &mut BTreeSet<String>,
    ) -> Result<Converted, ImportError> {
        let kind = if meta.runner == "orquesta" { Kind::Workflow } else { Kind::Action };
        let no =
            |reason: String| Ok(Converted::No(Item::not_converted(kind, &meta.name, file, reason)));
        if let Err(message) = crate::limits::check_resource_name(&meta.name) {
            return no(format!("name: Squall refuses this action name: {message}"));
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
                let entry = meta.entry_point.as_deref().filter(|e| e.ends_with(".py"));
                let source =
                    self.entry_file(entry, &path, "the action's Python file, e.g. `my_action.py`")?;
                self.files.remove(&source);
                let (dir, module) = match source.rsplit_once('/') {
                    Some((dir, name)) => (dir.to_owned(), name.trim_end_matches(".py").to_owned()),
                    None => ("actions".to_owned(), source.clone()),
                };
                let (parameters, mut notes) = metadata::schema(
                    &meta.parameters,
                    PYTHON_RUNNER_PARAMETERS,
                    false,
                    &path,
                    "parameters",
                )?;
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
                item.notes.insert(
                    0,
                    format!(
                        "python-script: {source} runs through the StackStorm compatibility layer"
                    ),
                );
                let action = ManifestAction {
                    name: meta.name.clone(),
                    description: meta.description.clone(),
                    parameters,
                    workflow: None,
                    timeout: Some(format!("{timeout}s")),
                };
                Ok(Converted::Python(
                    action,
                    PythonAction {
                        name: meta.name.clone(),
                        dir,
                        module,
                        parameters: declared(meta, PYTHON_RUNNER_PARAMETERS),
                    },
                    item,
                ))
            }
            "orquesta" => {
                let source = self.entry_file(
                    meta.entry_point.as_deref(),
                    &path,
                    "the workflow's file, e.g. `workflows/my_workflow.yaml`",
                )?;
                let base = match workflow_base(&source) {
                    Ok(base) => base,
                    Err(reason) => return no(reason),
                };
                if !workflow_files.insert(base.clone()) {
                    return no(format!(
                        "entry_point: another workflow's file is also named `{base}`; Squall keeps workflows by file name"
                    ));
                }
                let text = self.read(&source)?;
                let loaded = match crate::workflow::load(&text, &source) {
                    Ok(loaded) => loaded,
                    Err(invalid) => {
                        let first = invalid
                            .diagnostics
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        return no(format!(
                            "{source}: Squall's workflow checks refuse it: {first}"
                        ));
                    }
                };
                // Tasks whose action is written out (not an expression).
                let calls: Vec<(String, String)> = loaded
                    .tasks
                    .iter()
                    .filter_map(|t| Some((t.name.clone(), t.action.clone()?)))
                    .filter_map(|(task, action)| {
                        let reference = action.split_whitespace().next()?.to_owned();
                        let plain = crate::limits::split_ref(&reference).is_some()
                            && !reference.contains(['{', '<', '%']);
                        plain.then_some((task, reference))
                    })
                    .collect();
                let (parameters, mut notes) =
                    metadata::schema(&meta.parameters, &[], false, &path, "parameters")?;
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
                    return Err(ImportError::new(
                        &path,
                        "entry_point",
                        "expected the action's script, e.g. `my_script.sh`".into(),
                    ));
                };
                let source = format!("actions/{entry}");
                if !self.all.contains(&source) {
                    return Err(ImportError::new(
                        &path,
                        "entry_point",
                        format!("`{entry}` is not a file in actions/"),
                    ));
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
            "action-chain" => {
                let source = self.entry_file(
                    meta.entry_point.as_deref(),
                    &path,
                    "the chain's file, e.g. `chains/my_chain.yaml`",
                )?;
                let base = match workflow_base(&source) {
                    Ok(base) => base,
                    Err(reason) => return no(reason),
                };
                let inputs = declared(meta, CHAIN_RUNNER_PARAMETERS);
                let (yaml, calls) = match super::chain::convert(&self.read(&source)?, &inputs) {
                    Ok(converted) => converted,
                    Err(reason) => {
                        return no(format!(
                            "{source}: action-chain not converted to Orquesta: {reason}"
                        ));
                    }
                };
                if let Err(invalid) = crate::workflow::load(&yaml, &source) {
                    let first =
                        invalid.diagnostics.first().map(ToString::to_string).unwrap_or_default();
                    return no(format!(
                        "{source}: its conversion to Orquesta does not pass Squall's checks: {first}"
                    ));
                }
                if !workflow_files.insert(base.clone()) {
                    return no(format!(
                        "entry_point: another workflow's file is also named `{base}`; Squall keeps workflows by file name"
                    ));
                }
                let (parameters, mut notes) = metadata::schema(
                    &meta.parameters,
                    CHAIN_RUNNER_PARAMETERS,
                    false,
                    &path,
                    "parameters",
                )?;
                notes.extend(null_notes(&parameters, "parameters"));
                let target = format!("workflows/{base}");
                notes.insert(0, format!("action-chain: {source} converted to Orquesta as {target}: each node a task publishing its result under its name; the execution's result is Orquesta's, not the chain's list of tasks"));
                self.out.push((target.clone(), super::Contents::Text(yaml)));
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
            other => {
                no(format!("runner_type `{other}`: Squall has no counterpart for this runner yet"))
            }
        }
    }
}

pub(super) enum Converted {
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

/// The file name a workflow read from `source` is kept under, or why it
/// cannot be: Squall reads workflows from `.yaml` files.
fn workflow_base(source: &str) -> Result<String, String> {
    let base = source.rsplit('/').next().unwrap_or(source).to_owned();
    if !is_yaml(&base) || base.starts_with('.') {
        let entry = source.strip_prefix("actions/").unwrap_or(source);
        return Err(format!(
            "entry_point: Squall reads workflows from `.yaml` files, not `{entry}`"
        ));
    }
    Ok(base)
}
