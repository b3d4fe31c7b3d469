//! yaql's regular expressions (Python's `re` syntax, with look-around and
//! back-references, through `fancy-regex`): `regex()`, `matches`,
//! `search`, `searchAll`, `split`, `replace`, `replaceBy`, `escapeRegex`,
//! and the `=~` / `!~` operators.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::{Form, Run, data, flag, opt_int, string};
use crate::error::{Error, Result};
use crate::eval::{Call, Ev, Rx, Scope, Val};

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "regex" => (Form::Function, regex),
        "matches" => (Form::Method, matches),
        "search" => (Form::Method, |ev, c| search_fn(ev, c, false)),
        "searchAll" => (Form::Method, |ev, c| search_fn(ev, c, true)),
        "replaceBy" => (Form::Method, replace_by),
        "escapeRegex" => (Form::Function, escape),
        _ => return None,
    })
}

/// Python's pattern syntax in the dialect `fancy-regex` reads: `\Z` is
/// `\z`. `flags` are inline flag letters (`i`, `m`, `s`).
pub(crate) fn compile(pattern: &str, flags: &str, column: usize) -> Result<Rc<Rx>> {
    let mut translated = String::with_capacity(pattern.len() + 6);
    if !flags.is_empty() {
        translated.push_str(&format!("(?{flags})"));
    }
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            match chars.next() {
                Some('Z') => translated.push_str("\\z"),
                Some(next) => {
                    translated.push('\\');
                    translated.push(next);
                }
                None => translated.push('\\'),
            }
        } else {
            translated.push(ch);
        }
    }
    fancy_regex::RegexBuilder::new(&translated)
        .backtrack_limit(1_000_000)
        .build()
        .map(|re| Rc::new(Rx { re }))
        .map_err(|e| Error::Regex { column, message: e.to_string() })
}

/// The byte ranges of a match's groups (the whole match first).
pub(crate) type Groups = Vec<Option<(usize, usize)>>;

fn run_error(column: usize, e: &fancy_regex::Error) -> Error {
    Error::Regex { column, message: e.to_string() }
}

/// The first match of `rx` in `text`: its groups as (start, end) byte
/// offsets, the whole match first.
pub(crate) fn search(rx: &Rx, text: &str, column: usize) -> Result<Option<Groups>> {
    let caps = rx.re.captures(text).map_err(|e| run_error(column, &e))?;
    Ok(caps
        .map(|caps| (0..caps.len()).map(|i| caps.get(i).map(|m| (m.start(), m.end()))).collect()))
}

fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

fn record(text: &str, group: Option<(usize, usize)>) -> Value {
    let mut map = Map::new();
    match group {
        Some((a, b)) => {
            map.insert("value".into(), Value::String(text[a..b].to_owned()));
            map.insert("start".into(), Value::from(char_offset(text, a)));
            map.insert("end".into(), Value::from(char_offset(text, b)));
        }
        None => {
            map.insert("value".into(), Value::Null);
            map.insert("start".into(), Value::from(-1));
            map.insert("end".into(), Value::from(-1));
        }
    }
    Value::Object(map)
}

/// A scope with a match published as yaql does: `$` (and `$1`) the whole
/// match, `$2`, `$3`, … the groups, each `{value, start, end}`.
fn match_scope(c: &Call<'_>, text: &str, groups: &[Option<(usize, usize)>]) -> Rc<Scope> {
    let vars = groups
        .iter()
        .enumerate()
        .map(|(i, g)| ((i + 1).to_string(), Val::Data(record(text, *g))))
        .collect();
    Scope::child(c.scope, vars)
}

fn regex(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [pattern, ignore_case, multi_line, dot_all] =
        c.bind(&["pattern", "ignoreCase", "multiLine", "dotAll"])?[..]
    else {
        return Err(c.fail("bad arguments"));
    };
    let Some(pattern) = pattern else { return Err(c.fail("missing the argument `pattern`")) };
    let pattern = string(ev, c, pattern)?;
    let mut flags = String::new();
    for (expr, letter) in [(ignore_case, 'i'), (multi_line, 'm'), (dot_all, 's')] {
        if flag(ev, c, expr)? {
            flags.push(letter);
        }
    }
    Ok(Val::Regex(compile(&pattern, &flags, c.column)?))
}

/// The regular expression and the text of a call written either way:
/// `regex.f(string, …)` or `string.f(pattern-or-regex, …)`.
fn operands(ev: &mut Ev<'_>, c: &Call<'_>, first: &crate::ast::Expr) -> Result<(Rc<Rx>, String)> {
    match &c.receiver {
        Some(Val::Regex(rx)) => Ok((Rc::clone(rx), string(ev, c, first)?)),
        Some(Val::Data(Value::String(text))) => match ev.eval(first, c.scope)? {
            Val::Regex(rx) => Ok((rx, text.clone())),
            Val::Data(Value::String(pattern)) => {
                Ok((compile(&pattern, "", c.column)?, text.clone()))
            }
            other => Err(c.fail(format!("expected a pattern, got {}", other.describe()))),
        },
        Some(other) => Err(
            c.fail(format!("expected a regular expression or a string, got {}", other.describe()))
        ),
        None => Err(c.fail("needs a receiver")),
    }
}

fn matches(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [arg] = c.require(&["string"])?[..] else { return Err(c.fail("bad arguments")) };
    let (rx, text) = operands(ev, c, arg)?;
    data(Value::Bool(search(&rx, &text, c.column)?.is_some()))
}

fn search_fn(ev: &mut Ev<'_>, c: &Call<'_>, all: bool) -> Result<Val> {
    let [arg, selector] = c.bind(&["string", "selector"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(arg) = arg else { return Err(c.fail("missing the argument `string`")) };
    let Some(Val::Regex(_)) = &c.receiver else {
        return Err(c.fail("is a method of a regular expression: regex(pattern).search(string)"));
    };
    let (rx, text) = operands(ev, c, arg)?;
    let mut out = Vec::new();
    for caps in rx.re.captures_iter(&text) {
        let caps = caps.map_err(|e| run_error(c.column, &e))?;
        ev.tick(1, c.column)?;
        let groups: Vec<Option<(usize, usize)>> =
            (0..caps.len()).map(|i| caps.get(i).map(|m| (m.start(), m.end()))).collect();
        let value = match selector {
            Some(selector) => ev.value(selector, &match_scope(c, &text, &groups))?,
            None => groups[0].map_or(Value::Null, |(a, b)| Value::String(text[a..b].to_owned())),
        };
        if !all {
            return data(value);
        }
        out.push(value);
        ev.check_len(out.len(), c.column)?;
    }
    data(if all { Value::Array(out) } else { Value::Null })
}

/// `regex.split(string, maxSplit => 0)`.
pub(super) fn split(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [arg, max] = c.bind(&["string", "maxSplit"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(arg) = arg else { return Err(c.fail("missing the argument `string`")) };
    let (rx, text) = operands(ev, c, arg)?;
    let max = opt_int(ev, c, max, 0)?;
    split_with(ev, c, &rx, &text, max)
}

/// Python's `re.split`: captured groups appear between the parts.
pub(super) fn split_with(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    rx: &Rx,
    text: &str,
    max: i64,
) -> Result<Val> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut splits = 0;
    for caps in rx.re.captures_iter(text) {
        let caps = caps.map_err(|e| run_error(c.column, &e))?;
        if max > 0 && splits >= max {
            break;
        }
        let Some(whole) = caps.get(0) else { continue };
        out.push(Value::String(text[last..whole.start()].to_owned()));
        for i in 1..caps.len() {
            out.push(caps.get(i).map_or(Value::Null, |m| Value::String(m.as_str().to_owned())));
        }
        last = whole.end();
        splits += 1;
        ev.check_len(out.len(), c.column)?;
    }
    out.push(Value::String(text[last..].to_owned()));
    data(Value::Array(out))
}

/// Python's replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`) in
/// `fancy-regex`'s syntax (`${1}`, `$$` for a dollar).
fn template(repl: &str) -> String {
    let mut out = String::with_capacity(repl.len());
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '$' => out.push_str("$$"),
            '\\' if i + 1 < chars.len() => {
                let next = chars[i + 1];
                if next.is_ascii_digit() {
                    let mut end = i + 1;
                    while end < chars.len() && end < i + 3 && chars[end].is_ascii_digit() {
                        end += 1;
                    }
                    let digits: String = chars[i + 1..end].iter().collect();
                    out.push_str(&format!("${{{digits}}}"));
                    i = end;
                    continue;
                }
                if next == 'g'
                    && chars.get(i + 2) == Some(&'<')
                    && let Some(close) = chars[i + 3..].iter().position(|ch| *ch == '>')
                {
                    let name: String = chars[i + 3..i + 3 + close].iter().collect();
                    out.push_str(&format!("${{{name}}}"));
                    i += 4 + close;
                    continue;
                }
                match next {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                i += 2;
                continue;
            }
            ch => out.push(ch),
        }
        i += 1;
    }
    out
}

/// Python's `re.sub(repl, text, count)` (`count` 0: every match).
pub(super) fn sub(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    rx: &Rx,
    text: &str,
    repl: &str,
    count: i64,
) -> Result<Val> {
    let template = template(repl);
    let limit = usize::try_from(count).unwrap_or(0);
    let mut out = String::new();
    let mut last = 0;
    for (n, caps) in rx.re.captures_iter(text).enumerate() {
        if limit > 0 && n >= limit {
            break;
        }
        let caps = caps.map_err(|e| run_error(c.column, &e))?;
        let Some(whole) = caps.get(0) else { continue };
        out.push_str(&text[last..whole.start()]);
        caps.expand(&template, &mut out);
        last = whole.end();
        ev.check_str(out.len(), c.column)?;
    }
    out.push_str(&text[last..]);
    ev.check_str(out.len(), c.column)?;
    data(Value::String(out))
}

/// `regex.replace(string, repl, count => 0)`.
pub(super) fn replace(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [arg, repl, count] = c.bind(&["string", "repl", "count"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let (Some(arg), Some(repl)) = (arg, repl) else {
        return Err(c.fail("takes a string and a replacement"));
    };
    let (rx, text) = operands(ev, c, arg)?;
    let repl = string(ev, c, repl)?;
    let count = opt_int(ev, c, count, 0)?;
    sub(ev, c, &rx, &text, &repl, count)
}

/// `regex.replaceBy(string, lambda, count => 0)`: the lambda sees the match
/// as `$` (`$.value`, `$.start`, `$.end`) and groups as `$2`, `$3`, ….
fn replace_by(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [arg, repl, count] = c.bind(&["string", "repl", "count"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let (Some(arg), Some(repl)) = (arg, repl) else {
        return Err(c.fail("takes a string and a replacement"));
    };
    let (rx, text) = operands(ev, c, arg)?;
    let limit = usize::try_from(opt_int(ev, c, count, 0)?).unwrap_or(0);
    let mut out = String::new();
    let mut last = 0;
    for (n, caps) in rx.re.captures_iter(&text).enumerate() {
        if limit > 0 && n >= limit {
            break;
        }
        let caps = caps.map_err(|e| run_error(c.column, &e))?;
        let groups: Vec<Option<(usize, usize)>> =
            (0..caps.len()).map(|i| caps.get(i).map(|m| (m.start(), m.end()))).collect();
        let Some((a, b)) = groups[0] else { continue };
        out.push_str(&text[last..a]);
        match ev.value(repl, &match_scope(c, &text, &groups))? {
            Value::String(s) => out.push_str(&s),
            other => {
                return Err(c.fail(format!(
                    "the replacement must be a string, got {}",
                    crate::value::type_name(&other)
                )));
            }
        }
        last = b;
        ev.check_str(out.len(), c.column)?;
    }
    out.push_str(&text[last..]);
    data(Value::String(out))
}

/// Python's `re.escape` (3.7 and later): the characters special in a
/// pattern, and whitespace, escaped.
fn escape(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [arg] = c.require(&["string"])?[..] else { return Err(c.fail("bad arguments")) };
    let text = string(ev, c, arg)?;
    let mut out = String::with_capacity(text.len() * 2);
    for ch in text.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    data(Value::String(out))
}
