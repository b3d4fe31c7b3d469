//! The embedding host's hook: it supplies the functions YAQL itself does
//! not have (Orquesta's `ctx()`, `task()`, `result()`, …, StackStorm's
//! `st2kv()`, …). `$` is given to [`evaluate`](crate::evaluate) directly.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// Functions the host adds to YAQL's library.
///
/// ```
/// use serde_json::{Value, json};
/// use squall_yaql::{Host, Limits, render};
///
/// /// Orquesta's view of one task: its variables, status and result.
/// struct Task {
///     vars: serde_json::Map<String, Value>,
///     status: &'static str,
///     result: Value,
/// }
///
/// impl Host for Task {
///     fn call(&self, name: &str, args: &[Value], _: &[(String, Value)]) -> Option<Result<Value, String>> {
///         Some(match (name, args) {
///             ("ctx", []) => Ok(Value::Object(self.vars.clone())),
///             ("ctx", [Value::String(key)]) => {
///                 self.vars.get(key).cloned().ok_or_else(|| format!("variable '{key}' is undefined"))
///             }
///             ("succeeded", []) => Ok(Value::Bool(self.status == "succeeded")),
///             ("result", []) => Ok(self.result.clone()),
///             _ => return None,
///         })
///     }
///
///     fn has_function(&self, name: &str) -> bool {
///         matches!(name, "ctx" | "succeeded" | "result")
///     }
/// }
///
/// let task = Task {
///     vars: json!({"hosts": ["a", "b"]}).as_object().cloned().unwrap_or_default(),
///     status: "succeeded",
///     result: json!({"stdout": "ok"}),
/// };
/// // Orquesta gives `$` no value: null.
/// let limits = Limits::default();
/// let when = render("<% succeeded() and result().stdout = 'ok' %>", &Value::Null, &task, &limits);
/// assert_eq!(when, Ok(json!(true)));
/// let text = render("hosts: <% ctx(hosts).join(', ') %>", &Value::Null, &task, &limits);
/// assert_eq!(text, Ok(json!("hosts: a, b")));
/// ```
///
/// A call `name(args)` written as a function (not as a method `x.name()`)
/// is offered to the host first; the host answers `None` for a name it does
/// not know, and the standard library's function of that name (if any) is
/// used. Arguments arrive evaluated: a bare name argument (`ctx(x)`) is the
/// string `"x"`; `key => value` arguments arrive in `named` in order.
pub trait Host {
    /// Calls `name`; `None` when the host has no such function.
    fn call(
        &self,
        name: &str,
        args: &[Value],
        named: &[(String, Value)],
    ) -> Option<Result<Value, String>>;

    /// Whether the host has `name`, asked before the arguments are
    /// evaluated (so an unknown function is reported as such, not as an
    /// error in its arguments). The default says yes and lets
    /// [`call`](Host::call) decide.
    fn has_function(&self, name: &str) -> bool {
        let _ = name;
        true
    }
}

/// A host with no functions.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn call(&self, _: &str, _: &[Value], _: &[(String, Value)]) -> Option<Result<Value, String>> {
        None
    }

    fn has_function(&self, _: &str) -> bool {
        false
    }
}

/// A host function: positional and named arguments to a value or a message.
pub type HostFn = Box<dyn Fn(&[Value], &[(String, Value)]) -> Result<Value, String>>;

/// A host made of named closures, for tests and simple embeddings.
#[derive(Default)]
pub struct MapHost {
    functions: BTreeMap<String, HostFn>,
}

impl fmt::Debug for MapHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapHost")
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MapHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the function `name`.
    pub fn with(
        mut self,
        name: &str,
        function: impl Fn(&[Value], &[(String, Value)]) -> Result<Value, String> + 'static,
    ) -> Self {
        self.functions.insert(name.to_owned(), Box::new(function));
        self
    }

    /// Adds Orquesta's `ctx()` over `vars`: `ctx()` is every variable,
    /// `ctx(name)` one (an error when it does not exist).
    pub fn with_ctx(self, vars: serde_json::Map<String, Value>) -> Self {
        self.with("ctx", move |args, _| match args {
            [] => Ok(Value::Object(vars.clone())),
            [Value::String(name)] => {
                vars.get(name).cloned().ok_or_else(|| format!("variable '{name}' is not defined"))
            }
            _ => Err("takes at most one variable name".into()),
        })
    }
}

impl Host for MapHost {
    fn call(
        &self,
        name: &str,
        args: &[Value],
        named: &[(String, Value)],
    ) -> Option<Result<Value, String>> {
        self.functions.get(name).map(|f| f(args, named))
    }

    fn has_function(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }
}
