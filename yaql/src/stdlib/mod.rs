//! yaql's standard library, the parts Orquesta workflows use. Each
//! function is written in one of yaql's three calling forms: a function
//! (`len(x)`), a method (`x.select(…)`), or both (an "extension method").

use serde_json::Value;

use crate::ast::Expr;
use crate::error::Result;
use crate::eval::{Call, Ev, Val};
use crate::value::{Num, type_name};

mod collections;
mod core;
pub(crate) mod dates;
mod endless;
mod math;
mod ordering;
mod queries;
pub(crate) mod regex;

pub(crate) use endless::{is_endless, take_endless};
pub(crate) use ordering::ordered;
mod strings;

/// Methods that take a set as it is; any other call sees a set as a list.
pub(crate) const SET_METHODS: &[&str] =
    &["union", "intersect", "difference", "symmetricDifference", "add", "remove"];

/// How a library function may be called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// Only as `name(args)`.
    Function,
    /// Only as `receiver.name(args)`.
    Method,
    /// Both; as a function, the first argument is the receiver.
    Both,
    /// Both, and the function sorts out the forms itself (the receiver is
    /// `None` when called as a function).
    Raw,
}

pub(crate) type Run = fn(&mut Ev<'_>, &Call<'_>) -> Result<Val>;

#[derive(Clone, Copy)]
pub(crate) struct Builtin {
    pub form: Form,
    pub run: Run,
}

/// The library function `name`, if yaql has one.
pub(crate) fn find(name: &str) -> Option<Builtin> {
    let (form, run) = core::find(name)
        .or_else(|| strings::find(name))
        .or_else(|| math::find(name))
        .or_else(|| collections::find(name))
        .or_else(|| queries::find(name))
        .or_else(|| regex::find(name))
        .or_else(|| dates::find(name))?;
    Some(Builtin { form, run })
}

pub(crate) fn data(v: Value) -> Result<Val> {
    Ok(Val::Data(v))
}

/// Evaluates a string argument.
pub(crate) fn string(ev: &mut Ev<'_>, c: &Call<'_>, expr: &Expr) -> Result<String> {
    match ev.value(expr, c.scope)? {
        Value::String(s) => Ok(s),
        other => Err(c.fail(format!("expected a string, got {}", type_name(&other)))),
    }
}

/// Evaluates an optional string argument (`null` allowed).
pub(crate) fn opt_string(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    expr: Option<&Expr>,
) -> Result<Option<String>> {
    let Some(expr) = expr else { return Ok(None) };
    match ev.value(expr, c.scope)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(c.fail(format!("expected a string, got {}", type_name(&other)))),
    }
}

/// Evaluates an integer argument (a boolean counts, as in Python).
pub(crate) fn int(ev: &mut Ev<'_>, c: &Call<'_>, expr: &Expr) -> Result<i64> {
    let v = ev.value(expr, c.scope)?;
    as_int(c, &v)
}

pub(crate) fn as_int(c: &Call<'_>, v: &Value) -> Result<i64> {
    match (v, Num::of(v)) {
        (Value::Bool(b), _) => Ok(i64::from(*b)),
        (_, Some(Num::Int(i))) => Ok(i),
        _ => Err(c.fail(format!("expected an integer, got {}", type_name(v)))),
    }
}

pub(crate) fn opt_int(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    expr: Option<&Expr>,
    default: i64,
) -> Result<i64> {
    match expr {
        Some(expr) => int(ev, c, expr),
        None => Ok(default),
    }
}

/// The receiver as a collection: a list (yaql's iterables exclude strings
/// and dictionaries).
pub(crate) fn receiver_list(c: &Call<'_>) -> Result<Vec<Value>> {
    match c.data()? {
        Value::Array(items) => Ok(items.clone()),
        other => Err(c.fail(format!("expected a list, got {}", type_name(other)))),
    }
}

/// Evaluates a collection argument.
pub(crate) fn list(ev: &mut Ev<'_>, c: &Call<'_>, expr: &Expr) -> Result<Vec<Value>> {
    match ev.value(expr, c.scope)? {
        Value::Array(items) => Ok(items),
        other => Err(c.fail(format!("expected a list, got {}", type_name(&other)))),
    }
}

/// Evaluates a boolean-valued argument the way Python's `bool()` reads it.
pub(crate) fn flag(ev: &mut Ev<'_>, c: &Call<'_>, expr: Option<&Expr>) -> Result<bool> {
    match expr {
        Some(expr) => Ok(crate::value::truthy(&ev.value(expr, c.scope)?)),
        None => Ok(false),
    }
}
