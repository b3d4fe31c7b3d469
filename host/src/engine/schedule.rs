//! Timer schedules: when `core.interval_timer`, `core.date_timer` and
//! `core.cron_timer` fire, computed from a rule's `trigger.parameters` the
//! way StackStorm's timers (APScheduler 3 triggers) compute it. Pure: no
//! clock, no IO; the caller says what "now" or the last firing was.
//!
//! Where APScheduler's answer hinges on Python time-zone arithmetic, this
//! module follows wall-clock semantics resolved with jiff's `compatible`
//! disambiguation:
//!
//! - a local time that does not exist (spring forward) fires at the same
//!   distance past the gap, so `02:30` in Paris on a spring-forward night
//!   fires at `03:30`, as APScheduler does;
//! - a local time that happens twice (fall back) fires once, at its first
//!   occurrence (APScheduler with pytz resolves it to the standard-time
//!   one, usually the second, and jumps between the two passes of the
//!   repeated hour when a cron fires more than hourly);
//! - an interval is elapsed time (a day is 86,400 s), whatever the
//!   `timezone` parameter says, as with pytz's fixed-offset arithmetic.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use crate::rules::triggers::canonical_trigger_type;

/// When a timer fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `core.interval_timer`: every `every`, counted from the last firing.
    Interval {
        /// Elapsed time between two firings; always positive.
        every: SignedDuration,
    },
    /// `core.date_timer`: once, at `at`.
    Date {
        /// The one instant the timer fires.
        at: Timestamp,
    },
    /// `core.cron_timer`: whenever the local time matches every field.
    Cron(CronSchedule),
}

/// Why a timer's parameters were refused; each message names the parameter
/// and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The trigger type is not one of the timers.
    #[error(
        "`{0}` is not a timer trigger type (expected core.interval_timer, core.date_timer, core.cron_timer or their StackStorm names)"
    )]
    NotATimer(String),
    /// A parameter the timer does not take.
    #[error("parameters.{parameter}: unknown parameter; {trigger_type} takes {takes}")]
    UnknownParameter {
        /// Canonical trigger type.
        trigger_type: &'static str,
        /// The parameter given.
        parameter: String,
        /// The parameters it does take.
        takes: &'static str,
    },
    /// A required parameter is absent.
    #[error("parameters.{parameter}: missing; expected {expected}")]
    Missing {
        /// The parameter.
        parameter: &'static str,
        /// What it should hold.
        expected: String,
    },
    /// A parameter's value is not acceptable.
    #[error("parameters.{parameter}: expected {expected}, got `{got}`")]
    Invalid {
        /// The parameter.
        parameter: &'static str,
        /// What it should hold.
        expected: String,
        /// The offending value (one element of a cron comma list).
        got: String,
    },
}

impl Schedule {
    /// From a rule's trigger type (canonical or StackStorm alias) and its
    /// `trigger.parameters`.
    pub fn from_trigger(
        trigger_type: &str,
        parameters: &Map<String, Value>,
    ) -> Result<Schedule, ScheduleError> {
        match canonical_trigger_type(trigger_type) {
            "core.interval_timer" => interval(parameters),
            "core.date_timer" => date(parameters),
            "core.cron_timer" => CronSchedule::new(parameters).map(Schedule::Cron),
            _ => Err(ScheduleError::NotATimer(trigger_type.to_owned())),
        }
    }

    /// The first instant strictly after `after` at which the timer fires;
    /// `None` when it never fires again (a date in the past, a cron whose
    /// fields match nothing in the next 400 years).
    ///
    /// For an interval, `after` is the last firing (or the time the timer
    /// was first armed).
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Interval { every } => after.checked_add(*every).ok(),
            Schedule::Date { at } => (*at > after).then_some(*at),
            Schedule::Cron(cron) => cron.next_after(after),
        }
    }
}

const INTERVAL_TAKES: &str = "unit, delta and timezone";
const DATE_TAKES: &str = "date and timezone";
const CRON_TAKES: &str = "year, month, day, week, day_of_week, hour, minute, second and timezone";
const UNITS: &str = "one of weeks, days, hours, minutes, seconds";
const DATE_EXPECTED: &str = "an ISO 8601 date-time such as `2026-12-24T18:00:00+01:00`, or without offset (`2026-12-24 18:00:00`) in parameters.timezone";

fn check_names(
    parameters: &Map<String, Value>,
    trigger_type: &'static str,
    known: &[&str],
    takes: &'static str,
) -> Result<(), ScheduleError> {
    match parameters.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => {
            Err(ScheduleError::UnknownParameter { trigger_type, parameter: unknown.clone(), takes })
        }
        None => Ok(()),
    }
}

/// A JSON value as an operator wrote it: strings without quotes.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn interval(parameters: &Map<String, Value>) -> Result<Schedule, ScheduleError> {
    check_names(parameters, "core.interval_timer", &["unit", "delta", "timezone"], INTERVAL_TAKES)?;
    // Accepted for StackStorm's sake and checked, but elapsed time does not
    // depend on it.
    timezone(parameters)?;
    let unit = parameters
        .get("unit")
        .ok_or_else(|| ScheduleError::Missing { parameter: "unit", expected: UNITS.into() })?;
    let seconds_per_unit: i64 = match unit.as_str() {
        Some("weeks") => 7 * 86_400,
        Some("days") => 86_400,
        Some("hours") => 3_600,
        Some("minutes") => 60,
        Some("seconds") => 1,
        _ => {
            return Err(ScheduleError::Invalid {
                parameter: "unit",
                expected: UNITS.into(),
                got: shown(unit),
            });
        }
    };
    let delta = parameters.get("delta").ok_or_else(|| ScheduleError::Missing {
        parameter: "delta",
        expected: "a positive integer".into(),
    })?;
    let invalid = || ScheduleError::Invalid {
        parameter: "delta",
        expected: format!("a positive integer no larger than {}", i64::MAX / seconds_per_unit),
        got: shown(delta),
    };
    let count = delta.as_i64().filter(|n| *n > 0).ok_or_else(invalid)?;
    let seconds = count.checked_mul(seconds_per_unit).ok_or_else(invalid)?;
    Ok(Schedule::Interval { every: SignedDuration::from_secs(seconds) })
}

fn date(parameters: &Map<String, Value>) -> Result<Schedule, ScheduleError> {
    check_names(parameters, "core.date_timer", &["date", "timezone"], DATE_TAKES)?;
    let zone = timezone(parameters)?;
    let value = parameters.get("date").ok_or_else(|| ScheduleError::Missing {
        parameter: "date",
        expected: DATE_EXPECTED.into(),
    })?;
    let invalid = || ScheduleError::Invalid {
        parameter: "date",
        expected: DATE_EXPECTED.into(),
        got: shown(value),
    };
    let text = value.as_str().map(str::trim).ok_or_else(invalid)?;
    // An explicit offset wins over `timezone`, as in APScheduler, where an
    // aware datetime is taken as it is.
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(Schedule::Date { at });
    }
    // RFC 9557's `[Area/City]` names the zone of a time without offset; a
    // zone that does not resolve must not fall back to `timezone`.
    if text.contains('[') {
        return text
            .parse::<jiff::Zoned>()
            .map(|zoned| Schedule::Date { at: zoned.timestamp() })
            .map_err(|_| invalid());
    }
    let local = text
        .parse::<DateTime>()
        .or_else(|_| text.parse::<Date>().map(DateTime::from))
        .map_err(|_| invalid())?;
    let at = zone.to_timestamp(local).map_err(|_| invalid())?;
    Ok(Schedule::Date { at })
}

fn timezone(parameters: &Map<String, Value>) -> Result<TimeZone, ScheduleError> {
    let Some(value) = parameters.get("timezone") else {
        return Ok(TimeZone::UTC);
    };
    value.as_str().and_then(|name| TimeZone::get(name).ok()).ok_or_else(|| ScheduleError::Invalid {
        parameter: "timezone",
        expected: "an IANA time zone name such as `Europe/Paris` or `UTC`".into(),
        got: shown(value),
    })
}

/// A `core.cron_timer` schedule: APScheduler's `CronTrigger` fields, in a
/// time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// One expression per field, in [`Field::ALL`] order.
    fields: [Expr; 8],
    timezone: TimeZone,
}

/// APScheduler's cron fields, most significant first; `week` and
/// `day_of_week` constrain the day rather than being part of the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Year,
    Month,
    Day,
    Week,
    DayOfWeek,
    Hour,
    Minute,
    Second,
}

impl Field {
    const ALL: [Field; 8] = [
        Field::Year,
        Field::Month,
        Field::Day,
        Field::Week,
        Field::DayOfWeek,
        Field::Hour,
        Field::Minute,
        Field::Second,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Year => "year",
            Field::Month => "month",
            Field::Day => "day",
            Field::Week => "week",
            Field::DayOfWeek => "day_of_week",
            Field::Hour => "hour",
            Field::Minute => "minute",
            Field::Second => "second",
        }
    }

    /// APScheduler's `MIN_VALUES`/`MAX_VALUES`.
    fn bounds(self) -> (i32, i32) {
        match self {
            Field::Year => (1970, 9999),
            Field::Month => (1, 12),
            Field::Day => (1, 31),
            Field::Week => (1, 53),
            Field::DayOfWeek => (0, 6),
            Field::Hour => (0, 23),
            Field::Minute | Field::Second => (0, 59),
        }
    }

    /// APScheduler's `DEFAULT_VALUES`: what a field less significant than
    /// every given one means when omitted (`None` is `*`).
    fn default_below(self) -> Option<i32> {
        match self {
            Field::Month | Field::Day => Some(1),
            Field::Hour | Field::Minute | Field::Second => Some(0),
            Field::Year | Field::Week | Field::DayOfWeek => None,
        }
    }

    fn expected(self) -> String {
        let values = match self {
            Field::Year => "1970-9999",
            Field::Month => "1-12 or jan-dec",
            Field::Day => "1-31, `last`, `1st`-`5th` or `last` and a weekday (`3rd fri`)",
            Field::Week => "1-53",
            Field::DayOfWeek => "0-6 (0 is Monday) or mon-sun",
            Field::Hour => "0-23",
            Field::Minute | Field::Second => "0-59",
        };
        format!("{values}, `*`, `*/N`, `A-B`, `A-B/N` or a comma list")
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Field::Month => &MONTHS,
            Field::DayOfWeek => &WEEKDAYS,
            _ => &[],
        }
    }
}

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A comma list of terms; a value matches when any term does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expr(Vec<Term>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    /// `first`, `first + step`, … up to `last`; `*` is the field's bounds.
    Range { first: i32, last: i32, step: i32 },
    /// `last` in `day`: the month's last day.
    LastDay,
    /// `3rd fri` (`nth` 1-5) or `last fri` (`nth` `None`) in `day`.
    NthWeekday { nth: Option<i8>, weekday: Weekday },
}

impl Term {
    /// The smallest value at least `value` this term allows.
    fn next(self, value: i32) -> Option<i32> {
        let Term::Range { first, last, step } = self else {
            return None;
        };
        let from = value.max(first);
        let next = from + (step - (from - first) % step) % step;
        (next <= last).then_some(next)
    }

    fn matches_day(self, date: Date) -> bool {
        let day = i32::from(date.day());
        match self {
            Term::Range { .. } => self.next(day) == Some(day),
            Term::LastDay => day == i32::from(date.days_in_month()),
            Term::NthWeekday { nth, weekday } => {
                let first = date.first_of_month();
                let offset = (weekday.to_monday_zero_offset()
                    - first.weekday().to_monday_zero_offset())
                .rem_euclid(7);
                let first_hit = 1 + offset;
                let target = match nth {
                    Some(nth) => first_hit + (nth - 1) * 7,
                    None => first_hit + (date.days_in_month() - first_hit) / 7 * 7,
                };
                i32::from(target) == day
            }
        }
    }
}

impl Expr {
    /// `*`: every value the field can take.
    fn all(field: Field) -> Expr {
        let (first, last) = field.bounds();
        Expr(vec![Term::Range { first, last, step: 1 }])
    }

    fn next(&self, value: i32) -> Option<i32> {
        self.0.iter().filter_map(|term| term.next(value)).min()
    }

    fn matches(&self, value: i32) -> bool {
        self.next(value) == Some(value)
    }

    fn parse(field: Field, value: &Value) -> Result<Expr, ScheduleError> {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            other => {
                return Err(ScheduleError::Invalid {
                    parameter: field.name(),
                    expected: format!("an integer or a string: {}", field.expected()),
                    got: other.to_string(),
                });
            }
        };
        text.split(',')
            .map(|term| parse_term(field, term.trim()))
            .collect::<Result<_, _>>()
            .map(Expr)
    }
}

fn parse_term(field: Field, text: &str) -> Result<Term, ScheduleError> {
    let invalid = |expected: String| ScheduleError::Invalid {
        parameter: field.name(),
        expected,
        got: text.to_owned(),
    };
    let unrecognised = || invalid(field.expected());
    let lower = text.to_ascii_lowercase();
    if field == Field::Day {
        if lower == "last" {
            return Ok(Term::LastDay);
        }
        if let Some((position, weekday)) = lower.split_once(char::is_whitespace) {
            let nth = match position {
                "1st" => Some(1),
                "2nd" => Some(2),
                "3rd" => Some(3),
                "4th" => Some(4),
                "5th" => Some(5),
                "last" => None,
                _ => return Err(unrecognised()),
            };
            let index = WEEKDAYS.iter().position(|name| *name == weekday.trim());
            let weekday = index
                .and_then(|i| i8::try_from(i).ok())
                .and_then(|i| Weekday::from_monday_zero_offset(i).ok())
                .ok_or_else(unrecognised)?;
            return Ok(Term::NthWeekday { nth, weekday });
        }
    }
    let (min, max) = field.bounds();
    let (range, step) = match lower.split_once('/') {
        Some((range, step)) => (range, Some(parse_number(step).ok_or_else(unrecognised)?)),
        None => (lower.as_str(), None),
    };
    // APScheduler ignores a step after names (and anything after a name
    // range); refusing them is safer than firing other than written.
    let named = |part: &str| field.names().contains(&part);
    let value = |part: &str| -> Option<i32> {
        if step.is_some() && named(part) {
            return None;
        }
        parse_number(part).or_else(|| {
            let index = field.names().iter().position(|name| *name == part)?;
            let first_name = if field == Field::Month { 1 } else { 0 };
            i32::try_from(index).ok().map(|i| i + first_name)
        })
    };
    let (first, last) = if range == "*" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-') {
        if named(a) != named(b) {
            return Err(unrecognised());
        }
        (value(a).ok_or_else(unrecognised)?, value(b).ok_or_else(unrecognised)?)
    } else {
        let first = value(range).ok_or_else(unrecognised)?;
        (first, if step.is_some() { max } else { first })
    };
    if first < min || last > max {
        return Err(unrecognised());
    }
    if first > last {
        return Err(invalid("a range `A-B` with A no larger than B".into()));
    }
    match step {
        None => Ok(Term::Range { first, last, step: 1 }),
        Some(step) if (1..=last - first).contains(&step) => Ok(Term::Range { first, last, step }),
        Some(_) if last == first => {
            Err(invalid("a step only after a range of more than one value".into()))
        }
        Some(_) => Err(invalid(format!("a step from 1 to {}", last - first))),
    }
}

/// Plain decimal digits, as APScheduler's `\d+`.
fn parse_number(text: &str) -> Option<i32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// How far ahead a cron is searched. The Gregorian calendar (weekdays
/// included) repeats every 400 years, so a cron without a `year` field that
/// matches nothing in 400 years never matches.
const HORIZON_YEARS: i16 = 400;

impl CronSchedule {
    fn new(parameters: &Map<String, Value>) -> Result<CronSchedule, ScheduleError> {
        let names = Field::ALL.map(Field::name);
        check_names(
            parameters,
            "core.cron_timer",
            &[names.as_slice(), &["timezone"]].concat(),
            CRON_TAKES,
        )?;
        let timezone = timezone(parameters)?;
        // APScheduler: fields more significant than the least significant
        // one given are `*`; less significant ones take their minimum
        // (`week` and `day_of_week` stay `*`).
        let least_significant_given =
            Field::ALL.iter().rposition(|field| parameters.contains_key(field.name()));
        let mut fields = Field::ALL.map(Expr::all);
        for (index, field) in Field::ALL.into_iter().enumerate() {
            if let Some(value) = parameters.get(field.name()) {
                fields[index] = Expr::parse(field, value)?;
            } else if let Some(value) = field.default_below()
                && least_significant_given.is_some_and(|given| index > given)
            {
                fields[index] = Expr(vec![Term::Range { first: value, last: value, step: 1 }]);
            }
        }
        Ok(CronSchedule { fields, timezone })
    }

    /// The time zone the fields are read in.
    pub fn timezone(&self) -> &TimeZone {
        &self.timezone
    }

    fn field(&self, field: Field) -> &Expr {
        &self.fields[field as usize]
    }

    fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let local = self.timezone.to_datetime(after);
        let horizon = local.year().saturating_add(HORIZON_YEARS).min(9999);
        let mut start = local.with().subsec_nanosecond(0).build().ok()?.checked_add(SECOND).ok()?;
        loop {
            let candidate = self.next_local(start, horizon)?;
            let at = self.timezone.to_timestamp(candidate).ok()?;
            if at > after {
                return Some(at);
            }
            // A wall time that happens twice fires at its first occurrence;
            // `after` lies in the second, so this one has had its turn.
            start = candidate.checked_add(SECOND).ok()?;
        }
    }

    /// The first local time at or after `start` that every field matches,
    /// found like APScheduler does: the most significant field that does
    /// not match moves to its next allowed value and resets the less
    /// significant ones to their minimum, or carries into the field above.
    fn next_local(&self, start: DateTime, horizon: i16) -> Option<DateTime> {
        let mut at = start;
        loop {
            if at.year() > horizon {
                return None;
            }
            let year = i32::from(at.year());
            match self.field(Field::Year).next(year) {
                None => return None,
                Some(next) if next > year => {
                    at = DateTime::new(i16::try_from(next).ok()?, 1, 1, 0, 0, 0, 0).ok()?;
                    continue;
                }
                Some(_) => {}
            }
            let month = i32::from(at.month());
            match self.field(Field::Month).next(month) {
                None => {
                    at = DateTime::new(at.year().checked_add(1)?, 1, 1, 0, 0, 0, 0).ok()?;
                    continue;
                }
                Some(next) if next > month => {
                    at = DateTime::new(at.year(), i8::try_from(next).ok()?, 1, 0, 0, 0, 0).ok()?;
                    continue;
                }
                Some(_) => {}
            }
            match self.next_day(at.date()) {
                None => {
                    at = at
                        .date()
                        .first_of_month()
                        .checked_add(jiff::Span::new().months(1))
                        .ok()?
                        .into();
                    continue;
                }
                Some(day) if day > at.date() => {
                    at = day.into();
                    continue;
                }
                Some(_) => {}
            }
            // A time field with no value left carries into the one above:
            // the next day, hour or minute (civil, so always 24 h, 60 min).
            let time = [
                (Field::Hour, i32::from(at.hour()), SignedDuration::from_hours(24)),
                (Field::Minute, i32::from(at.minute()), SignedDuration::from_hours(1)),
                (Field::Second, i32::from(at.second()), SignedDuration::from_mins(1)),
            ];
            let moved = time.into_iter().find_map(|(field, value, unit_above)| {
                match self.field(field).next(value) {
                    None => Some(truncate_above(at, field).checked_add(unit_above).ok()),
                    Some(next) if next > value => Some(set_time_field(at, field, next)),
                    Some(_) => None,
                }
            });
            match moved {
                None => return Some(at),
                Some(moved) => at = moved?,
            }
        }
    }

    /// The first day from `date` to the end of its month that `day`,
    /// `week` and `day_of_week` all allow.
    fn next_day(&self, date: Date) -> Option<Date> {
        let mut day = date;
        loop {
            let weekday = i32::from(day.weekday().to_monday_zero_offset());
            let week = i32::from(day.iso_week_date().week());
            if self.field(Field::Day).0.iter().any(|term| term.matches_day(day))
                && self.field(Field::Week).matches(week)
                && self.field(Field::DayOfWeek).matches(weekday)
            {
                return Some(day);
            }
            if day.day() == day.days_in_month() {
                return None;
            }
            day = day.tomorrow().ok()?;
        }
    }
}

const SECOND: SignedDuration = SignedDuration::from_secs(1);

/// `at` with `field` and everything below it zeroed: the start of the
/// enclosing day, hour or minute.
fn truncate_above(at: DateTime, field: Field) -> DateTime {
    let (hour, minute) = match field {
        Field::Hour => (0, 0),
        Field::Minute => (at.hour(), 0),
        _ => (at.hour(), at.minute()),
    };
    at.date().at(hour, minute, 0, 0)
}

/// `at` with `field` set to `value` and the fields below it at zero.
fn set_time_field(at: DateTime, field: Field, value: i32) -> Option<DateTime> {
    let value = i8::try_from(value).ok()?;
    let time = match field {
        Field::Hour => (value, 0, 0),
        Field::Minute => (at.hour(), value, 0),
        _ => (at.hour(), at.minute(), value),
    };
    DateTime::new(at.year(), at.month(), at.day(), time.0, time.1, time.2, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    impl CronSchedule {
        fn matches_date(&self, date: Date) -> bool {
            self.field(Field::Year).matches(i32::from(date.year()))
                && self.field(Field::Month).matches(i32::from(date.month()))
                && self.field(Field::Day).0.iter().any(|term| term.matches_day(date))
                && self.field(Field::Week).matches(i32::from(date.iso_week_date().week()))
                && self
                    .field(Field::DayOfWeek)
                    .matches(i32::from(date.weekday().to_monday_zero_offset()))
        }

        fn matches_time(&self, at: DateTime) -> bool {
            self.field(Field::Hour).matches(i32::from(at.hour()))
                && self.field(Field::Minute).matches(i32::from(at.minute()))
                && self.field(Field::Second).matches(i32::from(at.second()))
        }

        /// The first matching minute from `start` to `limit`, trying the
        /// minutes of every matching day in turn.
        fn brute_force(&self, start: DateTime, limit: DateTime) -> Option<DateTime> {
            let mut day = start.date();
            while day <= limit.date() {
                if self.matches_date(day) {
                    let mut at = if day == start.date() { start } else { day.into() };
                    while at.date() == day && at <= limit {
                        if self.matches_time(at) {
                            return Some(at);
                        }
                        at = at.checked_add(SignedDuration::from_mins(1)).expect("within 9999");
                    }
                }
                day = day.tomorrow().expect("within 9999");
            }
            None
        }
    }

    /// The field-skipping search agrees with trying every minute, for
    /// schedules drawn from a fixed pseudo-random sequence.
    #[test]
    fn the_search_finds_the_first_matching_minute() {
        let choices: [(&str, &[&str]); 6] = [
            ("month", &["*", "2", "jan,jul", "3-5", "*/5", "dec"]),
            ("day", &["*", "last", "29", "1,15", "2nd tue", "last fri", "*/7", "31"]),
            ("day_of_week", &["*", "mon", "sat-sun", "*/3", "2,4"]),
            ("week", &["*", "*", "*", "10-20", "*/2"]),
            ("hour", &["*", "0", "9-17/4", "23", "5,6"]),
            ("minute", &["0", "*/20", "59", "15-16", "1,30"]),
        ];
        let mut seed: u64 = 0x5eed;
        let mut draw = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            usize::try_from(seed >> 33).expect("31 bits fit") % n
        };
        let starts = ["2026-01-01T00:00:00", "2027-02-27T23:59:00", "2028-12-31T12:30:00"];
        for case in 0..150 {
            let mut parameters = Map::new();
            for (name, values) in choices {
                let value = values[draw(values.len())];
                if value != "*" {
                    parameters.insert(name.into(), Value::String(value.into()));
                }
            }
            parameters.insert("second".into(), Value::from(0));
            let cron = CronSchedule::new(&parameters).expect("valid choices");
            let start: DateTime = starts[case % starts.len()].parse().expect("a civil time");
            let found = cron.next_local(start, start.year() + 3);
            let limit = DateTime::constant(start.year() + 3, 12, 31, 23, 59, 0, 0);
            let brute = cron.brute_force(start, limit);
            assert_eq!(found, brute, "{parameters:?} from {start}");
        }
    }
}
