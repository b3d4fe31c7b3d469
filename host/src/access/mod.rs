//! Access control in StackStorm's RBAC model: permission types, resources,
//! roles and their grants, the decision whether a user may do something,
//! StackStorm's role and assignment files, password hashing, and the
//! patterns that limit a key to named webhooks. Pure: plain data in,
//! decisions out; users, roles, keys and tokens are stored by `store` and
//! checked by `api`.

mod decide;
mod password;
mod permission;
mod resource;
mod role;

pub use decide::{Denied, Principal};
pub use password::{
    MAX_PASSWORD, MIN_PASSWORD, PasswordError, check_password, hash_password, random_secret,
    verify_password,
};
pub use permission::{Permission, ResourceType, UnknownPermission};
pub use resource::Resource;
pub use role::{
    ADMIN, Assignment, DefinitionError, Grant, MAX_NAME, OBSERVER, Role, SYSTEM_ADMIN,
    SYSTEM_ROLES, check_name, parse_assignment, parse_role, resource_type_of,
};

/// Longest webhook pattern of a scoped key, in characters.
pub const MAX_WEBHOOK_PATTERN: usize = 200;

/// Whether webhook `name` matches `pattern`, where `*` stands for any run
/// of characters (`alerts/*` matches `alerts/disk`); everything else
/// matches itself.
pub fn webhook_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split yields one part at least");
    let Some(mut left) = name.strip_prefix(first) else { return false };
    let Some((last, middle)) = rest.split_last() else { return left.is_empty() };
    for part in middle {
        match left.find(part) {
            Some(at) => left = &left[at + part.len()..],
            None => return false,
        }
    }
    left.len() >= last.len() && left.ends_with(last)
}

/// Checks a webhook pattern of a scoped key: 1 to
/// [`MAX_WEBHOOK_PATTERN`] printable characters.
pub fn check_webhook_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty()
        || pattern.chars().count() > MAX_WEBHOOK_PATTERN
        || pattern.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "expected 1 to {MAX_WEBHOOK_PATTERN} printable characters without blanks (`*` matches any run), got {pattern:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_patterns() {
        for (pattern, name, expected) in [
            ("github", "github", true),
            ("github", "github2", false),
            ("alerts/*", "alerts/disk", true),
            ("alerts/*", "alerts", false),
            ("*", "anything/at/all", true),
            ("a*b*c", "a-b-c", true),
            ("a*b*c", "a-c-b", false),
            ("*.json", "x.json", true),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(webhook_matches(pattern, name), expected, "{pattern} ~ {name}");
        }
    }
}
