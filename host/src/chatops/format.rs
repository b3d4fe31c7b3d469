//! The alias format grammar: a format string such as
//! `deploy {{app}} to {{env=staging}}` matched against a chat command,
//! giving the parameters it names — StackStorm's semantics
//! (`action_alias_utils.py`), on Python-compatible regexes (fancy-regex).
//!
//! As in StackStorm, a format is itself a regular expression once its
//! `{{name}}` and `{{name=default}}` placeholders are replaced by named
//! groups: `.` matches any character, `(a|b)` alternates. A value is a
//! quoted string (`"…"` or `'…'`), a `{…}` JSON object, or a word;
//! `key=value` pairs at the end of a command set any parameter, and win
//! over what the format matched. The match is anchored at both ends unless
//! the format has its own anchors.

use std::sync::LazyLock;

use fancy_regex::{Captures, Regex, RegexBuilder};
use serde_json::{Map, Value};

/// A format that does not compile, or a command that does not fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The command does not match the format (StackStorm's wording).
    #[error("Command \"{command}\" doesn't match format string \"{format}\"")]
    NoMatch {
        /// The command as given.
        command: String,
        /// The format it was matched against.
        format: String,
    },
    /// The format matched but supplied nothing and has no defaults.
    #[error("No value supplied and no default value found.")]
    NoValue,
    /// The format is not a valid pattern once its placeholders are
    /// replaced.
    #[error("format string \"{format}\" is not a valid pattern: {message}")]
    Invalid {
        /// The format.
        format: String,
        /// What the regex compiler said.
        message: String,
    },
    /// Matching gave up (a pathological pattern).
    #[error("matching against format string \"{format}\" took too long: {message}")]
    TooComplex {
        /// The format.
        format: String,
        /// What the matcher said.
        message: String,
    },
}

/// The longest command or format matched, in bytes: chat lines are short,
/// and a bound keeps a backtracking match cheap.
pub const MAX_INPUT_BYTES: usize = 16 * 1024;

/// Backtracking steps one match may take.
const BACKTRACK_LIMIT: usize = 1_000_000;

/// A value: `""`, `''`, a double- or single-quoted string, a `{…}` object
/// or a word. The groups are the inner texts, one of which is set.
const VALUE: &str = r#"""|''|"(.+?)"|'(.+?)'|(\{.+?\})|(\S+)"#;
/// A default value in `{{name=default}}`: like [`VALUE`], but an unquoted
/// default may contain spaces.
const DEFAULT_VALUE: &str = r#"""|''|"(.+?)"|'(.+?)'|(\{.+?\})|(.+?)"#;
/// A key: a non-blank word, surrounding blanks allowed.
const KEY: &str = r"\s*(\S+?)\s*";

/// One `key=value` pair, preceded by the start or blanks.
static PAIR: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"(?:^|\s+){KEY}=({VALUE})")));
/// The run of `key=value` pairs that ends a command.
static ENDING: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"^.*?(((?:^|\s+){KEY}=(?:{VALUE})\s*)*)$")));
/// `{{name=default}}` in a format, with the blanks before it: group 1 the
/// blanks, 2 the name, 3 to 6 the default.
static OPTIONAL: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!(r"(\s*)\{{\{{{KEY}\s*=\s*(?:{DEFAULT_VALUE})\s*\}}\}}")));
/// `{{name}}` in a format, with the blanks before it.
static REQUIRED: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"(\s*)\{{\{{{KEY}\}}\}}")));

fn compile(pattern: &str) -> Regex {
    // The patterns above are constants; a typo is a bug caught by every
    // test that matches anything.
    #[allow(clippy::expect_used)]
    RegexBuilder::new(&format!("(?s){pattern}"))
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
        .expect("a built-in alias pattern compiles")
}

/// A format compiled for matching.
#[derive(Debug)]
pub struct Format {
    text: String,
    regex: Regex,
    /// `{{name=default}}` placeholders: name and default, in order.
    defaults: Vec<(String, String)>,
}

impl Format {
    /// Compiles `format`.
    pub fn new(format: &str) -> Result<Self, FormatError> {
        let invalid = |message: String| FormatError::Invalid { format: format.to_owned(), message };
        if format.len() > MAX_INPUT_BYTES {
            return Err(invalid(format!("longer than {MAX_INPUT_BYTES} bytes")));
        }
        let check_name = |name: &str| {
            if is_parameter_name(name) {
                Ok(())
            } else {
                Err(invalid(format!("`{name}` is not a parameter name")))
            }
        };
        let mut defaults = Vec::new();
        for caps in OPTIONAL.captures_iter(format) {
            let caps = caps.map_err(|e| invalid(e.to_string()))?;
            check_name(group(&caps, 2))?;
            defaults.push((group(&caps, 2).to_owned(), joined(&caps, 3..=6)));
        }
        // Optional placeholders first: a required one's pattern would match
        // the start of `{{name=default}}` too.
        let text = OPTIONAL
            .try_replacen(format, 0, |caps: &Captures<'_, str>| {
                format!("(?:{})?", named_group(group(caps, 1), group(caps, 2)))
            })
            .map_err(|e| invalid(e.to_string()))?;
        for caps in REQUIRED.captures_iter(text.as_ref()) {
            check_name(group(&caps.map_err(|e| invalid(e.to_string()))?, 2))?;
        }
        let text = REQUIRED
            .try_replacen(&text, 0, |caps: &Captures<'_, str>| {
                named_group(group(caps, 1), group(caps, 2))
            })
            .map_err(|e| invalid(e.to_string()))?
            .into_owned();
        let (starts, ends) = anchors(&text);
        let pattern = format!(
            "(?s){}{}{}",
            if starts { "" } else { r"^\s*" },
            text,
            if ends { "" } else { r"\s*$" }
        );
        let regex = RegexBuilder::new(&pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self { text: format.to_owned(), regex, defaults })
    }

    /// The format as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parameters `command` gives through this format: matched values,
    /// then defaults for what it left out, then trailing `key=value` pairs.
    pub fn extract(&self, command: &str) -> Result<Map<String, Value>, FormatError> {
        let (pairs, stream) = self.split(command)?;
        let caps = self
            .regex
            .captures(stream.as_str())
            .map_err(|e| self.too_complex(e))?
            .ok_or_else(|| self.no_match(command))?;
        self.parameters(&caps, &pairs, &stream)
    }

    /// Every non-overlapping match of the format in `command`, each with
    /// its parameters (StackStorm's `match_multiple`); none is an empty
    /// list.
    pub fn extract_all(&self, command: &str) -> Result<Vec<Map<String, Value>>, FormatError> {
        let (pairs, stream) = self.split(command)?;
        let mut all = Vec::new();
        for caps in self.regex.captures_iter(stream.as_str()) {
            let caps = caps.map_err(|e| self.too_complex(e))?;
            all.push(self.parameters(&caps, &pairs, &stream)?);
        }
        // No match is no execution here, not an error (as in StackStorm).
        Ok(all)
    }

    /// The trailing `key=value` pairs of `command`, and the rest of it
    /// padded with a blank on each side, as StackStorm matches it.
    fn split(&self, command: &str) -> Result<(Vec<(String, String)>, String), FormatError> {
        if command.len() > MAX_INPUT_BYTES {
            return Err(FormatError::TooComplex {
                format: self.text.clone(),
                message: format!("the command is longer than {MAX_INPUT_BYTES} bytes"),
            });
        }
        let ending = ENDING.captures(command).map_err(|e| self.too_complex(e))?;
        let tail = ending.as_ref().map(|caps| group(caps, 1)).unwrap_or_default();
        let mut pairs = Vec::new();
        let mut rest = command.to_owned();
        if !tail.is_empty() {
            for caps in PAIR.captures_iter(tail) {
                let caps = caps.map_err(|e| self.too_complex(e))?;
                pairs.push((group(&caps, 1).to_owned(), joined(&caps, 3..=6)));
            }
            rest = command.replace(tail, "");
        }
        Ok((pairs, format!(" {rest} ")))
    }

    fn parameters(
        &self,
        caps: &Captures<'_, str>,
        pairs: &[(String, String)],
        stream: &str,
    ) -> Result<Map<String, Value>, FormatError> {
        let mut result = Map::new();
        for name in self.regex.capture_names().flatten() {
            let value = caps.name(name).map(|m| Value::String(m.as_str().to_owned()));
            result.insert(name.to_owned(), value.unwrap_or(Value::Null));
        }
        for (name, default) in &self.defaults {
            let matched = result.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
            if matched.is_none() {
                result.insert(name.clone(), Value::String(default.clone()));
            }
        }
        for (key, value) in pairs {
            result.insert(key.clone(), Value::String(value.clone()));
        }
        let any_value = result.values().any(|v| v.as_str().is_some_and(|s| !s.is_empty()));
        if !self.text.is_empty() && stream.trim().is_empty() && !any_value {
            return Err(FormatError::NoValue);
        }
        Ok(result)
    }

    fn no_match(&self, command: &str) -> FormatError {
        FormatError::NoMatch { command: command.to_owned(), format: self.text.clone() }
    }

    fn too_complex(&self, error: fancy_regex::Error) -> FormatError {
        FormatError::TooComplex { format: self.text.clone(), message: error.to_string() }
    }
}

/// The group a placeholder becomes: its leading blanks, an optional quote,
/// and the value — inside quotes up to the closing quote, a `{…}` object,
/// or as little text as lets the rest of the format match.
fn named_group(space: &str, name: &str) -> String {
    format!(
        r#"{space}["']?(?P<{name}>(?:(?<=').+?(?=')|(?<=").+?(?=")|\{{.+?\}}|.+?))["']?"#,
        space = escape_literal(space),
    )
}

/// Blanks captured from the format, safe to put back into a pattern.
fn escape_literal(text: &str) -> String {
    fancy_regex::escape(text).into_owned()
}

/// What Python accepts as a group name: a letter or `_`, then letters,
/// digits or `_`.
fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn group<'t>(caps: &Captures<'t, str>, index: usize) -> &'t str {
    caps.get(index).map_or("", |m| m.as_str())
}

/// The groups in `range` joined: the one of them that matched.
fn joined(caps: &Captures<'_, str>, range: std::ops::RangeInclusive<usize>) -> String {
    range.map(|i| group(caps, i)).collect()
}

/// Whether a pattern has a start anchor (`^`, `\A`) and an end anchor
/// (`$`, `\Z`, `\z`) of its own, outside character classes.
fn anchors(pattern: &str) -> (bool, bool) {
    let (mut starts, mut ends) = (false, false);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('A') if !in_class => starts = true,
                Some('Z' | 'z') if !in_class => ends = true,
                _ => {}
            },
            '[' if !in_class => {
                in_class = true;
                // `[]…]` and `[^]…]`: a leading `]` is a member.
                let rest = chars.as_str();
                let skip = match rest.as_bytes() {
                    [b'^', b']', ..] => 2,
                    [b']', ..] => 1,
                    _ => 0,
                };
                for _ in 0..skip {
                    chars.next();
                }
            }
            ']' if in_class => in_class = false,
            '^' if !in_class => starts = true,
            '$' if !in_class => ends = true,
            _ => {}
        }
    }
    (starts, ends)
}
