//! yaql's system, branching, boolean and type functions: `let`,
//! `coalesce`, `switch`, `selectCase`, `switchCase`, `bool`, `int`,
//! `float`, `str`, `len` and the `is…` tests.

use serde_json::Value;

use super::{Form, Run, as_int, data};
use crate::ast::{Arg, Kind};
use crate::error::Result;
use crate::eval::{Call, Ev, Scope, UserFn, Val, val_truthy};
use crate::value::{Num, truthy, type_name, yaql_str};

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "let" => (Form::Function, let_),
        "def" => (Form::Function, def),
        "with" => (Form::Function, let_),
        "coalesce" => (Form::Function, coalesce),
        "switch" => (Form::Function, switch),
        "selectCase" => (Form::Function, select_case),
        "switchCase" => (Form::Method, switch_case),
        "examine" => (Form::Function, examine),
        "bool" => (Form::Function, bool_),
        "int" => (Form::Function, int),
        "float" => (Form::Function, float),
        "str" => (Form::Function, str_),
        "len" => (Form::Both, len),
        "isString" => (Form::Function, |ev, c| is(ev, c, |v| v.is_string())),
        "isList" => (Form::Function, |ev, c| is(ev, c, |v| v.is_array())),
        "isIterable" => (Form::Function, |ev, c| {
            let [expr] = c.require(&["value"])?[..] else {
                return Err(c.fail("takes one argument"));
            };
            let v = ev.eval(expr, c.scope)?;
            data(Value::Bool(matches!(v, Val::Set(_) | Val::Data(Value::Array(_)))))
        }),
        "isSequence" => (Form::Function, |ev, c| is(ev, c, |v| v.is_array())),
        "isDict" => (Form::Function, |ev, c| is(ev, c, |v| v.is_object())),
        "isBoolean" => (Form::Function, |ev, c| is(ev, c, |v| v.is_boolean())),
        "isInteger" => {
            (Form::Function, |ev, c| is(ev, c, |v| matches!(Num::of(v), Some(Num::Int(_)))))
        }
        "isNumber" => (Form::Function, |ev, c| is(ev, c, |v| v.is_number())),
        "isSet" => (Form::Function, |ev, c| {
            let [expr] = c.require(&["arg"])?[..] else { return Err(c.fail("takes one argument")) };
            data(Value::Bool(matches!(ev.eval(expr, c.scope)?, Val::Set(_))))
        }),
        "isRegex" => (Form::Function, is_regex),
        "unpack" => (Form::Method, unpack),
        "assert" => (Form::Method, assert),
        _ => return None,
    })
}

/// `let(a, b, name => v) -> expr`: a context with `$1`, `$2`, `$name`.
fn let_(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let mut vars = Vec::new();
    let mut position = 0;
    for arg in c.args {
        match arg {
            Arg::Pos(expr) => {
                position += 1;
                let v = ev.eval(expr, c.scope)?;
                vars.push((position.to_string(), v));
            }
            Arg::Pair(key, expr) => {
                let Kind::Keyword(name) = &key.kind else {
                    return Err(c.fail("a `=>` argument needs a name before `=>`"));
                };
                let v = ev.eval(expr, c.scope)?;
                vars.push((name.clone(), v));
            }
        }
    }
    Ok(Val::Scope(Scope::child(c.scope, vars)))
}

fn coalesce(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    for expr in c.positional()? {
        let v = ev.eval(expr, c.scope)?;
        if !matches!(v, Val::Data(Value::Null)) {
            return Ok(v);
        }
    }
    data(Value::Null)
}

fn switch(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    for arg in c.args {
        let Arg::Pair(condition, result) = arg else {
            return Err(c.fail("expects `condition => value` arguments"));
        };
        if val_truthy(&ev.eval(condition, c.scope)?) {
            return ev.eval(result, c.scope);
        }
    }
    data(Value::Null)
}

fn select_case(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let args = c.positional()?;
    for (i, expr) in args.iter().enumerate() {
        if val_truthy(&ev.eval(expr, c.scope)?) {
            return data(Value::from(i));
        }
    }
    data(Value::from(args.len()))
}

fn switch_case(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let case = as_int(c, c.data()?)?;
    let args = c.positional()?;
    let chosen = match usize::try_from(case) {
        Ok(i) if i < args.len() => args[i],
        _ => match args.last() {
            Some(last) => last,
            None => return data(Value::Null),
        },
    };
    ev.eval(chosen, c.scope)
}

fn examine(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let mut out = Vec::new();
    for expr in c.positional()? {
        out.push(Value::Bool(val_truthy(&ev.eval(expr, c.scope)?)));
    }
    data(Value::Array(out))
}

fn one(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Value> {
    let [expr] = c.require(&["value"])?[..] else { return Err(c.fail("takes one argument")) };
    ev.value(expr, c.scope)
}

fn bool_(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [expr] = c.require(&["value"])?[..] else { return Err(c.fail("takes one argument")) };
    data(Value::Bool(val_truthy(&ev.eval(expr, c.scope)?)))
}

/// Python's `int()`: truncates floats, parses decimal strings, `null` is 0.
fn int(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let v = one(ev, c)?;
    let n = match &v {
        Value::Null => 0,
        Value::Bool(b) => i64::from(*b),
        Value::Number(_) => match Num::of(&v) {
            Some(Num::Int(i)) => i,
            Some(Num::Float(f)) if f.is_finite() && f.abs() < 9.2e18 => f.trunc() as i64,
            _ => return Err(c.fail("cannot convert the number to an integer")),
        },
        Value::String(s) => {
            let t = s.trim().replace('_', "");
            t.parse::<i64>()
                .map_err(|_| c.fail(format!("invalid literal for int() with base 10: '{s}'")))?
        }
        other => return Err(c.fail(format!("cannot convert {} to an integer", type_name(other)))),
    };
    data(Value::from(n))
}

/// Python's `float()`: parses strings, `null` is 0.0.
fn float(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let v = one(ev, c)?;
    let f = match &v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(_) => Num::of(&v).map_or(0.0, Num::as_f64),
        Value::String(s) => {
            let t = s.trim();
            let parsed = t.parse::<f64>().ok().filter(|f| f.is_finite());
            parsed.ok_or_else(|| c.fail(format!("could not convert string to float: '{s}'")))?
        }
        other => return Err(c.fail(format!("cannot convert {} to a float", type_name(other)))),
    };
    Num::Float(f).to_value().map(Val::Data).ok_or_else(|| c.fail("not a finite number"))
}

fn str_(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [expr] = c.require(&["value"])?[..] else { return Err(c.fail("takes one argument")) };
    let v = ev.eval(expr, c.scope)?;
    let text = match v.text_form() {
        Some(text) => text,
        None => yaql_str(&ev.data_of(v, expr.column)?),
    };
    ev.grow_str(text.len(), c.column)?;
    data(Value::String(text))
}

/// The length of a string (in characters), list or dictionary.
fn len(_: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    if !c.args.is_empty() {
        return Err(c.fail("takes no arguments"));
    }
    let n = match c.data()? {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        other => return Err(c.fail(format!("{} has no length", type_name(other)))),
    };
    data(Value::from(n))
}

fn is(ev: &mut Ev<'_>, c: &Call<'_>, test: fn(&Value) -> bool) -> Result<Val> {
    let [expr] = c.require(&["arg"])?[..] else { return Err(c.fail("takes one argument")) };
    let v = ev.eval(expr, c.scope)?;
    data(Value::Bool(matches!(&v, Val::Data(d) if test(d))))
}

fn is_regex(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [expr] = c.require(&["value"])?[..] else { return Err(c.fail("takes one argument")) };
    let v = ev.eval(expr, c.scope)?;
    data(Value::Bool(matches!(v, Val::Regex(_))))
}

/// `[a, b].unpack(x, y) -> $x + $y`; without names, `$1`, `$2`, ….
fn unpack(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let items = super::receiver_list(c)?;
    let mut names = Vec::new();
    for expr in c.positional()? {
        names.push(super::string(ev, c, expr)?);
    }
    if !names.is_empty() && names.len() != items.len() {
        return Err(c.fail(format!("cannot unpack {} elements into {}", items.len(), names.len())));
    }
    let vars = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| (names.get(i).cloned().unwrap_or_else(|| (i + 1).to_string()), Val::Data(v)))
        .collect();
    Ok(Val::Scope(Scope::child(c.scope, vars)))
}

/// `value.assert(condition, message => "Assertion failed")`: the value
/// when the condition (with `$` the value) holds, else an error.
fn assert(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [condition, message] = c.bind(&["condition", "message"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(condition) = condition else { return Err(c.fail("missing the argument `condition`")) };
    let value = c.data()?.clone();
    if truthy(&ev.lambda(condition, c.scope, std::slice::from_ref(&value))?) {
        return data(value);
    }
    let message = match message {
        Some(m) => super::string(ev, c, m)?,
        None => "Assertion failed".into(),
    };
    Err(c.fail(message))
}

/// `def(name, body) -> expr`: a context where `name(args)` evaluates
/// `body` with `$1`, `$2`, … (and `$`) the arguments and `$key` the
/// `key => value` ones. The function may call itself.
fn def(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [name, body] = c.require(&["name", "func"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let name = super::string(ev, c, name)?;
    // The function sees the context it is defined in; each call adds the
    // function itself (so it may recurse without a reference cycle).
    let function =
        std::rc::Rc::new(UserFn { body: body.clone(), scope: std::rc::Rc::clone(c.scope) });
    Ok(Val::Scope(Scope::child(c.scope, vec![(format!("#def:{name}"), Val::Func(function))])))
}
