//! Sorting and grouping: `orderBy`, `orderByDescending`, `thenBy`,
//! `thenByDescending`, `groupBy`.

use std::cmp::Ordering;

use serde_json::Value;

use super::{data, receiver_list};
use crate::ast::Expr;
use crate::error::{Error, Result};
use crate::eval::{Call, Ev, Val};
use crate::value::{compare, type_name};

fn lambda_arg<'a>(c: &'a Call<'_>, name: &str) -> Result<&'a Expr> {
    let [expr] = c.require(&[name])?[..] else { return Err(c.fail("bad arguments")) };
    Ok(expr)
}

fn sort_keys(c: &Call<'_>, keyed: &mut [(Value, Value)], descending: bool) -> Result<()> {
    let mut failure = None;
    keyed.sort_by(|(a, _), (b, _)| match compare(a, b) {
        Some(order) => {
            if descending {
                order.reverse()
            } else {
                order
            }
        }
        None => {
            failure.get_or_insert_with(|| {
                format!("cannot compare {} with {}", type_name(a), type_name(b))
            });
            Ordering::Equal
        }
    });
    match failure {
        Some(message) => Err(c.fail(message)),
        None => Ok(()),
    }
}

pub(super) fn order_by(ev: &mut Ev<'_>, c: &Call<'_>, descending: bool) -> Result<Val> {
    let selector = lambda_arg(c, "selector")?;
    let items = receiver_list(c)?;
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        keyed.push((ev.lambda(selector, c.scope, std::slice::from_ref(&item))?, item));
    }
    ev.tick((keyed.len() as u64) * 4, c.column)?;
    sort_keys(c, &mut keyed, descending)?;
    data(Value::Array(keyed.into_iter().map(|(_, v)| v).collect()))
}

pub(super) fn group_by(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [key_selector, value_selector, aggregator] =
        c.bind(&["keySelector", "valueSelector", "aggregator"])?[..]
    else {
        return Err(c.fail("bad arguments"));
    };
    let Some(key_selector) = key_selector else {
        return Err(c.fail("missing the argument `keySelector`"));
    };
    let mut groups: Vec<(Value, Vec<Value>)> = Vec::new();
    let mut seen = crate::value::Seen::default();
    for item in receiver_list(c)? {
        let key = ev.lambda(key_selector, c.scope, std::slice::from_ref(&item))?;
        let value = match value_selector {
            Some(selector) => ev.lambda(selector, c.scope, &[item])?,
            None => item,
        };
        let (found, cost) = seen.find_or_insert(&key, groups.len());
        ev.tick(cost / 16 + 1, c.column)?;
        match found {
            Some(at) => groups[at].1.push(value),
            None => groups.push((key, vec![value])),
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (key, values) in groups {
        let values = match aggregator {
            Some(aggregator) => ev.lambda(aggregator, c.scope, &[Value::Array(values)])?,
            None => Value::Array(values),
        };
        out.push(Value::Array(vec![key, values]));
    }
    data(Value::Array(out))
}

/// `collection.orderBy(k1).thenBy(k2).thenByDescending(k3)…`: yaql keeps
/// the sort keys of `orderBy` in its result for `thenBy` to refine; here
/// the whole chain `expr` (ending in a `thenBy…`) is sorted at once.
pub(crate) fn ordered(
    ev: &mut Ev<'_>,
    expr: &Expr,
    scope: &std::rc::Rc<crate::eval::Scope>,
) -> Result<Val> {
    use crate::ast::{Arg, Kind};
    let mut keys: Vec<(&Expr, bool)> = Vec::new();
    let mut current = expr;
    let base = loop {
        let Kind::Method { receiver, name, args, .. } = &current.kind else {
            return Err(Error::Argument {
                column: expr.column,
                function: "thenBy".into(),
                message: "follows orderBy() or orderByDescending()".into(),
            });
        };
        let [Arg::Pos(selector)] = args.as_slice() else {
            return Err(Error::Argument {
                column: current.column,
                function: name.clone(),
                message: "takes one selector".into(),
            });
        };
        keys.push((selector, name.ends_with("Descending")));
        match name.as_str() {
            "thenBy" | "thenByDescending" => current = receiver,
            "orderBy" | "orderByDescending" => break receiver,
            _ => {
                return Err(Error::Argument {
                    column: expr.column,
                    function: "thenBy".into(),
                    message: "follows orderBy() or orderByDescending()".into(),
                });
            }
        }
    };
    keys.reverse();
    let items = match ev.value(base, scope)? {
        Value::Array(items) => items,
        other => {
            return Err(Error::Argument {
                column: expr.column,
                function: "orderBy".into(),
                message: format!("expected a list, got {}", type_name(&other)),
            });
        }
    };
    let mut keyed = Vec::with_capacity(items.len());
    for item in items {
        let mut row = Vec::with_capacity(keys.len());
        for (selector, _) in &keys {
            row.push(ev.lambda(selector, scope, std::slice::from_ref(&item))?);
        }
        keyed.push((row, item));
    }
    ev.tick((keyed.len() as u64) * 4 * keys.len() as u64, expr.column)?;
    let mut failure = None;
    keyed.sort_by(|(a, _), (b, _)| {
        for (i, (_, descending)) in keys.iter().enumerate() {
            match compare(&a[i], &b[i]) {
                Some(Ordering::Equal) => continue,
                Some(order) => return if *descending { order.reverse() } else { order },
                None => {
                    failure.get_or_insert_with(|| {
                        format!("cannot compare {} with {}", type_name(&a[i]), type_name(&b[i]))
                    });
                    return Ordering::Equal;
                }
            }
        }
        Ordering::Equal
    });
    if let Some(message) = failure {
        return Err(Error::Argument { column: expr.column, function: "orderBy".into(), message });
    }
    data(Value::Array(keyed.into_iter().map(|(_, v)| v).collect()))
}
