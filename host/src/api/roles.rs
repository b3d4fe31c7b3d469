//! `/rbac`: roles (the system roles, built in, and custom ones written in
//! StackStorm's role format), who holds which role, and the permission
//! types there are. Custom roles are created or replaced from StackStorm
//! role YAML (or the same as JSON), checked field by field.

use std::path::Path as FilePath;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::audit::event;
use super::auth::{Caller, role_from_record};
use super::document::document_text;
use super::error::{ApiError, ErrorBody, Path, Query, RawBody, off_thread};
use super::state::ApiState;
use crate::access::{Grant, Permission, Resource, Role, SYSTEM_ROLES, parse_role};
use crate::store::{GrantRecord, RoleRecord, now_millis};

/// A role as shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleView {
    name: String,
    description: String,
    enabled: bool,
    /// Built in; cannot be changed or deleted.
    system: bool,
    #[schema(value_type = Vec<Object>)]
    permission_grants: Vec<Grant>,
}

fn view(role: Role, system: bool) -> RoleView {
    RoleView {
        name: role.name,
        description: role.description,
        enabled: role.enabled,
        system,
        permission_grants: role.permission_grants,
    }
}

/// Every role: the system roles, then custom ones by name.
#[utoipa::path(
    get,
    path = "/rbac/roles",
    operation_id = "list_roles",
    tag = "rbac",
    responses(
        (status = 200, description = "Roles", body = [RoleView]),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_list`", body = ErrorBody),
    ),
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<Vec<RoleView>>, ApiError> {
    let mut views: Vec<RoleView> =
        SYSTEM_ROLES.iter().filter_map(|name| Role::system(name)).map(|r| view(r, true)).collect();
    for record in state.engine().store().read()?.roles()? {
        views.push(view(role_from_record(record), false));
    }
    Ok(Json(views))
}

/// One role.
#[utoipa::path(
    get,
    path = "/rbac/roles/{name}",
    operation_id = "get_role",
    tag = "rbac",
    params(("name" = String, Path, description = "Role name")),
    responses(
        (status = 200, description = "The role", body = RoleView),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_view`", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<RoleView>, ApiError> {
    caller.require(Permission::RoleView, Some(&Resource::role(&name)))?;
    if let Some(system) = Role::system(&name) {
        return Ok(Json(view(system, true)));
    }
    let record = state.engine().store().read()?.role(&name)?;
    let record = record.ok_or_else(|| ApiError::not_found(format!("role `{name}` not found")))?;
    Ok(Json(view(role_from_record(record), false)))
}

/// Creates or replaces a custom role from its StackStorm definition (YAML
/// or JSON); the definition's `name` must be the path's.
#[utoipa::path(
    put,
    path = "/rbac/roles/{name}",
    operation_id = "put_role",
    tag = "rbac",
    params(("name" = String, Path, description = "Role name")),
    request_body(description = "A StackStorm role definition: name, description, enabled, permission_grants", content((String = "application/yaml"), (Object = "application/json"))),
    responses(
        (status = 200, description = "Stored", body = RoleView),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_modify`", body = ErrorBody),
        (status = 400, description = "Not UTF-8, nested deeper than the limit (64 levels), or the name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 409, description = "A system role", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Neither YAML nor JSON, or a charset other than UTF-8", body = ErrorBody),
        (status = 422, description = "The definition does not load; the message names the field", body = ErrorBody),
    ),
)]
pub(crate) async fn put(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<RoleView>, ApiError> {
    if Role::is_system(&name) {
        return Err(ApiError::conflict(format!("`{name}` is a system role; it cannot be changed")));
    }
    let (text, _) = document_text("role", &headers, &body)?;
    // Malformed rather than unusable: 400, as for a rule.
    crate::limits::check(text, crate::limits::Format::Yaml)
        .map_err(|e| ApiError::bad_request(format!("role: {e}")))?;
    // JSON is YAML, so one reader takes both.
    let role = off_thread(move || {
        let text = std::str::from_utf8(&body).unwrap_or_default();
        parse_role(text, FilePath::new("role"))
            .map_err(|e| ApiError::invalid(&e.field.clone(), e.to_string()))
    })
    .await?;
    if role.name != name {
        return Err(ApiError::invalid(
            "name",
            format!("role: the body defines `{}`, the path says `{name}`", role.name),
        ));
    }
    let record = RoleRecord {
        name: role.name.clone(),
        description: role.description.clone(),
        enabled: role.enabled,
        permission_grants: role
            .permission_grants
            .iter()
            .map(|g| GrantRecord {
                resource_uid: g.resource_uid.clone(),
                permission_types: g
                    .permission_types
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
            })
            .collect(),
        updated_at: now_millis(),
    };
    let audit =
        event(&caller, "role.put", &name, json!({"grants": record.permission_grants.len()}));
    state
        .engine()
        .store()
        .write(move |tx| {
            tx.put_role(&record)?;
            tx.append_audit(&audit).map(drop)
        })
        .await?;
    state.access_changed();
    Ok(Json(view(role, false)))
}

/// Deletes a custom role; users holding it lose it.
#[utoipa::path(
    delete,
    path = "/rbac/roles/{name}",
    operation_id = "delete_role",
    tag = "rbac",
    params(("name" = String, Path, description = "Role name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_modify`", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "A system role", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if Role::is_system(&name) {
        return Err(ApiError::conflict(format!("`{name}` is a system role; it cannot be deleted")));
    }
    let audit = event(&caller, "role.delete", &name, Value::Null);
    let key = name.clone();
    let now = now_millis();
    let existed = state
        .engine()
        .store()
        .write(move |tx| {
            let existed = tx.delete_role(&key, now)?;
            if existed {
                tx.append_audit(&audit)?;
            }
            Ok(existed)
        })
        .await?;
    state.access_changed();
    if existed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("role `{name}` not found")))
    }
}

/// Filters of the assignment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AssignmentQuery {
    /// Only this user's.
    user: Option<String>,
    /// Only this role's.
    role: Option<String>,
}

/// One user holding one role (StackStorm's role assignment).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssignmentView {
    /// `user:role`.
    id: String,
    user: String,
    role: String,
    is_remote: bool,
}

/// Who holds which role.
#[utoipa::path(
    get,
    path = "/rbac/role_assignments",
    operation_id = "list_role_assignments",
    tag = "rbac",
    params(AssignmentQuery),
    responses(
        (status = 200, description = "Assignments by user", body = [AssignmentView]),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_list`", body = ErrorBody),
    ),
)]
pub(crate) async fn assignments(
    State(state): State<ApiState>,
    Query(query): Query<AssignmentQuery>,
) -> Result<Json<Vec<AssignmentView>>, ApiError> {
    let mut views = Vec::new();
    for user in state.engine().store().read()?.users()? {
        if query.user.as_ref().is_some_and(|u| *u != user.name) {
            continue;
        }
        for role in user.roles {
            if query.role.as_ref().is_some_and(|r| *r != role) {
                continue;
            }
            views.push(AssignmentView {
                id: format!("{}:{role}", user.name),
                user: user.name.clone(),
                role,
                is_remote: false,
            });
        }
    }
    Ok(Json(views))
}

/// Every permission type, by resource type.
#[utoipa::path(
    get,
    path = "/rbac/permission_types",
    operation_id = "list_permission_types",
    tag = "rbac",
    responses(
        (status = 200, description = "Resource type → its permission types", body = Object),
        (status = 401, description = "No live API key or token", body = ErrorBody),
    ),
)]
pub(crate) async fn permission_types() -> Json<Value> {
    let mut by_type = serde_json::Map::new();
    for permission in Permission::ALL {
        let entry = by_type
            .entry(permission.resource_type().as_str())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::from(permission.as_str()));
        }
    }
    Json(Value::Object(by_type))
}
