//! Squall's built-in trigger types and the StackStorm names accepted for
//! them, so that existing rules load unchanged.
//!
//! | Squall (canonical)       | StackStorm alias                        |
//! |--------------------------|-----------------------------------------|
//! | `core.webhook`           | `core.st2.webhook`                      |
//! | `core.interval_timer`    | `core.st2.IntervalTimer`                |
//! | `core.date_timer`        | `core.st2.DateTimer`                    |
//! | `core.cron_timer`        | `core.st2.CronTimer`                    |
//! | `core.execution_finished`| `core.st2.generic.actiontrigger`        |
//! | `core.kv_changed`        | `core.st2.key_value_pair.value_change`  |

/// `(StackStorm name, Squall name)` for every aliased built-in trigger.
pub const TRIGGER_ALIASES: &[(&str, &str)] = &[
    ("core.st2.webhook", "core.webhook"),
    ("core.st2.IntervalTimer", "core.interval_timer"),
    ("core.st2.DateTimer", "core.date_timer"),
    ("core.st2.CronTimer", "core.cron_timer"),
    ("core.st2.generic.actiontrigger", "core.execution_finished"),
    ("core.st2.key_value_pair.value_change", "core.kv_changed"),
];

/// The name rules are indexed under: Squall's for a StackStorm alias, the
/// name itself otherwise.
pub fn canonical_trigger_type(name: &str) -> &str {
    TRIGGER_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_squall_names_and_others_pass_through() {
        assert_eq!(canonical_trigger_type("core.st2.webhook"), "core.webhook");
        assert_eq!(canonical_trigger_type("core.webhook"), "core.webhook");
        assert_eq!(canonical_trigger_type("github.push"), "github.push");
    }
}
