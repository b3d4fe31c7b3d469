//! yaql's string functions: case, splitting, joining, trimming,
//! replacing, searching, `format` and `concat`.

use serde_json::Value;

use super::{Form, Run, data, int, list, opt_int, opt_string, string};
use crate::ast::Arg;
use crate::error::Result;
use crate::eval::{Call, Ev, Val};
use crate::value::{Style, python_str, type_name, yaql_str};

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "toUpper" => (Form::Method, |ev, c| map_str(ev, c, |s| s.to_uppercase())),
        "toLower" => (Form::Method, |ev, c| map_str(ev, c, |s| s.to_lowercase())),
        "trim" => (Form::Method, |ev, c| trim(ev, c, true, true)),
        "trimLeft" => (Form::Method, |ev, c| trim(ev, c, true, false)),
        "trimRight" => (Form::Method, |ev, c| trim(ev, c, false, true)),
        "norm" => (Form::Both, norm),
        "isEmpty" => (Form::Both, is_empty),
        "split" => (Form::Method, split),
        "rightSplit" => (Form::Method, right_split),
        "join" => (Form::Method, join),
        "replace" => (Form::Method, replace),
        "substring" => (Form::Method, substring),
        "toCharArray" => (Form::Method, to_char_array),
        "startsWith" => (Form::Method, |ev, c| affix(ev, c, true)),
        "endsWith" => (Form::Method, |ev, c| affix(ev, c, false)),
        "concat" => (Form::Raw, concat),
        "format" => (Form::Both, format),
        "hex" => (Form::Function, hex),
        _ => return None,
    })
}

/// The receiver as a string.
pub(super) fn receiver<'c>(c: &'c Call<'_>) -> Result<&'c str> {
    match c.data()? {
        Value::String(s) => Ok(s),
        other => Err(c.fail(format!("expected a string, got {}", type_name(other)))),
    }
}

fn map_str(_: &mut Ev<'_>, c: &Call<'_>, f: fn(&str) -> String) -> Result<Val> {
    c.require(&[])?;
    data(Value::String(f(receiver(c)?)))
}

fn strip<'s>(s: &'s str, chars: Option<&str>, left: bool, right: bool) -> &'s str {
    let test = |ch: char| match chars {
        Some(set) => set.contains(ch),
        None => ch.is_whitespace(),
    };
    let s = if left { s.trim_start_matches(test) } else { s };
    if right { s.trim_end_matches(test) } else { s }
}

fn trim(ev: &mut Ev<'_>, c: &Call<'_>, left: bool, right: bool) -> Result<Val> {
    let [chars] = c.bind(&["chars"])?[..] else { return Err(c.fail("bad arguments")) };
    let chars = opt_string(ev, c, chars)?;
    data(Value::String(strip(receiver(c)?, chars.as_deref(), left, right).to_owned()))
}

fn norm(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [chars] = c.bind(&["chars"])?[..] else { return Err(c.fail("bad arguments")) };
    let chars = opt_string(ev, c, chars)?;
    if c.data()?.is_null() {
        return data(Value::Null);
    }
    let trimmed = strip(receiver(c)?, chars.as_deref(), true, true);
    data(if trimmed.is_empty() { Value::Null } else { Value::String(trimmed.to_owned()) })
}

fn is_empty(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [trim_spaces, chars] = c.bind(&["trimSpaces", "chars"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let trim_spaces = match trim_spaces {
        Some(e) => crate::value::truthy(&ev.value(e, c.scope)?),
        None => true,
    };
    let chars = opt_string(ev, c, chars)?;
    if c.data()?.is_null() {
        return data(Value::Bool(true));
    }
    let s = receiver(c)?;
    let s = if trim_spaces { strip(s, chars.as_deref(), true, true) } else { s };
    data(Value::Bool(s.is_empty()))
}

/// Python's `str.split(sep, maxsplit)` (and `rsplit` when `from_right`).
pub(super) fn py_split(s: &str, sep: Option<&str>, max: i64, from_right: bool) -> Vec<String> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    match sep {
        Some(sep) => {
            let parts: Vec<String> = if from_right {
                let mut parts: Vec<String> =
                    s.rsplitn(max.saturating_add(1), sep).map(str::to_owned).collect();
                parts.reverse();
                parts
            } else {
                s.splitn(max.saturating_add(1), sep).map(str::to_owned).collect()
            };
            parts
        }
        None => {
            let words: Vec<&str> = s.split_whitespace().collect();
            if words.len() <= max.saturating_add(1) || max == usize::MAX {
                return words.into_iter().map(str::to_owned).collect();
            }
            // Keep the rest after `max` splits as one part, as Python does.
            if from_right {
                let mut rest = s.trim_end();
                let mut tail = Vec::new();
                for _ in 0..max {
                    let at = rest.rfind(char::is_whitespace).unwrap_or(0);
                    tail.push(rest[at..].trim_start().to_owned());
                    rest = rest[..at].trim_end();
                }
                tail.push(rest.trim_start().to_owned());
                tail.reverse();
                tail
            } else {
                let mut rest = s.trim_start();
                let mut head = Vec::new();
                for _ in 0..max {
                    let at = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    head.push(rest[..at].to_owned());
                    rest = rest[at..].trim_start();
                }
                head.push(rest.trim_end().to_owned());
                head
            }
        }
    }
}

fn strings(parts: Vec<String>) -> Value {
    Value::Array(parts.into_iter().map(Value::String).collect())
}

fn split(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    if matches!(c.receiver, Some(Val::Regex(_))) {
        return super::regex::split(ev, c);
    }
    let [sep, max] = c.bind(&["separator", "maxSplits"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    if let Some(expr) = sep
        && let Val::Regex(rx) = ev.eval(expr, c.scope)?
    {
        let max = opt_int(ev, c, max, 0)?;
        return super::regex::split_with(ev, c, &rx, receiver(c)?, max);
    }
    let sep = opt_string(ev, c, sep)?;
    if sep.as_deref() == Some("") {
        return Err(c.fail("empty separator"));
    }
    let max = opt_int(ev, c, max, -1)?;
    let parts = py_split(receiver(c)?, sep.as_deref(), max, false);
    ev.grow(parts.len(), c.column)?;
    data(strings(parts))
}

fn right_split(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [sep, max] = c.bind(&["separator", "maxSplits"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let sep = opt_string(ev, c, sep)?;
    if sep.as_deref() == Some("") {
        return Err(c.fail("empty separator"));
    }
    let max = opt_int(ev, c, max, -1)?;
    let parts = py_split(receiver(c)?, sep.as_deref(), max, true);
    ev.grow(parts.len(), c.column)?;
    data(strings(parts))
}

fn join_items(ev: &mut Ev<'_>, c: &Call<'_>, items: &[Value], sep: &str) -> Result<Val> {
    ev.tick(items.len() as u64, c.column)?;
    let text = items.iter().map(yaql_str).collect::<Vec<_>>().join(sep);
    ev.grow_str(text.len(), c.column)?;
    data(Value::String(text))
}

/// `list.join(separator)`, `separator.join(list)`, and the collections'
/// `list.join(other, predicate, selector)`.
fn join(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    if c.args.len() == 3 {
        return super::queries::join(ev, c);
    }
    match c.data()? {
        Value::Array(items) => {
            let [sep] = c.require(&["separator"])?[..] else { return Err(c.fail("bad arguments")) };
            let sep = string(ev, c, sep)?;
            join_items(ev, c, items, &sep)
        }
        Value::String(sep) => {
            let [seq] = c.require(&["sequence"])?[..] else { return Err(c.fail("bad arguments")) };
            let items = list(ev, c, seq)?;
            join_items(ev, c, &items, sep)
        }
        other => Err(c.fail(format!("cannot join {}", type_name(other)))),
    }
}

/// Python's `str.replace(old, new, count)`.
fn py_replace(s: &str, old: &str, new: &str, count: i64) -> String {
    match usize::try_from(count) {
        Ok(n) => s.replacen(old, new, n),
        Err(_) => s.replace(old, new),
    }
}

/// `string.replace(old, new, count => -1)`, `string.replace({old => new},
/// count)`, `string.replace(regex, repl, count)`, and the collections'
/// `list.replace(position, value, count)`.
fn replace(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    match &c.receiver {
        Some(Val::DateTime(_)) => return super::dates::replace(ev, c),
        Some(Val::Regex(_)) => return super::regex::replace(ev, c),
        Some(Val::Data(Value::Array(_))) => return super::collections::list_replace(ev, c),
        _ => {}
    }
    let s = receiver(c)?.to_owned();
    let Some(Arg::Pos(first)) = c.args.first() else { return Err(c.fail("missing arguments")) };
    let out = match ev.eval(first, c.scope)? {
        Val::Regex(rx) => {
            let [_, repl, count] = c.bind(&["regexp", "repl", "count"])?[..] else {
                return Err(c.fail("bad arguments"));
            };
            let repl = match repl {
                Some(e) => string(ev, c, e)?,
                None => return Err(c.fail("missing the argument `repl`")),
            };
            let count = opt_int(ev, c, count, 0)?;
            return super::regex::sub(ev, c, &rx, &s, &repl, count);
        }
        Val::Data(Value::Object(map)) => {
            let [_, count] = c.bind(&["replacements", "count"])?[..] else {
                return Err(c.fail("bad arguments"));
            };
            let count = opt_int(ev, c, count, -1)?;
            let mut s = s;
            for (old, new) in &map {
                s = py_replace(&s, old, &yaql_str(new), count);
                ev.check_str(s.len(), c.column)?;
            }
            s
        }
        Val::Data(Value::String(old)) => {
            let [_, new, count] = c.bind(&["old", "new", "count"])?[..] else {
                return Err(c.fail("bad arguments"));
            };
            let new = match new {
                Some(e) => string(ev, c, e)?,
                None => return Err(c.fail("missing the argument `new`")),
            };
            let count = opt_int(ev, c, count, -1)?;
            let estimate = s.len().saturating_add(new.len().saturating_mul(s.len() + 1));
            if estimate > ev.limits.string {
                let grown = s.matches(old.as_str()).count().saturating_mul(new.len());
                ev.check_str(s.len().saturating_add(grown), c.column)?;
            }
            py_replace(&s, &old, &new, count)
        }
        other => return Err(c.fail(format!("cannot replace with {}", other.describe()))),
    };
    ev.grow_str(out.len(), c.column)?;
    data(Value::String(out))
}

/// Python's slice bounds `[start:end]` over `len` items.
pub(super) fn slice_bounds(start: i64, end: i64, len: usize) -> (usize, usize) {
    let len_i = len as i64;
    let fix = |i: i64| if i < 0 { (i + len_i).max(0) } else { i.min(len_i) };
    let (a, b) = (fix(start) as usize, fix(end) as usize);
    (a, b.max(a))
}

fn substring(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [start, length] = c.bind(&["start", "length"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(start) = start else { return Err(c.fail("missing the argument `start`")) };
    let mut start = int(ev, c, start)?;
    let mut length = opt_int(ev, c, length, -1)?;
    let chars: Vec<char> = receiver(c)?.chars().collect();
    let len = chars.len() as i64;
    if length < 0 {
        length = len;
    }
    if start < 0 {
        start += len;
    }
    let (a, b) = slice_bounds(start, start.saturating_add(length), chars.len());
    data(Value::String(chars[a..b].iter().collect()))
}

/// Python's `str.find(sub, start, end)` in characters.
pub(super) fn py_find(s: &str, sub: &str, start: i64, end: i64, last: bool) -> i64 {
    let chars: Vec<char> = s.chars().collect();
    let (a, b) = slice_bounds(start, end, chars.len());
    let hay: String = chars[a..b].iter().collect();
    let found = if last { hay.rfind(sub) } else { hay.find(sub) };
    match found {
        Some(byte) => (a + hay[..byte].chars().count()) as i64,
        None => -1,
    }
}

fn to_char_array(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    c.require(&[])?;
    let s = receiver(c)?;
    ev.grow(s.chars().count(), c.column)?;
    data(Value::Array(s.chars().map(|ch| Value::String(ch.to_string())).collect()))
}

fn affix(ev: &mut Ev<'_>, c: &Call<'_>, start: bool) -> Result<Val> {
    let s = receiver(c)?.to_owned();
    let mut any = false;
    for expr in c.positional()? {
        let fix = string(ev, c, expr)?;
        any |= if start { s.starts_with(&fix) } else { s.ends_with(&fix) };
    }
    data(Value::Bool(any))
}

/// `concat("a", "b")` joins strings; `[1].concat([2], [3])` and
/// `concat([1], [2])` join collections.
fn concat(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let mut values = Vec::new();
    if let Some(receiver) = &c.receiver {
        let Val::Data(v) = receiver else { return Err(c.fail("expected a list")) };
        values.push(v.clone());
    }
    for expr in c.positional()? {
        values.push(ev.value(expr, c.scope)?);
    }
    if c.receiver.is_none() && values.iter().all(Value::is_string) {
        let text: String = values.iter().filter_map(Value::as_str).collect();
        ev.check_str(text.len(), c.column)?;
        return data(Value::String(text));
    }
    let mut out = Vec::new();
    for v in values {
        match v {
            Value::Array(items) => out.extend(items),
            other => {
                return Err(
                    c.fail(format!("expected lists (or only strings), got {}", type_name(&other)))
                );
            }
        }
        ev.check_len(out.len(), c.column)?;
    }
    data(Value::Array(out))
}

/// Python's `str.format()` with `{}`, `{0}`, `{name}` fields and `{{ }}`
/// escapes (format specs and conversions are not supported).
fn format(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    if let Some(Val::DateTime(_)) = &c.receiver {
        return super::dates::format(ev, c);
    }
    let template = receiver(c)?.to_owned();
    let mut positional = Vec::new();
    let mut named = Vec::new();
    for arg in c.args {
        match arg {
            Arg::Pos(e) => positional.push(ev.value(e, c.scope)?),
            Arg::Pair(k, e) => {
                let crate::ast::Kind::Keyword(k) = &k.kind else {
                    return Err(c.fail("a `=>` argument needs a name"));
                };
                named.push((k.clone(), ev.value(e, c.scope)?));
            }
        }
    }
    let mut out = String::new();
    let mut auto = 0usize;
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => field.push(ch),
                        None => return Err(c.fail("a `{` without its `}` in the format string")),
                    }
                }
                let value = if field.is_empty() {
                    auto += 1;
                    positional.get(auto - 1)
                } else if let Ok(i) = field.parse::<usize>() {
                    positional.get(i)
                } else if field.contains([':', '!', '[', '.']) {
                    return Err(c.fail(format!("unsupported format field `{{{field}}}`")));
                } else {
                    named.iter().find(|(k, _)| *k == field).map(|(_, v)| v)
                };
                let Some(value) = value else {
                    return Err(c.fail(format!("no value for `{{{field}}}`")));
                };
                out.push_str(&python_str(value, Style::Tuple));
                ev.check_str(out.len(), c.column)?;
            }
            '}' => return Err(c.fail("a single `}` in the format string")),
            ch => out.push(ch),
        }
    }
    data(Value::String(out))
}

fn hex(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [num] = c.require(&["num"])?[..] else { return Err(c.fail("bad arguments")) };
    let n = int(ev, c, num)?;
    let text = if n < 0 { format!("-0x{:x}", n.unsigned_abs()) } else { format!("0x{n:x}") };
    data(Value::String(text))
}
