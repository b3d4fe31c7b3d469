//! Jinja templates in criteria patterns and action parameters (minijinja):
//! the environment, the context (`trigger`/`item`, `st2kv.system`, `kv`),
//! and which templates keep the type of the value they compute.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, LazyLock};

use minijinja::value::{Kwargs, Object, ObjectRepr, Rest};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as Jinja};
use serde_json::Value;

use super::Datastore;
use super::budget::{self, Program};
use super::criteria;

/// The environment expressions compile in. Expressions borrow their
/// environment, so a process-wide one lets compiled rules own theirs.
static EXPRESSIONS: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    configure(&mut env);
    env
});

/// The minijinja fuel (about one unit per instruction) one template
/// render or expression evaluation may use: a loop of some 100,000 simple
/// steps, far more than a template that does not loop over a large range
/// needs, and about 20 ms of work in a debug build.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// StackStorm's Jinja set-up: undefined variables are errors, block tags
/// trim their newline, values print the way Python prints them, and the
/// StackStorm filters rules commonly use exist.
pub(crate) fn configure(env: &mut Environment<'static>) {
    // A bound on the work of one render or evaluation, which runs on an
    // engine thread: without it, nested loops over `range(100000)` in a
    // rule's parameter ran for hours (found while fuzzing, see
    // docs/security.md). Running out is a render error.
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_formatter(|out, _state, value| {
        if value.is_undefined() {
            return Err(Error::from(ErrorKind::UndefinedError));
        }
        let text = match value.as_str() {
            Some(text) => text.to_owned(),
            None => {
                budget::charge_json(value)?;
                python_repr(value)
            }
        };
        budget::charge_output(&text)?;
        out.write_str(&text).map_err(Error::from)
    });
    // `~`, `+`, `*` and the filters that can grow a value, checked against
    // the render's byte budget (templates compile through budget.rs).
    budget::install(env);
    env.add_filter("to_complex", to_json_text);
    // StackStorm's functions, as filters (StackStorm's Jinja) and as
    // functions (Orquesta registers them as both).
    for name in super::st2_functions::NAMES {
        let call = move |args: Rest<Jinja>, kwargs: Kwargs| st2_function(name, &args, &kwargs);
        env.add_filter(*name, call);
        env.add_function(*name, call);
    }
    // The datastore hands rules plain values already, so there is nothing
    // left to decrypt; the filter exists so StackStorm rules load unchanged.
    env.add_filter("decrypt_kv", |value: Jinja| value);
}

/// Calls StackStorm's function `name` with Jinja arguments.
fn st2_function(name: &str, args: &[Jinja], kwargs: &Kwargs) -> Result<Jinja, Error> {
    let mut positional = Vec::with_capacity(args.len());
    for arg in args {
        positional.push(to_json(arg)?);
    }
    let mut named = Vec::new();
    for key in kwargs.args() {
        let value: Jinja = kwargs.get(key)?;
        named.push((key.to_owned(), to_json(&value)?));
    }
    kwargs.assert_all_used()?;
    match super::st2_functions::call(name, &positional, &named) {
        Some(Ok(value)) => {
            let value = Jinja::from_serialize(&value);
            budget::charge_json(&value)?;
            Ok(value)
        }
        Some(Err(message)) => Err(Error::new(ErrorKind::InvalidOperation, message)),
        None => Err(Error::new(ErrorKind::UnknownFunction, format!("{name} is unknown"))),
    }
}

fn to_json_text(value: Jinja) -> Result<String, Error> {
    budget::charge_json(&value)?;
    let json = to_json(&value)?;
    Ok(json.to_string())
}

/// How Python's `str()` shows a value inside text: `None`, `True`,
/// `['a', 1]`, `{'k': 1.0}`, strings quoted as `repr()` quotes them; one
/// printer for Jinja and YAQL ([`squall_yaql::render_str`]).
fn python_repr(value: &Jinja) -> String {
    match to_json(value) {
        Ok(json) => squall_yaql::render_str(&json),
        Err(_) => value.to_string(),
    }
}

/// A computed Jinja value as JSON. Undefined is an error (StackStorm's
/// `StrictUndefined`); a datastore key that does not exist is `""`, as
/// StackStorm's key-value lookup renders it.
pub(crate) fn to_json(value: &Jinja) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    // A value built lazily (`[big] * 1000`) is only as big as its JSON.
    budget::charge_json(value)?;
    if value.downcast_object_ref::<KvLookup>().is_some() {
        return Ok(Value::String(String::new()));
    }
    serde_json::to_value(value).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
}

/// `st2kv.system.KEY` and `kv.KEY`. Attribute access builds dotted keys, so
/// `st2kv.system.app.threshold` reads the key `app.threshold`, as in
/// StackStorm.
struct KvLookup {
    datastore: Arc<dyn Datastore>,
    prefix: Option<String>,
}

impl fmt::Debug for KvLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvLookup").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Object for KvLookup {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        let key = key.as_str()?;
        let full = match &self.prefix {
            Some(prefix) => format!("{prefix}.{key}"),
            None => key.to_owned(),
        };
        Some(match self.datastore.get(&full) {
            Some(value) => Jinja::from(value),
            None => Jinja::from_object(KvLookup {
                datastore: Arc::clone(&self.datastore),
                prefix: Some(full),
            }),
        })
    }

    fn render(self: &Arc<Self>, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// The variables a template sees: the payload under `root` (`trigger`, or
/// `item` inside a `search`), and the datastore as `st2kv.system` and `kv`.
pub(crate) fn context(root: &str, payload: &Value, datastore: &Arc<dyn Datastore>) -> Jinja {
    let kv = Jinja::from_object(KvLookup { datastore: Arc::clone(datastore), prefix: None });
    let st2kv = minijinja::context! { system => kv.clone() };
    let mut vars = std::collections::BTreeMap::new();
    vars.insert(root.to_owned(), Jinja::from_serialize(payload));
    vars.insert("st2kv".to_owned(), st2kv);
    vars.insert("kv".to_owned(), kv);
    Jinja::from(vars)
}

/// Renders `text` (a chat message format, say) as a StackStorm Jinja
/// template with `vars` as its variables, under the same fuel and byte
/// budget as a rule's templates; the error is one line naming `name`.
pub fn render_message(name: &str, text: &str, vars: &Value) -> Result<String, String> {
    let program = Program::template(name, text.to_owned()).map_err(|e| one_line(&e))?;
    program.render(&EXPRESSIONS, Jinja::from_serialize(vars)).map_err(|e| one_line(&e))
}

/// Whether a string is a template at all.
pub(crate) fn has_markers(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// The expression when `text` is exactly one `{{ … }}` (surrounding
/// whitespace allowed).
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    if has_markers(inner) || inner.contains("}}") {
        return None;
    }
    Some(inner.trim_start_matches('-').trim_end_matches('-'))
}

/// StackStorm's `MATCH_CRITERIA` rewrite: on each line, from the first `{{`
/// to the last `}}`, pipe the expression through `to_complex`.
static MATCH_CRITERIA: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(\{\{)\s*(.*)\s*(\}\})").expect("the MATCH_CRITERIA pattern is valid")
});

/// A compiled template. Every kind is compiled once, when the rule loads.
pub(crate) enum Template {
    /// A value with no Jinja in it.
    Literal(Value),
    /// Exactly one `{{ expression }}`: the result keeps its JSON type.
    /// `path` is set when the expression is a plain attribute path
    /// (`trigger.body.x`), which [`Template::direct`] answers without Jinja.
    Expression { source: String, expression: Box<Program>, path: Option<Vec<String>> },
    /// Text with Jinja in it: renders to a string. `pieces` is set when the
    /// Jinja in it is only plain-path expressions.
    Text { source: String, id: usize, pieces: Option<Vec<Piece>> },
    /// A criteria pattern with `{{ }}` inside other text, the way StackStorm
    /// renders it: with `to_complex` on the last expression of each line,
    /// kept if the result parses as JSON, else rendered again as text.
    /// `may_parse` is false when the text before the first tag cannot start
    /// JSON (`org/{{ x }}`): then only the plain rendering can be the result.
    Complex {
        source: String,
        typed: usize,
        plain: usize,
        may_parse: bool,
        pieces: Option<Vec<Piece>>,
    },
}

/// Part of a text template simple enough to render without Jinja.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Output as is.
    Text(String),
    /// `{{ root.a.b }}`: the value, printed as the environment's formatter
    /// prints it.
    Path(Vec<String>),
}

impl Template {
    /// The value of a template that needs no Jinja to evaluate, computed
    /// from `payload` (named `root`) alone: a plain-path expression
    /// (`{{ trigger.a.b }}`), or text whose only Jinja is such expressions
    /// (`{{ trigger.repo }}: {{ trigger.message }}`), when every path
    /// leads through maps to a value. The result is what Jinja would give:
    /// it reads a map's attribute as its key, the JSON round trip through
    /// its values changes nothing, and text prints values the way the
    /// environment's formatter does. `None` means render it with Jinja,
    /// which also produces the errors (a missing key is undefined).
    pub(crate) fn direct<'s>(&'s self, root: &str, payload: &'s Value) -> Option<Cow<'s, Value>> {
        match self {
            Template::Expression { path: Some(path), .. } => {
                lookup(path, root, payload).map(Cow::Borrowed)
            }
            Template::Text { pieces: Some(pieces), .. }
            | Template::Complex { pieces: Some(pieces), may_parse: false, .. } => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.push_str(text),
                        Piece::Path(path) => match lookup(path, root, payload)? {
                            Value::String(text) => out.push_str(text),
                            other => out.push_str(&squall_yaql::render_str(other)),
                        },
                    }
                }
                Some(Cow::Owned(Value::String(out)))
            }
            _ => None,
        }
    }
}

/// The value at `path` (root first) when the root is `root` and each step
/// is a map holding the key.
fn lookup<'v>(path: &[String], root: &str, payload: &'v Value) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    if !criteria::same_name(first, root) {
        return None;
    }
    rest.iter().try_fold(payload, |value, key| value.as_object()?.get(key))
}

/// The steps of an expression that is only dotted identifiers
/// (`trigger.body.x`), or `None`. Jinja's keywords are left to Jinja.
fn plain_path(expression: &str) -> Option<Vec<String>> {
    const KEYWORDS: &[&str] = &[
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False",
        "None",
    ];
    let identifier = |step: &str| {
        let mut chars = step.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !KEYWORDS.contains(&step)
    };
    let steps: Vec<String> = expression.trim().split('.').map(str::to_owned).collect();
    steps.iter().all(|step| identifier(step)).then_some(steps)
}

/// Splits text whose only Jinja is plain-path `{{ }}` expressions into
/// pieces, or `None` when anything else is in it: block or comment tags,
/// whitespace control (`{{-`), braces in the text, or a trailing newline
/// (which Jinja drops).
fn pieces(text: &str) -> Option<Vec<Piece>> {
    if text.contains("{%") || text.contains("{#") || text.ends_with('\n') {
        return None;
    }
    fn literal(text: &str, pieces: &mut Vec<Piece>) -> Option<()> {
        if text.contains(['{', '}']) {
            return None;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_owned()));
        }
        Some(())
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        literal(&rest[..start], &mut pieces)?;
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let inner = &after[..end];
        if inner.starts_with(['-', '+']) || inner.ends_with(['-', '+']) {
            return None;
        }
        pieces.push(Piece::Path(plain_path(inner)?));
        rest = &after[end + 2..];
    }
    literal(rest, &mut pieces)?;
    Some(pieces)
}

/// Whether the text before the first tag could begin a JSON document: it
/// is blank or starts (after JSON whitespace) with a character JSON can
/// start with. When it cannot, no rendering of the template parses.
fn may_start_json(text: &str) -> bool {
    let first_tag = ["{{", "{%", "{#"].iter().filter_map(|tag| text.find(tag)).min();
    let before = &text[..first_tag.unwrap_or(text.len())];
    match before.trim_start_matches([' ', '\t', '\n', '\r']).chars().next() {
        None => true,
        Some(c) => matches!(c, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n'),
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Template::Literal(value) => write!(f, "Literal({value})"),
            Template::Expression { source, .. } => write!(f, "Expression({source:?})"),
            Template::Text { source, .. } => write!(f, "Text({source:?})"),
            Template::Complex { source, .. } => write!(f, "Complex({source:?})"),
        }
    }
}

/// The templates of one rule that are not single expressions. They live in
/// the rule's own environment, compiled once; a rule without any has none.
#[derive(Default)]
pub(crate) struct Templates {
    programs: Vec<Program>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("count", &self.programs.len()).finish()
    }
}

/// Whether a string is compiled for a criteria pattern (StackStorm's typed
/// rendering) or an action parameter (Squall's: only a single expression
/// keeps its type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Pattern,
    Parameter,
}

impl Templates {
    fn add(&mut self, name: &str, source: String) -> Result<usize, Error> {
        // Templates are looked up by number; the field name is in the
        // number's place in errors (`in criteria.trigger.x.pattern#1:1`).
        let id = self.programs.len();
        self.programs.push(Program::template(&format!("{name}#{id}"), source)?);
        Ok(id)
    }

    /// Compiles a value: strings with Jinja become templates, anything else
    /// stays a literal. Lists and maps of parameters are compiled by the
    /// caller, one string at a time.
    pub(crate) fn compile(
        &mut self,
        value: &Value,
        purpose: Purpose,
        field: &str,
    ) -> Result<Template, Error> {
        let Value::String(text) = value else { return Ok(Template::Literal(value.clone())) };
        if !has_markers(text) {
            return Ok(Template::Literal(value.clone()));
        }
        if let Some(inner) = single_expression(text)
            && let Ok(expression) = Program::expression(inner.to_owned())
        {
            return Ok(Template::Expression {
                source: text.clone(),
                expression: Box::new(expression),
                path: plain_path(inner),
            });
        }
        if purpose == Purpose::Pattern && MATCH_CRITERIA.is_match(text) {
            let typed = MATCH_CRITERIA.replace_all(text, "${1}${2} | to_complex${3}").into_owned();
            let plain = self.add(field, text.clone())?;
            // The rewrite can produce a template that does not parse (a
            // `}}` inside a string literal); StackStorm then fails the
            // criterion, and so does rendering the original here.
            let typed = self.add(field, typed).unwrap_or(plain);
            return Ok(Template::Complex {
                source: text.clone(),
                typed,
                plain,
                may_parse: may_start_json(text),
                pieces: pieces(text),
            });
        }
        let id = self.add(field, text.clone())?;
        Ok(Template::Text { source: text.clone(), id, pieces: pieces(text) })
    }

    /// Renders a compiled template in `context`.
    pub(crate) fn render(&self, template: &Template, context: &Jinja) -> Result<Value, Error> {
        match template {
            Template::Literal(value) => Ok(value.clone()),
            Template::Expression { expression, source, .. } => expression
                .eval(&EXPRESSIONS, context.clone(), |value| to_json(&value))
                .map_err(|e| match e.kind() {
                    ErrorKind::UndefinedError => Error::new(
                        ErrorKind::UndefinedError,
                        format!("`{}` is undefined", source.trim()),
                    ),
                    _ => e,
                }),
            Template::Text { id, source, .. } => self
                .render_text(*id, context)
                .map(Value::String)
                .map_err(|e| name_the_undefined(e, source)),
            Template::Complex { typed, plain, .. } => {
                if let Ok(text) = self.render_text(*typed, context)
                    && let Ok(value) = serde_json::from_str::<Value>(&text)
                {
                    return Ok(value);
                }
                self.render_text(*plain, context).map(Value::String)
            }
        }
    }

    fn render_text(&self, id: usize, context: &Jinja) -> Result<String, Error> {
        let program =
            self.programs.get(id).ok_or_else(|| Error::from(ErrorKind::TemplateNotFound))?;
        program.render(&EXPRESSIONS, context.clone())
    }
}

/// An undefined-value error named by the path it happened at
/// (`` `trigger.body.mount` is undefined ``), from the span minijinja
/// reports; other errors unchanged.
fn name_the_undefined(error: Error, source: &str) -> Error {
    if error.kind() != ErrorKind::UndefinedError {
        return error;
    }
    // The span starts at the failing step (`.mount`); widen it back over
    // the path that leads to it (`trigger.body.mount`).
    let Some(range) = error.range().filter(|r| r.end <= source.len()) else { return error };
    let path_char =
        |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '\'' | '"');
    let start = source[..range.start]
        .char_indices()
        .rev()
        .take_while(|(_, c)| path_char(*c))
        .last()
        .map_or(range.start, |(i, _)| i);
    match source.get(start..range.end).map(str::trim) {
        Some(path) if !path.is_empty() => {
            Error::new(ErrorKind::UndefinedError, format!("`{path}` is undefined"))
        }
        _ => error,
    }
}

/// A template error on one line (minijinja's can span several).
pub(crate) fn one_line(error: &Error) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn render(source: &str, purpose: Purpose, payload: Value) -> Result<Value, String> {
        let mut templates = Templates::default();
        let template = templates
            .compile(&Value::String(source.to_owned()), purpose, "test")
            .map_err(|e| e.to_string())?;
        let store: Arc<dyn Datastore> =
            Arc::new(BTreeMap::from([("app.limit".to_owned(), "10".to_owned())]));
        templates.render(&template, &context("trigger", &payload, &store)).map_err(|e| one_line(&e))
    }

    #[test]
    fn a_single_expression_keeps_its_type() {
        let payload = json!({"n": 5, "tags": ["a"], "s": "5"});
        assert_eq!(render("{{ trigger.n }}", Purpose::Parameter, payload.clone()), Ok(json!(5)));
        assert_eq!(
            render(" {{ trigger.tags }} ", Purpose::Pattern, payload.clone()),
            Ok(json!(["a"]))
        );
        assert_eq!(render("{{ trigger.s }}", Purpose::Pattern, payload), Ok(json!("5")));
    }

    #[test]
    fn text_prints_values_the_way_python_does() {
        let payload = json!({"up": true, "none": null, "tags": ["a", "b"], "x": 1.0});
        assert_eq!(
            render(
                "{{ trigger.up }} {{ trigger.none }} {{ trigger.tags }} {{ trigger.x }}",
                Purpose::Parameter,
                payload
            ),
            Ok(json!("True None ['a', 'b'] 1.0"))
        );
    }

    #[test]
    fn patterns_with_text_around_an_expression_parse_as_json_when_they_can() {
        let payload = json!({"n": 5, "host": "web"});
        assert_eq!(render("[{{ trigger.n }}]", Purpose::Pattern, payload.clone()), Ok(json!([5])));
        assert_eq!(
            render("[{{ trigger.n }}]", Purpose::Parameter, payload.clone()),
            Ok(json!("[5]"))
        );
        assert_eq!(
            render("host-{{ trigger.host }}", Purpose::Pattern, payload),
            Ok(json!("host-web"))
        );
    }

    #[test]
    fn datastore_keys_are_dotted_and_missing_ones_are_empty() {
        let payload = json!({"n": 1});
        assert_eq!(
            render("{{ st2kv.system.app.limit }}", Purpose::Parameter, payload.clone()),
            Ok(json!("10"))
        );
        assert_eq!(
            render("{{ kv.app.limit | int }}", Purpose::Parameter, payload.clone()),
            Ok(json!(10))
        );
        assert_eq!(
            render("{{ st2kv.system.nope }}", Purpose::Parameter, payload.clone()),
            Ok(json!(""))
        );
        assert_eq!(render("<{{ kv.nope }}>", Purpose::Parameter, payload), Ok(json!("<>")));
    }

    #[test]
    fn undefined_trigger_fields_are_errors() {
        let error =
            render("{{ trigger.missing }}", Purpose::Parameter, json!({})).expect_err("strict");
        assert!(error.contains("undefined"), "{error}");
        let error =
            render("x {{ trigger.missing }}", Purpose::Parameter, json!({})).expect_err("strict");
        assert!(error.contains("undefined"), "{error}");
    }

    #[test]
    fn templates_evaluated_without_jinja_agree_with_jinja() {
        let payload = json!({
            "n": 5, "big": 18_446_744_073_709_551_615_u64, "neg": -3, "x": 1.0, "f": 2.5,
            "s": "it's", "up": true, "nil": null, "tags": ["a", "b'c"],
            "obj": {"k": 1.0, "z": [null, false]}, "a": {"b": {"c": "deep"}},
            "team": "payments", "uni": "\u{e9}t\u{e9}",
        });
        let store: Arc<dyn Datastore> = Arc::new(BTreeMap::<String, String>::new());
        let jinja = context("trigger", &payload, &store);
        // (source, purpose, whether it is evaluated without Jinja)
        let cases = [
            ("{{ trigger.n }}", Purpose::Parameter, true),
            ("{{trigger.a.b.c}}", Purpose::Pattern, true),
            (" {{ trigger.obj }} ", Purpose::Parameter, true),
            ("{{ trigger }}", Purpose::Parameter, true),
            ("{{ trigger.nil }}", Purpose::Pattern, true),
            ("{{ trigger.missing }}", Purpose::Parameter, false),
            ("{{ trigger.n.m }}", Purpose::Parameter, false),
            ("{{ trigger.tags[0] }}", Purpose::Parameter, false),
            ("{{ trigger.n | int }}", Purpose::Parameter, false),
            // Jinja's keywords are left to Jinja.
            ("{{ trigger.none }}", Purpose::Parameter, false),
            ("{{ kv.n }}", Purpose::Parameter, false),
            (
                "{{ trigger.up }} {{ trigger.nil }} {{ trigger.tags }} {{ trigger.x }} {{ trigger.f }}",
                Purpose::Parameter,
                true,
            ),
            ("{{ trigger.obj }}/{{ trigger.big }}/{{ trigger.neg }}", Purpose::Parameter, true),
            ("{{ trigger.s }}: {{ trigger.uni }}!", Purpose::Parameter, true),
            ("org/{{ trigger.team }}-service", Purpose::Pattern, true),
            ("org/{{ trigger.team }}-service", Purpose::Parameter, true),
            // Text that could parse as JSON is left to Jinja's typed rendering.
            ("[{{ trigger.n }}]", Purpose::Pattern, false),
            ("{{ trigger.n }}{{ trigger.n }}", Purpose::Pattern, false),
            ("{{ trigger.n }}{{ trigger.n }}", Purpose::Parameter, true),
            ("x {{ trigger.missing }}", Purpose::Parameter, false),
            ("x {{- trigger.n }}", Purpose::Parameter, false),
            ("x {% if trigger.up %}y{% endif %}", Purpose::Parameter, false),
            ("x {{ trigger.n }}\n", Purpose::Parameter, false),
            ("{x} {{ trigger.n }}", Purpose::Parameter, false),
        ];
        for (source, purpose, direct) in cases {
            let mut templates = Templates::default();
            let template = templates
                .compile(&Value::String(source.to_owned()), purpose, "test")
                .expect("compiles");
            let with_jinja = templates.render(&template, &jinja).map_err(|e| one_line(&e));
            match template.direct("trigger", &payload) {
                Some(value) => {
                    assert!(direct, "{source:?} was evaluated without Jinja");
                    assert_eq!(Ok(value.into_owned()), with_jinja, "{source:?}");
                }
                None => assert!(!direct, "{source:?} needed Jinja"),
            }
            assert_eq!(template.direct("item", &payload), None, "{source:?} under `item`");
        }
    }
}
