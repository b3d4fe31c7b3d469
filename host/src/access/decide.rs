//! The decision: may this user do that, on this resource? StackStorm's
//! resolvers (`st2rbac_backend/resolvers.py`) restated over plain data:
//! system roles first, then grants on the resource, then grants on the pack
//! it lives in; an execution is decided by the grants on its action.

use super::permission::{Permission, ResourceType};
use super::resource::Resource;
use super::role::{ADMIN, OBSERVER, Role, SYSTEM_ADMIN};

/// A user with the roles they hold (only enabled roles of enabled
/// assignments; the system roles by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub roles: Vec<Role>,
}

/// A refusal, naming what was missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Denied {
    pub user: String,
    pub permission: Permission,
    /// The resource asked about, if any.
    pub resource: Option<String>,
}

impl Denied {
    fn describe(&self) -> String {
        match &self.resource {
            Some(uid) => format!(
                "user `{}` lacks the permission `{}` on `{uid}`",
                self.user, self.permission
            ),
            None => format!("user `{}` lacks the permission `{}`", self.user, self.permission),
        }
    }
}

impl Principal {
    fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name && r.enabled)
    }

    /// Holds `system_admin`.
    pub fn is_system_admin(&self) -> bool {
        self.has_role(SYSTEM_ADMIN)
    }

    /// Holds `system_admin` or `admin`: every permission.
    pub fn is_admin(&self) -> bool {
        self.is_system_admin() || self.has_role(ADMIN)
    }

    /// Whether a system role alone allows `permission`.
    fn system_allows(&self, permission: Permission) -> bool {
        self.is_admin() || (self.has_role(OBSERVER) && permission.is_read())
    }

    /// Whether any enabled grant holds one of `permissions` on one of
    /// `uids` (`None` among them: on whatever resource).
    fn granted(&self, permissions: &[Permission], uids: &[Option<&str>]) -> bool {
        self.roles.iter().filter(|r| r.enabled).flat_map(|r| &r.permission_grants).any(|grant| {
            grant.permission_types.iter().any(|p| permissions.contains(p))
                && uids.iter().any(|uid| match uid {
                    None => true,
                    Some(uid) => grant.resource_uid.as_deref() == Some(*uid),
                })
        })
    }

    /// Whether this user may do `permission`, on `resource` when it is
    /// about one.
    pub fn allows(&self, permission: Permission, resource: Option<&Resource>) -> bool {
        if self.system_allows(permission) {
            return true;
        }
        let Some(resource) = resource else {
            // A global permission is held through any grant that names it.
            return permission.is_global() && self.granted(&[permission], &[None]);
        };
        if permission.is_global() {
            return self.granted(&[permission], &[None]);
        }
        if resource.kind == ResourceType::Execution {
            return self.allows_on_execution(permission, resource);
        }
        let permissions = permission.implied_by();
        let mut uids = vec![Some(resource.uid.as_str())];
        if resource.kind.in_pack() {
            uids.push(resource.pack_uid.as_deref());
        }
        self.granted(&permissions, &uids)
    }

    /// An execution's permissions come from its action's grants: view from
    /// `action_view`, re-run and stop from `action_execute`, all from
    /// `action_all`, on the action or its pack.
    fn allows_on_execution(&self, permission: Permission, execution: &Resource) -> bool {
        let Some(action) = &execution.action else { return false };
        let on_action = match permission {
            Permission::ExecutionView => Permission::ActionView,
            Permission::ExecutionRerun | Permission::ExecutionStop => Permission::ActionExecute,
            Permission::ExecutionAll => Permission::ActionAll,
            _ => return false,
        };
        let uids = [Some(action.uid.as_str()), action.pack_uid.as_deref()];
        self.granted(&[Permission::ActionAll, on_action], &uids)
    }

    /// The permission types this user holds on at least one resource
    /// (through a system role, or a grant of the type itself or of one
    /// that implies it; an execution's through its action's), in
    /// declaration order. What a client may offer; each request is still
    /// decided on its resource by [`allows`](Self::allows).
    pub fn held(&self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|&permission| {
                if self.system_allows(permission) {
                    return true;
                }
                let implying = match permission {
                    Permission::ExecutionView => {
                        let mut on_action = Permission::ActionView.implied_by();
                        on_action.push(Permission::ActionAll);
                        on_action
                    }
                    Permission::ExecutionRerun | Permission::ExecutionStop => {
                        vec![Permission::ActionExecute, Permission::ActionAll]
                    }
                    Permission::ExecutionAll => vec![Permission::ActionAll],
                    _ => permission.implied_by(),
                };
                self.granted(&implying, &[None])
            })
            .collect()
    }

    /// [`allows`](Self::allows), or the refusal naming what was missing.
    pub fn require(
        &self,
        permission: Permission,
        resource: Option<&Resource>,
    ) -> Result<(), Denied> {
        if self.allows(permission, resource) {
            Ok(())
        } else {
            Err(Denied {
                user: self.user.clone(),
                permission,
                resource: resource.map(|r| r.uid.clone()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::access::role::parse_role;

    fn principal(roles: &[&str], custom: &[&str]) -> Principal {
        let mut all: Vec<Role> = roles.iter().filter_map(|name| Role::system(name)).collect();
        for text in custom {
            all.push(parse_role(text, Path::new("role.yaml")).expect("role"));
        }
        Principal { user: "u".into(), roles: all }
    }

    #[test]
    fn system_roles() {
        let echo = Resource::action("core.echo");
        let admin = principal(&[ADMIN], &[]);
        assert!(admin.allows(Permission::PackInstall, None));
        assert!(admin.allows(Permission::ActionExecute, Some(&echo)));
        let observer = principal(&[OBSERVER], &[]);
        assert!(observer.allows(Permission::ActionView, Some(&echo)));
        assert!(observer.allows(Permission::ExecutionList, None));
        assert!(observer.allows(Permission::StreamView, None));
        assert!(!observer.allows(Permission::ActionExecute, Some(&echo)));
        assert!(!observer.allows(Permission::PackInstall, None));
        assert!(!observer.allows(Permission::ApiKeyCreate, None));
        let nobody = principal(&[], &[]);
        assert!(!nobody.allows(Permission::ActionList, None));
        let denied = nobody.require(Permission::ActionExecute, Some(&echo)).expect_err("denied");
        assert_eq!(
            denied.to_string(),
            "user `u` lacks the permission `action_execute` on `action:core:echo`"
        );
    }

    const OPS: &str = "name: ops\npermission_grants:\n  - resource_uid: pack:ops\n    permission_types: [action_execute, rule_create]\n  - resource_uid: action:core:echo\n    permission_types: [action_all]\n  - resource_uid: webhook:alerts\n    permission_types: [webhook_send]\n  - permission_types: [action_list]\n";

    #[test]
    fn grants_on_the_resource_and_on_its_pack() {
        let ops = principal(&[], &[OPS]);
        assert!(ops.allows(Permission::ActionExecute, Some(&Resource::action("ops.clean"))));
        assert!(
            ops.allows(Permission::ActionView, Some(&Resource::action("ops.clean"))),
            "execute implies view"
        );
        assert!(!ops.allows(Permission::ActionDelete, Some(&Resource::action("ops.clean"))));
        assert!(
            ops.allows(Permission::ActionDelete, Some(&Resource::action("core.echo"))),
            "action_all"
        );
        assert!(!ops.allows(Permission::ActionExecute, Some(&Resource::action("core.noop"))));
        assert!(ops.allows(Permission::RuleCreate, Some(&Resource::rule("ops.r"))));
        assert!(!ops.allows(Permission::RuleCreate, Some(&Resource::rule("core.r"))));
        assert!(ops.allows(Permission::WebhookSend, Some(&Resource::webhook("alerts"))));
        assert!(!ops.allows(Permission::WebhookSend, Some(&Resource::webhook("github"))));
        assert!(ops.allows(Permission::ActionList, None));
        assert!(!ops.allows(Permission::RuleList, None));
    }

    #[test]
    fn executions_follow_their_action() {
        let ops = principal(&[], &[OPS]);
        let mine = Resource::execution("1", "ops.clean");
        assert!(ops.allows(Permission::ExecutionStop, Some(&mine)));
        assert!(ops.allows(Permission::ExecutionRerun, Some(&mine)));
        assert!(
            !ops.allows(Permission::ExecutionView, Some(&mine)),
            "execute does not imply view (as in StackStorm)"
        );
        assert!(
            ops.allows(Permission::ExecutionView, Some(&Resource::execution("2", "core.echo")))
        );
        assert!(
            !ops.allows(Permission::ExecutionStop, Some(&Resource::execution("3", "core.noop")))
        );
    }

    #[test]
    fn disabled_roles_grant_nothing() {
        let mut ops = principal(&[], &[OPS]);
        ops.roles[0].enabled = false;
        assert!(!ops.allows(Permission::ActionList, None));
    }
}
