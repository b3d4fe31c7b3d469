//! Jinja expressions in workflow fields (`{{ }}`, `{% %}`), checked with
//! minijinja: syntax, unknown functions, filters, tests and variables.
//! YAQL (`<% %>`) is `yaql.rs`'s; a value holds one language or the other.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};

/// Orquesta's functions (`setup.py` entry points), StackStorm's additions
/// (`st2kv`, `json_escape`, ...), and minijinja's global functions.
pub const FUNCTIONS: &[&str] = &[
    "ctx",
    "json",
    "zip",
    "item",
    "task_status",
    "task",
    "succeeded",
    "failed",
    "completed",
    "result",
    "st2kv",
    "decrypt_kv",
    "json_escape",
    "from_json_string",
    "to_json_string",
    "from_yaml_string",
    "to_yaml_string",
    "to_complex",
    "regex_match",
    "regex_search",
    "regex_substring",
    "regex_replace",
    "use_none",
    "range",
    "dict",
    "namespace",
    "debug",
];

/// The environment names are checked against: minijinja's built-ins plus
/// every workflow function, also usable as a filter as in Orquesta, which
/// registers its functions as filters.
static CHECKER: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    for name in FUNCTIONS.iter().chain(crate::rules::ST2_FUNCTIONS) {
        env.add_filter(*name, |value: minijinja::Value| value);
    }
    env
});

/// Whether `text` holds an expression of either kind.
pub fn has_expression(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("<%")
}

/// Refuses a value that mixes YAQL `<% %>` and Jinja `{{ }}`, as Orquesta
/// does (one language per expression).
pub(crate) fn check_one_language(text: &str) -> Result<(), String> {
    if text.contains("<%") && (text.contains("{{") || text.contains("{%")) {
        return Err("mixes YAQL `<% %>` and Jinja `{{ }}` in one value".to_owned());
    }
    Ok(())
}

/// What an expression refers to, for the checks that need the workflow.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Workflow variables read with `ctx('x')`, `ctx("x")`, `ctx().x`,
    /// `ctx()['x']` (YAQL `ctx(x)`, `ctx().x`).
    pub variables: BTreeSet<String>,
    /// Whether `item()` is called, and the item keys `item('x')` reads.
    pub item: bool,
    pub item_keys: BTreeSet<String>,
}

/// Checks one field's Jinja: syntax, unknown
/// functions, filters, tests and variables. Returns the problems and what
/// the text refers to.
pub fn check(jinja: &str) -> (Vec<String>, References) {
    let mut problems = Vec::new();
    let mut references = References::default();
    let template = match CHECKER.template_from_str(jinja) {
        Ok(template) => template,
        Err(error) => {
            problems.push(format!("syntax error: {}", one_line(&error)));
            return (problems, references);
        }
    };
    let code = expression_text(jinja);
    let tokens = tokens(&code);
    let called: BTreeSet<&str> = tokens
        .windows(2)
        .enumerate()
        .filter(|(i, pair)| {
            is_ident(pair[0]) && pair[1] == "(" && (*i == 0 || tokens[i - 1] != ".")
        })
        .map(|(_, pair)| pair[0])
        .collect();
    let mut undeclared: Vec<String> = template.undeclared_variables(false).into_iter().collect();
    undeclared.sort();
    for name in undeclared {
        if FUNCTIONS.contains(&name.as_str())
            || crate::rules::ST2_FUNCTIONS.contains(&name.as_str())
            || name == "loop"
        {
            continue;
        }
        if called.contains(name.as_str()) {
            problems.push(format!("unknown function `{name}`"));
        } else {
            problems.push(format!(
                "unknown variable `{name}` (workflow variables are read with ctx('{name}') or ctx().{name})"
            ));
        }
    }
    for (i, token) in tokens.iter().enumerate() {
        let Some(next) = tokens.get(i + 1) else { continue };
        if *token == "|" && is_ident(next) && !filter_exists(next) {
            problems.push(format!("unknown filter `{next}`"));
        }
        if *token == "is" {
            let name = if *next == "not" { tokens.get(i + 2).copied() } else { Some(*next) };
            if let Some(name) = name.filter(|n| is_ident(n))
                && !test_exists(name)
            {
                problems.push(format!("unknown test `{name}`"));
            }
        }
        let call = tokens.get(i + 1) == Some(&"(") && (i == 0 || tokens[i - 1] != ".");
        if call && (*token == "ctx" || *token == "item") {
            let argument = tokens.get(i + 2).copied().unwrap_or(")");
            let key = string_literal(argument);
            let closes = tokens.get(i + 3) == Some(&")");
            if *token == "item" {
                references.item = true;
                if let (Some(key), true) = (key, closes) {
                    references.item_keys.insert(key);
                }
            } else if argument == ")" {
                // ctx().x or ctx()['x']
                match (tokens.get(i + 3).copied(), tokens.get(i + 4).copied()) {
                    (Some("."), Some(name)) if is_ident(name) => {
                        references.variables.insert(name.to_owned());
                    }
                    (Some("["), Some(literal)) => {
                        if let Some(name) = string_literal(literal) {
                            references.variables.insert(name);
                        }
                    }
                    _ => {}
                }
            } else if let (Some(key), true) = (key, closes) {
                references.variables.insert(key);
            }
        }
    }
    problems.dedup();
    (problems, references)
}

fn filter_exists(name: &str) -> bool {
    probe(&format!("{{{{ none | {name} }}}}"), ErrorKind::UnknownFilter)
}

fn test_exists(name: &str) -> bool {
    probe(&format!("{{{{ none is {name} }}}}"), ErrorKind::UnknownTest)
}

/// Renders a one-line probe: the name exists unless the error is `missing`.
fn probe(source: &str, missing: ErrorKind) -> bool {
    match CHECKER.render_str(source, ()) {
        Ok(_) => true,
        Err(error) => error.kind() != missing,
    }
}

fn one_line(error: &minijinja::Error) -> String {
    let text = match error.detail() {
        Some(detail) => detail.to_string(),
        None => error.kind().to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The code inside `{{ }}` and `{% %}`, each part followed by a separator
/// so tokens of different parts never join.
fn expression_text(jinja: &str) -> String {
    let mut out = String::new();
    let mut rest = jinja;
    loop {
        let next = [("{{", "}}"), ("{%", "%}")]
            .iter()
            .filter_map(|(open, close)| rest.find(open).map(|at| (at, *open, *close)))
            .min_by_key(|(at, _, _)| *at);
        let Some((at, open, close)) = next else { break };
        let inner = &rest[at + open.len()..];
        let end = inner.find(close).unwrap_or(inner.len());
        out.push_str(inner[..end].trim_matches('-'));
        out.push_str(" ; ");
        rest = inner.get(end + close.len()..).unwrap_or("");
    }
    out
}

fn is_ident(token: &str) -> bool {
    token.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && token.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn string_literal(token: &str) -> Option<String> {
    let quote = token.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let inner = token.strip_prefix(quote)?.strip_suffix(quote)?;
    Some(inner.to_owned())
}

/// Identifiers, numbers, string literals (quotes kept) and operators of
/// one or two characters.
fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'\'' || c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != c {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            // A decimal number keeps its fraction.
            if c.is_ascii_digit()
                && bytes.get(i) == Some(&b'.')
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        } else {
            let two = code.get(i..i + 2).unwrap_or("");
            i += if ["==", "!=", "<=", ">=", "=>", "//", "**"].contains(&two) { 2 } else { 1 };
        }
        if let Some(token) = code.get(start..i) {
            out.push(token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_finds_unknown_names_and_references() {
        let (problems, refs) =
            check("{{ ctx('a') ~ ctx().b | upper | shout ~ nope(1) ~ bare ~ item('k') }}");
        assert_eq!(
            problems,
            [
                "unknown variable `bare` (workflow variables are read with ctx('bare') or ctx().bare)",
                "unknown function `nope`",
                "unknown filter `shout`",
            ]
        );
        assert_eq!(refs.variables.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(refs.item);
        assert_eq!(refs.item_keys.iter().collect::<Vec<_>>(), ["k"]);
        let (problems, _) = check("{{ ctx('a') ");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("syntax error: "), "{problems:?}");
    }
}
