//! Evaluating workflow expressions: the minijinja environment with
//! Orquesta's functions (`ctx()`, `result()`, `succeeded()`, `failed()`,
//! `completed()`, `item()`, `task_status()`, `zip()`, `json()`, and
//! StackStorm's `st2kv('system.KEY')` when the caller gives a datastore), and the
//! typing rule: a value that is exactly one `{{ expression }}` keeps the
//! type the expression computes, text mixed with expressions renders as a
//! string (values printed the way Python prints them, as Orquesta does).
//! YAQL (`<% %>`) is evaluated by `yaql.rs` with the same functions.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use minijinja::value::Rest;
use minijinja::{Environment, Error, ErrorKind, State, Value as Jinja};
use serde_json::{Map, Value};

use super::expr::{check_one_language, has_expression};
use crate::rules::{BoundedTemplate, Datastore};

/// What an expression sees besides the workflow variables: the task it is
/// evaluated for (its name, status and result), the current item, and the
/// other tasks' executions (for `task_status()` and `task()`).
#[derive(Default, Clone)]
pub(crate) struct Scope<'a> {
    pub ctx: Option<&'a Map<String, Value>>,
    pub task: Option<&'a str>,
    pub status: Option<&'a str>,
    pub result: Option<&'a Value>,
    pub item: Option<&'a Value>,
    pub tasks: Option<&'a Tasks>,
    /// The datastore `st2kv()` reads; without one, `st2kv()` is an error.
    pub kv: Option<&'a Arc<dyn Datastore>>,
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("ctx", &self.ctx)
            .field("status", &self.status)
            .field("item", &self.item)
            .field("kv", &self.kv.is_some())
            .finish_non_exhaustive()
    }
}

/// The tasks' executions as one route sees them.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    /// Each task's recorded status (`task_status()`).
    pub statuses: BTreeMap<String, String>,
    /// StackStorm's record of each task's execution (`task()`); built only
    /// for workflows that call `task()`, since it copies every result.
    pub details: Option<BTreeMap<String, Value>>,
}

impl Tasks {
    /// StackStorm's `task(name)`: the record of the task's last execution
    /// (the current task's when `name` is none).
    pub(crate) fn record(
        &self,
        name: Option<&str>,
        current: Option<&str>,
    ) -> Result<Value, String> {
        let name = name.or(current).ok_or("task() without a name outside a task")?;
        self.details
            .as_ref()
            .and_then(|details| details.get(name))
            .cloned()
            .ok_or_else(|| format!("task(): unable to find task execution for `{name}`"))
    }
}

/// The datastore as the `st2kv()` function reads it.
struct KvReader(Arc<dyn Datastore>);

impl std::fmt::Debug for KvReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvReader")
    }
}

impl minijinja::value::Object for KvReader {
    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        self.0.get(key.as_str()?).map(Jinja::from)
    }
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // StackStorm's Jinja, as rules have it: undefined is an error, values
    // inside text print the way Python prints them, StackStorm's filters.
    crate::rules::configure_jinja(&mut env);
    env.add_function("ctx", ctx);
    env.add_function("result", |state: &State<'_, '_>| lookup(state, "__result"));
    env.add_function("succeeded", |state: &State<'_, '_>| status_is(state, &["succeeded"]));
    env.add_function("failed", |state: &State<'_, '_>| status_is(state, &["failed"]));
    env.add_function("completed", |state: &State<'_, '_>| {
        status_is(state, &["succeeded", "failed"])
    });
    env.add_function("item", item);
    env.add_function("task_status", |state: &State<'_, '_>, task: &str| {
        let statuses = lookup(state, "__statuses")?;
        let status = statuses.get_attr(task).unwrap_or(Jinja::UNDEFINED);
        Ok::<_, Error>(if status.is_undefined() { Jinja::from(UNSET) } else { status })
    });
    env.add_function("task", |state: &State<'_, '_>, name: Option<&str>| {
        let details = lookup(state, "__task_details")?;
        let current = state.lookup("__task");
        let name = match (name, current.as_ref().and_then(|c| c.as_str())) {
            (Some(name), _) | (None, Some(name)) => name.to_owned(),
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "task() without a name outside a task",
                ));
            }
        };
        match details.get_attr(&name) {
            Ok(record) if !record.is_undefined() => Ok(record),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("task(): unable to find task execution for `{name}`"),
            )),
        }
    });
    env.add_function("zip", |lists: Rest<Jinja>, options: minijinja::value::Kwargs| {
        let pad: Option<Jinja> = options.get("pad")?;
        options.assert_all_used()?;
        let lists: Vec<Value> = lists
            .iter()
            .map(|list| {
                serde_json::to_value(list)
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("zip(): {e}")))
            })
            .collect::<Result<_, _>>()?;
        let pad = pad
            .map(|p| serde_json::to_value(&p))
            .transpose()
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("zip(): {e}")))?;
        zip_longest(&lists, pad.unwrap_or(Value::Null))
            .map(Jinja::from_serialize)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
    });
    env.add_function("st2kv", st2kv);
    env.add_function("json", |text: &str| {
        serde_json::from_str::<Value>(text)
            .map(Jinja::from_serialize)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("json(): {e}")))
    });
    env.add_filter("json", |text: &str| {
        serde_json::from_str::<Value>(text)
            .map(Jinja::from_serialize)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("json: {e}")))
    });
    env
});

fn lookup(state: &State<'_, '_>, name: &str) -> Result<Jinja, Error> {
    match state.lookup(name) {
        Some(value) if !value.is_undefined() => Ok(value),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{}() has no value here", name.trim_start_matches('_')),
        )),
    }
}

fn ctx(state: &State<'_, '_>, name: Option<&str>) -> Result<Jinja, Error> {
    let ctx = lookup(state, "__ctx")?;
    let Some(name) = name else { return Ok(ctx) };
    if name.starts_with("__") {
        return Err(Error::new(ErrorKind::InvalidOperation, private(name)));
    }
    match ctx.get_attr(name) {
        Ok(value) if !value.is_undefined() => Ok(value),
        _ => Err(Error::new(
            ErrorKind::UndefinedError,
            format!("variable `{name}` is not in the context"),
        )),
    }
}

fn item(state: &State<'_, '_>, key: Option<&str>) -> Result<Jinja, Error> {
    let item = state
        .lookup("__item")
        .filter(|v| !v.is_undefined())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "item() outside with-items"))?;
    let Some(key) = key else { return Ok(item) };
    match item.get_attr(key) {
        Ok(value) if !value.is_undefined() => Ok(value),
        _ => Err(Error::new(ErrorKind::UndefinedError, format!("the item has no key `{key}`"))),
    }
}

/// StackStorm's `st2kv('system.KEY')`: the value of a system-scope
/// datastore key. `decrypt=true` is refused: a decrypted secret would be
/// stored in the workflow's context and shown with its executions; packs
/// read secrets through their `secrets` capability instead.
fn st2kv(
    state: &State<'_, '_>,
    key: &str,
    options: minijinja::value::Kwargs,
) -> Result<Jinja, Error> {
    let decrypt: Option<bool> = options.get("decrypt")?;
    options.assert_all_used()?;
    if decrypt == Some(true) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "st2kv: decrypt=true is not supported; a pack reads secrets through its `secrets` capability",
        ));
    }
    let Some(name) = key.strip_prefix("system.") else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("st2kv: `{key}`: expected a key of the system scope, `system.NAME`"),
        ));
    };
    let kv = state
        .lookup("__kv")
        .filter(|v| !v.is_undefined())
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "st2kv: no datastore here"))?;
    let value = kv.get_attr(name)?;
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("st2kv: the datastore has no key `{name}`"),
        ));
    }
    Ok(value)
}

/// Orquesta's status of a task with no execution on the route (`UNSET`).
pub(crate) const UNSET: &str = "null";

/// Orquesta's `zip`: lists padded to the longest with `pad` (null unless
/// given), a lone list returned as it is, null taken as an empty list.
pub(crate) fn zip_longest(lists: &[Value], pad: Value) -> Result<Value, String> {
    if let [only] = lists {
        return Ok(if only.is_null() { Value::Array(Vec::new()) } else { only.clone() });
    }
    let empty = Vec::new();
    let lists: Vec<&Vec<Value>> = lists
        .iter()
        .map(|list| match list {
            Value::Null => Ok(&empty),
            Value::Array(items) => Ok(items),
            other => Err(format!("zip() takes lists, not {other}")),
        })
        .collect::<Result<_, _>>()?;
    let longest = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    Ok(Value::Array(
        (0..longest)
            .map(|i| {
                Value::Array(
                    lists.iter().map(|l| l.get(i).cloned().unwrap_or(pad.clone())).collect(),
                )
            })
            .collect(),
    ))
}

/// What `ctx()` shows of a context: every key but the private (double
/// underscore) ones, borrowed when there are none.
pub(crate) fn visible(ctx: &Map<String, Value>) -> std::borrow::Cow<'_, Map<String, Value>> {
    if !ctx.keys().any(|k| k.starts_with("__")) {
        return std::borrow::Cow::Borrowed(ctx);
    }
    std::borrow::Cow::Owned(
        ctx.iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Why `ctx('__name')` is refused, as Orquesta words it.
pub(crate) fn private(name: &str) -> String {
    format!("variable `{name}` is private (double underscore) and cannot be read")
}

fn status_is(state: &State<'_, '_>, wanted: &[&str]) -> Result<bool, Error> {
    let status = lookup(state, "__status")?;
    Ok(status.as_str().is_some_and(|s| wanted.contains(&s)))
}

fn variables(scope: &Scope<'_>) -> Jinja {
    let mut vars: BTreeMap<&str, Jinja> = BTreeMap::new();
    if let Some(ctx) = scope.ctx {
        vars.insert("__ctx", Jinja::from_serialize(visible(ctx)));
    }
    if let Some(status) = scope.status {
        vars.insert("__status", Jinja::from(status));
    }
    if let Some(result) = scope.result {
        vars.insert("__result", Jinja::from_serialize(result));
    }
    if let Some(item) = scope.item {
        vars.insert("__item", Jinja::from_serialize(item));
    }
    if let Some(task) = scope.task {
        vars.insert("__task", Jinja::from(task));
    }
    if let Some(tasks) = scope.tasks {
        vars.insert("__statuses", Jinja::from_serialize(&tasks.statuses));
        if let Some(details) = &tasks.details {
            vars.insert("__task_details", Jinja::from_serialize(details));
        }
    }
    if let Some(kv) = scope.kv {
        vars.insert("__kv", Jinja::from_object(KvReader(Arc::clone(kv))));
    }
    Jinja::from_iter(vars)
}

/// How deep a string result is rendered again, as Orquesta expands a
/// string that an expression yields (the YAQL engine has the same bound).
const MAX_RENDER_DEPTH: usize = 16;

/// The value of one text field: unchanged without expressions, typed when
/// it is exactly one `{{ expression }}` (nothing around it, not even a
/// space), otherwise rendered to a string. A string result holding
/// expressions is rendered again, as Orquesta does.
pub(crate) fn text(source: &str, scope: &Scope<'_>) -> Result<Value, String> {
    if !has_expression(source) {
        return Ok(Value::String(source.to_owned()));
    }
    check_one_language(source)?;
    if source.contains("<%") {
        return super::yaql::text(source, scope);
    }
    jinja(source, &variables(scope), 0)
}

fn jinja(source: &str, vars: &Jinja, depth: usize) -> Result<Value, String> {
    if depth >= MAX_RENDER_DEPTH {
        return Err(format!(
            "`{}`: a string result was rendered again {MAX_RENDER_DEPTH} times; the limit is {MAX_RENDER_DEPTH}",
            source.trim()
        ));
    }
    // Compiled through the rules' byte budget: a render may not build
    // more than `RENDER_BYTES` however it is written.
    let value = if let Some(inner) = single_expression(source) {
        let expression =
            BoundedTemplate::expression(inner.to_owned()).map_err(|e| describe(source, &e))?;
        let value = expression
            .eval(&ENV, vars.clone(), |value| {
                if value.is_undefined() {
                    return Ok(None);
                }
                crate::rules::charge_json(&value)?;
                Ok(Some(value))
            })
            .map_err(|e| describe(source, &e))?;
        let Some(value) = value else { return Err(format!("`{source}`: undefined value")) };
        serde_json::to_value(&value).map_err(|e| format!("`{source}`: {e}"))?
    } else {
        BoundedTemplate::template("<field>", source.to_owned())
            .and_then(|template| template.render(&ENV, vars.clone()))
            .map(Value::String)
            .map_err(|e| describe(source, &e))?
    };
    match value {
        Value::String(text) if text.contains("{{") || text.contains("{%") => {
            jinja(&text, vars, depth + 1)
        }
        other => Ok(other),
    }
}

/// [`text`] applied to every string inside a JSON value.
pub(crate) fn value(value: &Value, scope: &Scope<'_>) -> Result<Value, String> {
    Ok(match value {
        Value::String(source) => text(source, scope)?,
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| self::value(v, scope)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), self::value(v, scope)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn describe(source: &str, error: &Error) -> String {
    let detail = error.detail().map_or_else(|| error.kind().to_string(), ToString::to_string);
    format!("`{}`: {}", source.trim(), detail.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The expression when the text is exactly one `{{ … }}`: Orquesta keeps
/// the type only when the expression is the whole text.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim_start_matches('-').trim_end_matches('-').trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_expressions_keep_their_type_and_text_renders() {
        let ctx = json!({"n": 2, "xs": ["a", "b"], "flag": true});
        let ctx = ctx.as_object().expect("a map");
        let result = json!({"code": 200});
        let scope = Scope {
            ctx: Some(ctx),
            status: Some("succeeded"),
            result: Some(&result),
            ..Scope::default()
        };
        assert_eq!(text("<% ctx(n) + 1 %>", &scope), Ok(json!(3)));
        assert_eq!(text("{{ ctx('xs') }}", &scope), Ok(json!(["a", "b"])));
        assert_eq!(text("n={{ ctx().n }} {{ ctx('xs') }}", &scope), Ok(json!("n=2 ['a', 'b']")));
        assert_eq!(text("<% result().code = 200 and succeeded() %>", &scope), Ok(json!(true)));
        // Orquesta's zip is zip_longest, padded with null or `pad`.
        assert_eq!(
            text("{{ zip([1, 2], ['a', 'b', 'c']) }}", &scope),
            Ok(json!([[1, "a"], [2, "b"], [null, "c"]]))
        );
        assert_eq!(text("{{ zip([1], [2, 3], pad=0) }}", &scope), Ok(json!([[1, 2], [0, 3]])));
        assert_eq!(text("<% zip([1], [2, 3], pad => 0) %>", &scope), Ok(json!([[1, 2], [0, 3]])));
        // Anything around the one expression, even a space, makes a string.
        assert_eq!(text(" {{ ctx().n }}", &scope), Ok(json!(" 2")));
        assert_eq!(text("{{ ctx().n }} ", &scope), Ok(json!("2 ")));
        assert_eq!(text(" <% ctx(n) %>", &scope), Ok(json!(" 2")));
        assert_eq!(text("{{ json('{\"a\": 1}').a }}", &scope), Ok(json!(1)));
        assert_eq!(text("{{ ctx('flag') }} it is", &scope), Ok(json!("True it is")));
        assert!(text("{{ ctx('nope') }}", &scope).is_err());
        // A string result holding an expression is rendered again.
        let nested = json!({"inner": "{{ ctx().n * 10 }}", "n": 2});
        let nested = Scope { ctx: nested.as_object(), ..Scope::default() };
        assert_eq!(text("{{ ctx().inner }}", &nested), Ok(json!(20)));
        let looping = json!({"me": "{{ ctx().me }}"});
        let looping = Scope { ctx: looping.as_object(), ..Scope::default() };
        assert!(text("{{ ctx().me }}", &looping).is_err_and(|e| e.contains("rendered again")));
        assert!(text("{{ item() }}", &scope).is_err());
    }
}
