//! Expressions in workflow fields: Jinja (`{{ }}`, `{% %}`) checked with
//! minijinja, and YAQL (`<% %>`) translated to Jinja.
//!
//! Squall evaluates Jinja only. Orquesta workflows are often written in
//! YAQL, so the common YAQL forms are translated token by token rather than
//! refused: `ctx(x)`, `ctx().x`, `$.x`, `result().field`, `succeeded()`,
//! `item(x)`, `task_status(t)`, comparisons (`=` becomes `==`), `and`,
//! `or`, `not`, `in`, literals, indexing and arithmetic. A bare identifier
//! that is an argument (`ctx(x)`) is a string in YAQL and becomes `'x'`.
//! Anything else (methods such as `.where()`, YAQL's own functions such as
//! `len()`, `=>`, `$` alone) is refused with "write it in Jinja", so a
//! workflow never silently means something else than in StackStorm.

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
    for name in FUNCTIONS {
        env.add_filter(*name, |value: minijinja::Value| value);
    }
    env
});

/// Whether `text` holds an expression of either kind.
pub fn has_expression(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("<%")
}

/// `text` with every `<% yaql %>` replaced by its Jinja translation
/// `{{ jinja }}`; text without YAQL comes back unchanged.
pub fn to_jinja(text: &str) -> Result<String, String> {
    if !text.contains("<%") {
        return Ok(text.to_owned());
    }
    if text.contains("{{") || text.contains("{%") {
        return Err("mixes YAQL `<% %>` and Jinja `{{ }}` in one value".to_owned());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<%") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("%>") else {
            return Err("`<%` without its closing `%>`".to_owned());
        };
        let yaql = after[..end].trim();
        let jinja = translate(yaql).map_err(|why| {
            format!("YAQL `<% {yaql} %>`: {why}; write it in Jinja (`{{{{ }}}}`)")
        })?;
        out.push_str("{{ ");
        out.push_str(&jinja);
        out.push_str(" }}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What an expression refers to, for the checks that need the workflow.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    /// Workflow variables read with `ctx('x')`, `ctx("x")`, `ctx().x`,
    /// `ctx()['x']` (YAQL `ctx(x)`, `$.x` translate to these).
    pub variables: BTreeSet<String>,
    /// Whether `item()` is called, and the item keys `item('x')` reads.
    pub item: bool,
    pub item_keys: BTreeSet<String>,
}

/// Checks one field's text (after YAQL translation): syntax, unknown
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
        if FUNCTIONS.contains(&name.as_str()) || name == "loop" {
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

/// The workflow functions YAQL may call, translated as calls of the same
/// name; their bare-identifier arguments become strings.
const YAQL_FUNCTIONS: &[&str] = &[
    "ctx",
    "item",
    "result",
    "succeeded",
    "failed",
    "completed",
    "task_status",
    "zip",
    "json",
    "st2kv",
];

/// One YAQL expression (without delimiters) as Jinja.
fn translate(yaql: &str) -> Result<String, String> {
    let tokens = tokens(yaql);
    let mut out: Vec<String> = Vec::new();
    let mut depth_calls: Vec<bool> = Vec::new();
    for (i, token) in tokens.iter().copied().enumerate() {
        let previous = if i == 0 { None } else { Some(tokens[i - 1]) };
        let next = tokens.get(i + 1).copied();
        let piece = match token {
            "=" => "==".to_owned(),
            "!=" | "<" | ">" | "<=" | ">=" | "+" | "-" | "*" | "/" | "," | "[" | "]" => {
                token.to_owned()
            }
            "(" => {
                depth_calls.push(previous.is_some_and(is_ident));
                token.to_owned()
            }
            ")" => {
                depth_calls.pop();
                token.to_owned()
            }
            "." => {
                if previous.is_none() {
                    return Err("a leading `.`".to_owned());
                }
                ".".to_owned()
            }
            "$" => {
                if next != Some(".") {
                    return Err("`$` outside `$.name`".to_owned());
                }
                match tokens.get(i + 2) {
                    Some(name) if is_ident(name) => "ctx()".to_owned(),
                    _ => return Err("`$.` not followed by a name".to_owned()),
                }
            }
            "and" | "or" | "not" | "in" => token.to_owned(),
            "true" | "True" => "true".to_owned(),
            "false" | "False" => "false".to_owned(),
            "null" | "None" => "none".to_owned(),
            "mod" => "%".to_owned(),
            _ if token.starts_with(['\'', '"']) => token.to_owned(),
            _ if token.chars().next().is_some_and(|c| c.is_ascii_digit()) => token.to_owned(),
            _ if is_ident(token) => {
                if previous == Some(".") {
                    if next == Some("(") {
                        return Err(format!("the method `.{token}()` has no translation"));
                    }
                    token.to_owned()
                } else if next == Some("(") {
                    if !YAQL_FUNCTIONS.contains(&token) {
                        return Err(format!("the function `{token}()` has no translation"));
                    }
                    token.to_owned()
                } else if depth_calls.last() == Some(&true) {
                    // A bare argument is a string in YAQL: ctx(x) reads "x".
                    format!("'{token}'")
                } else {
                    return Err(format!("the bare name `{token}` (variables are ctx(name))"));
                }
            }
            _ => return Err(format!("`{token}` has no translation")),
        };
        out.push(piece);
    }
    if out.is_empty() {
        return Err("an empty expression".to_owned());
    }
    // Spaces between pieces, except around calls, indexing and attributes.
    let mut text = String::new();
    for piece in out {
        let glued_before = [")", "]", ".", ","].contains(&piece.as_str())
            || (["(", "["].contains(&piece.as_str())
                && text
                    .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ')' || c == ']'));
        let glued_after = text.ends_with(['(', '[', '.']);
        if !text.is_empty() && !glued_before && !glued_after {
            text.push(' ');
        }
        text.push_str(&piece);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaql_common_forms_translate() {
        let cases = [
            ("<% ctx(x) %>", "{{ ctx('x') }}"),
            ("<% ctx().x.y %>", "{{ ctx().x.y }}"),
            ("<% $.hosts[0] %>", "{{ ctx().hosts[0] }}"),
            ("<% succeeded() %>", "{{ succeeded() }}"),
            ("<% result().status_code = 200 %>", "{{ result().status_code == 200 }}"),
            ("<% succeeded() and not ctx(done) %>", "{{ succeeded() and not ctx('done') }}"),
            ("n=<% item(host) %>!", "n={{ item('host') }}!"),
            ("<% zip(ctx(a), ctx(b)) %>", "{{ zip(ctx('a'), ctx('b')) }}"),
            ("<% task_status(t1) != 'failed' %>", "{{ task_status('t1') != 'failed' }}"),
            ("<% ctx(n) + 1 %>", "{{ ctx('n') + 1 }}"),
        ];
        for (yaql, jinja) in cases {
            assert_eq!(to_jinja(yaql).as_deref(), Ok(jinja), "{yaql}");
        }
    }

    #[test]
    fn yaql_outside_the_subset_is_refused() {
        for yaql in ["<% ctx(xs).where($ > 1) %>", "<% len(ctx(xs)) %>", "<% {a => 1} %>"] {
            let error = to_jinja(yaql).expect_err(yaql);
            assert!(error.ends_with("write it in Jinja (`{{ }}`)"), "{error}");
        }
    }

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
