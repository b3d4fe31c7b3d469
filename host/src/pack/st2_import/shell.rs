//! StackStorm's `local-shell-cmd` actions: the command runs with `/bin/sh
//! -c` through the `exec` capability, by the compatibility layer's
//! `register_shell`, which renders the action's parameters into it and
//! answers StackStorm's result. Only `{{ parameter }}` is rendered: a
//! command with other Jinja is reported, not converted.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::ImportError;
use super::metadata::{self, ActionMeta};
use super::python::{PythonScript, PythonShell};
use super::report::{Item, Kind};
use super::toml_text::ManifestAction;

/// The shell every command runs with; what the pack asks to `exec`.
pub const SHELL: &str = "/bin/sh";

/// The local runner's own parameters besides `cmd`: settings of the run,
/// never rendered into the command.
const RUNNER_PARAMETERS: &[&str] = &["cwd", "env", "kwarg_op", "sudo", "sudo_password", "timeout"];

/// A script's runner parameters: the command's and two of its own.
const SCRIPT_RUNNER_PARAMETERS: &[&str] =
    &["cwd", "env", "kwarg_op", "sudo", "sudo_password", "timeout", "debug", "content_version"];

/// StackStorm's local runner's default timeout, in seconds.
const DEFAULT_TIMEOUT_SECONDS: u64 = 60;

/// Time the sandbox gets beyond the command's own timeout, so that the
/// command's kill is what the result reports.
const SANDBOX_MARGIN_SECONDS: u64 = 10;

/// A converted shell command action, or why it is not converted.
pub(super) fn command(
    meta: &ActionMeta,
    file: &str,
    path: &Path,
) -> Result<Result<(ManifestAction, PythonShell, Item), String>, ImportError> {
    let default = |name: &str| meta.parameters.get(name).and_then(|p| p.get("default"));
    if default("sudo") == Some(&Value::Bool(true)) {
        return Ok(Err("sudo: Squall runs no command as another user".into()));
    }
    if let Some(Value::String(cmd)) = default("cmd")
        && let Err(reason) = check_template(cmd)
    {
        return Ok(Err(format!("cmd: {reason}")));
    }
    let (cwd, env) = match settings(meta, path)? {
        Ok(settings) => settings,
        Err(reason) => return Ok(Err(reason)),
    };
    let timeout = timeout(meta, path)?;
    let mut parameters = meta.parameters.clone();
    // `cmd` is the runner's: a run may give it unless the action fixes it.
    let cmd = parameters.entry("cmd").or_insert_with(|| json!({}));
    if let Value::Object(cmd) = cmd {
        cmd.entry("type").or_insert_with(|| "string".into());
    }
    let (schema, mut notes) =
        metadata::schema(&parameters, RUNNER_PARAMETERS, false, path, "parameters")?;
    notes.insert(
        0,
        format!("local-shell-cmd: `cmd` runs with `{SHELL} -c` through the exec capability"),
    );
    let (item, action) = converted(meta, file, notes, schema, timeout, "command");
    let declared = super::scan::declared(meta, RUNNER_PARAMETERS);
    let shell = PythonShell { name: meta.name.clone(), parameters: declared, cwd, env, timeout };
    Ok(Ok((action, shell, item)))
}

/// A converted local-shell-script action, or why it is not converted.
/// `script` is the entry point's text, carried in the entry module.
pub(super) fn script(
    meta: &ActionMeta,
    file: &str,
    path: &Path,
    source: &str,
    script: String,
) -> Result<Result<(ManifestAction, PythonScript, Item), String>, ImportError> {
    let default = |name: &str| meta.parameters.get(name).and_then(|p| p.get("default"));
    if default("sudo") == Some(&Value::Bool(true)) {
        return Ok(Err("sudo: Squall runs no command as another user".into()));
    }
    let argv = match interpreter(&script) {
        Ok(argv) => argv,
        Err(reason) => return Ok(Err(format!("{source}: {reason}"))),
    };
    let shell = argv.iter().take(2).any(|a| SHELLS.contains(&a.rsplit('/').next().unwrap_or(a)));
    let (cwd, env) = match settings(meta, path)? {
        Ok(settings) => settings,
        Err(reason) => return Ok(Err(reason)),
    };
    if !shell && (cwd.is_some() || !env.is_empty()) {
        return Ok(Err(format!(
            "cwd/env: only a shell script ({}) enters a directory or exports variables here",
            SHELLS.join(", ")
        )));
    }
    let kwarg_op = match default("kwarg_op") {
        None | Some(Value::Null) => "--".to_owned(),
        Some(Value::String(op)) => op.clone(),
        Some(other) => {
            let message = format!("expected text such as `--`, got {other}");
            return Err(ImportError::new(path, "parameters.kwarg_op.default", message));
        }
    };
    let timeout = timeout(meta, path)?;
    let mut positions: Vec<(i64, String)> = Vec::new();
    let mut types = Map::new();
    for (name, attributes) in &meta.parameters {
        if SCRIPT_RUNNER_PARAMETERS.contains(&name.as_str()) {
            continue;
        }
        if let Some(kind) = attributes.get("type").and_then(Value::as_str) {
            types.insert(name.clone(), Value::from(kind));
        }
        if let Some(position) = attributes.get("position") {
            let at = position.as_i64().ok_or_else(|| {
                let message = format!("expected a whole number, got {position}");
                ImportError::new(path, &format!("parameters.{name}.position"), message)
            })?;
            positions.push((at, name.clone()));
        }
    }
    positions.sort();
    let (schema, mut notes) =
        metadata::schema(&meta.parameters, SCRIPT_RUNNER_PARAMETERS, false, path, "parameters")?;
    notes.insert(
        0,
        format!(
            "local-shell-script: {source} runs with `{}` through the exec capability",
            argv.join(" ")
        ),
    );
    let (item, action) = converted(meta, file, notes, schema, timeout, "script");
    let python = PythonScript {
        name: meta.name.clone(),
        argv,
        script,
        positional: positions.into_iter().map(|(_, name)| name).collect(),
        types,
        kwarg_op,
        cwd,
        env,
        timeout,
    };
    Ok(Ok((action, python, item)))
}

/// Shells, which run a script's text given with `-c`.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh"];

/// The program (and its first arguments) that runs a script: its `#!`
/// line, else `/bin/sh`, as a shell runs a file without one.
fn interpreter(script: &str) -> Result<Vec<String>, String> {
    let Some(line) = script.lines().next().and_then(|l| l.strip_prefix("#!")) else {
        return Ok(vec![SHELL.to_owned()]);
    };
    let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let program = argv.first().ok_or("the `#!` line names no program")?;
    if !program.starts_with('/') {
        return Err(format!("the `#!` program `{program}` is not an absolute path"));
    }
    let runs = if program.ends_with("/env") { argv.get(1) } else { Some(program) };
    let base = runs.map(|r| r.rsplit('/').next().unwrap_or(r)).unwrap_or_default();
    if SHELLS.contains(&base) || base.starts_with("python") {
        Ok(argv)
    } else {
        Err(format!("scripts for `{base}` are not converted yet (shell and Python scripts are)"))
    }
}

/// The directory a command runs in and the variables it exports.
type Settings = (Option<String>, Map<String, Value>);

/// The `cwd` and `env` defaults the runner parameters set.
fn settings(meta: &ActionMeta, path: &Path) -> Result<Result<Settings, String>, ImportError> {
    let default = |name: &str| meta.parameters.get(name).and_then(|p| p.get("default"));
    let cwd = match default("cwd") {
        None | Some(Value::Null) => None,
        Some(Value::String(cwd)) => Some(cwd.clone()),
        Some(other) => {
            let message = format!("expected a directory, got {other}");
            return Err(ImportError::new(path, "parameters.cwd.default", message));
        }
    };
    let mut env = Map::new();
    if let Some(Value::Object(vars)) = default("env") {
        for (name, value) in vars {
            let identifier =
                name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !identifier {
                return Ok(Err(format!("env: `{name}` is not a variable name a shell exports")));
            }
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            env.insert(name.clone(), Value::String(text));
        }
    }
    Ok(Ok((cwd, env)))
}

/// The runner's `timeout` default, else StackStorm's 60 s.
fn timeout(meta: &ActionMeta, path: &Path) -> Result<u64, ImportError> {
    match meta.parameters.get("timeout").and_then(|p| p.get("default")) {
        None | Some(Value::Null) => Ok(DEFAULT_TIMEOUT_SECONDS),
        Some(t) => t.as_u64().filter(|t| *t > 0).ok_or_else(|| {
            let message = format!("expected a whole number of seconds above zero, got {t}");
            ImportError::new(path, "parameters.timeout.default", message)
        }),
    }
}

/// Whether a command's only Jinja is `{{ name }}`.
fn check_template(cmd: &str) -> Result<(), String> {
    if cmd.contains("{%") || cmd.contains("{#") {
        return Err("uses Jinja statements, which the importer does not render yet".into());
    }
    let mut rest = cmd;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("has a `{{` that is not closed")?;
        let inner = after[..end].trim();
        let identifier = inner.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            return Err(format!(
                "`{{{{ {inner} }}}}` is more Jinja than a parameter's name, which the importer does not render yet"
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// The report item and `pack.toml` action of a shell action that
/// converted: `what` (its command or script) is killed after `timeout`
/// seconds, and the sandbox gets a margin beyond that to report it.
fn converted(
    meta: &ActionMeta,
    file: &str,
    mut notes: Vec<String>,
    schema: Value,
    timeout: u64,
    what: &str,
) -> (Item, ManifestAction) {
    let policy = timeout + SANDBOX_MARGIN_SECONDS;
    notes.push(format!(
        "timeout: the {what} is killed after {timeout} s; the action's policy.timeout is {policy} s"
    ));
    let mut item = Item::converted(Kind::Action, &meta.name, file);
    item.notes = notes;
    let action = ManifestAction {
        name: meta.name.clone(),
        description: meta.description.clone(),
        parameters: schema,
        workflow: None,
        timeout: Some(format!("{policy}s")),
    };
    (item, action)
}

#[cfg(test)]
mod tests {
    use super::check_template;

    #[test]
    fn only_parameter_names_are_rendered() {
        assert!(check_template("echo {{ message }} {{count}}").is_ok());
        assert!(check_template("uptime").is_ok());
        assert!(check_template("echo {{ message | upper }}").is_err());
        assert!(check_template("{% if x %}a{% endif %}").is_err());
        assert!(check_template("echo {{ st2kv.system.x }}").is_err());
    }
}
