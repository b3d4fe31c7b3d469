//! The errors of parsing and evaluating an expression. Every error names
//! the 1-based character column of the expression where it arose.

/// What went wrong, and where in the expression (`column`, counted in
/// characters from 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A character that starts no token, or a string without its closing quote.
    #[error("column {column}: {message}")]
    Lexical { column: usize, message: String },
    /// Tokens that do not form an expression.
    #[error("column {column}: syntax error: {message}")]
    Syntax { column: usize, message: String },
    /// A function name neither YAQL's library nor the host knows.
    #[error("column {column}: unknown function `{name}`")]
    UnknownFunction { column: usize, name: String },
    /// A method call `x.name()` no method of that name accepts (receiver
    /// type, argument count or a function that cannot be called as a method).
    #[error("column {column}: no method `{name}` for {receiver}")]
    NoMethod { column: usize, name: String, receiver: String },
    /// A dictionary has no such key (`$.key`, `$['key']`).
    #[error("column {column}: key '{key}' not found")]
    KeyNotFound { column: usize, key: String },
    /// A list index outside the list.
    #[error("column {column}: index {index} out of range")]
    IndexOutOfRange { column: usize, index: i64 },
    /// Arguments of the wrong type or number for a function or operator.
    #[error("column {column}: {function}: {message}")]
    Argument { column: usize, function: String, message: String },
    /// Division or `mod` by zero.
    #[error("column {column}: division by zero")]
    DivisionByZero { column: usize },
    /// Integer arithmetic beyond 64 bits.
    #[error("column {column}: integer overflow")]
    Overflow { column: usize },
    /// A regular expression that does not compile.
    #[error("column {column}: invalid regular expression: {message}")]
    Regex { column: usize, message: String },
    /// A function supplied by the host failed.
    #[error("column {column}: {function}(): {message}")]
    Host { column: usize, function: String, message: String },
    /// The expression did more work than [`Limits::steps`](crate::Limits::steps) allows.
    #[error("column {column}: the expression exceeded its budget of {limit} evaluation steps")]
    StepLimit { column: usize, limit: u64 },
    /// A value grew beyond [`Limits`](crate::Limits) (collection length,
    /// string length or nesting depth).
    #[error("column {column}: {what} exceeds the limit of {limit}")]
    SizeLimit { column: usize, what: String, limit: usize },
}

impl Error {
    /// The 1-based character column the error refers to.
    pub fn column(&self) -> usize {
        match self {
            Error::Lexical { column, .. }
            | Error::Syntax { column, .. }
            | Error::UnknownFunction { column, .. }
            | Error::NoMethod { column, .. }
            | Error::KeyNotFound { column, .. }
            | Error::IndexOutOfRange { column, .. }
            | Error::Argument { column, .. }
            | Error::DivisionByZero { column }
            | Error::Overflow { column }
            | Error::Regex { column, .. }
            | Error::Host { column, .. }
            | Error::StepLimit { column, .. }
            | Error::SizeLimit { column, .. } => *column,
        }
    }

    /// A short stable name of the error's kind, used by the test fixtures.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Lexical { .. } => "lexical",
            Error::Syntax { .. } => "syntax",
            Error::UnknownFunction { .. } => "unknown_function",
            Error::NoMethod { .. } => "no_method",
            Error::KeyNotFound { .. } => "key_not_found",
            Error::IndexOutOfRange { .. } => "index_out_of_range",
            Error::Argument { .. } => "argument",
            Error::DivisionByZero { .. } => "division_by_zero",
            Error::Overflow { .. } => "overflow",
            Error::Regex { .. } => "regex",
            Error::Host { .. } => "host",
            Error::StepLimit { .. } => "step_limit",
            Error::SizeLimit { .. } => "size_limit",
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
