//! The one table of what every route needs. The authorization middleware
//! looks every request up here (a route missing from it is refused), and
//! a test walks the router to check that every route has an entry.
//!
//! `Global` permissions are checked by the middleware before the handler
//! runs. `OnResource` ones are about a resource the handler has to find
//! first (the action an execution runs, the rule in a body), so the handler
//! checks them with `Caller::require` once it knows the resource; the table
//! still names them, so the table is the whole story.

use axum::http::Method;

use crate::access::Permission;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, signing in (which checks a password itself), and
    /// the web UI's static files.
    Open,
    /// Any signed-in user (who-am-I, the API description, token checks).
    Authenticated,
    /// A global permission, checked before the handler runs.
    Global(Permission),
    /// A permission on the resource the handler finds, checked there.
    OnResource(Permission),
}

use Need::{Authenticated, Global, OnResource, Open};
use Permission as P;

/// Every route: method, path as the router matches it, and what it needs.
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", "/api/v1", Authenticated),
    ("GET", "/api/v1/health", Open),
    // The web UI's page shell and static assets: they carry no data; the
    // pages ask the API for everything, under the user's permissions.
    ("GET", "/", Open),
    ("GET", "/ui/{*path}", Open),
    ("POST", "/auth/v1/tokens", Open),
    ("POST", "/auth/v1/tokens/validate", Authenticated),
    ("DELETE", "/auth/v1/tokens/{id}", OnResource(P::ApiKeyDelete)),
    ("GET", "/api/v1/user", Authenticated),
    ("GET", "/api/v1/openapi.json", Authenticated),
    ("GET", "/metrics", Global(P::MetricsView)),
    // Packs and the keyring.
    ("GET", "/api/v1/packs", Global(P::PackList)),
    ("POST", "/api/v1/packs", Global(P::PackInstall)),
    ("GET", "/api/v1/packs/{name}", OnResource(P::PackView)),
    ("DELETE", "/api/v1/packs/{name}", Global(P::PackUninstall)),
    // Installing from a registry the operator allows (`serve --registry`);
    // grants need `capability_grant`, checked as for an upload.
    ("POST", "/api/v1/packs/pull", Global(P::PackInstall)),
    ("GET", "/api/v1/registries", Global(P::PackInstall)),
    // Packs' configurations and config schemas (StackStorm's x-permissions:
    // pack_list to list, pack_view on the pack to read one, pack_config to
    // set one; secrets shown only to an admin who asks).
    ("GET", "/api/v1/configs", Global(P::PackList)),
    ("GET", "/api/v1/configs/{pack_ref}", OnResource(P::PackView)),
    ("PUT", "/api/v1/configs/{pack_ref}", Global(P::PackConfig)),
    ("GET", "/api/v1/config_schemas", Global(P::PackList)),
    ("GET", "/api/v1/config_schemas/{pack_ref}", OnResource(P::PackView)),
    ("GET", "/api/v1/trust", Global(P::TrustView)),
    ("POST", "/api/v1/trust", Global(P::TrustModify)),
    ("DELETE", "/api/v1/trust/{name}", Global(P::TrustModify)),
    ("GET", "/api/v1/actions", Global(P::ActionList)),
    ("GET", "/api/v1/actions/{ref}", OnResource(P::ActionView)),
    ("GET", "/api/v1/runnertypes", Global(P::RunnerTypeList)),
    // ChatOps: action aliases and running them. The chat platforms'
    // endpoints check the platform's request signature instead of a
    // credential, then the mapped user's permissions, as the bots' route.
    ("GET", "/api/v1/actionalias", Global(P::ActionAliasList)),
    ("POST", "/api/v1/actionalias", OnResource(P::ActionAliasCreate)),
    ("GET", "/api/v1/actionalias/help", Global(P::ActionAliasHelp)),
    ("POST", "/api/v1/actionalias/match", Global(P::ActionAliasMatch)),
    ("GET", "/api/v1/actionalias/{ref_or_id}", OnResource(P::ActionAliasView)),
    ("PUT", "/api/v1/actionalias/{ref_or_id}", OnResource(P::ActionAliasModify)),
    ("DELETE", "/api/v1/actionalias/{ref_or_id}", OnResource(P::ActionAliasDelete)),
    ("POST", "/api/v1/aliasexecution", OnResource(P::ActionAliasExecute)),
    ("POST", "/api/v1/aliasexecution/match_and_execute", OnResource(P::ActionAliasExecute)),
    ("POST", "/api/v1/chatops/slack", Open),
    ("POST", "/api/v1/chatops/mattermost", Open),
    ("GET", "/api/v1/runnertypes/{name}", OnResource(P::RunnerTypeView)),
    // Executions: decided by the grants on the action they run.
    ("GET", "/api/v1/executions", Global(P::ExecutionList)),
    ("POST", "/api/v1/executions", OnResource(P::ActionExecute)),
    ("GET", "/api/v1/executions/{id}", OnResource(P::ExecutionView)),
    ("DELETE", "/api/v1/executions/{id}", OnResource(P::ExecutionStop)),
    ("GET", "/api/v1/executions/{id}/output", OnResource(P::ExecutionView)),
    ("POST", "/api/v1/executions/{id}/re_run", OnResource(P::ExecutionRerun)),
    ("POST", "/api/v1/executions/{id}/pause", OnResource(P::ExecutionStop)),
    ("POST", "/api/v1/executions/{id}/resume", OnResource(P::ExecutionStop)),
    ("GET", "/api/v1/inquiries", Global(P::InquiryList)),
    ("GET", "/api/v1/inquiries/{id}", Global(P::InquiryView)),
    ("PUT", "/api/v1/inquiries/{id}", Global(P::InquiryRespond)),
    // Rules: creating or changing one also needs `action_execute` on its
    // action (and `webhook_create` on a webhook it listens to).
    ("GET", "/api/v1/rules", Global(P::RuleList)),
    ("POST", "/api/v1/rules", OnResource(P::RuleCreate)),
    ("GET", "/api/v1/rules/{ref}", OnResource(P::RuleView)),
    ("PUT", "/api/v1/rules/{ref}", OnResource(P::RuleModify)),
    ("DELETE", "/api/v1/rules/{ref}", OnResource(P::RuleDelete)),
    ("POST", "/api/v1/rules/{ref}/enable", OnResource(P::RuleModify)),
    ("POST", "/api/v1/rules/{ref}/disable", OnResource(P::RuleModify)),
    ("GET", "/api/v1/ruleenforcements", Global(P::RuleEnforcementList)),
    ("GET", "/api/v1/triggertypes", Global(P::TriggerList)),
    ("GET", "/api/v1/triggertypes/{name}", OnResource(P::TriggerView)),
    ("GET", "/api/v1/triggerinstances", Global(P::TriggerList)),
    ("GET", "/api/v1/triggerinstances/{id}", OnResource(P::TriggerView)),
    ("POST", "/api/v1/triggerinstances/{id}/re_emit", OnResource(P::TriggerAll)),
    ("GET", "/api/v1/sensors", Global(P::SensorTypeList)),
    ("GET", "/api/v1/sensortypes", Global(P::SensorTypeList)),
    // The datastore: a list shows only the keys the user may view.
    ("GET", "/api/v1/keys", Global(P::KeyValuePairList)),
    ("GET", "/api/v1/keys/{name}", OnResource(P::KeyValuePairView)),
    ("PUT", "/api/v1/keys/{name}", OnResource(P::KeyValuePairSet)),
    ("DELETE", "/api/v1/keys/{name}", OnResource(P::KeyValuePairDelete)),
    ("GET", "/api/v1/webhooks", Global(P::WebhookList)),
    ("POST", "/api/v1/webhooks/{*name}", OnResource(P::WebhookSend)),
    ("GET", "/api/v1/stream", Global(P::StreamView)),
    ("GET", "/stream/v1/stream", Global(P::StreamView)),
    // Keys, users, roles, the audit log.
    ("GET", "/api/v1/apikeys", Global(P::ApiKeyList)),
    ("POST", "/api/v1/apikeys", Global(P::ApiKeyCreate)),
    ("DELETE", "/api/v1/apikeys/{id}", OnResource(P::ApiKeyDelete)),
    ("GET", "/api/v1/users", Global(P::UserList)),
    ("POST", "/api/v1/users", Global(P::UserCreate)),
    ("GET", "/api/v1/users/{name}", OnResource(P::UserView)),
    ("DELETE", "/api/v1/users/{name}", OnResource(P::UserDelete)),
    ("PUT", "/api/v1/users/{name}/password", OnResource(P::UserModify)),
    ("PUT", "/api/v1/users/{name}/roles", Global(P::RoleModify)),
    ("PUT", "/api/v1/users/{name}/roles/{role}", Global(P::RoleModify)),
    ("DELETE", "/api/v1/users/{name}/roles/{role}", Global(P::RoleModify)),
    ("GET", "/api/v1/rbac/roles", Global(P::RoleList)),
    ("GET", "/api/v1/rbac/roles/{name}", OnResource(P::RoleView)),
    ("PUT", "/api/v1/rbac/roles/{name}", Global(P::RoleModify)),
    ("DELETE", "/api/v1/rbac/roles/{name}", Global(P::RoleModify)),
    ("GET", "/api/v1/rbac/role_assignments", Global(P::RoleList)),
    ("GET", "/api/v1/rbac/permission_types", Authenticated),
    ("GET", "/api/v1/audit", Global(P::AuditView)),
];

/// What `method path` needs; `None` for a route missing from the table
/// (the middleware refuses those).
pub fn need_of(method: &Method, path: &str) -> Option<Need> {
    ROUTES.iter().find(|(m, p, _)| *m == method.as_str() && *p == path).map(|(_, _, need)| *need)
}
