//! StackStorm's criteria operators, every name and alias, with StackStorm's
//! semantics (`st2common/operators.py`): what each does with strings, lists,
//! dicts, numbers, null and mismatched types.

use jiff::Timestamp;
use regex::Regex;
use serde_json::Value;

use super::python::{self, Raised};

/// A criteria operator. `search` is evaluated by the criteria module, which
/// owns the recursion into child criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    NotEquals,
    IEquals,
    Contains,
    IContains,
    NotContains,
    INotContains,
    StartsWith,
    IStartsWith,
    EndsWith,
    IEndsWith,
    LessThan,
    GreaterThan,
    TimeDiffLessThan,
    TimeDiffGreaterThan,
    Exists,
    NotExists,
    Inside,
    NotInside,
    MatchWildcard,
    MatchRegex,
    Regex,
    IRegex,
    Search,
}

/// Every operator name StackStorm accepts, aliases included. Names are
/// matched exactly, as StackStorm's rule validation does.
pub const OPERATOR_NAMES: &[(&str, Operator)] = &[
    ("equals", Operator::Equals),
    ("eq", Operator::Equals),
    ("nequals", Operator::NotEquals),
    ("neq", Operator::NotEquals),
    ("iequals", Operator::IEquals),
    ("ieq", Operator::IEquals),
    ("contains", Operator::Contains),
    ("icontains", Operator::IContains),
    ("ncontains", Operator::NotContains),
    ("incontains", Operator::INotContains),
    ("startswith", Operator::StartsWith),
    ("istartswith", Operator::IStartsWith),
    ("endswith", Operator::EndsWith),
    ("iendswith", Operator::IEndsWith),
    ("lessthan", Operator::LessThan),
    ("lt", Operator::LessThan),
    ("greaterthan", Operator::GreaterThan),
    ("gt", Operator::GreaterThan),
    ("timediff_lt", Operator::TimeDiffLessThan),
    ("td_lt", Operator::TimeDiffLessThan),
    ("timediff_gt", Operator::TimeDiffGreaterThan),
    ("td_gt", Operator::TimeDiffGreaterThan),
    ("exists", Operator::Exists),
    ("nexists", Operator::NotExists),
    ("inside", Operator::Inside),
    ("in", Operator::Inside),
    ("ninside", Operator::NotInside),
    ("nin", Operator::NotInside),
    ("matchwildcard", Operator::MatchWildcard),
    ("matchregex", Operator::MatchRegex),
    ("regex", Operator::Regex),
    ("iregex", Operator::IRegex),
    ("search", Operator::Search),
];

impl Operator {
    /// The operator a name or alias stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        OPERATOR_NAMES.iter().find(|(known, _)| *known == name).map(|(_, op)| *op)
    }

    /// The long name (the first listed in [`OPERATOR_NAMES`]).
    pub fn name(self) -> &'static str {
        OPERATOR_NAMES.iter().find(|(_, op)| *op == self).map_or("?", |(name, _)| name)
    }

    /// `exists` and `nexists` look only at the payload; StackStorm's API
    /// still asks for a pattern, Squall does not.
    pub fn needs_pattern(self) -> bool {
        !matches!(self, Operator::Exists | Operator::NotExists)
    }

    /// Operators whose pattern is compiled into a regular expression.
    pub(crate) fn is_regex(self) -> bool {
        matches!(
            self,
            Operator::MatchWildcard | Operator::MatchRegex | Operator::Regex | Operator::IRegex
        )
    }

    /// Compiles a pattern for the regex operators the way Python would use
    /// it: `matchregex` is `re.match` with `DOTALL` (anchored at the start),
    /// `regex` and `iregex` are `re.search` (anywhere), `matchwildcard` is
    /// `fnmatch` (the whole string).
    pub(crate) fn compile_regex(self, pattern: &str) -> Result<Regex, regex::Error> {
        let source = match self {
            Operator::MatchRegex => format!(r"(?s)\A(?:{pattern})"),
            Operator::IRegex => format!("(?i){pattern}"),
            Operator::MatchWildcard => wildcard_to_regex(pattern),
            _ => pattern.to_owned(),
        };
        Regex::new(&source)
    }

    /// Applies every operator but `search` to a payload value (null when the
    /// key is missing, as in StackStorm) and a rendered pattern. `compiled`
    /// is the pattern's regex when it was compiled ahead of time.
    pub(crate) fn apply(
        self,
        value: &Value,
        pattern: &Value,
        compiled: Option<&Regex>,
        now: Timestamp,
    ) -> Result<bool, Raised> {
        // StackStorm refuses a null pattern for every operator except the
        // existence checks and `nequals`, which compares `value != None`.
        if pattern.is_null() && !matches!(self, Operator::Exists | Operator::NotExists) {
            return Ok(self == Operator::NotEquals && !value.is_null());
        }
        match self {
            Operator::Equals => Ok(python::equals(value, pattern)),
            Operator::NotEquals => Ok(!python::equals(value, pattern)),
            Operator::IEquals => {
                let (value, pattern) = strings(value, pattern)?;
                Ok(value.to_lowercase() == pattern.to_lowercase())
            }
            Operator::Contains => python::contains(value, pattern),
            Operator::NotContains => python::contains(value, pattern).map(|found| !found),
            Operator::IContains => {
                let (value, pattern) = strings(value, pattern)?;
                Ok(value.to_lowercase().contains(&pattern.to_lowercase()))
            }
            Operator::INotContains => {
                let (value, pattern) = strings(value, pattern)?;
                Ok(!value.to_lowercase().contains(&pattern.to_lowercase()))
            }
            Operator::StartsWith => strings(value, pattern).map(|(v, p)| v.starts_with(p)),
            Operator::EndsWith => strings(value, pattern).map(|(v, p)| v.ends_with(p)),
            Operator::IStartsWith => {
                let (value, pattern) = strings(value, pattern)?;
                Ok(value.to_lowercase().starts_with(&pattern.to_lowercase()))
            }
            Operator::IEndsWith => {
                let (value, pattern) = strings(value, pattern)?;
                Ok(value.to_lowercase().ends_with(&pattern.to_lowercase()))
            }
            Operator::LessThan => python::less_than(value, pattern),
            Operator::GreaterThan => python::less_than(pattern, value),
            Operator::TimeDiffLessThan => elapsed_seconds(value, now)
                .and_then(|elapsed| Ok(elapsed < python::to_float(pattern)?)),
            Operator::TimeDiffGreaterThan => elapsed_seconds(value, now)
                .and_then(|elapsed| Ok(elapsed > python::to_float(pattern)?)),
            Operator::Exists => Ok(!value.is_null()),
            Operator::NotExists => Ok(value.is_null()),
            Operator::Inside => python::contains(pattern, value),
            Operator::NotInside => python::contains(pattern, value).map(|found| !found),
            Operator::MatchWildcard | Operator::MatchRegex | Operator::Regex | Operator::IRegex => {
                let (value, pattern) = strings(value, pattern)?;
                match compiled {
                    Some(regex) => Ok(regex.is_match(value)),
                    // A templated pattern is only known now; an invalid one
                    // fails the criterion as `re.compile` raising would.
                    None => Ok(self.compile_regex(pattern).map_err(|_| Raised)?.is_match(value)),
                }
            }
            // The criteria module evaluates `search`; reaching here means a
            // caller bypassed it, and the criterion cannot hold.
            Operator::Search => Err(Raised),
        }
    }
}

/// The string operators call `str` methods on both sides; anything else
/// raises `AttributeError`/`TypeError` in StackStorm.
fn strings<'a>(value: &'a Value, pattern: &'a Value) -> Result<(&'a str, &'a str), Raised> {
    match (value, pattern) {
        (Value::String(value), Value::String(pattern)) => Ok((value, pattern)),
        _ => Err(Raised),
    }
}

/// Seconds from the payload's date to `now`. Dates are ISO 8601; one
/// without an offset is taken as UTC, a bare date as its midnight UTC.
fn elapsed_seconds(value: &Value, now: Timestamp) -> Result<f64, Raised> {
    let Value::String(text) = value else { return Err(Raised) };
    let instant = parse_instant(text.trim()).ok_or(Raised)?;
    Ok(now.duration_since(instant).as_secs_f64())
}

pub(crate) fn parse_instant(text: &str) -> Option<Timestamp> {
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Some(instant);
    }
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>() {
        return civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|zoned| zoned.timestamp());
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|zoned| zoned.timestamp())
}

/// Python's `fnmatch.translate`: `*`, `?`, `[set]`, `[!set]`, the whole
/// string, newlines included; an unclosed `[` is a literal.
fn wildcard_to_regex(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::from(r"(?s)\A");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                let set = &chars[i..j];
                i = j + 1;
                out.push('[');
                let mut members = set.iter().peekable();
                if members.peek() == Some(&&'!') {
                    members.next();
                    out.push('^');
                } else if members.peek() == Some(&&'^') {
                    members.next();
                    out.push_str(r"\^");
                }
                for &member in members {
                    // Characters Rust's class syntax gives a meaning to
                    // (nested classes, set operations, escapes) are literal
                    // in fnmatch.
                    if matches!(member, '\\' | '[' | '&' | '~') {
                        out.push('\\');
                    }
                    out.push(member);
                }
                out.push(']');
            }
            other => out.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push_str(r"\z");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_resolves_and_long_names_round_trip() {
        for (name, op) in OPERATOR_NAMES {
            assert_eq!(Operator::from_name(name), Some(*op), "{name}");
            assert_eq!(Operator::from_name(op.name()), Some(*op));
        }
        assert_eq!(Operator::from_name("EQUALS"), None);
    }

    #[test]
    fn wildcards_translate_like_fnmatch() {
        let matches = |pattern: &str, text: &str| {
            Operator::MatchWildcard.compile_regex(pattern).expect("valid wildcard").is_match(text)
        };
        assert!(matches("web-*.example.com", "web-01.example.com"));
        assert!(!matches("web-?", "web-10"));
        assert!(matches("host[0-9]", "host7"));
        assert!(matches("host[!0-9]", "hostx"));
        assert!(matches("a[b", "a[b"));
        assert!(matches("*", "multi\nline"));
        assert!(matches("[&~]", "&"));
    }

    #[test]
    fn dates_without_offset_are_utc() {
        let instant = parse_instant("2024-05-01T12:00:00").expect("civil date-time");
        assert_eq!(instant.to_string(), "2024-05-01T12:00:00Z");
        let instant = parse_instant("2024-05-01T14:00:00+02:00").expect("offset date-time");
        assert_eq!(instant.to_string(), "2024-05-01T12:00:00Z");
        assert!(parse_instant("2024-05-01").is_some());
        assert!(parse_instant("yesterday").is_none());
    }
}
