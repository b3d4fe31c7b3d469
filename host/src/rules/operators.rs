//! StackStorm's criteria operators, every name and alias, with StackStorm's
//! semantics (`st2common/operators.py`): what each does with strings, lists,
//! dicts, numbers, null and mismatched types.
//!
//! The regex operators take Python's `re` syntax, compiled and searched
//! by `python_regex.rs`.

use fancy_regex::RegexBuilder;
use jiff::Timestamp;
use serde_json::Value;

use super::python::{self, Raised};
use super::python_regex::REGEX_BACKTRACK_LIMIT;
use super::python_regex::translate;
pub(crate) use super::python_regex::{PyRegex, RegexFailure};

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

    /// Compiles a pattern for the regex operators the way StackStorm uses
    /// it: `matchregex` is `re.match` with `DOTALL` (anchored at the start
    /// only), `regex` is `re.search` (anywhere), `iregex` is `re.search`
    /// with `IGNORECASE`, `matchwildcard` is `fnmatch` (the whole string).
    /// The error says what is wrong with the pattern.
    pub(crate) fn compile_regex(self, pattern: &str) -> Result<PyRegex, String> {
        let mut builder;
        let backtracking;
        if self == Operator::MatchWildcard {
            builder = RegexBuilder::new(&wildcard_to_regex(pattern));
            backtracking = false;
        } else {
            let translated = translate(pattern)?;
            let source = if self == Operator::MatchRegex {
                format!(r"\A(?:{})", translated.source)
            } else {
                translated.source
            };
            builder = RegexBuilder::new(&source);
            builder
                .case_insensitive(translated.flags.ignorecase || self == Operator::IRegex)
                .multi_line(translated.flags.multiline)
                .dot_matches_new_line(translated.flags.dotall || self == Operator::MatchRegex);
            backtracking = translated.backtracking;
        }
        let regex = builder
            .backtrack_limit(REGEX_BACKTRACK_LIMIT)
            .build()
            .map_err(|e| e.to_string().split_whitespace().collect::<Vec<_>>().join(" "))?;
        Ok(PyRegex { regex, backtracking })
    }

    /// The regex operators on a payload value and a rendered pattern.
    /// `compiled` is the pattern compiled ahead of time, when it was a
    /// literal. A search that gives up is [`RegexFailure::GaveUp`].
    pub(crate) fn regex_matches(
        self,
        value: &Value,
        pattern: &Value,
        compiled: Option<&PyRegex>,
    ) -> Result<bool, RegexFailure> {
        if pattern.is_null() {
            return Ok(false);
        }
        let (value, pattern) = strings(value, pattern).map_err(|_| RegexFailure::Raised)?;
        match compiled {
            Some(regex) => regex.is_match(value),
            // A templated pattern is only known now; an invalid one fails
            // the criterion as `re.compile` raising would.
            None => self.compile_regex(pattern).map_err(|_| RegexFailure::Raised)?.is_match(value),
        }
    }

    /// Applies every operator but `search` to a payload value (null when the
    /// key is missing, as in StackStorm) and a rendered pattern. The regex
    /// operators compile the pattern here; [`Self::regex_matches`] takes one
    /// compiled ahead of time, and tells a search that gave up apart.
    pub(crate) fn apply(
        self,
        value: &Value,
        pattern: &Value,
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
                self.regex_matches(value, pattern, None).map_err(|_| Raised)
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
            other => out.push_str(&fancy_regex::escape(other.encode_utf8(&mut [0; 4]))),
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
        let matches = |pattern: &str, text: &str| found(Operator::MatchWildcard, pattern, text);
        assert!(matches("web-*.example.com", "web-01.example.com"));
        assert!(!matches("web-?", "web-10"));
        assert!(matches("host[0-9]", "host7"));
        assert!(matches("host[!0-9]", "hostx"));
        assert!(matches("a[b", "a[b"));
        assert!(matches("*", "multi\nline"));
        assert!(matches("[&~]", "&"));
    }

    fn found(op: Operator, pattern: &str, text: &str) -> bool {
        op.compile_regex(pattern).expect("valid pattern").is_match(text).expect("no give-up")
    }

    #[test]
    fn python_patterns_keep_their_meaning() {
        let search = |pattern: &str, text: &str| found(Operator::Regex, pattern, text);
        // `$` also before a final newline; `\Z` only at the very end.
        assert!(search("abc$", "abc\n"));
        assert!(!search("abc$", "abc\n\n"));
        assert!(!search(r"abc\Z", "abc\n"));
        assert!(search("(?m)^b$", "a\nb\nc"));
        assert!(search("b$(?m)", "a\nb\nc"), "global flags apply everywhere");
        // Braces that are not a repeat are literals; `{,n}` is `{0,n}`.
        assert!(search("a{foo}", "a{foo}"));
        assert!(search("^a{,2}$", "aa"));
        assert!(!search("^a{,2}$", "aaa"));
        assert!(search("x{}", "x{}"));
        // Sets: `[` `&&` `--` are literal, `]` first is a member, `\b` is a backspace.
        assert!(search("[[]", "["));
        assert!(search("^[a&&b]$", "&"));
        assert!(search("[]a]", "]"));
        assert!(search(r"[\b]", "\u{8}"));
        assert!(search("[+--]", ","));
        assert!(!search("[[:alpha:]]", "x"));
        assert!(search(r"^[\d\-]+$", "12-3"));
        // Escapes.
        assert!(search(r"\x41\u00e9\101\0", "A\u{e9}A\0"));
        assert!(search(r"(a)(b)\2\1", "abba"));
        assert!(search(r"(?P<x>\w)(?P=x)", "xx"));
        assert!(search("(?#note)a", "a"));
        assert!(search("(?x) a  b # comment\n [ ]", "ab "));
        assert!(search("(?i:A)b", "ab"));
        assert!(!search("(?i:A)b", "aB"));
    }

    #[test]
    fn what_python_refuses_is_refused() {
        for pattern in
            ["(a", "a)", "[a", r"\q", r"a\", "[z-a]", r"\N{DASH}", "(?a)x", "(?P=missing)"]
        {
            assert!(Operator::Regex.compile_regex(pattern).is_err(), "{pattern}");
        }
    }

    #[test]
    fn the_operators_anchor_as_python_calls_do() {
        assert!(found(Operator::MatchRegex, "a.c", "a\nc"));
        assert!(!found(Operator::MatchRegex, "b", "ab"));
        assert!(found(Operator::MatchRegex, "a|b", "bc"), "anchored around the whole pattern");
        assert!(found(Operator::IRegex, "(?<=x)Y", "xy"));
        assert!(!found(Operator::Regex, "Y", "y"));
    }

    #[test]
    fn a_search_that_backtracks_too_long_gives_up() {
        let regex = Operator::Regex.compile_regex(r"(a*)*\1x").expect("valid pattern");
        let text = "a".repeat(20_000);
        assert!(matches!(regex.is_match(&text), Err(RegexFailure::GaveUp(_))));
        let regex = Operator::Regex.compile_regex("(?=.*x)").expect("valid pattern");
        let text = "a".repeat(super::super::python_regex::REGEX_BACKTRACKING_TEXT_BYTES + 1);
        assert!(matches!(regex.is_match(&text), Err(RegexFailure::GaveUp(_))));
        // Without look-around the regex crate's automata run, on any length.
        let regex = Operator::Regex.compile_regex(r"^(\w+\s?)*$").expect("valid pattern");
        assert_eq!(regex.is_match(&format!("{text}!")), Ok(false));
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
