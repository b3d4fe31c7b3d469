//! YAQL (`<% %>`) in workflow fields: evaluated by the `squall-yaql`
//! engine with Orquesta's functions (`ctx()`, `result()`, `succeeded()`,
//! `failed()`, `completed()`, `item()`, `task_status()`, `zip()`, `json()`)
//! and StackStorm's (`st2kv('system.KEY')`, `json_dump()`, `regex_match()`,
//! `version_compare()`, …), and checked when a workflow is
//! validated: syntax, unknown functions, the variables and item keys read.

use serde_json::Value;
use squall_yaql::{Expression, Host, Limits};

use super::eval::Scope;
use super::expr::References;

/// Functions workflows add to YAQL's library.
const FUNCTIONS: &[&str] = &[
    "ctx",
    "result",
    "succeeded",
    "failed",
    "completed",
    "item",
    "task_status",
    "task",
    "zip",
    "json",
    "st2kv",
];

/// Whether the host, not yaql's library, answers `name(…)`.
fn is_ours(name: &str) -> bool {
    FUNCTIONS.contains(&name) || crate::rules::ST2_FUNCTIONS.contains(&name)
}

/// The value of one field holding YAQL: a lone expression keeps its type,
/// text around expressions makes a string.
pub(crate) fn text(source: &str, scope: &Scope<'_>) -> Result<Value, String> {
    squall_yaql::render(source, &Value::Null, &Functions(scope), &Limits::default())
        .map_err(|e| format!("`{source}`: {}", e.error))
}

/// Syntax errors and unknown functions in one field's YAQL, and what it
/// reads.
pub(crate) fn check(text: &str) -> (Vec<String>, References) {
    let mut problems = Vec::new();
    let mut references = References::default();
    for span in squall_yaql::spans(text) {
        let expression = match Expression::parse(span.expression) {
            Ok(expression) => expression,
            Err(error) => {
                problems.push(format!("YAQL `{}`: {error}", span.text));
                continue;
            }
        };
        for call in expression.calls() {
            let name = call.name.as_str();
            let ours = !call.method && is_ours(name);
            if !ours && !squall_yaql::is_library_function(name, call.method) {
                let form = if call.method { format!(".{name}()") } else { format!("{name}()") };
                problems.push(format!("YAQL `{}`: unknown function `{form}`", span.text));
                continue;
            }
            let literal = call.args.first().and_then(|a| a.as_ref()).and_then(Value::as_str);
            match (ours, name) {
                (true, "ctx") => match (call.args.is_empty(), literal, &call.key) {
                    (true, _, Some(key)) => {
                        references.variables.insert(key.clone());
                    }
                    (false, Some(variable), _) => {
                        references.variables.insert(variable.to_owned());
                    }
                    _ => {}
                },
                (true, "item") => {
                    references.item = true;
                    if let Some(key) = literal.map(str::to_owned).or_else(|| call.key.clone()) {
                        references.item_keys.insert(key);
                    }
                }
                _ => {}
            }
        }
    }
    (problems, references)
}

/// Orquesta's and StackStorm's functions over one evaluation's scope.
struct Functions<'a>(&'a Scope<'a>);

impl Host for Functions<'_> {
    fn has_function(&self, name: &str) -> bool {
        is_ours(name)
    }

    fn call(
        &self,
        name: &str,
        args: &[Value],
        named: &[(String, Value)],
    ) -> Option<Result<Value, String>> {
        let scope = self.0;
        let first = args.first().and_then(Value::as_str);
        let status_is = |wanted: &[&str]| match scope.status {
            Some(status) => Ok(Value::Bool(wanted.contains(&status))),
            None => Err(format!("{name}() has no value here")),
        };
        Some(match name {
            "ctx" => {
                let ctx = scope.ctx.ok_or_else(|| "ctx() has no value here".to_owned());
                match (ctx, first) {
                    (Err(e), _) => Err(e),
                    (Ok(ctx), None) => Ok(Value::Object(super::eval::visible(ctx).into_owned())),
                    (Ok(_), Some(variable)) if variable.starts_with("__") => {
                        Err(super::eval::private(variable))
                    }
                    (Ok(ctx), Some(variable)) => ctx
                        .get(variable)
                        .cloned()
                        .ok_or_else(|| format!("variable `{variable}` is not in the context")),
                }
            }
            "result" => {
                scope.result.cloned().ok_or_else(|| "result() has no value here".to_owned())
            }
            "succeeded" => status_is(&["succeeded"]),
            "failed" => status_is(&["failed"]),
            "completed" => status_is(&["succeeded", "failed"]),
            "item" => match (scope.item, first) {
                (None, _) => Err("item() outside with-items".to_owned()),
                (Some(item), None) => Ok(item.clone()),
                (Some(item), Some(key)) => {
                    item.get(key).cloned().ok_or_else(|| format!("the item has no key `{key}`"))
                }
            },
            "task" => match scope.tasks {
                Some(tasks) => tasks.record(first, scope.task),
                None => Err("task() has no value here".to_owned()),
            },
            "task_status" => {
                let task = first.unwrap_or_default();
                let status = scope.tasks.and_then(|t| t.statuses.get(task));
                Ok(Value::String(status.map_or(super::eval::UNSET, String::as_str).to_owned()))
            }
            // Orquesta's zip pads the shorter lists (with null, or `pad`).
            "zip" => {
                let pad = named.iter().find(|(k, _)| k == "pad").map(|(_, v)| v.clone());
                super::eval::zip_longest(args, pad.unwrap_or(Value::Null))
            }
            "json" => match first {
                Some(text) => serde_json::from_str(text).map_err(|e| format!("json(): {e}")),
                None => Err("json() takes a string".to_owned()),
            },
            "st2kv" => st2kv(scope, first, named),
            // StackStorm's functions (`json_dump`, `regex_match`, …).
            _ => return crate::rules::st2_function(name, args, named),
        })
    }
}

/// `st2kv('system.KEY')`, as the Jinja function has it (`decrypt=true`
/// refused: a decrypted secret would be stored in the workflow's context).
fn st2kv(scope: &Scope<'_>, key: Option<&str>, named: &[(String, Value)]) -> Result<Value, String> {
    if named.iter().any(|(k, v)| k == "decrypt" && v == &Value::Bool(true)) {
        return Err("st2kv: decrypt=true is not supported; a pack reads secrets through its `secrets` capability".to_owned());
    }
    let key = key.ok_or_else(|| "st2kv() takes a key".to_owned())?;
    let name = key.strip_prefix("system.").ok_or_else(|| {
        format!("st2kv: `{key}`: expected a key of the system scope, `system.NAME`")
    })?;
    let kv = scope.kv.ok_or_else(|| "st2kv: no datastore here".to_owned())?;
    kv.get(name)
        .map(Value::String)
        .ok_or_else(|| format!("st2kv: the datastore has no key `{name}`"))
}
