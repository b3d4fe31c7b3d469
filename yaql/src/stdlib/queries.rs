//! yaql's queries over collections: `select`, `where`, `selectMany`,
//! `skip`, `take`, `first`, `last`, `distinct`, `any`, `all`, `count`,
//! `zip`, `join`, `aggregate`, `range`, `toDict`, …
//! Lambdas (`$` is the element, `$1`, `$2` for two-argument ones) are
//! evaluated per element.

use serde_json::{Map, Value};

use super::{Form, Run, data, int, list, opt_int, receiver_list};
use crate::ast::Expr;
use crate::error::{Error, Result};
use crate::eval::{Call, Ev, Val, key_string};
use crate::value::{equal, truthy};

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "where" | "filter" => (Form::Method, where_),
        "select" => (Form::Method, select),
        "selectMany" => (Form::Method, select_many),
        "skip" => (Form::Method, skip),
        "take" | "limit" => (Form::Method, take),
        "first" => (Form::Method, |ev, c| end(ev, c, true)),
        "last" => (Form::Method, |ev, c| end(ev, c, false)),
        "single" => (Form::Method, single),
        "distinct" => (Form::Both, distinct),
        "any" => (Form::Both, |ev, c| any_all(ev, c, true)),
        "all" => (Form::Both, |ev, c| any_all(ev, c, false)),
        "count" => (Form::Method, count),
        "enumerate" => (Form::Both, enumerate),
        "append" => (Form::Both, append),
        "orderBy" => (Form::Method, |ev, c| super::ordering::order_by(ev, c, false)),
        "orderByDescending" => (Form::Method, |ev, c| super::ordering::order_by(ev, c, true)),
        "groupBy" => (Form::Method, super::ordering::group_by),
        "zip" => (Form::Method, |ev, c| zip(ev, c, false)),
        "zipLongest" => (Form::Method, |ev, c| zip(ev, c, true)),
        "repeat" => (Form::Method, repeat),
        "takeWhile" => (Form::Method, |ev, c| while_(ev, c, true)),
        "skipWhile" => (Form::Method, |ev, c| while_(ev, c, false)),
        "indexOf" => (Form::Method, |ev, c| index_of(ev, c, false)),
        "lastIndexOf" => (Form::Method, |ev, c| index_of(ev, c, true)),
        "indexWhere" => (Form::Method, |ev, c| index_where(ev, c, false)),
        "lastIndexWhere" => (Form::Method, |ev, c| index_where(ev, c, true)),
        "aggregate" | "reduce" => (Form::Method, |ev, c| aggregate(ev, c, false)),
        "splitWhere" => (Form::Method, |ev, c| split_where(ev, c, false)),
        "sliceWhere" => (Form::Method, |ev, c| split_where(ev, c, true)),
        "accumulate" => (Form::Method, |ev, c| aggregate(ev, c, true)),
        "reverse" => (Form::Method, reverse),
        "range" => (Form::Function, range),
        "toDict" => (Form::Method, to_dict),
        "defaultIfEmpty" => (Form::Method, default_if_empty),
        "cycle" => (Form::Method, |_, c| {
            Err(c.fail("an endless cycle must be cut right away with .take(n) or .limit(n)"))
        }),
        "memorize" => (Form::Method, |_, c| data(Value::Array(receiver_list(c)?))),
        "slice" => (Form::Method, slice),
        "splitAt" => (Form::Method, split_at),
        "sequence" => (Form::Function, |_, c| {
            Err(c.fail("an endless sequence must be cut right away with .take(n) or .limit(n)"))
        }),
        _ => return None,
    })
}

fn lambda_arg<'a>(c: &'a Call<'_>, name: &str) -> Result<&'a Expr> {
    let [expr] = c.require(&[name])?[..] else { return Err(c.fail("bad arguments")) };
    Ok(expr)
}

fn where_(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let predicate = lambda_arg(c, "predicate")?;
    let mut out = Vec::new();
    for item in receiver_list(c)? {
        if truthy(&ev.lambda(predicate, c.scope, std::slice::from_ref(&item))?) {
            out.push(item);
        }
    }
    data(Value::Array(out))
}

fn select(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let selector = lambda_arg(c, "selector")?;
    let items = receiver_list(c)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(ev.lambda(selector, c.scope, &[item])?);
    }
    data(Value::Array(out))
}

fn select_many(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let selector = lambda_arg(c, "selector")?;
    let mut out = Vec::new();
    for item in receiver_list(c)? {
        match ev.lambda(selector, c.scope, &[item])? {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
        ev.check_len(out.len(), c.column)?;
    }
    data(Value::Array(out))
}

fn skip(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let n = int(ev, c, lambda_arg(c, "count")?)?;
    let items = receiver_list(c)?;
    let n = usize::try_from(n).unwrap_or(0).min(items.len());
    data(Value::Array(items[n..].to_vec()))
}

fn take(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let n = int(ev, c, lambda_arg(c, "count")?)?;
    let mut items = receiver_list(c)?;
    items.truncate(usize::try_from(n).unwrap_or(0));
    data(Value::Array(items))
}

/// `first(default)` / `last(default)`: an error on an empty collection
/// without a default.
fn end(ev: &mut Ev<'_>, c: &Call<'_>, first: bool) -> Result<Val> {
    let [default] = c.bind(&["default"])?[..] else { return Err(c.fail("bad arguments")) };
    let default = default.map(|d| ev.value(d, c.scope)).transpose()?;
    let mut items = receiver_list(c)?;
    let item = if first {
        if items.is_empty() { None } else { Some(items.swap_remove(0)) }
    } else {
        items.pop()
    };
    match (item, default) {
        (Some(item), _) => data(item),
        (None, Some(default)) => data(default),
        (None, None) => Err(c.fail("the collection is empty")),
    }
}

fn single(_: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    let mut items = receiver_list(c)?;
    match items.len() {
        1 => data(items.swap_remove(0)),
        0 => Err(c.fail("the collection is empty")),
        _ => Err(c.fail("the collection has more than one element")),
    }
}

fn distinct(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [key_selector] = c.bind(&["keySelector"])?[..] else { return Err(c.fail("bad arguments")) };
    let mut seen = crate::value::Seen::default();
    let mut out = Vec::new();
    for item in receiver_list(c)? {
        let key = match key_selector {
            Some(selector) => ev.lambda(selector, c.scope, std::slice::from_ref(&item))?,
            None => item.clone(),
        };
        let (found, cost) = seen.find_or_insert(&key, out.len());
        ev.tick(cost / 16 + 1, c.column)?;
        if found.is_none() {
            out.push(item);
        }
    }
    data(Value::Array(out))
}

fn any_all(ev: &mut Ev<'_>, c: &Call<'_>, any: bool) -> Result<Val> {
    let [predicate] = c.bind(&["predicate"])?[..] else { return Err(c.fail("bad arguments")) };
    for item in receiver_list(c)? {
        let hit = match predicate {
            Some(p) => truthy(&ev.lambda(p, c.scope, &[item])?),
            // any() without a predicate: is the collection non-empty.
            None if any => true,
            None => truthy(&item),
        };
        if hit == any {
            return data(Value::Bool(any));
        }
    }
    data(Value::Bool(!any))
}

fn count(_: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    data(Value::from(receiver_list(c)?.len()))
}

fn enumerate(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [start] = c.bind(&["start"])?[..] else { return Err(c.fail("bad arguments")) };
    let start = opt_int(ev, c, start, 0)?;
    let out = receiver_list(c)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| Value::Array(vec![Value::from(start.saturating_add(i as i64)), v]))
        .collect();
    data(Value::Array(out))
}

fn append(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let mut items = receiver_list(c)?;
    for expr in c.positional()? {
        items.push(ev.value(expr, c.scope)?);
    }
    ev.check_len(items.len(), c.column)?;
    data(Value::Array(items))
}

fn zip(ev: &mut Ev<'_>, c: &Call<'_>, longest: bool) -> Result<Val> {
    let mut lists = vec![receiver_list(c)?];
    let mut default = Value::Null;
    for arg in c.args {
        match arg {
            crate::ast::Arg::Pos(e) => lists.push(list(ev, c, e)?),
            crate::ast::Arg::Pair(k, e)
                if longest && matches!(&k.kind, crate::ast::Kind::Keyword(n) if n == "default") =>
            {
                default = ev.value(e, c.scope)?;
            }
            crate::ast::Arg::Pair(..) => return Err(c.fail("unexpected `=>` argument")),
        }
    }
    let lengths = lists.iter().map(Vec::len);
    let n = if longest { lengths.max().unwrap_or(0) } else { lengths.min().unwrap_or(0) };
    ev.grow(n.saturating_mul(lists.len()), c.column)?;
    let out = (0..n)
        .map(|i| {
            Value::Array(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| default.clone()))
                    .collect(),
            )
        })
        .collect();
    data(Value::Array(out))
}

/// `collection1.join(collection2, predicate, selector)`: `$1` from the
/// first, `$2` from the second collection.
pub(super) fn join(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [other, predicate, selector] = c.require(&["collection2", "predicate", "selector"])?[..]
    else {
        return Err(c.fail("bad arguments"));
    };
    let left = receiver_list(c)?;
    let right = list(ev, c, other)?;
    let mut out = Vec::new();
    for a in &left {
        for b in &right {
            let pair = [a.clone(), b.clone()];
            if truthy(&ev.lambda(predicate, c.scope, &pair)?) {
                out.push(ev.lambda(selector, c.scope, &pair)?);
                ev.check_len(out.len(), c.column)?;
            }
        }
    }
    data(Value::Array(out))
}

fn repeat(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [times] = c.bind(&["times"])?[..] else { return Err(c.fail("bad arguments")) };
    let times = opt_int(ev, c, times, -1)?;
    let Ok(times) = usize::try_from(times) else {
        return Err(
            c.fail("endless repetition must be cut right away with .take(n), or given `times`")
        );
    };
    let value = c.data()?.clone();
    ev.grow(
        times.saturating_mul(usize::try_from(crate::value::weight(&value)).unwrap_or(usize::MAX)),
        c.column,
    )?;
    data(Value::Array(vec![value; times]))
}

fn while_(ev: &mut Ev<'_>, c: &Call<'_>, take: bool) -> Result<Val> {
    let predicate = lambda_arg(c, "predicate")?;
    let items = receiver_list(c)?;
    let mut cut = items.len();
    for (i, item) in items.iter().enumerate() {
        if !truthy(&ev.lambda(predicate, c.scope, std::slice::from_ref(item))?) {
            cut = i;
            break;
        }
    }
    data(Value::Array(if take { items[..cut].to_vec() } else { items[cut..].to_vec() }))
}

/// `indexOf` / `lastIndexOf` of a list element or of a substring.
fn index_of(ev: &mut Ev<'_>, c: &Call<'_>, last: bool) -> Result<Val> {
    if let Value::String(s) = c.data()? {
        let [sub, start, length] = c.bind(&["sub", "start", "length"])?[..] else {
            return Err(c.fail("bad arguments"));
        };
        let Some(sub) = sub else { return Err(c.fail("missing the argument `sub`")) };
        let sub = super::string(ev, c, sub)?;
        let len = s.chars().count() as i64;
        let mut start = opt_int(ev, c, start, 0)?;
        let end = match length {
            Some(length) => {
                let mut length = int(ev, c, length)?;
                if start < 0 {
                    start += len;
                }
                if length < 0 {
                    length = len - start;
                }
                start.saturating_add(length)
            }
            None => len,
        };
        return data(Value::from(super::strings::py_find(s, &sub, start, end, last)));
    }
    let item = ev.value(lambda_arg(c, "item")?, c.scope)?;
    let items = receiver_list(c)?;
    let found = if last {
        items.iter().rposition(|v| equal(v, &item))
    } else {
        items.iter().position(|v| equal(v, &item))
    };
    data(Value::from(found.map_or(-1, |i| i as i64)))
}

fn index_where(ev: &mut Ev<'_>, c: &Call<'_>, last: bool) -> Result<Val> {
    let predicate = lambda_arg(c, "predicate")?;
    let items = receiver_list(c)?;
    let mut found = -1i64;
    for (i, item) in items.into_iter().enumerate() {
        if truthy(&ev.lambda(predicate, c.scope, &[item])?) {
            found = i as i64;
            if !last {
                break;
            }
        }
    }
    data(Value::from(found))
}

/// `aggregate(selector, seed)` folds with `$1` (accumulator) and `$2`
/// (element); `accumulate` returns every intermediate value.
fn aggregate(ev: &mut Ev<'_>, c: &Call<'_>, all: bool) -> Result<Val> {
    let [selector, seed] = c.bind(&["selector", "seed"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(selector) = selector else { return Err(c.fail("missing the argument `selector`")) };
    let mut items = receiver_list(c)?.into_iter();
    let mut acc = match seed {
        Some(seed) => ev.value(seed, c.scope)?,
        None => match items.next() {
            Some(first) => first,
            None if all => return data(Value::Array(Vec::new())),
            None => return Err(c.fail("an empty collection and no seed")),
        },
    };
    let mut steps = vec![acc.clone()];
    for item in items {
        acc = ev.lambda(selector, c.scope, &[acc, item])?;
        if all {
            steps.push(acc.clone());
        }
    }
    data(if all { Value::Array(steps) } else { acc })
}

fn reverse(_: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    let mut items = receiver_list(c)?;
    items.reverse();
    data(Value::Array(items))
}

/// `range(stop)`, `range(start, stop, step => 1)`.
fn range(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [a, b, step] = c.bind(&["start", "stop", "step"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let (start, stop) = match (a, b) {
        (Some(stop), None) => (0, int(ev, c, stop)?),
        (Some(start), Some(stop)) => (int(ev, c, start)?, int(ev, c, stop)?),
        _ => return Err(c.fail("takes a stop, or a start and a stop")),
    };
    let step = opt_int(ev, c, step, 1)?;
    if step == 0 {
        return Err(c.fail("the step must not be zero"));
    }
    let span = if step > 0 {
        i128::from(stop) - i128::from(start)
    } else {
        i128::from(start) - i128::from(stop)
    };
    let n = if span <= 0 { 0 } else { (span - 1) / i128::from(step).abs() + 1 };
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    ev.grow(n, c.column)?;
    let out = (0..n).map(|i| Value::from(start + step * i as i64)).collect();
    data(Value::Array(out))
}

fn to_dict(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [key_selector, value_selector] = c.bind(&["keySelector", "valueSelector"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(key_selector) = key_selector else {
        return Err(c.fail("missing the argument `keySelector`"));
    };
    let mut map = Map::new();
    for item in receiver_list(c)? {
        let key = ev.lambda(key_selector, c.scope, std::slice::from_ref(&item))?;
        let value = match value_selector {
            Some(selector) => ev.lambda(selector, c.scope, &[item])?,
            None => item,
        };
        map.insert(key_string(&key), value);
    }
    data(Value::Object(map))
}

fn default_if_empty(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let default = ev.value(lambda_arg(c, "default")?, c.scope)?;
    let items = receiver_list(c)?;
    data(if items.is_empty() { default } else { Value::Array(items) })
}

fn slice(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let length = int(ev, c, lambda_arg(c, "length")?)?;
    let Ok(length) = usize::try_from(length) else {
        return Err(c.fail("the length must be positive"));
    };
    if length == 0 {
        return Err(Error::Argument {
            column: c.column,
            function: "slice".into(),
            message: "zero length".into(),
        });
    }
    let items = receiver_list(c)?;
    data(Value::Array(items.chunks(length).map(|chunk| Value::Array(chunk.to_vec())).collect()))
}

fn split_at(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let index = int(ev, c, lambda_arg(c, "index")?)?;
    let items = receiver_list(c)?;
    let (a, _) = super::strings::slice_bounds(index, index, items.len());
    data(Value::Array(vec![Value::Array(items[..a].to_vec()), Value::Array(items[a..].to_vec())]))
}

/// `splitWhere(predicate)`: the elements for which the predicate holds are
/// separators, dropped. `sliceWhere(predicate)`: a new part starts wherever
/// the predicate's value changes.
fn split_where(ev: &mut Ev<'_>, c: &Call<'_>, slice: bool) -> Result<Val> {
    let predicate = lambda_arg(c, "predicate")?;
    let mut parts: Vec<Value> = Vec::new();
    let mut part: Vec<Value> = Vec::new();
    let mut previous: Option<bool> = None;
    for item in receiver_list(c)? {
        let hit = truthy(&ev.lambda(predicate, c.scope, std::slice::from_ref(&item))?);
        if slice {
            if previous.is_some_and(|p| p != hit) {
                parts.push(Value::Array(std::mem::take(&mut part)));
            }
            previous = Some(hit);
            part.push(item);
        } else if hit {
            parts.push(Value::Array(std::mem::take(&mut part)));
        } else {
            part.push(item);
        }
    }
    if !part.is_empty() {
        parts.push(Value::Array(part));
    }
    data(Value::Array(parts))
}
