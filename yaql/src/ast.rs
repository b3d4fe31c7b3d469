//! The syntax tree of a parsed expression.

use serde_json::Value;

/// One node and the 1-based column its text starts at (for an operator,
/// the operator's column).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub kind: Kind,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// A number, string, `true`, `false` or `null`.
    Literal(Value),
    /// A bare name: the string of its own name (`ctx(x)` reads "x"), a key
    /// after `.`, or a keyword argument's name before `=>`.
    Keyword(String),
    /// `$` (empty name), `$name`, `$1`: a value of the context.
    Var(String),
    /// `[a, b]`.
    List(Vec<Arg>),
    /// `{k => v}`.
    Map(Vec<Arg>),
    /// `name(args)`.
    Call { name: String, args: Vec<Arg> },
    /// `receiver.name(args)`; `safe` for `?.` (null receiver gives null).
    Method { receiver: Box<Expr>, name: String, args: Vec<Arg>, safe: bool },
    /// `receiver.name`: a dictionary's key, or that key of every element
    /// of a list.
    Attr { receiver: Box<Expr>, name: String, safe: bool },
    /// `receiver[args]`.
    Index { receiver: Box<Expr>, args: Vec<Arg> },
    /// `left op right`.
    Binary { op: &'static str, left: Box<Expr>, right: Box<Expr> },
    /// `op operand` (`-`, `+`, `not`).
    Unary { op: &'static str, operand: Box<Expr> },
    /// An argument left out (`f(1,,3)`, `f(,2)`): the parameter keeps its
    /// default.
    Skipped,
}

/// One argument of a call, list, dictionary or indexer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// A plain argument.
    Pos(Expr),
    /// `source => destination`: a keyword argument when `source` is a bare
    /// name; a pair for `dict()`, `{}` and `switch()`.
    Pair(Expr, Expr),
}
