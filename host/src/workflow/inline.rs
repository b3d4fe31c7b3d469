//! Orquesta's inline forms in a task: an action followed by its
//! parameters (`core.echo message=<% ctx(m) %> n=3`), an action written as
//! an expression, `publish: a=1 b=<% … %>`; and the cheap scan for calls
//! of StackStorm's `task()`.

use serde_json::Value;

/// Whether the text calls `task(…)` (not `task_status(…)` or a task
/// named `mytask`): a cheap over-approximation, read once at load.
pub(super) fn calls_task(text: &str) -> bool {
    text.match_indices("task(").any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// An `action:` value split into the action and its inline parameters.
/// An action written as an expression (`<% ctx(name) %>`, `{{ … }}`) is
/// kept whole up to the end of the expression.
pub(super) fn split_action(text: &str) -> Option<(&str, &str)> {
    for (open, close) in [("<%", "%>"), ("{{", "}}")] {
        if text.starts_with(open) {
            let end = text.find(close)? + close.len();
            let rest = &text[end..];
            if rest.trim().is_empty() {
                return None;
            }
            return Some((&text[..end], rest));
        }
    }
    text.split_once(char::is_whitespace)
}

/// Orquesta's inline parameters `a=1 b="two words" c=<% ctx(x) %>`: values
/// are JSON scalars, quoted strings, bracketed lists or expressions.
pub(super) fn inline_params(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once('=') else {
            return Err(format!("expected `name=value` parameters, found {rest:?}"));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(format!("expected a parameter name before `=`, found {name:?}"));
        }
        let (raw, remaining) = inline_value(after)?;
        let value = if raw.starts_with(['"', '\'']) {
            Value::String(raw[1..raw.len() - 1].to_owned())
        } else if super::expr::has_expression(raw) {
            Value::String(raw.to_owned())
        } else {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        };
        out.push((name.to_owned(), value));
        rest = remaining.trim_start();
    }
    Ok(out)
}

/// The raw value at the start of `text` and what follows it.
fn inline_value(text: &str) -> Result<(&str, &str), String> {
    let closing = |open: &str| match open {
        "<%" => Some("%>"),
        "{{" => Some("}}"),
        "\"" => Some("\""),
        "'" => Some("'"),
        "[" => Some("]"),
        _ => None,
    };
    for open in ["<%", "{{", "\"", "'", "["] {
        if let Some(after) = text.strip_prefix(open) {
            let close = closing(open).unwrap_or(open);
            let end = after
                .find(close)
                .ok_or_else(|| format!("`{open}` without its closing `{close}` in {text:?}"))?;
            let cut = open.len() + end + close.len();
            return Ok((&text[..cut], &text[cut..]));
        }
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    Ok((&text[..end], &text[end..]))
}
