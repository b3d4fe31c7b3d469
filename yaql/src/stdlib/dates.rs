//! yaql's dates and times (`yaql.standard_library.date_time`): datetimes
//! with a fixed UTC offset, timespans, their properties, operators,
//! `format` (Python's `strftime`), `replace` and parsing.
//!
//! A datetime is always aware, as yaql makes it: a wall-clock time and
//! its offset east of UTC (whole seconds). A timespan is Python's
//! `timedelta` held as microseconds (within ±292,000 years, where
//! Python's reaches a billion days). Datetimes keep Python's range,
//! years 1 to 9999.
//!
//! They are values of their own while an expression works on them: as
//! the receiver of a property (`$.year`), of `format()`/`replace()`, as
//! an operand of an operator, in `let()` variables and as `str()`'s or
//! `isDatetime()`'s argument. Anywhere data is needed (inside a list or
//! dictionary, as another function's argument, as the expression's
//! result) a datetime becomes the string StackStorm stores for it (its
//! JSON encoder writes ISO 8601: `2015-09-29T10:00:00+00:00`) and a
//! timespan becomes Python's `str()` of it (`1 day, 2:03:00`; StackStorm
//! cannot store a timespan at all). Inside rendered text both print as
//! Python's `str()` does (`2015-09-29 10:00:00+00:00`).

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};
use serde_json::Value;

use super::{Form, Run, data};
use crate::ast::Expr;
use crate::error::{Error, Result};
use crate::eval::{Call, Ev, Val};
use crate::value::{Num, type_name};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// An aware datetime: the wall-clock time at `offset` seconds east of UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub local: NaiveDateTime,
    pub offset: i32,
}

impl DateTime {
    /// The same instant as a UTC wall-clock time.
    fn utc(self) -> NaiveDateTime {
        self.local - TimeDelta::seconds(i64::from(self.offset))
    }

    /// Python's `str()`, or ISO 8601 with `T` (how StackStorm stores it).
    pub fn text(self, separator: char) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}{separator}{:02}:{:02}:{:02}",
            self.local.year(),
            self.local.month(),
            self.local.day(),
            self.local.hour(),
            self.local.minute(),
            self.local.second()
        );
        let micro = self.local.nanosecond() / 1000;
        if micro != 0 {
            out.push_str(&format!(".{micro:06}"));
        }
        out.push_str(&offset_text(self.offset, ":"));
        out
    }
}

/// `+HH:MM` (`+HH:MM:SS` when there are seconds), `sep` between the parts.
fn offset_text(offset: i32, sep: &str) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let mut out = format!("{sign}{:02}{sep}{:02}", abs / 3600, abs % 3600 / 60);
    if !abs.is_multiple_of(60) {
        out.push_str(&format!("{sep}{:02}", abs % 60));
    }
    out
}

/// Python's `str()` of a `timedelta` of `micros` microseconds.
pub(crate) fn timespan_text(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rest = micros.rem_euclid(MICROS_PER_DAY);
    let (seconds, micro) = (rest / MICROS_PER_SECOND, rest % MICROS_PER_SECOND);
    let mut out = String::new();
    if days != 0 {
        out.push_str(&format!("{days} day{}, ", if days.abs() == 1 { "" } else { "s" }));
    }
    out.push_str(&format!("{}:{:02}:{:02}", seconds / 3600, seconds % 3600 / 60, seconds % 60));
    if micro != 0 {
        out.push_str(&format!(".{micro:06}"));
    }
    out
}

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "datetime" => (Form::Function, datetime),
        "timespan" => (Form::Function, timespan),
        "now" => (Form::Function, now),
        "localtz" => (Form::Function, |_, c| {
            c.require(&[])?;
            let offset = chrono::Local::now().offset().local_minus_utc();
            Ok(Val::TimeSpan(i64::from(offset) * MICROS_PER_SECOND))
        }),
        "utctz" => (Form::Function, |_, c| {
            c.require(&[])?;
            Ok(Val::TimeSpan(0))
        }),
        "isDatetime" => (Form::Function, |ev, c| {
            let [expr] = c.require(&["value"])?[..] else {
                return Err(c.fail("takes one argument"));
            };
            data(Value::Bool(matches!(ev.eval(expr, c.scope)?, Val::DateTime(_))))
        }),
        "isTimespan" => (Form::Function, |ev, c| {
            let [expr] = c.require(&["value"])?[..] else {
                return Err(c.fail("takes one argument"));
            };
            data(Value::Bool(matches!(ev.eval(expr, c.scope)?, Val::TimeSpan(_))))
        }),
        _ => return None,
    })
}

fn out_of_range(c: &Call<'_>) -> Error {
    c.fail("date value out of range")
}

/// A datetime within Python's years 1 to 9999.
fn checked(local: NaiveDateTime, offset: i32, c: &Call<'_>) -> Result<Val> {
    if !(1..=9999).contains(&local.year()) {
        return Err(out_of_range(c));
    }
    Ok(Val::DateTime(DateTime { local, offset }))
}

/// An offset argument: a timespan strictly within a day, whole seconds.
fn offset_of(ev: &mut Ev<'_>, c: &Call<'_>, expr: Option<&Expr>) -> Result<i32> {
    let Some(expr) = expr else { return Ok(0) };
    match ev.eval(expr, c.scope)? {
        Val::TimeSpan(us) if us.abs() < MICROS_PER_DAY && us % MICROS_PER_SECOND == 0 => {
            Ok((us / MICROS_PER_SECOND) as i32)
        }
        Val::TimeSpan(_) => {
            Err(c.fail("offset must be whole seconds strictly between -1 and 1 day"))
        }
        other => Err(c.fail(format!("offset must be a timespan, got {}", other.describe()))),
    }
}

/// `datetime(year, month, day, hour, minute, second, microsecond, offset)`,
/// `datetime(timestamp, offset)` or `datetime(string, format)`.
fn datetime(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    const COMPONENTS: &[&str] =
        &["year", "month", "day", "hour", "minute", "second", "microsecond", "offset"];
    let named: Vec<&str> = c
        .args
        .iter()
        .filter_map(|a| match a {
            crate::ast::Arg::Pair(k, _) => match &k.kind {
                crate::ast::Kind::Keyword(k) => Some(k.as_str()),
                _ => None,
            },
            crate::ast::Arg::Pos(_) => None,
        })
        .collect();
    let positional = c.args.len() - named.len();
    let has = |n: &str| named.contains(&n);
    if has("string") || has("format") {
        return from_string(ev, c);
    }
    if has("timestamp") {
        return from_timestamp(ev, c, None);
    }
    if positional >= 3 || COMPONENTS[..7].iter().any(|n| has(n)) {
        return from_components(ev, c);
    }
    let Some(crate::ast::Arg::Pos(first)) = c.args.first() else {
        return Err(c.fail("missing the argument `year`, `timestamp` or `string`"));
    };
    match ev.value(first, c.scope)? {
        Value::String(_) => from_string(ev, c),
        v @ Value::Number(_) => from_timestamp(ev, c, Some(v)),
        other => Err(c.fail(format!(
            "expects a date's parts, a timestamp or a string, got {}",
            type_name(&other)
        ))),
    }
}

fn from_components(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let bound =
        c.bind(&["year", "month", "day", "hour", "minute", "second", "microsecond", "offset"])?;
    let mut parts = [0i64; 7];
    for (i, name) in ["year", "month", "day"].iter().enumerate() {
        let Some(expr) = bound[i] else {
            return Err(c.fail(format!("missing the argument `{name}`")));
        };
        parts[i] = super::int(ev, c, expr)?;
    }
    for i in 3..7 {
        parts[i] = super::opt_int(ev, c, bound[i], 0)?;
    }
    let offset = offset_of(ev, c, bound[7])?;
    let local = build(c, parts)?;
    checked(local, offset, c)
}

/// A wall-clock time from year, month, day, hour, minute, second and
/// microsecond, each checked as Python checks them.
fn build(
    c: &Call<'_>,
    [year, month, day, hour, minute, second, micro]: [i64; 7],
) -> Result<NaiveDateTime> {
    if !(1..=9999).contains(&year) {
        return Err(c.fail(format!("year {year} is out of range")));
    }
    if !(1..=12).contains(&month) {
        return Err(c.fail("month must be in 1..12"));
    }
    let Some(date) =
        NaiveDate::from_ymd_opt(year as i32, month as u32, u32::try_from(day).unwrap_or(0))
    else {
        return Err(c.fail("day is out of range for month"));
    };
    let checks = [
        (hour, 23, "hour must be in 0..23"),
        (minute, 59, "minute must be in 0..59"),
        (second, 59, "second must be in 0..59"),
        (micro, 999_999, "microsecond must be in 0..999999"),
    ];
    for (value, max, message) in checks {
        if !(0..=max).contains(&value) {
            return Err(c.fail(message));
        }
    }
    let time =
        NaiveTime::from_hms_micro_opt(hour as u32, minute as u32, second as u32, micro as u32)
            .ok_or_else(|| c.fail("invalid time"))?;
    Ok(NaiveDateTime::new(date, time))
}

fn from_timestamp(ev: &mut Ev<'_>, c: &Call<'_>, first: Option<Value>) -> Result<Val> {
    let bound = c.bind(&["timestamp", "offset"])?;
    let timestamp = match (first, bound[0]) {
        (Some(v), _) => v,
        (None, Some(expr)) => ev.value(expr, c.scope)?,
        (None, None) => return Err(c.fail("missing the argument `timestamp`")),
    };
    let micros = match Num::of(&timestamp) {
        Some(Num::Int(i)) => i.checked_mul(MICROS_PER_SECOND),
        Some(Num::Float(f)) => {
            let us = (f * 1e6).round_ties_even();
            (us.is_finite() && us.abs() < 9.2e18).then_some(us as i64)
        }
        None => {
            return Err(
                c.fail(format!("timestamp must be a number, got {}", type_name(&timestamp)))
            );
        }
    };
    let offset = offset_of(ev, c, bound[1])?;
    let utc = micros
        .and_then(chrono::DateTime::from_timestamp_micros)
        .ok_or_else(|| c.fail("year is out of range"))?
        .naive_utc();
    checked(utc + TimeDelta::seconds(i64::from(offset)), offset, c)
}

fn from_string(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let bound = c.bind(&["string", "format"])?;
    let Some(expr) = bound[0] else { return Err(c.fail("missing the argument `string`")) };
    let text = super::string(ev, c, expr)?;
    let format = super::opt_string(ev, c, bound[1])?.filter(|f| !f.is_empty());
    let (local, offset) = match format {
        Some(format) => strptime(c, &text, &format)?,
        None => parse_iso(&text).ok_or_else(|| {
            c.fail(format!(
                "cannot parse `{text}` as a date: without a format, ISO 8601 forms are read \
                 (2015-09-29, 20150929, 2015-09-29T10:00:00.5+03:00, a space for the T, \
                 Z or UTC); give a format for others"
            ))
        })?,
    };
    checked(local, offset.unwrap_or(0), c)
}

fn iso_pattern() -> &'static fancy_regex::Regex {
    static PATTERN: OnceLock<fancy_regex::Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let date = r"(?P<y>\d{4})(?:(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})|(?P<m2>\d{2})(?P<d2>\d{2}))";
        let time = r"(?:(?:T|\s+)(?P<H>\d{1,2})(?::?(?P<M>\d{2})(?::?(?P<S>\d{2})(?:[.,](?P<f>\d+))?)?)?)?";
        let zone = r"\s*(?:(?P<z>Z|UTC|GMT)|(?P<sign>[+-])(?P<zh>\d{2})(?::?(?P<zm>\d{2}))?)?";
        fancy_regex::Regex::new(&format!("(?i)^\\s*{date}{time}{zone}\\s*$"))
            .unwrap_or_else(|e| unreachable!("a fixed pattern: {e}"))
    })
}

/// The ISO 8601 forms dateutil's parser reads (the subset workflows
/// feed it): the wall-clock time and the offset, if one is written.
fn parse_iso(text: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let caps = iso_pattern().captures(text).ok()??;
    let num = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<i64>().ok());
    let year = num("y")?;
    let month = num("m").or_else(|| num("m2"))?;
    let day = num("d").or_else(|| num("d2"))?;
    let micro = caps.name("f").map_or(0, |m| {
        let digits: String = m.as_str().chars().chain(std::iter::repeat('0')).take(6).collect();
        digits.parse::<i64>().unwrap_or(0)
    });
    let date = NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32)?;
    let time = NaiveTime::from_hms_micro_opt(
        num("H").unwrap_or(0) as u32,
        num("M").unwrap_or(0) as u32,
        num("S").unwrap_or(0) as u32,
        micro as u32,
    )?;
    let offset = if caps.name("z").is_some() {
        Some(0)
    } else if let Some(sign) = caps.name("sign") {
        let seconds = (num("zh")? * 3600 + num("zm").unwrap_or(0) * 60) as i32;
        if seconds >= 86_400 {
            return None;
        }
        Some(if sign.as_str() == "-" { -seconds } else { seconds })
    } else {
        None
    };
    Some((NaiveDateTime::new(date, time), offset))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn names_pattern(names: &[&str], abbreviated: bool) -> String {
    let names: Vec<String> = names
        .iter()
        .map(|n| if abbreviated { n[..3].to_owned() } else { (*n).to_owned() })
        .collect();
    format!("(?:{})", names.join("|"))
}

/// Python's `datetime.strptime(text, format)` in the C locale: the wall
/// time and the offset `%z` read, if any.
fn strptime(c: &Call<'_>, text: &str, format: &str) -> Result<(NaiveDateTime, Option<i32>)> {
    let mut pattern = String::from("(?i)^");
    let mut chars = format.chars().peekable();
    let mut seen = Vec::new();
    while let Some(ch) = chars.next() {
        if ch.is_whitespace() {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            pattern.push_str(r"\s+");
            continue;
        }
        if ch != '%' {
            pattern.push_str(&fancy_regex::escape(&ch.to_string()));
            continue;
        }
        let Some(directive) = chars.next() else {
            return Err(c.fail(format!("stray % in format '{format}'")));
        };
        let group = match directive {
            'Y' => r"\d\d\d\d",
            'y' | 'C' => r"\d\d",
            'm' => r"1[0-2]|0[1-9]|[1-9]",
            'd' => r"3[01]|[12]\d|0[1-9]|[1-9]| [1-9]",
            'H' => r"2[0-3]|[0-1]\d|\d",
            'I' => r"1[0-2]|0[1-9]|[1-9]",
            'M' => r"[0-5]\d|\d",
            'S' => r"6[0-1]|[0-5]\d|\d",
            'f' => r"[0-9]{1,6}",
            'j' => r"36[0-6]|3[0-5]\d|[12]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9]",
            'p' => "AM|PM",
            'z' => r"[+-]\d\d:?[0-5]\d(?::?[0-5]\d)?|Z",
            'Z' => "UTC|GMT",
            'b' | 'h' | 'B' | 'a' | 'A' => "",
            '%' => {
                pattern.push('%');
                continue;
            }
            other => {
                return Err(c.fail(format!("'{other}' is a bad directive in format '%{other}'")));
            }
        };
        let group = match directive {
            'b' | 'h' => names_pattern(&MONTHS, true),
            'B' => names_pattern(&MONTHS, false),
            'a' => names_pattern(&WEEKDAYS, true),
            'A' => names_pattern(&WEEKDAYS, false),
            _ => group.to_owned(),
        };
        let key = if directive == 'h' { 'b' } else { directive };
        if seen.contains(&key) {
            return Err(c.fail(format!("redefinition of group name '{key}' in format '{format}'")));
        }
        seen.push(key);
        pattern.push_str(&format!("(?P<{}>{group})", group_name(key)));
    }
    let regex =
        fancy_regex::Regex::new(&pattern).map_err(|e| c.fail(format!("bad format: {e}")))?;
    let caps = regex
        .captures(text)
        .map_err(|e| c.fail(e.to_string()))?
        .ok_or_else(|| c.fail(format!("time data '{text}' does not match format '{format}'")))?;
    let whole = caps.get(0).map_or(0, |m| m.end());
    if whole != text.len() {
        return Err(c.fail(format!("unconverted data remains: {}", &text[whole..])));
    }
    let get = |d: char| caps.name(&group_name(d)).map(|m| m.as_str().trim().to_owned());
    let num = |d: char| get(d).and_then(|s| s.parse::<i64>().ok());
    let mut year = num('Y').unwrap_or(1900);
    if let Some(y) = num('y') {
        year = if y <= 68 { 2000 + y } else { 1900 + y };
    }
    let position = |d: char, names: &[&str]| {
        get(d).and_then(|s| {
            names.iter().position(|n| n.to_lowercase().starts_with(&s.to_lowercase()))
        })
    };
    let mut month = num('m').unwrap_or(1);
    if let Some(m) = position('b', &MONTHS).or_else(|| position('B', &MONTHS)) {
        month = m as i64 + 1;
    }
    let mut day = num('d').unwrap_or(1);
    if let (Some(j), None, None) = (num('j'), get('m').or(get('b')).or(get('B')), get('d')) {
        let date = NaiveDate::from_yo_opt(year as i32, j as u32)
            .ok_or_else(|| c.fail("day of year out of range"))?;
        month = i64::from(date.month());
        day = i64::from(date.day());
    }
    let mut hour = num('H').unwrap_or(0);
    if let Some(h) = num('I') {
        let pm = get('p').is_some_and(|p| p.eq_ignore_ascii_case("pm"));
        hour = match (h, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    let micro = get('f').map_or(0, |f| {
        let digits: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
        digits.parse::<i64>().unwrap_or(0)
    });
    let second = num('S').unwrap_or(0).min(59);
    let local = build(c, [year, month, day, hour, num('M').unwrap_or(0), second, micro])?;
    let offset = match get('z') {
        None => None,
        Some(z) if z.eq_ignore_ascii_case("z") => Some(0),
        Some(z) => {
            let digits: String = z.chars().filter(char::is_ascii_digit).collect();
            let part =
                |i: usize| digits.get(i..i + 2).and_then(|s| s.parse::<i32>().ok()).unwrap_or(0);
            let seconds = part(0) * 3600 + part(2) * 60 + part(4);
            Some(if z.starts_with('-') { -seconds } else { seconds })
        }
    };
    Ok((local, offset))
}

fn group_name(directive: char) -> String {
    if directive.is_ascii_uppercase() { format!("u{directive}") } else { format!("l{directive}") }
}

/// `timespan(days, hours, minutes, seconds, milliseconds, microseconds)`.
fn timespan(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    const UNITS: [(&str, i64); 6] = [
        ("days", MICROS_PER_DAY),
        ("hours", 3600 * MICROS_PER_SECOND),
        ("minutes", 60 * MICROS_PER_SECOND),
        ("seconds", MICROS_PER_SECOND),
        ("milliseconds", 1000),
        ("microseconds", 1),
    ];
    let names: Vec<&str> = UNITS.iter().map(|(n, _)| *n).collect();
    let bound = c.bind(&names)?;
    let mut total: i64 = 0;
    for (expr, (_, scale)) in bound.into_iter().zip(UNITS) {
        let n = super::opt_int(ev, c, expr, 0)?;
        total = n
            .checked_mul(scale)
            .and_then(|us| total.checked_add(us))
            .ok_or_else(|| timespan_overflow(c.column, c.name))?;
    }
    Ok(Val::TimeSpan(total))
}

fn timespan_overflow(column: usize, function: &str) -> Error {
    Error::Argument {
        column,
        function: function.to_owned(),
        message: "timespan out of range".into(),
    }
}

/// `now(offset => timespan(0))`: the current time at that offset.
fn now(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [offset] = c.bind(&["offset"])?[..] else { return Err(c.fail("bad arguments")) };
    let offset = offset_of(ev, c, offset)?;
    let utc = chrono::Utc::now().naive_utc();
    // Microseconds, as Python's datetime holds them.
    let utc = utc.with_nanosecond(utc.nanosecond() / 1000 * 1000).unwrap_or(utc);
    checked(utc + TimeDelta::seconds(i64::from(offset)), offset, c)
}

/// `dt.replace(year, month, day, hour, minute, second, microsecond,
/// offset)`: the same wall-clock time with the parts given replaced (the
/// offset too, without moving the wall clock).
pub(super) fn replace(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let Some(Val::DateTime(dt)) = c.receiver else { return Err(c.fail("expected a datetime")) };
    let bound =
        c.bind(&["year", "month", "day", "hour", "minute", "second", "microsecond", "offset"])?;
    let l = dt.local;
    let current = [
        i64::from(l.year()),
        i64::from(l.month()),
        i64::from(l.day()),
        i64::from(l.hour()),
        i64::from(l.minute()),
        i64::from(l.second()),
        i64::from(l.nanosecond() / 1000),
    ];
    let mut parts = current;
    for (i, part) in parts.iter_mut().enumerate() {
        if let Some(expr) = bound[i] {
            match ev.value(expr, c.scope)? {
                Value::Null => {}
                v => *part = super::as_int(c, &v)?,
            }
        }
    }
    let offset = match bound[7] {
        Some(expr) => match ev.eval(expr, c.scope)? {
            Val::Data(Value::Null) => dt.offset,
            _ => offset_of(ev, c, Some(expr))?,
        },
        None => dt.offset,
    };
    checked(build(c, parts)?, offset, c)
}

/// `dt.format(format)`: Python's `strftime` (glibc's directives in the C
/// locale, `%f`, `%z` and `%Z` as Python adds them).
pub(super) fn format(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let Some(Val::DateTime(dt)) = c.receiver else { return Err(c.fail("expected a datetime")) };
    let [format] = c.require(&["format"])?[..] else { return Err(c.fail("bad arguments")) };
    let format = super::string(ev, c, format)?;
    let text = strftime(dt, &format);
    ev.grow_str(text.len(), c.column)?;
    data(Value::String(text))
}

/// Python's `strftime` over glibc, C locale. glibc's flags `-` (no
/// padding), `_` (spaces), `0` (zeros) and `^` (upper case) are read;
/// an unknown directive is copied as written.
pub(crate) fn strftime(dt: DateTime, format: &str) -> String {
    let l = dt.local;
    let mut out = String::with_capacity(format.len() * 2);
    let mut chars = format.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        let flag = match chars.peek() {
            Some(f @ ('-' | '_' | '0' | '^')) => {
                let f = *f;
                chars.next();
                Some(f)
            }
            _ => None,
        };
        let Some(directive) = chars.next() else {
            out.push('%');
            if let Some(f) = flag {
                out.push(f);
            }
            break;
        };
        let number = |value: i64, width: usize, pad: char| -> String {
            let (width, pad) = match flag {
                Some('-') => (0, pad),
                Some('_') => (width, ' '),
                Some('0') => (width, '0'),
                _ => (width, pad),
            };
            let digits = value.abs().to_string();
            let mut s = String::new();
            if value < 0 {
                s.push('-');
            }
            for _ in digits.len()..width {
                s.push(pad);
            }
            s.push_str(&digits);
            s
        };
        let weekday = l.weekday().num_days_from_monday() as usize;
        let yday = i64::from(l.ordinal0());
        let hour12 = match l.hour() % 12 {
            0 => 12,
            h => i64::from(h),
        };
        let text: String = match directive {
            'a' => WEEKDAYS[weekday][..3].to_owned(),
            'A' => WEEKDAYS[weekday].to_owned(),
            'b' | 'h' => MONTHS[l.month0() as usize][..3].to_owned(),
            'B' => MONTHS[l.month0() as usize].to_owned(),
            'c' => strftime(dt, "%a %b %e %H:%M:%S %Y"),
            'C' => number(i64::from(l.year()) / 100, 2, '0'),
            'd' => number(i64::from(l.day()), 2, '0'),
            'D' | 'x' => strftime(dt, "%m/%d/%y"),
            'e' => number(i64::from(l.day()), 2, ' '),
            'f' => format!("{:06}", l.nanosecond() / 1000),
            'F' => strftime(dt, "%Y-%m-%d"),
            'G' => number(i64::from(l.iso_week().year()), 1, '0'),
            'g' => number(i64::from(l.iso_week().year()).rem_euclid(100), 2, '0'),
            'H' => number(i64::from(l.hour()), 2, '0'),
            'I' => number(hour12, 2, '0'),
            'j' => number(yday + 1, 3, '0'),
            'k' => number(i64::from(l.hour()), 2, ' '),
            'l' => number(hour12, 2, ' '),
            'm' => number(i64::from(l.month()), 2, '0'),
            'M' => number(i64::from(l.minute()), 2, '0'),
            'n' => "\n".into(),
            'p' => if l.hour() < 12 { "AM" } else { "PM" }.into(),
            'P' => if l.hour() < 12 { "am" } else { "pm" }.into(),
            'r' => strftime(dt, "%I:%M:%S %p"),
            'R' => strftime(dt, "%H:%M"),
            // glibc's mktime reads Python's naive time tuple as local
            // time; on a host in UTC that is the wall clock as UTC.
            's' => l.and_utc().timestamp().to_string(),
            'S' => number(i64::from(l.second()), 2, '0'),
            't' => "\t".into(),
            'T' | 'X' => strftime(dt, "%H:%M:%S"),
            'u' => (weekday + 1).to_string(),
            'U' => {
                let sunday_based = (weekday as i64 + 1) % 7;
                number((yday + 7 - sunday_based) / 7, 2, '0')
            }
            'V' => number(i64::from(l.iso_week().week()), 2, '0'),
            'w' => ((weekday + 1) % 7).to_string(),
            'W' => number((yday + 7 - weekday as i64) / 7, 2, '0'),
            'y' => number(i64::from(l.year()) % 100, 2, '0'),
            'Y' => number(i64::from(l.year()), 1, '0'),
            'z' => offset_text(dt.offset, ""),
            // dateutil's UTC zone is named UTC; a zone made from an
            // offset has no name.
            'Z' => if dt.offset == 0 { "UTC" } else { "" }.into(),
            '%' => "%".into(),
            other => {
                out.push('%');
                if let Some(f) = flag {
                    out.push(f);
                }
                out.push(other);
                continue;
            }
        };
        if flag == Some('^') {
            out.push_str(&text.to_uppercase());
        } else {
            out.push_str(&text);
        }
    }
    out
}

fn op_error(op: &str, column: usize, left: &Val, right: &Val) -> Error {
    Error::Argument {
        column,
        function: format!("operator {op}"),
        message: format!("not defined for {} and {}", left.describe(), right.describe()),
    }
}

/// A timespan from a float number of microseconds, rounded half to even
/// as Python's `timedelta` rounds.
fn timespan_from_f64(us: f64, column: usize, op: &str) -> Result<Val> {
    let us = us.round_ties_even();
    if !us.is_finite() || us.abs() >= 9.2e18 {
        return Err(timespan_overflow(column, &format!("operator {op}")));
    }
    Ok(Val::TimeSpan(us as i64))
}

/// yaql's operators on datetimes and timespans; `None` when neither
/// operand is one or the operator treats them as data (`in`).
pub(crate) fn binary(op: &str, left: &Val, right: &Val, column: usize) -> Option<Result<Val>> {
    let temporal = |v: &Val| matches!(v, Val::DateTime(_) | Val::TimeSpan(_));
    if !(temporal(left) || temporal(right)) || op == "in" {
        return None;
    }
    let bool_ = |b: bool| Some(Ok(Val::Data(Value::Bool(b))));
    let compare = |order: std::cmp::Ordering| match op {
        "=" => bool_(order.is_eq()),
        "!=" => bool_(order.is_ne()),
        "<" => bool_(order.is_lt()),
        "<=" => bool_(order.is_le()),
        ">" => bool_(order.is_gt()),
        ">=" => bool_(order.is_ge()),
        _ => None,
    };
    let overflow = || Error::Argument {
        column,
        function: format!("operator {op}"),
        message: "date value out of range".into(),
    };
    let shift = |dt: DateTime, us: i64| -> Result<Val> {
        let local =
            dt.local.checked_add_signed(TimeDelta::microseconds(us)).ok_or_else(overflow)?;
        if !(1..=9999).contains(&local.year()) {
            return Err(overflow());
        }
        Ok(Val::DateTime(DateTime { local, offset: dt.offset }))
    };
    let result = match (left, right) {
        (Val::DateTime(a), Val::DateTime(b)) => {
            if let Some(r) = compare(a.utc().cmp(&b.utc())) {
                return Some(r);
            }
            match op {
                "-" => (a.utc() - b.utc())
                    .num_microseconds()
                    .map(Val::TimeSpan)
                    .ok_or_else(|| timespan_overflow(column, "operator -")),
                _ => Err(op_error(op, column, left, right)),
            }
        }
        (Val::TimeSpan(a), Val::TimeSpan(b)) => {
            if let Some(r) = compare(a.cmp(b)) {
                return Some(r);
            }
            match op {
                "+" => a
                    .checked_add(*b)
                    .map(Val::TimeSpan)
                    .ok_or_else(|| timespan_overflow(column, "operator +")),
                "-" => a
                    .checked_sub(*b)
                    .map(Val::TimeSpan)
                    .ok_or_else(|| timespan_overflow(column, "operator -")),
                "/" if *b == 0 => Err(Error::DivisionByZero { column }),
                "/" => Num::Float(*a as f64 / *b as f64)
                    .to_value()
                    .map(Val::Data)
                    .ok_or(Error::Overflow { column }),
                _ => Err(op_error(op, column, left, right)),
            }
        }
        (Val::DateTime(dt), Val::TimeSpan(us)) if op == "+" => shift(*dt, *us),
        (Val::TimeSpan(us), Val::DateTime(dt)) if op == "+" => shift(*dt, *us),
        (Val::DateTime(dt), Val::TimeSpan(us)) if op == "-" => match us.checked_neg() {
            Some(neg) => shift(*dt, neg),
            None => Err(overflow()),
        },
        (Val::TimeSpan(us), Val::Data(n)) | (Val::Data(n), Val::TimeSpan(us))
            if op == "*" && Num::of(n).is_some() =>
        {
            match Num::of(n) {
                Some(Num::Int(i)) => us
                    .checked_mul(i)
                    .map(Val::TimeSpan)
                    .ok_or_else(|| timespan_overflow(column, "operator *")),
                Some(Num::Float(f)) => timespan_from_f64(*us as f64 * f, column, op),
                None => Err(op_error(op, column, left, right)),
            }
        }
        (Val::TimeSpan(us), Val::Data(n)) if op == "/" && Num::of(n).is_some() => {
            match Num::of(n).map(Num::as_f64) {
                Some(0.0) => Err(Error::DivisionByZero { column }),
                Some(d) => timespan_from_f64(*us as f64 / d, column, op),
                None => Err(op_error(op, column, left, right)),
            }
        }
        // Python's `==` of a datetime or timespan with anything else.
        _ if op == "=" => Ok(Val::Data(Value::Bool(false))),
        _ if op == "!=" => Ok(Val::Data(Value::Bool(true))),
        _ => Err(op_error(op, column, left, right)),
    };
    Some(result)
}

/// Unary `-`, `+` and `not` on a datetime or timespan; `None` for other
/// values.
pub(crate) fn unary(op: &str, operand: &Val, column: usize) -> Option<Result<Val>> {
    Some(match (op, operand) {
        ("not", Val::TimeSpan(us)) => Ok(Val::Data(Value::Bool(*us == 0))),
        ("not", Val::DateTime(_)) => Ok(Val::Data(Value::Bool(false))),
        ("+", Val::TimeSpan(us)) => Ok(Val::TimeSpan(*us)),
        ("-", Val::TimeSpan(us)) => us
            .checked_neg()
            .map(Val::TimeSpan)
            .ok_or_else(|| timespan_overflow(column, "unary operator -")),
        (_, Val::DateTime(_)) => Err(Error::Argument {
            column,
            function: format!("unary operator {op}"),
            message: "not defined for a datetime".into(),
        }),
        _ => return None,
    })
}

fn float(f: f64) -> Val {
    Val::Data(Num::Float(f).to_value().unwrap_or(Value::Null))
}

/// A property of a datetime or timespan (`$.year`, `$.hours`, …).
pub(crate) fn property(receiver: &Val, name: &str, column: usize) -> Result<Val> {
    let int = |i: i64| Val::Data(Value::from(i));
    let missing = || Error::NoMethod {
        column,
        name: name.to_owned(),
        receiver: format!("{} (no such property)", receiver.describe()),
    };
    match receiver {
        Val::TimeSpan(total) => {
            let us = *total as f64;
            Ok(match name {
                "microseconds" => int(*total),
                "milliseconds" => float(us / 1e3),
                "seconds" => float(us / 1e6),
                "minutes" => float(us / 6e7),
                "hours" => float(us / 3.6e9),
                "days" => float(us / 8.64e10),
                _ => return Err(missing()),
            })
        }
        Val::DateTime(dt) => {
            let l = dt.local;
            let range = || Error::Argument {
                column,
                function: format!("property {name}"),
                message: "date value out of range".into(),
            };
            Ok(match name {
                "year" => int(i64::from(l.year())),
                "month" => int(i64::from(l.month())),
                "day" => int(i64::from(l.day())),
                "hour" => int(i64::from(l.hour())),
                "minute" => int(i64::from(l.minute())),
                "second" => int(i64::from(l.second())),
                "microsecond" => int(i64::from(l.nanosecond() / 1000)),
                "weekday" => int(i64::from(l.weekday().num_days_from_monday())),
                "date" => Val::DateTime(DateTime { local: l.date().into(), offset: dt.offset }),
                "time" => Val::TimeSpan(
                    (l - NaiveDateTime::from(l.date())).num_microseconds().unwrap_or(0),
                ),
                "offset" => Val::TimeSpan(i64::from(dt.offset) * MICROS_PER_SECOND),
                // As yaql has it: the wall clock moved back by the offset,
                // the offset kept (so the instant moves too).
                "utc" => {
                    let local = dt.utc();
                    if !(1..=9999).contains(&local.year()) {
                        return Err(range());
                    }
                    Val::DateTime(DateTime { local, offset: dt.offset })
                }
                // yaql subtracts the epoch from `.utc` above, so a
                // datetime with an offset is off by that offset; kept.
                "timestamp" => {
                    let shifted = DateTime { local: dt.utc(), offset: dt.offset };
                    let epoch = NaiveDateTime::from(
                        NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default(),
                    );
                    let us = (shifted.utc() - epoch).num_microseconds().ok_or_else(range)?;
                    float(us as f64 / 1e6)
                }
                _ => return Err(missing()),
            })
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_print_as_python_does() {
        assert_eq!(timespan_text(0), "0:00:00");
        assert_eq!(timespan_text(MICROS_PER_DAY + 7_384_000_006), "1 day, 2:03:04.000006");
        assert_eq!(timespan_text(-3_600_000_000), "-1 day, 23:00:00");
        assert_eq!(timespan_text(3 * MICROS_PER_DAY), "3 days, 0:00:00");
        assert_eq!(timespan_text(-2 * MICROS_PER_DAY), "-2 days, 0:00:00");
    }

    #[test]
    fn iso_forms_parse() {
        let (local, offset) = parse_iso("2008-09-03T20:56:35.450686+03:00").expect("parses");
        assert_eq!(local.to_string(), "2008-09-03 20:56:35.450686");
        assert_eq!(offset, Some(10_800));
        assert_eq!(
            parse_iso("20080903").map(|(l, o)| (l.to_string(), o)),
            Some(("2008-09-03 00:00:00".into(), None))
        );
        assert_eq!(parse_iso("2015-8-29 10:00Z").map(|(_, o)| o), Some(Some(0)));
        assert!(parse_iso("yesterday").is_none());
        assert!(parse_iso("2015-13-01").is_none());
    }
}
