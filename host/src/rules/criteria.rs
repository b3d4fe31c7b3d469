//! Criteria: key paths (`trigger.a.b[0]`, `#` suffixes), and evaluating
//! compiled criteria against a payload the way StackStorm's rule filter does.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jiff::Timestamp;
use minijinja::Value as Jinja;
use serde_json::Value;

use super::Datastore;
use super::operators::{Operator, PyRegex, RegexFailure};
use super::python::Raised;
use super::template::{self, Template, Templates};

/// One step of a key path after its root.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
    /// `*` or `[*]`: every child; the first that leads to a value wins, as
    /// StackStorm keeps only the first JSONPath match.
    Wildcard,
}

/// A criteria key: `trigger.body.items[0].name`, with anything from the
/// first `#` on dropped (StackStorm's way to test one field twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    root: Root,
    steps: Vec<Step>,
}

/// The first name of a key path. The two that criteria use are kept inline
/// rather than on the heap: the root is compared for every criterion.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    Trigger,
    Item,
    Other(String),
}

impl Root {
    fn new(name: String) -> Self {
        match name.as_str() {
            "trigger" => Root::Trigger,
            "item" => Root::Item,
            _ => Root::Other(name),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Root::Trigger => "trigger",
            Root::Item => "item",
            Root::Other(name) => name,
        }
    }
}

impl KeyPath {
    /// Parses a criteria key. The error says what was expected.
    pub fn parse(key: &str) -> Result<Self, String> {
        let path = key.split_once('#').map_or(key, |(path, _)| path).trim();
        let mut chars = path.chars().peekable();
        let mut root = String::new();
        while let Some(&c) = chars.peek() {
            if c == '.' || c == '[' {
                break;
            }
            root.push(c);
            chars.next();
        }
        if root.is_empty() {
            return Err("a key path such as `trigger.body.name`".to_owned());
        }
        let mut steps = Vec::new();
        while let Some(c) = chars.next() {
            match c {
                '.' => match chars.peek() {
                    Some(&quote @ ('\'' | '"')) => {
                        chars.next();
                        let mut field = String::new();
                        loop {
                            match chars.next() {
                                Some(c) if c == quote => break,
                                Some(c) => field.push(c),
                                None => return Err(format!("a closing {quote} in the key path")),
                            }
                        }
                        steps.push(Step::Field(field));
                    }
                    _ => {
                        let mut field = String::new();
                        while let Some(&c) = chars.peek() {
                            if c == '.' || c == '[' {
                                break;
                            }
                            field.push(c);
                            chars.next();
                        }
                        match field.as_str() {
                            "" => return Err("a field name after `.` in the key path".to_owned()),
                            "*" => steps.push(Step::Wildcard),
                            _ => steps.push(Step::Field(field)),
                        }
                    }
                },
                '[' => {
                    let mut inside = String::new();
                    loop {
                        match chars.next() {
                            Some(']') => break,
                            Some(c) => inside.push(c),
                            None => return Err("a closing `]` in the key path".to_owned()),
                        }
                    }
                    let inside = inside.trim();
                    if inside == "*" {
                        steps.push(Step::Wildcard);
                    } else {
                        let index = inside.parse::<usize>().map_err(|_| {
                            format!("a list index such as `[0]` or `[*]`, not `[{inside}]`")
                        })?;
                        steps.push(Step::Index(index));
                    }
                }
                other => return Err(format!("`.` or `[` in the key path, not `{other}`")),
            }
        }
        Ok(KeyPath { root: Root::new(root), steps })
    }

    /// The first name of the path (`trigger`, or `item` inside a search).
    pub fn root(&self) -> &str {
        self.root.as_str()
    }

    /// The value at this path when the payload is named `root`. Indexing a
    /// non-list, or a field of a non-map, finds nothing.
    pub(crate) fn lookup<'a>(&self, root: &str, payload: &'a Value) -> Option<&'a Value> {
        if !same_name(self.root.as_str(), root) {
            return None;
        }
        walk(payload, &self.steps)
    }
}

/// `a == b` for the short names of roots (`trigger`, `item`), compared
/// byte by byte: a call to `memcmp` for seven bytes costs more than the
/// comparison, and this one runs for every criterion.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

fn walk<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    let Some((step, rest)) = steps.split_first() else { return Some(value) };
    match (step, value) {
        (Step::Field(name), Value::Object(map)) => walk(map.get(name)?, rest),
        (Step::Index(index), Value::Array(items)) => walk(items.get(*index)?, rest),
        (Step::Wildcard, Value::Object(map)) => map.values().find_map(|child| walk(child, rest)),
        (Step::Wildcard, Value::Array(items)) => items.iter().find_map(|child| walk(child, rest)),
        _ => None,
    }
}

/// How `search` combines items and child criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Some item matches every child criterion.
    Any,
    /// Every item matches every child criterion.
    All,
    /// Some item matches some child criterion.
    AnyToAny,
    /// Every item matches some child criterion.
    AllToAny,
}

impl Condition {
    pub(crate) const NAMES: &'static [(&'static str, Condition)] = &[
        ("any", Condition::Any),
        ("all", Condition::All),
        ("any2any", Condition::AnyToAny),
        ("all2any", Condition::AllToAny),
    ];
}

/// One compiled criterion.
#[derive(Debug)]
pub struct Criterion {
    pub(crate) key: String,
    pub(crate) path: KeyPath,
    pub(crate) operator: Operator,
    pub(crate) pattern: Template,
    /// The regex of a literal pattern for the regex operators, compiled once.
    pub(crate) regex: Option<PyRegex>,
    /// For `search`: the condition and the child criteria over `item`.
    pub(crate) search: Option<(Condition, Vec<Criterion>)>,
    /// The rule and field the criterion comes from (`pack.rule
    /// criteria.trigger.x`), for the log.
    pub(crate) origin: String,
    /// Set the first time a regex search of this criterion gives up, so
    /// that it is logged once rather than for every trigger instance.
    pub(crate) gave_up: AtomicBool,
}

/// What evaluating criteria needs besides the criteria: one payload under a
/// root name, the datastore, the clock, and the rule's templates. The Jinja
/// context is built once, the first time a template needs it, in a cell the
/// caller owns: the rules of one trigger instance share it.
pub(crate) struct Scope<'a> {
    pub(crate) root: &'static str,
    pub(crate) payload: &'a Value,
    pub(crate) datastore: &'a Arc<dyn Datastore>,
    pub(crate) now: Timestamp,
    pub(crate) templates: &'a Templates,
    jinja: &'a OnceCell<Jinja>,
}

impl<'a> Scope<'a> {
    /// `jinja` caches the Jinja context of `root`, `payload` and
    /// `datastore`; share it only between scopes with the same three.
    pub(crate) fn new(
        root: &'static str,
        payload: &'a Value,
        datastore: &'a Arc<dyn Datastore>,
        now: Timestamp,
        templates: &'a Templates,
        jinja: &'a OnceCell<Jinja>,
    ) -> Self {
        Scope { root, payload, datastore, now, templates, jinja }
    }

    pub(crate) fn jinja(&self) -> &Jinja {
        self.jinja.get_or_init(|| template::context(self.root, self.payload, self.datastore))
    }

    fn child<'b>(&'b self, item: &'b Value, jinja: &'b OnceCell<Jinja>) -> Scope<'b> {
        Scope::new("item", item, self.datastore, self.now, self.templates, jinja)
    }

    /// Renders a criterion's pattern (a rendering error fails the criterion
    /// in StackStorm).
    pub(crate) fn pattern(&self, criterion: &Criterion) -> Result<Value, String> {
        match &criterion.pattern {
            Template::Literal(value) => Ok(value.clone()),
            other => match other.direct(self.root, self.payload) {
                Some(value) => Ok(value.into_owned()),
                None => {
                    self.templates.render(other, self.jinja()).map_err(|e| template::one_line(&e))
                }
            },
        }
    }

    /// The payload value a criterion looks at; a missing key is null.
    pub(crate) fn value(&self, criterion: &Criterion) -> &'a Value {
        criterion.path.lookup(self.root, self.payload).unwrap_or(&Value::Null)
    }
}

/// The index of the first criterion that does not hold, if any.
pub(crate) fn first_failure(criteria: &[Criterion], scope: &Scope<'_>) -> Option<usize> {
    criteria.iter().position(|criterion| !holds(criterion, scope))
}

/// Whether one criterion holds. Anything StackStorm would raise on (a
/// pattern that fails to render, a comparison across types) means no.
pub(crate) fn holds(criterion: &Criterion, scope: &Scope<'_>) -> bool {
    let value = scope.value(criterion);
    if let Some((condition, children)) = &criterion.search {
        return search(value, *condition, children, scope).unwrap_or(false);
    }
    // Literal patterns, and plain paths into the payload, are borrowed; the
    // simplest templates are evaluated without Jinja.
    let pattern = match &criterion.pattern {
        Template::Literal(value) => Cow::Borrowed(value),
        template => match template.direct(scope.root, scope.payload) {
            Some(value) => value,
            None => match scope.pattern(criterion) {
                Ok(value) => Cow::Owned(value),
                Err(_) => return false,
            },
        },
    };
    if criterion.operator.is_regex() {
        return match criterion.operator.regex_matches(value, &pattern, criterion.regex.as_ref()) {
            Ok(found) => found,
            Err(RegexFailure::Raised) => false,
            Err(RegexFailure::GaveUp(reason)) => {
                if !criterion.gave_up.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "{}: the regex search gave up, so the criterion does not hold \
                         (logged once for this rule): {reason}",
                        criterion.origin
                    );
                }
                false
            }
        };
    }
    criterion.operator.apply(value, &pattern, scope.now).unwrap_or(false)
}

fn search(
    value: &Value,
    condition: Condition,
    children: &[Criterion],
    scope: &Scope<'_>,
) -> Result<bool, Raised> {
    // A dict is searched as a list of one; a string iterates its characters,
    // as Python would.
    let chars: Vec<Value>;
    let items: &[Value] = match value {
        Value::Object(_) => std::slice::from_ref(value),
        Value::Array(items) => items,
        Value::String(text) => {
            chars = text.chars().map(|c| Value::String(c.to_string())).collect();
            &chars
        }
        _ => return Err(Raised),
    };
    let item_matches = |item: &Value| {
        let jinja = OnceCell::new();
        let child = scope.child(item, &jinja);
        match condition {
            Condition::Any | Condition::All => children.iter().all(|c| holds(c, &child)),
            Condition::AnyToAny | Condition::AllToAny => children.iter().any(|c| holds(c, &child)),
        }
    };
    Ok(match condition {
        Condition::Any | Condition::AnyToAny => items.iter().any(item_matches),
        Condition::All | Condition::AllToAny => items.iter().all(item_matches),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lookup(key: &str, payload: &Value) -> Option<Value> {
        KeyPath::parse(key).expect("valid key").lookup("trigger", payload).cloned()
    }

    #[test]
    fn paths_follow_fields_indices_quotes_and_wildcards() {
        let payload = json!({"a": {"b": [10, {"c": "x"}], "d.e": 1, "my-key": 2}});
        assert_eq!(lookup("trigger.a.b[0]", &payload), Some(json!(10)));
        assert_eq!(lookup("trigger.a.b[1].c", &payload), Some(json!("x")));
        assert_eq!(lookup("trigger.a.'d.e'", &payload), Some(json!(1)));
        assert_eq!(lookup("trigger.a.my-key#2", &payload), Some(json!(2)));
        assert_eq!(lookup("trigger.a.b[*].c", &payload), Some(json!("x")));
        assert_eq!(lookup("trigger", &payload), Some(payload.clone()));
        assert_eq!(lookup("trigger.a.b[5]", &payload), None);
        assert_eq!(lookup("trigger.a[0]", &payload), None);
        assert_eq!(lookup("item.a", &payload), None);
    }

    #[test]
    fn malformed_paths_say_what_was_expected() {
        assert_eq!(
            KeyPath::parse("trigger.a[x]"),
            Err("a list index such as `[0]` or `[*]`, not `[x]`".to_owned())
        );
        assert_eq!(
            KeyPath::parse("trigger..a"),
            Err("a field name after `.` in the key path".to_owned())
        );
        assert_eq!(KeyPath::parse("trigger.a[0"), Err("a closing `]` in the key path".to_owned()));
        assert_eq!(KeyPath::parse(""), Err("a key path such as `trigger.body.name`".to_owned()));
    }
}
