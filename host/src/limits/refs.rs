//! Refs `pack.name` (actions, trigger types, sensors, rules, aliases) and
//! the rule for the names inside a pack. [`split_ref`] is the one place a
//! ref is taken apart: at its first `.`, as StackStorm's
//! `ResourceReference` does, since a pack name has no `.` and the name
//! after it may have several (`linux.file_watch.line`).

/// The longest action, trigger type or sensor name, in bytes.
pub const MAX_RESOURCE_NAME: usize = 128;

/// The rule for action, trigger type and sensor names, as refusals state
/// it.
pub const RESOURCE_NAME_RULE: &str = "up to 128 ASCII letters (either case), digits, `_`, `-` and `.`, not starting with `-` or `.`, not ending with `.`, no `..`";

/// `pack.name` split at the first `.` into the pack and the name within
/// it; `None` when there is no `.` or either side is empty.
pub fn split_ref(reference: &str) -> Option<(&str, &str)> {
    reference.split_once('.').filter(|(pack, name)| !pack.is_empty() && !name.is_empty())
}

/// The pack part of a ref, when it has one ([`split_ref`]).
pub fn ref_pack(reference: &str) -> Option<&str> {
    split_ref(reference).map(|(pack, _)| pack)
}

/// The name part of a ref, or the whole text when it has no pack
/// ([`split_ref`]).
pub fn ref_name(reference: &str) -> &str {
    split_ref(reference).map_or(reference, |(_, name)| name)
}

/// Checks an action, trigger type or sensor name against
/// [`RESOURCE_NAME_RULE`]: what StackStorm's packs use (`kv.get`,
/// `GitHubPollingSensor`, `orquesta-basic`), and nothing that would read
/// differently in a URL path, an RBAC uid (`action:pack:name`), a TOML key
/// or a command line.
pub fn check_resource_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let well_formed = !name.is_empty()
        && name.len() <= MAX_RESOURCE_NAME
        && name.chars().all(allowed)
        && !name.starts_with(['-', '.'])
        && !name.ends_with('.')
        && !name.contains("..");
    if well_formed {
        Ok(())
    } else {
        Err(format!("expected {RESOURCE_NAME_RULE}, got `{}`", name.escape_debug()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_splits_at_its_first_dot() {
        assert_eq!(split_ref("core.echo"), Some(("core", "echo")));
        assert_eq!(split_ref("linux.file_watch.line"), Some(("linux", "file_watch.line")));
        assert_eq!(split_ref("echo"), None);
        assert_eq!(split_ref(".echo"), None);
        assert_eq!(split_ref("core."), None);
        assert_eq!(ref_pack("st2.kv.get"), Some("st2"));
        assert_eq!(ref_name("st2.kv.get"), "kv.get");
        assert_eq!(ref_name("plain"), "plain");
    }
}
