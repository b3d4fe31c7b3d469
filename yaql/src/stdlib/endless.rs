//! yaql's endless sequences, `sequence(start, step)`, `value.repeat()`
//! and `collection.cycle()`, when they are cut right away with
//! `.take(n)` or `.limit(n)`: only the `n` elements are made. Anywhere
//! else they are refused (evaluation is eager).

use std::rc::Rc;

use serde_json::Value;

use crate::ast::{Arg, Expr, Kind};
use crate::error::{Error, Result};
use crate::eval::{Ev, Scope, Val};
use crate::value::{Num, type_name};

/// Whether `expr` is an endless source: `sequence(…)`, `x.repeat()`
/// without a count, `xs.cycle()`.
pub(crate) fn is_endless(expr: &Expr) -> bool {
    match &expr.kind {
        Kind::Call { name, .. } => name == "sequence",
        Kind::Method { name, args, .. } => name == "cycle" || (name == "repeat" && args.is_empty()),
        _ => false,
    }
}

fn fail(column: usize, function: &str, message: String) -> Error {
    Error::Argument { column, function: function.into(), message }
}

fn int_arg(ev: &mut Ev<'_>, expr: &Expr, scope: &Rc<Scope>, function: &str) -> Result<i64> {
    let v = ev.value(expr, scope)?;
    match Num::of(&v) {
        Some(Num::Int(i)) => Ok(i),
        _ => {
            Err(fail(expr.column, function, format!("expected an integer, got {}", type_name(&v))))
        }
    }
}

/// `source.take(n)` for an endless `source`.
pub(crate) fn take_endless(
    ev: &mut Ev<'_>,
    source: &Expr,
    args: &[Arg],
    scope: &Rc<Scope>,
    column: usize,
) -> Result<Val> {
    let [Arg::Pos(count)] = args else {
        return Err(fail(column, "take", "takes one count".into()));
    };
    let n = usize::try_from(int_arg(ev, count, scope, "take")?).unwrap_or(0);
    ev.grow(n, column)?;
    let items: Vec<Value> = match &source.kind {
        Kind::Call { args, .. } => {
            // sequence(start => 0, step => 1)
            let mut start = 0i64;
            let mut step = 1i64;
            for (i, arg) in args.iter().enumerate() {
                match arg {
                    Arg::Pos(e) if i == 0 => start = int_arg(ev, e, scope, "sequence")?,
                    Arg::Pos(e) if i == 1 => step = int_arg(ev, e, scope, "sequence")?,
                    Arg::Pair(Expr { kind: Kind::Keyword(k), .. }, e) if k == "start" => {
                        start = int_arg(ev, e, scope, "sequence")?;
                    }
                    Arg::Pair(Expr { kind: Kind::Keyword(k), .. }, e) if k == "step" => {
                        step = int_arg(ev, e, scope, "sequence")?;
                    }
                    _ => {
                        return Err(fail(source.column, "sequence", "takes start and step".into()));
                    }
                }
            }
            let mut out = Vec::with_capacity(n);
            let mut value = start;
            for _ in 0..n {
                out.push(Value::from(value));
                value = value.checked_add(step).ok_or(Error::Overflow { column: source.column })?;
            }
            out
        }
        Kind::Method { receiver, name, .. } => {
            let receiver = ev.value(receiver, scope)?;
            if name == "repeat" {
                vec![receiver; n]
            } else {
                let Value::Array(items) = receiver else {
                    return Err(fail(
                        source.column,
                        "cycle",
                        format!("expected a list, got {}", type_name(&receiver)),
                    ));
                };
                if items.is_empty() {
                    Vec::new()
                } else {
                    items.iter().cycle().take(n).cloned().collect()
                }
            }
        }
        _ => return Err(fail(column, "take", "not an endless sequence".into())),
    };
    Ok(Val::Data(Value::Array(items)))
}
