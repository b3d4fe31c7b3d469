//! A YAQL engine: the expression language of StackStorm's Orquesta
//! workflows (`<% … %>`), as yaql 1.1 (openstack/yaql, the version
//! StackStorm pinned) evaluates it, over `serde_json` values.
//!
//! ```
//! use serde_json::json;
//! use squall_yaql::{Expression, Limits, MapHost, evaluate};
//!
//! let data = json!({"hosts": [{"name": "a", "up": true}, {"name": "b", "up": false}]});
//! let up = evaluate("$.hosts.where($.up).select($.name)", &data, &MapHost::new());
//! assert_eq!(up, Ok(json!(["a"])));
//! let parsed = Expression::parse("len($.hosts) * 2").expect("parses");
//! assert_eq!(parsed.evaluate_with(&data, &MapHost::new(), &Limits::default()), Ok(json!(4)));
//! ```
//!
//! # The language
//!
//! `$` is the data the caller passes; `$.key` reads a key (an error when the
//! dictionary lacks it), `$.list.key` reads the key of every element;
//! `x[i]`, `x[key]`, `x[key, default]` index; `x.f(args)` calls a method,
//! `f(args)` a function; `name => value` passes a keyword argument; a bare
//! name stands for its own string (`ctx(x)` is `ctx("x")`). Lambdas are
//! implicit: the arguments of `select`, `where`, `orderBy`, … are evaluated
//! once per element with `$` the element (`$1`, `$2` for two-argument
//! ones). `let(a => 1) -> $a + 1` binds names. Operators, from the loosest:
//! `->`; `or`; `and`; `not`; `=` `!=` `<` `<=` `>` `>=` `in`; `+` `-`; `*`
//! `/` `mod`; `=~` `!~`; unary `+` `-`; `[]`; `.` `?.` (`?.` gives `null` on
//! a `null` receiver). Literals: numbers, `'…'` and `"…"` strings with
//! Python's escapes, `` `…` `` verbatim strings, `true`, `false`, `null`,
//! `[…]`, `{k => v}`.
//!
//! Semantics are Python's, as in yaql: `and`/`or` return an operand; `/` of
//! two integers is floor division; `mod` takes the divisor's sign; `1 = 1.0`
//! and `true = 1`; `null` orders below everything; `+` joins strings, lists
//! and dictionaries but never a string with a number.
//!
//! The library covers yaql's functions that workflows use: see
//! [`FUNCTIONS`]. Functions the host adds (Orquesta's `ctx()`, `task()`,
//! `result()`, StackStorm's `st2kv()`, …) come through the [`Host`] trait;
//! the crate knows nothing of workflows. [`render`] evaluates the `<% %>`
//! spans of a text with Orquesta's typing rule (see [`template`]).
//!
//! # Wiring it into a host
//!
//! - Evaluate a field with [`render`]`(text, &data, &host, &limits)`: it
//!   returns the typed value of a lone `<% %>`, the rendered string of
//!   mixed text, or a [`TemplateError`] naming the expression and the
//!   column. Orquesta gives `$` no value, so an Orquesta host passes
//!   `Value::Null` as `data` (`$.x` is then an error, as in Orquesta).
//! - Implement [`Host`] for the evaluation scope (variables, current task,
//!   item, task states, datastore): `ctx`, `task`, `result`, `succeeded`,
//!   `failed`, `completed`, `item`, `task_status`, `zip` (padding like
//!   `zip_longest`), `json`, `st2kv`, `json_dump`, … arrive as calls with
//!   evaluated arguments; bare names arrive as strings.
//! - Check a workflow without running it with [`validate`] (syntax) and
//!   [`Expression::calls`] with [`is_library_function`] (unknown functions,
//!   `ctx(x)` / `ctx().x` references).
//!
//! # Limits
//!
//! Every evaluation is bounded by [`Limits`]: a budget of evaluation steps
//! (each node evaluated, each element a query visits, each node of a value
//! copied out of a variable), a maximum collection length and string length
//! for every value built, and a maximum nesting of the expression
//! ([`MAX_NESTING`] brackets while parsing, [`MAX_DEPTH`] levels of the
//! syntax tree, [`MAX_CALL_DEPTH`] nested calls of `def()` functions,
//! [`MAX_EVAL_DEPTH`] levels of evaluation in all), so evaluation never
//! recurses deeply. Exceeding one is an
//! [`Error::StepLimit`] or [`Error::SizeLimit`], never a hang, a stack
//! overflow or an unbounded allocation. The defaults (1,000,000 steps,
//! 100,000 elements, 1 MiB strings) bound an evaluation to well under a
//! second and about a hundred megabytes; a host that copies large
//! contexts into many calls (`range(n).select(ctx())`) pays for each copy.
//!
//! # Deliberate differences from yaql
//!
//! - Values are JSON: dictionary keys are strings (`{1 => 2}` has the key
//!   `"1"`). Sets (`set()`, `toSet()`) keep their first-seen order and
//!   become lists when they leave set operations (and in the result).
//! - Dictionaries keep insertion order (as Python's do) with the default
//!   feature `preserve-order`, which turns on serde_json's
//!   `preserve_order` for the whole build; without it keys are sorted
//!   (`keys()`, `items()`, printing and `replace({…})` follow that order).
//! - Integers are 64-bit; an overflow is an error rather than a big integer.
//! - Collections are evaluated eagerly. The endless `sequence()`,
//!   `cycle()` and `repeat()` without a count work only when cut right
//!   away with `.take(n)` / `.limit(n)` (`sequence(1).take(3)`). `list()`
//!   and `set()` unpack an argument that is a call of a function yaql
//!   evaluates lazily (`select`, `where`, `range`, `keys`, …), as yaql
//!   unpacks iterators.
//! - `thenBy` / `thenByDescending` must follow `orderBy…` directly in
//!   the expression (`xs.orderBy($.a).thenBy($.b)`), where yaql would also
//!   accept the ordered collection through a variable.
//! - `str()` prints lists the way yaql holds them, as tuples (`('a', 'b')`);
//!   a list inside rendered text prints as a list (`['a', 'b']`).
//! - `format()` (yaql 1.1's `str.format`; yaql 2.0 and later removed it)
//!   supports `{}`, `{0}` and `{name}` fields without format
//!   specifications.
//! - `groupBy`'s aggregator gets each group's values (yaql 1.1.2 and
//!   later); the fallback to the older key-and-values form is absent.
//! - Regular expressions are Python's syntax as `fancy-regex` reads it
//!   (look-around and back-references included; `\Z` is accepted).
//! - `not(x)` is a call of a function `not` (yaql's lexer reads `name(` as
//!   a call), so it fails as in yaql; write `not x`.
//! - Datetimes and timespans (`now()`, `datetime()`, `timespan()`, their
//!   properties and operators, `format()`, `replace()`) are values of
//!   their own only while an expression works on them directly; inside a
//!   list or dictionary, as another function's argument and in the
//!   result they are strings: a datetime its ISO 8601 text
//!   (`2015-09-29T10:00:00+00:00`, as StackStorm stores it), a timespan
//!   Python's `str()` of it (`1 day, 2:03:00`). Without a format,
//!   `datetime(string)` reads ISO 8601 forms, not all that dateutil's
//!   parser guesses at. Offsets are whole seconds; timespans reach
//!   ±292,000 years. See `stdlib/dates.rs`.
//! - Absent: `call()`, `generate()`, `generateMany()`,
//!   `characters()`, and the "yaqlized" Python objects. Delegates
//!   (`lambda()`, `$f(x)`) are absent as they are in yaql's default
//!   engine, which Orquesta uses.

mod ast;
mod error;
mod eval;
mod host;
mod lexer;
mod operators;
mod parser;
mod refs;
mod stdlib;
pub mod template;
mod value;

use std::fmt;

use serde_json::Value;

pub use error::{Error, Result};
pub use eval::{MAX_CALL_DEPTH, MAX_EVAL_DEPTH};
pub use host::{Host, HostFn, MapHost, NoHost};
pub use parser::{MAX_DEPTH, MAX_NESTING};
pub use refs::{CallRef, is_library_function};
pub use template::{Span, TemplateError, has_expressions, render, spans, validate};
pub use value::{render_str, yaql_str};

use eval::{Ev, Scope, Val};

/// The bounds of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Evaluation steps (default 1,000,000).
    pub steps: u64,
    /// Elements of one list or dictionary built (default 100,000).
    pub collection: usize,
    /// Bytes of one string built (default 1 MiB).
    pub string: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { steps: 1_000_000, collection: 100_000, string: 1 << 20 }
    }
}

/// A parsed expression, to evaluate any number of times.
#[derive(Clone, PartialEq)]
pub struct Expression {
    source: String,
    tree: ast::Expr,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    /// Parses one expression (without `<% %>`).
    pub fn parse(source: &str) -> Result<Expression> {
        Ok(Expression { source: source.to_owned(), tree: parser::parse(source)? })
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every function and method call in the expression, in evaluation
    /// order (a receiver's calls before the method's), for static checks.
    pub fn calls(&self) -> Vec<CallRef> {
        let mut out = Vec::new();
        refs::collect(&self.tree, &mut out);
        out
    }

    /// Evaluates with `data` as `$`, within the default [`Limits`].
    pub fn evaluate(&self, data: &Value, host: &dyn Host) -> Result<Value> {
        self.evaluate_with(data, host, &Limits::default())
    }

    /// Evaluates with `data` as `$`, within `limits`.
    pub fn evaluate_with(&self, data: &Value, host: &dyn Host, limits: &Limits) -> Result<Value> {
        self.evaluate_val(data, host, limits)?.into_value().map_err(|other| Error::Argument {
            column: self.tree.column,
            function: "expression".into(),
            message: format!("the value is {}, not data", other.describe()),
        })
    }

    /// Evaluates to the engine's own value (a datetime stays one).
    pub(crate) fn evaluate_val(
        &self,
        data: &Value,
        host: &dyn Host,
        limits: &Limits,
    ) -> Result<Val> {
        let mut ev = Ev { host, limits, steps: 0, calls: 0, depth: 0 };
        let scope = Scope::root(data.clone());
        ev.eval(&self.tree, &scope)
    }
}

/// Parses and evaluates `source` with `data` as `$`, within the default
/// [`Limits`].
pub fn evaluate(source: &str, data: &Value, host: &dyn Host) -> Result<Value> {
    Expression::parse(source)?.evaluate(data, host)
}

/// The names of yaql's library functions this crate implements.
pub const FUNCTIONS: &[&str] = &[
    "abs",
    "accumulate",
    "add",
    "aggregate",
    "all",
    "any",
    "append",
    "assert",
    "bitwiseAnd",
    "bitwiseNot",
    "bitwiseOr",
    "bitwiseXor",
    "bool",
    "coalesce",
    "concat",
    "contains",
    "containsKey",
    "containsValue",
    "count",
    "cycle",
    "datetime",
    "defaultIfEmpty",
    "def",
    "delete",
    "deleteAll",
    "dict",
    "difference",
    "distinct",
    "endsWith",
    "enumerate",
    "escapeRegex",
    "examine",
    "filter",
    "first",
    "flatten",
    "float",
    "format",
    "get",
    "groupBy",
    "hex",
    "indexOf",
    "indexWhere",
    "insert",
    "insertMany",
    "int",
    "intersect",
    "isBoolean",
    "isDatetime",
    "isDict",
    "isEmpty",
    "isInteger",
    "isIterable",
    "isList",
    "isNumber",
    "isRegex",
    "isSequence",
    "isSet",
    "isString",
    "isTimespan",
    "items",
    "join",
    "keys",
    "last",
    "lastIndexOf",
    "lastIndexWhere",
    "len",
    "let",
    "limit",
    "list",
    "localtz",
    "matches",
    "max",
    "memorize",
    "min",
    "norm",
    "now",
    "orderBy",
    "orderByDescending",
    "pow",
    "random",
    "range",
    "reduce",
    "regex",
    "remove",
    "repeat",
    "replace",
    "replaceBy",
    "replaceMany",
    "reverse",
    "rightSplit",
    "round",
    "search",
    "searchAll",
    "select",
    "selectCase",
    "selectMany",
    "sequence",
    "set",
    "shiftBitsLeft",
    "shiftBitsRight",
    "sign",
    "single",
    "skip",
    "skipWhile",
    "slice",
    "sliceWhere",
    "split",
    "splitAt",
    "splitWhere",
    "startsWith",
    "str",
    "substring",
    "sum",
    "switch",
    "switchCase",
    "symmetricDifference",
    "take",
    "takeWhile",
    "timespan",
    "toCharArray",
    "toDict",
    "toList",
    "toLower",
    "toSet",
    "toUpper",
    "trim",
    "trimLeft",
    "trimRight",
    "union",
    "unpack",
    "utctz",
    "values",
    "where",
    "with",
    "zip",
    "zipLongest",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_expressions_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Expression>();
        shareable::<Error>();
        shareable::<TemplateError>();
        shareable::<Limits>();
    }
}
