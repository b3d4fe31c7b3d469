//! Timers: when interval, date and cron timers fire (APScheduler's
//! semantics, time zones and daylight saving time), and how bad parameters
//! are refused.

use expect_test::expect_file;
use serde_json::{Map, Value};
use squall::engine::Schedule;

/// One line of `timers/schedules.txt`, evaluated and written back with the
/// result.
fn evaluate_case(line: &str) -> String {
    let Some((case, _expected)) = line.split_once(" => ") else {
        return format!("malformed case (no ` => `): {line}");
    };
    let Some((trigger_type, rest)) = case.split_once(' ') else {
        return format!("malformed case (no parameters): {line}");
    };
    let (parameters_text, after) = match rest.rsplit_once(" after ") {
        Some((parameters, after)) => (parameters, Some(after)),
        None => (rest, None),
    };
    let parameters: Map<String, Value> = serde_json::from_str(parameters_text)
        .unwrap_or_else(|e| panic!("parameters in `{line}`: {e}"));
    let result = match (Schedule::from_trigger(trigger_type, &parameters), after) {
        (Err(error), _) => format!("error: {error}"),
        (Ok(_), None) => "accepted".to_owned(),
        (Ok(schedule), Some(after)) => firings(&schedule, after, line),
    };
    format!("{case} => {result}")
}

/// `INSTANT [xN]`: the next firing after INSTANT and the N-1 after it.
fn firings(schedule: &Schedule, after: &str, line: &str) -> String {
    let (instant, count) = match after.split_once(" x") {
        Some((instant, count)) => {
            (instant, count.parse().unwrap_or_else(|e| panic!("count in `{line}`: {e}")))
        }
        None => (after, 1),
    };
    let mut last = instant.parse().unwrap_or_else(|e| panic!("instant in `{line}`: {e}"));
    let mut fired = Vec::new();
    for _ in 0..count {
        match schedule.next_after(last) {
            Some(next) => {
                assert!(next > last, "`{line}`: {next} is not after {last}");
                fired.push(next.to_string());
                last = next;
            }
            None => {
                fired.push("never".to_owned());
                break;
            }
        }
    }
    fired.join(", ")
}

#[test]
fn every_timer_case_fires_when_apscheduler_would() {
    let fixture = include_str!("timers/schedules.txt");
    let rendered: String = fixture
        .lines()
        .map(|line| {
            if line.starts_with('#') || line.trim().is_empty() {
                format!("{line}\n")
            } else {
                format!("{}\n", evaluate_case(line))
            }
        })
        .collect();
    expect_file!["timers/schedules.txt"].assert_eq(&rendered);
}

#[test]
fn a_cron_fires_every_second_of_a_day_without_skipping_or_repeating() {
    let parameters: Map<String, Value> =
        serde_json::from_str(r#"{"second": "*", "timezone": "Europe/Paris"}"#).expect("JSON");
    let schedule = Schedule::from_trigger("core.st2.CronTimer", &parameters).expect("valid");
    // A fall-back day in Paris: 25 hours, the repeated hour's wall times
    // fire once, so 24 × 3600 firings from midnight to midnight local.
    let mut at = "2026-10-24T22:00:00Z".parse().expect("instant");
    let end = "2026-10-25T23:00:00Z".parse().expect("instant");
    let mut count = 0;
    while let Some(next) = schedule.next_after(at) {
        if next >= end {
            break;
        }
        count += 1;
        at = next;
    }
    assert_eq!(count, 24 * 3600 - 1);
}
