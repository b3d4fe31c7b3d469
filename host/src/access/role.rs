//! Roles (sets of permission grants) and user–role assignments, in
//! StackStorm's model, and the reading of StackStorm's RBAC definition
//! files (`roles/*.yaml`, `assignments/*.yaml`) with errors naming the file
//! and field.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::permission::{Permission, ResourceType};

/// StackStorm's system roles: built in, never stored, never changed.
pub const SYSTEM_ADMIN: &str = "system_admin";
/// All permissions, but cannot hand out `system_admin`.
pub const ADMIN: &str = "admin";
/// Every `view`, `list` and `search` permission.
pub const OBSERVER: &str = "observer";
/// The system roles, in order of power.
pub const SYSTEM_ROLES: [&str; 3] = [SYSTEM_ADMIN, ADMIN, OBSERVER];

/// Longest role or user name, in characters.
pub const MAX_NAME: usize = 200;

/// One grant: permission types, on one resource or (for global
/// permissions) on none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `pack:github`, `action:core:echo`, `webhook:alerts`, …; absent for
    /// global permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uid: Option<String>,
    /// What the grant allows.
    pub permission_types: Vec<Permission>,
}

/// A role: a named set of grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A disabled role grants nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub permission_grants: Vec<Grant>,
}

fn yes() -> bool {
    true
}

impl Role {
    /// Whether it is one of the built-in [`SYSTEM_ROLES`].
    pub fn is_system(name: &str) -> bool {
        SYSTEM_ROLES.contains(&name)
    }

    /// A system role by name (they carry no grants: their power is
    /// decided by name).
    pub fn system(name: &str) -> Option<Self> {
        let description = match name {
            SYSTEM_ADMIN => "Every permission; the only role that can grant system_admin",
            ADMIN => "Every permission",
            OBSERVER => "Every view, list and search permission",
            _ => return None,
        };
        Some(Self {
            name: name.to_owned(),
            description: description.to_owned(),
            enabled: true,
            permission_grants: Vec::new(),
        })
    }
}

/// A user's roles, as StackStorm's assignment files state them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub username: String,
    pub description: String,
    /// A disabled assignment gives the user none of its roles.
    pub enabled: bool,
    pub roles: Vec<String>,
}

/// A role or assignment file that does not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct DefinitionError {
    pub file: String,
    /// The field, e.g. `permission_grants[2].permission_types[0]`.
    pub field: String,
    pub message: String,
}

fn fail(file: &Path, field: impl Into<String>, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        file: file.display().to_string(),
        field: field.into(),
        message: message.into(),
    }
}

/// A role file as written (every value checked afterwards, so that errors
/// can name the field).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    name: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    permission_grants: Option<Vec<GrantFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    #[serde(default)]
    resource_uid: Option<String>,
    #[serde(default)]
    permission_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignmentFile {
    username: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// StackStorm's assignment files may say where they came from.
    #[serde(default, rename = "file_path")]
    _file_path: Option<String>,
}

fn name_field(
    file: &Path,
    field: &str,
    value: Option<serde_yaml_ng::Value>,
) -> Result<String, DefinitionError> {
    let name = match value {
        Some(serde_yaml_ng::Value::String(name)) => name,
        Some(_) => return Err(fail(file, field, "expected a string")),
        None => return Err(fail(file, field, "missing; every definition needs one")),
    };
    check_name(&name).map_err(|message| fail(file, field, message))?;
    Ok(name)
}

/// A role or user name: 1 to [`MAX_NAME`] printable characters, no blanks
/// around it, none of `/`, `:` or control characters.
pub fn check_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && name.trim() == name
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == ':' || crate::limits::is_bidi_control(c));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "expected 1 to {MAX_NAME} printable characters without `/`, `:` or surrounding blanks, got {name:?}"
        ))
    }
}

/// Size and nesting, before the YAML parser sees the text.
fn check_limits(text: &str, file: &Path) -> Result<(), DefinitionError> {
    crate::limits::check(text, crate::limits::Format::Yaml).map_err(|e| {
        let field = e.line().map_or_else(|| "(document)".to_owned(), |l| format!("line {l}"));
        fail(file, field, e.reason())
    })
}

/// Reads a role definition in StackStorm's format.
pub fn parse_role(text: &str, file: &Path) -> Result<Role, DefinitionError> {
    check_limits(text, file)?;
    let raw: RoleFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let field = yaml_field(&e);
        fail(file, field, e.to_string())
    })?;
    let name = name_field(file, "name", raw.name)?;
    if Role::is_system(&name) {
        return Err(fail(
            file,
            "name",
            format!("`{name}` is a system role; it cannot be redefined"),
        ));
    }
    let mut grants = Vec::new();
    for (index, grant) in raw.permission_grants.unwrap_or_default().into_iter().enumerate() {
        grants.push(check_grant(file, index, grant)?);
    }
    Ok(Role {
        name,
        description: raw.description.unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(true),
        permission_grants: grants,
    })
}

fn check_grant(file: &Path, index: usize, grant: GrantFile) -> Result<Grant, DefinitionError> {
    let at = format!("permission_grants[{index}]");
    let resource_type = match &grant.resource_uid {
        None => None,
        Some(uid) => {
            Some(resource_type_of(uid).map_err(|m| fail(file, format!("{at}.resource_uid"), m))?)
        }
    };
    if grant.permission_types.is_empty() {
        return Err(fail(
            file,
            format!("{at}.permission_types"),
            "expected at least one permission type",
        ));
    }
    let mut permissions = Vec::new();
    for (i, text) in grant.permission_types.iter().enumerate() {
        let field = format!("{at}.permission_types[{i}]");
        let permission: Permission = text
            .parse()
            .map_err(|e: super::UnknownPermission| fail(file, &field, e.to_string()))?;
        match resource_type {
            None if !permission.is_global() => {
                return Err(fail(
                    file,
                    &field,
                    format!(
                        "`{permission}` applies to one resource: give the grant a resource_uid (only global permission types may go without one)"
                    ),
                ));
            }
            Some(kind) if !valid_on(kind, permission) => {
                return Err(fail(
                    file,
                    &field,
                    format!("`{permission}` cannot be granted on a {kind} resource"),
                ));
            }
            _ => permissions.push(permission),
        }
    }
    Ok(Grant { resource_uid: grant.resource_uid, permission_types: permissions })
}

/// The resource type a uid names: the text before its first `:`, which
/// must be followed by a name.
pub fn resource_type_of(uid: &str) -> Result<ResourceType, String> {
    let (kind, rest) = uid
        .split_once(':')
        .ok_or_else(|| format!("expected TYPE:NAME (e.g. `pack:github`), got `{uid}`"))?;
    if rest.is_empty() {
        return Err(format!("expected TYPE:NAME (e.g. `pack:github`), got `{uid}`"));
    }
    kind.parse()
}

/// Whether `permission` may be granted on a resource of type `kind`: its
/// own type's, and on a pack also those of the pack's content (as
/// StackStorm's `RESOURCE_TYPE_TO_PERMISSION_TYPES_MAP` has it).
fn valid_on(kind: ResourceType, permission: Permission) -> bool {
    let own = permission.resource_type();
    own == kind || (kind == ResourceType::Pack && own.in_pack() && !permission.is_global())
}

/// Reads a user's role assignment in StackStorm's format.
pub fn parse_assignment(text: &str, file: &Path) -> Result<Assignment, DefinitionError> {
    check_limits(text, file)?;
    let raw: AssignmentFile = serde_yaml_ng::from_str(text).map_err(|e| {
        let field = yaml_field(&e);
        fail(file, field, e.to_string())
    })?;
    let username = name_field(file, "username", raw.username)?;
    let roles = raw.roles.ok_or_else(|| fail(file, "roles", "missing; list the user's roles"))?;
    for (index, role) in roles.iter().enumerate() {
        check_name(role).map_err(|m| fail(file, format!("roles[{index}]"), m))?;
    }
    Ok(Assignment {
        username,
        description: raw.description.unwrap_or_default(),
        enabled: raw.enabled.unwrap_or(true),
        roles,
    })
}

/// The field a serde_yaml error is about, when its message names one.
fn yaml_field(error: &serde_yaml_ng::Error) -> String {
    let message = error.to_string();
    let field = message.split('`').nth(1).filter(|_| message.contains("field `"));
    field.unwrap_or("(document)").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(text: &str) -> Result<Role, DefinitionError> {
        parse_role(text, Path::new("roles/x.yaml"))
    }

    #[test]
    fn reads_stackstorm_role_files() {
        let role = role(
            "---\n    name: \"ops\"\n    description: \"d\"\n    permission_grants:\n        -\n            resource_uid: \"pack:ops\"\n            permission_types:\n               - \"action_execute\"\n               - \"rule_view\"\n        -\n            permission_types: [\"action_list\"]\n",
        )
        .expect("role");
        assert_eq!(role.name, "ops");
        assert!(role.enabled);
        assert_eq!(role.permission_grants.len(), 2);
        assert_eq!(role.permission_grants[1].resource_uid, None);
        assert_eq!(role.permission_grants[0].permission_types[0], Permission::ActionExecute);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let error = role("name: ops\npermission_grants:\n  - resource_uid: pack:ops\n    permission_types: [action_fly]\n")
            .expect_err("unknown type");
        assert_eq!(error.file, "roles/x.yaml");
        assert_eq!(error.field, "permission_grants[0].permission_types[0]");
        let error = role("name: ops\npermission_grants:\n  - permission_types: [action_execute]\n")
            .expect_err("not global");
        assert!(error.message.contains("resource_uid"), "{error}");
        let error = role("name: ops\npermission_grants:\n  - resource_uid: webhook:x\n    permission_types: [action_execute]\n")
            .expect_err("wrong type");
        assert!(error.message.contains("webhook"), "{error}");
        let error = role("name: ops\npermission_grants:\n  - resource_uid: planet:x\n    permission_types: [action_execute]\n")
            .expect_err("unknown resource type");
        assert_eq!(error.field, "permission_grants[0].resource_uid");
        assert_eq!(role("description: x\n").expect_err("no name").field, "name");
        assert_eq!(role("name: admin\n").expect_err("system").field, "name");
        assert_eq!(role("name: ops\ncolour: red\n").expect_err("unknown field").field, "colour");
    }

    #[test]
    fn reads_assignments() {
        let file = Path::new("assignments/u.yaml");
        let assignment = parse_assignment(
            "---\n  username: \"u1\"\n  enabled: false\n  roles:\n    - observer\n    - ops\n",
            file,
        )
        .expect("assignment");
        assert_eq!(assignment.roles, ["observer", "ops"]);
        assert!(!assignment.enabled);
        assert_eq!(parse_assignment("username: u\n", file).expect_err("no roles").field, "roles");
        assert_eq!(
            parse_assignment("username: \"a/b\"\nroles: []\n", file).expect_err("bad name").field,
            "username"
        );
    }

    #[test]
    fn names_refuse_separators_controls_and_bidi() {
        assert!(check_name("ops-team_1").is_ok());
        for bad in ["", " a", "a\nb", "a/b", "a:b", "a\u{202e}b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
