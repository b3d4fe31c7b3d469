//! Limits on documents from outside — rule, workflow, role and assignment
//! YAML, `pack.toml`, JSON request bodies — checked by a linear pre-scan
//! before any parser sees them (libyaml takes time quadratic in nesting
//! depth: 48 s for a 200 KB rule nested 100,000 deep), and the one rule for
//! names that people read (datastore keys, role names), and refs
//! `pack.name` with the rule for the names in them (`refs.rs`). A module of its
//! own and pure (no IO, no clock) so that `rules`, `workflow`, `access`,
//! `pack`, `store` and `api` share one check without depending on each
//! other.

mod names;
mod refs;
mod scan;

pub use names::{NAME_RULE, check_name_text, is_bidi_control};
pub use refs::{
    MAX_RESOURCE_NAME, RESOURCE_NAME_RULE, check_resource_name, ref_name, ref_pack, split_ref,
};

use serde_json::Value;

/// Largest document (one rule, workflow, role, assignment or `pack.toml`).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Deepest nesting of lists and maps in a document. StackStorm's rules and
/// workflows nest about ten deep; serde_json stops at 128.
pub const MAX_DEPTH: usize = 64;

/// The syntax a document is written in, which decides what nests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Flow `[`/`{`, block indentation, and `- `, `? `, `key: ` on one line.
    Yaml,
    /// `[` and `{` outside strings.
    Json,
    /// Table headers, dotted keys, arrays and inline tables.
    Toml,
}

/// A document over a limit. The message names the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Over [`MAX_DOCUMENT_BYTES`] (or the caller's limit).
    #[error("{size} bytes is over the limit of {limit} bytes for one document")]
    TooLarge {
        /// The document's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`] (or the caller's limit).
    #[error("{}nested deeper than the limit of {limit} levels", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    TooDeep {
        /// The line where the limit was passed, when the document is text.
        line: Option<usize>,
        /// The limit.
        limit: usize,
    },
}

impl LimitError {
    /// The 1-based line where the limit was passed, if known.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::TooDeep { line, .. } => *line,
            Self::TooLarge { .. } => None,
        }
    }

    /// The message without its line, for callers that report lines
    /// themselves.
    pub fn reason(&self) -> String {
        match self {
            Self::TooDeep { limit, .. } => {
                format!("nested deeper than the limit of {limit} levels")
            }
            other => other.to_string(),
        }
    }
}

/// Checks `text` against [`MAX_DOCUMENT_BYTES`] and [`MAX_DEPTH`].
pub fn check(text: impl AsRef<[u8]>, format: Format) -> Result<(), LimitError> {
    check_within(text.as_ref(), format, MAX_DOCUMENT_BYTES, MAX_DEPTH)
}

/// Checks `text` against `max_bytes` and `max_depth`, in time linear in its
/// size and before anything parses it.
pub fn check_within(
    text: &[u8],
    format: Format,
    max_bytes: usize,
    max_depth: usize,
) -> Result<(), LimitError> {
    if text.len() > max_bytes {
        return Err(LimitError::TooLarge { size: text.len(), limit: max_bytes });
    }
    let deep = match format {
        Format::Yaml => scan::yaml(text, max_depth),
        Format::Json => scan::json(text, max_depth),
        Format::Toml => scan::toml(text, max_depth),
    };
    deep.map_err(|line| LimitError::TooDeep { line: Some(line), limit: max_depth })
}

/// Checks the nesting of a document already parsed (a rule sent as JSON
/// reaches the rule loader this way), without recursion.
pub fn check_value(value: &Value) -> Result<(), LimitError> {
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > MAX_DEPTH {
            return Err(LimitError::TooDeep { line: None, limit: MAX_DEPTH });
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_limit() {
        let deep = format!("a: {}", "[".repeat(100));
        let e = check(&deep, Format::Yaml).expect_err("too deep");
        assert_eq!(e.to_string(), "line 1: nested deeper than the limit of 64 levels");
        assert_eq!(e.reason(), "nested deeper than the limit of 64 levels");
        let big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        let e = check(&big, Format::Json).expect_err("too big");
        assert_eq!(
            e.to_string(),
            "1048577 bytes is over the limit of 1048576 bytes for one document"
        );
    }

    #[test]
    fn values_are_measured_without_recursion() {
        let mut value = Value::Null;
        for _ in 0..MAX_DEPTH {
            value = Value::Array(vec![value]);
        }
        assert_eq!(check_value(&value), Ok(()));
        let value = serde_json::json!({"deeper": value});
        let e = check_value(&value).expect_err("too deep");
        assert_eq!(e.to_string(), "nested deeper than the limit of 64 levels");
    }
}
