//! StackStorm's `local-shell-cmd` actions: the command runs with `/bin/sh
//! -c` through the `exec` capability, by the compatibility layer's
//! `register_shell`, which renders the action's parameters into it and
//! answers StackStorm's result. Only `{{ parameter }}` is rendered: a
//! command with other Jinja is reported, not converted.

use std::path::Path;

use serde_json::{Map, Value, json};

use super::ImportError;
use super::metadata::{self, ActionMeta};
use super::python::PythonShell;
use super::report::{Item, Kind};
use super::toml_text::ManifestAction;

/// The shell every command runs with; what the pack asks to `exec`.
pub const SHELL: &str = "/bin/sh";

/// The local runner's own parameters besides `cmd`: settings of the run,
/// never rendered into the command.
const RUNNER_PARAMETERS: &[&str] = &["cwd", "env", "kwarg_op", "sudo", "sudo_password", "timeout"];

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
    let timeout = match default("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SECONDS,
        Some(t) => t.as_u64().filter(|t| *t > 0).ok_or_else(|| {
            let message = format!("expected a whole number of seconds above zero, got {t}");
            ImportError::new(path, "parameters.timeout.default", message)
        })?,
    };
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
    notes.push(format!(
        "timeout: the command is killed after {timeout} s; the action's policy.timeout is {} s",
        timeout + SANDBOX_MARGIN_SECONDS
    ));
    let mut item = Item::converted(Kind::Action, &meta.name, file);
    item.notes = notes;
    let action = ManifestAction {
        name: meta.name.clone(),
        description: meta.description.clone(),
        parameters: schema,
        workflow: None,
        timeout: Some(format!("{}s", timeout + SANDBOX_MARGIN_SECONDS)),
    };
    let shell = PythonShell { name: meta.name.clone(), cwd, env, timeout };
    Ok(Ok((action, shell, item)))
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
