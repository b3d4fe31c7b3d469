//! Timers: every distinct timer trigger (type and parameters) that an
//! enabled rule listens to is armed as one task. Each firing commits its
//! trigger instance (decided against the rules) together with the instant
//! it fired for, so a restart resumes after the last committed instant and
//! never fires the same instant twice.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::ingest::{Event, Ingest};
use super::schedule::Schedule;
use crate::rules::{RuleIndex, canonical_trigger_type};

/// The built-in timer trigger types.
const TIMER_TYPES: [&str; 3] = ["core.interval_timer", "core.date_timer", "core.cron_timer"];

/// How late a firing may still happen: an instant missed while the host was
/// down fires at start-up if it is at most this old (several missed ones
/// fire once, for the latest); older ones are skipped, as StackStorm's
/// scheduler skips misfires.
pub const MISFIRE_GRACE: Duration = Duration::from_secs(60);

/// One armed timer.
#[derive(Debug, Clone, PartialEq)]
struct Timer {
    trigger: &'static str,
    parameters: Map<String, Value>,
    schedule: Schedule,
}

impl Timer {
    /// Where its last firing is stored (with the sensor cursors).
    fn cursor_key(&self) -> String {
        format!("timer:{}:{}", self.trigger, Value::Object(self.parameters.clone()))
    }
}

/// The armed timers; dropping this disarms them.
#[derive(Debug, Default)]
pub struct Timers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Timers {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl Timers {
    /// Arms one task per distinct timer the enabled rules of `rules` listen
    /// to, on `runtime`. A rule whose timer parameters are invalid arms
    /// nothing and is reported.
    pub fn arm(ingest: &Ingest, rules: &RuleIndex, runtime: &tokio::runtime::Handle) -> Self {
        let mut timers = BTreeMap::new();
        for trigger in TIMER_TYPES {
            for rule in rules.rules_for(trigger) {
                match Schedule::from_trigger(trigger, &rule.trigger_parameters) {
                    Ok(schedule) => {
                        let timer = Timer {
                            trigger,
                            parameters: rule.trigger_parameters.clone(),
                            schedule,
                        };
                        timers.insert(timer.cursor_key(), timer);
                    }
                    Err(error) => {
                        tracing::error!(rule = %rule.reference, %error, "timer not armed");
                    }
                }
            }
        }
        let tasks =
            timers.into_values().map(|timer| runtime.spawn(run(ingest.clone(), timer))).collect();
        Self { tasks }
    }

    /// How many timers are armed.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// Fires `timer` at each instant of its schedule until aborted.
async fn run(ingest: Ingest, timer: Timer) {
    let key = timer.cursor_key();
    let mut last = match last_fired(&ingest, &key) {
        Ok(Some(last)) => last,
        Ok(None) => {
            // Never fired: an interval counts from now, and that anchor is
            // stored so a restart keeps the cadence. On a cluster every node
            // arms the timer; the first anchor stored is everyone's.
            let mut now = Timestamp::now();
            if matches!(timer.schedule, Schedule::Interval { .. }) {
                let (row, at) = (key.clone(), now.to_string());
                let anchored = ingest
                    .store()
                    .write(move |tx| {
                        if tx.sensor_cursor(&row)?.is_none() {
                            tx.set_sensor_cursor(&row, &at)?;
                        }
                        Ok(())
                    })
                    .await;
                if let Err(error) = anchored {
                    tracing::error!(timer = %key, %error, "cannot store the timer's anchor");
                }
                if let Ok(Some(anchor)) = last_fired(&ingest, &key) {
                    now = anchor;
                }
            }
            if matches!(timer.schedule, Schedule::Date { .. }) {
                // A date that passed while the host was starting (or just
                // before the rule arrived) still fires within the misfire
                // grace, as APScheduler's date trigger does.
                now.checked_sub(grace()).unwrap_or(now)
            } else {
                now
            }
        }
        Err(error) => {
            tracing::error!(timer = %key, %error, "cannot read the timer's last firing; not armed");
            return;
        }
    };
    loop {
        let now = Timestamp::now();
        let Some(due) = next_firing(&timer.schedule, last, now) else {
            return; // a date in the past: nothing more to do
        };
        if due > now {
            let wait = now.duration_until(due).unsigned_abs();
            tokio::time::sleep(wait).await;
        }
        match fire(&ingest, &timer, &key, due).await {
            Ok(fired) => last = fired,
            Err(error) => {
                tracing::error!(timer = %key, %error, "timer firing not committed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// [`MISFIRE_GRACE`] as a signed span.
fn grace() -> SignedDuration {
    SignedDuration::try_from(MISFIRE_GRACE).unwrap_or(SignedDuration::MAX)
}

/// The next instant to fire for, after `last`: a future one, or the latest
/// one missed within [`MISFIRE_GRACE`] of `now`.
fn next_firing(schedule: &Schedule, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let grace = grace();
    let mut next = schedule.next_after(last)?;
    if next > now {
        return Some(next);
    }
    // Missed while the host was down (or asleep): skip to the latest missed
    // instant, or past all of them, without firing each.
    let mut latest_missed = next;
    let oldest_kept = now.checked_sub(grace).unwrap_or(now);
    for _ in 0..1_000_000 {
        match schedule.next_after(next) {
            Some(after) if after <= now => {
                latest_missed = after;
                next = after;
            }
            Some(after) => {
                next = after;
                break;
            }
            None => break,
        }
    }
    if latest_missed >= oldest_kept { Some(latest_missed) } else { Some(next).filter(|n| *n > now) }
}

fn last_fired(ingest: &Ingest, key: &str) -> Result<Option<Timestamp>, String> {
    let stored = ingest
        .store()
        .read()
        .and_then(|snapshot| snapshot.sensor_cursor(key))
        .map_err(|e| e.to_string())?;
    stored
        .map(|at| at.parse::<Timestamp>().map_err(|e| format!("stored instant `{at}`: {e}")))
        .transpose()
}

/// Fires `timer` for `due`, unless its stored last firing is already at or
/// past `due` (another node of a cluster fired it): returns the last
/// firing now stored, from which the next instant counts.
async fn fire(
    ingest: &Ingest,
    timer: &Timer,
    key: &str,
    due: Timestamp,
) -> Result<Timestamp, String> {
    let payload = json!({
        "executed_at": due.to_string(),
        "schedule": Value::Object(timer.parameters.clone()),
    });
    let event = Event {
        parameters: timer.parameters.clone(),
        ..Event::new(canonical_trigger_type(timer.trigger), payload)
    };
    let decided = ingest.decide(event).map_err(|e| e.to_string())?;
    let (row, at) = (key.to_owned(), due.to_string());
    let guard_row = row.clone();
    let committed = ingest
        .commit_if(
            vec![decided],
            move |tx| {
                let stored = tx.sensor_cursor(&guard_row)?;
                Ok(stored.and_then(|s| s.parse::<Timestamp>().ok()).is_none_or(|s| s < due))
            },
            move |tx| tx.set_sensor_cursor(&row, &at),
        )
        .await
        .map_err(|e| e.to_string())?;
    if committed.is_some() {
        return Ok(due);
    }
    Ok(last_fired(ingest, key)?.map_or(due, |stored| stored.max(due)))
}
