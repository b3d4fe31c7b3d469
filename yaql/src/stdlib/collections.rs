//! yaql's collection functions: `list`, `dict`, `set`, `toList`,
//! `flatten`, dictionary access (`keys`, `values`, `items`, `get`, `set`,
//! `delete`, `containsKey`, …) and list editing (`insert`, `delete`,
//! `replace`).

use serde_json::{Map, Value};

use super::{Form, Run, data, int, list, opt_int, receiver_list};
use crate::ast::{Arg, Expr, Kind};
use crate::error::Result;
use crate::eval::{Call, Ev, Val, key_string};
use crate::value::{equal, type_name};

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "list" => (Form::Function, |ev, c| list_or_set(ev, c, false)),
        "set" => (Form::Raw, set),
        "dict" => (Form::Function, dict),
        "toList" => (Form::Method, to_list),
        "toSet" => (Form::Method, to_set),
        "flatten" => (Form::Method, flatten),
        "keys" => (Form::Method, |_, c| map_view(c, |k, _| Value::String(k.clone()))),
        "values" => (Form::Method, |_, c| map_view(c, |_, v| v.clone())),
        "items" => (Form::Method, |_, c| {
            map_view(c, |k, v| Value::Array(vec![Value::String(k.clone()), v.clone()]))
        }),
        "get" => (Form::Method, get),
        "delete" => (Form::Method, delete),
        "deleteAll" => (Form::Method, delete_all),
        "containsKey" => (Form::Method, contains_key),
        "containsValue" => (Form::Method, contains_value),
        "contains" => (Form::Method, contains),
        "insert" => (Form::Method, insert),
        "insertMany" => (Form::Method, insert_many),
        "replaceMany" => (Form::Method, replace_many),
        "mergeWith" => (Form::Method, merge_with),
        "union" => (Form::Method, |ev, c| set_method(ev, c, "union")),
        "intersect" => (Form::Method, |ev, c| set_method(ev, c, "intersect")),
        "difference" => (Form::Method, |ev, c| set_method(ev, c, "difference")),
        "symmetricDifference" => (Form::Method, |ev, c| set_method(ev, c, "symmetricDifference")),
        "add" => (Form::Method, |ev, c| set_method(ev, c, "add")),
        "remove" => (Form::Method, |ev, c| set_method(ev, c, "remove")),
        _ => return None,
    })
}

/// Functions yaql evaluates lazily, to iterators: `list()` and `set()`
/// unpack an argument that is one of these calls, as yaql unpacks
/// iterators (and keeps real lists whole).
const LAZY: &[&str] = &[
    "select",
    "where",
    "filter",
    "range",
    "skip",
    "take",
    "limit",
    "selectMany",
    "concat",
    "distinct",
    "enumerate",
    "append",
    "zip",
    "zipLongest",
    "takeWhile",
    "skipWhile",
    "repeat",
    "flatten",
    "keys",
    "values",
    "items",
    "accumulate",
    "selectAllCases",
    "examine",
    "reverse",
];

fn is_lazy(expr: &Expr) -> bool {
    match &expr.kind {
        Kind::Call { name, .. } | Kind::Method { name, .. } => LAZY.contains(&name.as_str()),
        _ => false,
    }
}

fn list_or_set(ev: &mut Ev<'_>, c: &Call<'_>, distinct: bool) -> Result<Val> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen = crate::value::Seen::default();
    let mut push = |out: &mut Vec<Value>, v: Value| {
        if !distinct || seen.find_or_insert(&v, out.len()).0.is_none() {
            out.push(v);
        }
    };
    for expr in c.positional()? {
        let v = ev.eval(expr, c.scope)?;
        let lazy = is_lazy(expr) || matches!(v, Val::Set(_));
        let Val::Data(v) = v.into_data() else { return Err(c.fail("expected values")) };
        match v {
            Value::Array(items) if lazy => {
                for item in items {
                    push(&mut out, item);
                }
            }
            other => push(&mut out, other),
        }
        ev.check_len(out.len(), c.column)?;
    }
    if distinct { Ok(Val::Set(out)) } else { data(Value::Array(out)) }
}

/// `set(args)` builds a set (a list without repeats); `dict.set(key,
/// value)`, `dict.set(other)` and `dict.set(k => v, …)` update a dictionary.
fn set(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let Some(receiver) = &c.receiver else { return list_or_set(ev, c, true) };
    let Val::Data(Value::Object(map)) = receiver.clone().into_data() else {
        return Err(c.fail(format!("expected a dictionary, got {}", receiver.describe())));
    };
    let mut map = map.clone();
    let positional: Vec<&Expr> =
        c.args.iter().filter_map(|a| if let Arg::Pos(e) = a { Some(e) } else { None }).collect();
    match positional.as_slice() {
        [key, value] => {
            let key = ev.value(key, c.scope)?;
            map.insert(key_string(&key), ev.value(value, c.scope)?);
        }
        [other] => match ev.value(other, c.scope)? {
            Value::Object(other) => map.extend(other),
            v => return Err(c.fail(format!("expected a dictionary, got {}", type_name(&v)))),
        },
        [] => {
            for arg in c.args {
                if let Arg::Pair(key, value) = arg {
                    let key = ev.value(key, c.scope)?;
                    map.insert(key_string(&key), ev.value(value, c.scope)?);
                }
            }
        }
        _ => return Err(c.fail("takes a key and a value, a dictionary, or `key => value` pairs")),
    }
    ev.check_len(map.len(), c.column)?;
    data(Value::Object(map))
}

/// `dict(a => 1, b => 2)` or `dict([[k, v], …])`.
fn dict(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let mut map = Map::new();
    if let [Arg::Pos(items)] = c.args {
        for pair in list(ev, c, items)? {
            ev.tick(1, c.column)?;
            match pair {
                Value::Array(kv) if kv.len() >= 2 => {
                    map.insert(key_string(&kv[0]), kv[1].clone());
                }
                other => {
                    return Err(
                        c.fail(format!("expected [key, value] pairs, got {}", type_name(&other)))
                    );
                }
            }
        }
        return data(Value::Object(map));
    }
    for arg in c.args {
        let Arg::Pair(key, value) = arg else {
            return Err(c.fail("expects `key => value` arguments or one list of pairs"));
        };
        let key = ev.value(key, c.scope)?;
        map.insert(key_string(&key), ev.value(value, c.scope)?);
    }
    ev.check_len(map.len(), c.column)?;
    data(Value::Object(map))
}

fn to_list(_: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    data(Value::Array(receiver_list(c)?))
}

fn to_set(_: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    Ok(Val::set(receiver_list(c)?))
}

/// The set methods: `union`, `intersect`, `difference`,
/// `symmetricDifference` (with another set), `add`, `remove` (values).
fn set_method(ev: &mut Ev<'_>, c: &Call<'_>, name: &str) -> Result<Val> {
    let Some(Val::Set(items)) = &c.receiver else {
        return Err(c.fail(format!(
            "is a method of sets, not of {}",
            c.receiver.as_ref().map_or("nothing", Val::describe)
        )));
    };
    let contains = |set: &[Value], v: &Value| set.iter().any(|w| equal(v, w));
    if matches!(name, "add" | "remove") {
        let mut values = Vec::new();
        for expr in c.positional()? {
            values.push(ev.value(expr, c.scope)?);
        }
        return Ok(if name == "add" {
            Val::set(items.iter().cloned().chain(values))
        } else {
            Val::Set(items.iter().filter(|v| !contains(&values, v)).cloned().collect())
        });
    }
    let [other] = c.require(&["right"])?[..] else { return Err(c.fail("bad arguments")) };
    let Val::Set(other) = ev.eval(other, c.scope)? else { return Err(c.fail("expects a set")) };
    Ok(match name {
        "union" => Val::set(items.iter().cloned().chain(other)),
        "intersect" => Val::Set(items.iter().filter(|v| contains(&other, v)).cloned().collect()),
        "difference" => Val::Set(items.iter().filter(|v| !contains(&other, v)).cloned().collect()),
        _ => Val::Set(
            items
                .iter()
                .filter(|v| !contains(&other, v))
                .chain(other.iter().filter(|v| !contains(items, v)))
                .cloned()
                .collect(),
        ),
    })
}

fn flatten_into(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    items: Vec<Value>,
    out: &mut Vec<Value>,
    depth: usize,
) -> Result<()> {
    if depth > 1000 {
        return Err(c.fail("nesting too deep"));
    }
    for item in items {
        ev.tick(1, c.column)?;
        match item {
            Value::Array(inner) => flatten_into(ev, c, inner, out, depth + 1)?,
            other => out.push(other),
        }
    }
    Ok(())
}

fn flatten(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    let mut out = Vec::new();
    flatten_into(ev, c, receiver_list(c)?, &mut out, 0)?;
    data(Value::Array(out))
}

fn receiver_map<'c>(c: &'c Call<'_>) -> Result<&'c Map<String, Value>> {
    match c.data()? {
        Value::Object(map) => Ok(map),
        other => Err(c.fail(format!("expected a dictionary, got {}", type_name(other)))),
    }
}

fn map_view(c: &Call<'_>, f: fn(&String, &Value) -> Value) -> Result<Val> {
    c.require(&[])?;
    data(Value::Array(receiver_map(c)?.iter().map(|(k, v)| f(k, v)).collect()))
}

fn get(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [key, default] = c.bind(&["key", "default"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(key) = key else { return Err(c.fail("missing the argument `key`")) };
    let key = key_string(&ev.value(key, c.scope)?);
    let default = default.map(|d| ev.value(d, c.scope)).transpose()?;
    let map = receiver_map(c)?;
    data(map.get(&key).cloned().or(default).unwrap_or(Value::Null))
}

/// `dict.delete(keys…)`, or `list.delete(position, count => 1)`.
fn delete(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    if let Value::Array(items) = c.data()? {
        let [position, count] = c.bind(&["position", "count"])?[..] else {
            return Err(c.fail("bad arguments"));
        };
        let Some(position) = position else {
            return Err(c.fail("missing the argument `position`"));
        };
        let position = int(ev, c, position)?;
        let count = opt_int(ev, c, count, 1)?;
        let kept = items
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let i = *i as i64;
                if count >= 0 {
                    !(position <= i && i < position.saturating_add(count))
                } else {
                    i < position
                }
            })
            .map(|(_, v)| v.clone())
            .collect();
        return data(Value::Array(kept));
    }
    let mut map = receiver_map(c)?.clone();
    for expr in c.positional()? {
        let key = key_string(&ev.value(expr, c.scope)?);
        map.retain(|k, _| *k != key);
    }
    data(Value::Object(map))
}

fn delete_all(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [keys] = c.require(&["keys"])?[..] else { return Err(c.fail("bad arguments")) };
    let keys = list(ev, c, keys)?;
    let mut map = receiver_map(c)?.clone();
    let keys: Vec<String> = keys.iter().map(key_string).collect();
    map.retain(|k, _| !keys.contains(k));
    data(Value::Object(map))
}

fn contains_key(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [key] = c.require(&["key"])?[..] else { return Err(c.fail("bad arguments")) };
    let key = key_string(&ev.value(key, c.scope)?);
    data(Value::Bool(receiver_map(c)?.contains_key(&key)))
}

fn contains_value(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [value] = c.require(&["value"])?[..] else { return Err(c.fail("bad arguments")) };
    let value = ev.value(value, c.scope)?;
    data(Value::Bool(receiver_map(c)?.values().any(|v| equal(v, &value))))
}

fn contains(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [value] = c.require(&["value"])?[..] else { return Err(c.fail("bad arguments")) };
    let value = ev.value(value, c.scope)?;
    data(Value::Bool(receiver_list(c)?.iter().any(|v| equal(v, &value))))
}

fn insert(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [position, value] = c.require(&["position", "value"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let position = int(ev, c, position)?;
    let value = ev.value(value, c.scope)?;
    let mut items = receiver_list(c)?;
    // Python's list.insert: a negative position counts from the end.
    let len = items.len() as i64;
    let at = if position < 0 { (position + len).max(0) } else { position.min(len) };
    items.insert(usize::try_from(at).unwrap_or(0), value);
    data(Value::Array(items))
}

fn insert_many(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [position, values] = c.require(&["position", "values"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let position = int(ev, c, position)?;
    let values = list(ev, c, values)?;
    let mut items = receiver_list(c)?;
    // A negative position inserts at the front, as yaql's insertMany does.
    let at = usize::try_from(position).unwrap_or(0).min(items.len());
    items.splice(at..at, values);
    ev.check_len(items.len(), c.column)?;
    data(Value::Array(items))
}

fn splice_range(items: &[Value], position: i64, count: i64) -> (usize, usize) {
    let len = items.len();
    let start = usize::try_from(position).unwrap_or(0).min(len);
    let end = if count < 0 {
        len
    } else {
        usize::try_from(position.saturating_add(count)).unwrap_or(0).min(len)
    };
    (start, end.max(start))
}

/// `list.replace(position, value, count => 1)`.
pub(super) fn list_replace(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [position, value, count] = c.bind(&["position", "value", "count"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let (Some(position), Some(value)) = (position, value) else {
        return Err(c.fail("takes a position and a value"));
    };
    let position = int(ev, c, position)?;
    let value = ev.value(value, c.scope)?;
    let count = opt_int(ev, c, count, 1)?;
    let mut items = receiver_list(c)?;
    let (start, end) = splice_range(&items, position, count);
    if start < end {
        items.splice(start..end, [value]);
    }
    data(Value::Array(items))
}

fn replace_many(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [position, values, count] = c.bind(&["position", "values", "count"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let (Some(position), Some(values)) = (position, values) else {
        return Err(c.fail("takes a position and a list of values"));
    };
    let position = int(ev, c, position)?;
    let values = list(ev, c, values)?;
    let count = opt_int(ev, c, count, 1)?;
    let mut items = receiver_list(c)?;
    let (start, end) = splice_range(&items, position, count);
    items.splice(start..end, values);
    ev.check_len(items.len(), c.column)?;
    data(Value::Array(items))
}

/// `dict.mergeWith(another, listMerger => null, itemMerger => null,
/// maxLevels => 0)`: a deep merge. Dictionaries merge key by key, lists by
/// `listMerger($1, $2)` (default: the distinct elements of both), other
/// values by `itemMerger($1, $2)` (default: the second); `maxLevels` (0:
/// no limit) stops the descent.
fn merge_with(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [another, list_merger, item_merger, max_levels] =
        c.bind(&["another", "listMerger", "itemMerger", "maxLevels"])?[..]
    else {
        return Err(c.fail("bad arguments"));
    };
    let Some(another) = another else { return Err(c.fail("missing the argument `another`")) };
    let Value::Object(another) = ev.value(another, c.scope)? else {
        return Err(c.fail("expected a dictionary to merge with"));
    };
    let max_levels = opt_int(ev, c, max_levels, 0)?;
    let mergers = Mergers { list: list_merger, item: item_merger };
    let merged = merge(ev, c, receiver_map(c)?, &another, &mergers, max_levels, 0)?;
    data(Value::Object(merged))
}

struct Mergers<'a> {
    list: Option<&'a Expr>,
    item: Option<&'a Expr>,
}

fn merge(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    left: &Map<String, Value>,
    right: &Map<String, Value>,
    mergers: &Mergers<'_>,
    max_levels: i64,
    depth: usize,
) -> Result<Map<String, Value>> {
    if depth > 1000 {
        return Err(c.fail("nesting too deep"));
    }
    let mut out = Map::new();
    for (key, a) in left {
        ev.tick(1, c.column)?;
        let value = match right.get(key) {
            None => a.clone(),
            Some(b @ Value::Object(bm)) if max_levels != 1 => match a {
                Value::Object(am) => {
                    let next = if max_levels == 0 { 0 } else { max_levels - 1 };
                    Value::Object(merge(ev, c, am, bm, mergers, next, depth + 1)?)
                }
                _ => {
                    return Err(c.fail(format!(
                        "cannot merge {} with {}",
                        type_name(a),
                        type_name(b)
                    )));
                }
            },
            Some(b @ Value::Array(bl)) if max_levels != 1 => match (a, mergers.list) {
                (Value::Array(_), Some(f)) => ev.lambda(f, c.scope, &[a.clone(), b.clone()])?,
                (Value::Array(al), None) => {
                    let mut merged: Vec<Value> = Vec::new();
                    for v in al.iter().chain(bl) {
                        if !merged.iter().any(|m| equal(m, v)) {
                            merged.push(v.clone());
                        }
                    }
                    Value::Array(merged)
                }
                _ => {
                    return Err(c.fail(format!(
                        "cannot merge {} with {}",
                        type_name(a),
                        type_name(b)
                    )));
                }
            },
            Some(b) => match mergers.item {
                Some(f) => ev.lambda(f, c.scope, &[a.clone(), b.clone()])?,
                None => b.clone(),
            },
        };
        out.insert(key.clone(), value);
    }
    for (key, b) in right {
        if !out.contains_key(key) {
            out.insert(key.clone(), b.clone());
        }
    }
    Ok(out)
}
