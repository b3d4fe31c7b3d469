//! `/users`: users (passwords hashed with Argon2id, never shown), their
//! role assignments, and password changes. Assigning `system_admin` needs
//! `system_admin`, and `admin` needs an admin, so `role_modify` alone
//! cannot make anyone more than an admin made it. Every change is audited
//! and wakes open event streams to check their caller again.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::audit::event;
use super::auth::Caller;
use super::error::{ApiError, Body, ErrorBody, Path};
use super::page::timestamp;
use super::state::ApiState;
use crate::access::{
    ADMIN, Permission, Resource, Role, SYSTEM_ADMIN, check_name, check_password, hash_password,
    verify_password,
};
use crate::store::{AuditEvent, UserRecord, WriteError, now_millis};

/// A user as shown: never the password or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    name: String,
    /// Roles assigned, system or custom.
    roles: Vec<String>,
    enabled: bool,
    description: String,
    /// Whether the user can sign in with a password.
    has_password: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        Self {
            name: user.name.clone(),
            roles: user.roles.clone(),
            enabled: user.enabled,
            description: user.description.clone(),
            has_password: user.password_hash.is_some(),
            created_at: timestamp(user.created_at),
            updated_at: timestamp(user.updated_at),
        }
    }
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    /// 1 to 200 printable characters, without `/` or `:`.
    #[schema(example = "alice")]
    name: String,
    /// At least 8 characters; without one the user signs in only with keys
    /// an admin makes for them.
    #[serde(default)]
    password: Option<String>,
    /// Roles to assign (needs `role_modify` too).
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    description: String,
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// At least 8 characters.
    password: String,
    /// The current password: required when changing one's own without
    /// `user_modify`.
    #[serde(default)]
    current_password: Option<String>,
}

/// A user's whole set of roles, as a StackStorm assignment file states it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolesBody {
    roles: Vec<String>,
    /// A disabled assignment gives none of its roles.
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    description: Option<String>,
}

fn yes() -> bool {
    true
}

fn user_error(error: WriteError) -> ApiError {
    match error {
        WriteError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
        WriteError::AlreadyExists(what) => ApiError::conflict(format!("{what} already exists")),
        other => other.into(),
    }
}

/// Refuses roles that do not exist, and roles above the caller's own.
fn check_assignable(state: &ApiState, caller: &Caller, roles: &[String]) -> Result<(), ApiError> {
    let snapshot = state.engine().store().read()?;
    for (index, role) in roles.iter().enumerate() {
        if !Role::is_system(role) && snapshot.role(role)?.is_none() {
            return Err(ApiError::invalid(
                "roles",
                format!("roles[{index}]: no role `{role}` (see GET /api/v1/rbac/roles)"),
            ));
        }
        let (allowed, needed) = match role.as_str() {
            SYSTEM_ADMIN => (caller.principal.is_system_admin(), "system_admin"),
            ADMIN => (caller.principal.is_admin(), "admin or system_admin"),
            _ => (true, ""),
        };
        if !allowed {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("only a user holding {needed} may assign or revoke `{role}`"),
            )
            .with_detail(json!({"role": role})));
        }
    }
    Ok(())
}

async fn write_audited(
    state: &ApiState,
    audit: AuditEvent,
    mut change: impl FnMut(&mut crate::store::Tx<'_>) -> Result<(), WriteError> + Send + 'static,
) -> Result<(), ApiError> {
    state
        .engine()
        .store()
        .write(move |tx| {
            change(tx)?;
            tx.append_audit(&audit).map(drop)
        })
        .await
        .map_err(user_error)?;
    state.access_changed();
    Ok(())
}

fn find(state: &ApiState, name: &str) -> Result<UserRecord, ApiError> {
    state
        .engine()
        .store()
        .read()?
        .user(name)?
        .ok_or_else(|| ApiError::not_found(format!("user `{name}` not found")))
}

/// Every user, by name.
#[utoipa::path(
    get,
    path = "/users",
    operation_id = "list_users",
    tag = "users",
    responses(
        (status = 200, description = "Users by name", body = [UserView]),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `user_list`", body = ErrorBody),
    ),
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<Vec<UserView>>, ApiError> {
    let users = state.engine().store().read()?.users()?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// Creates a user.
#[utoipa::path(
    post,
    path = "/users",
    operation_id = "create_user",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `user_create`, or roles the caller may not assign", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A bad name, password or role", body = ErrorBody),
    ),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<CreateUser>,
) -> Result<Response, ApiError> {
    check_name(&body.name).map_err(|m| ApiError::invalid("name", format!("name: {m}")))?;
    if !body.roles.is_empty() {
        caller.require(Permission::RoleModify, None)?;
        check_assignable(&state, &caller, &body.roles)?;
    }
    let password_hash = match body.password {
        Some(password) => {
            check_password(&password).map_err(|e| ApiError::invalid("password", e.to_string()))?;
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            Some(hash)
        }
        None => None,
    };
    let now = now_millis();
    let record = UserRecord {
        name: body.name.clone(),
        password_hash,
        roles: body.roles,
        enabled: true,
        description: body.description,
        created_at: now,
        updated_at: now,
    };
    let view = UserView::from(&record);
    let audit = event(&caller, "user.create", &record.name, json!({"roles": record.roles}));
    write_audited(&state, audit, move |tx| tx.insert_user(&record)).await?;
    let location = format!("{}/users/{}", super::API_PREFIX, view.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(view)).into_response())
}

/// One user; anyone may see themselves.
#[utoipa::path(
    get,
    path = "/users/{name}",
    operation_id = "get_user",
    tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Another user, without `user_view`", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
pub(crate) async fn get(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    if name != caller.user() {
        caller.require(Permission::UserView, Some(&Resource::user(&name)))?;
    }
    Ok(Json(UserView::from(&find(&state, &name)?)))
}

/// Deletes a user and revokes their keys and tokens.
#[utoipa::path(
    delete,
    path = "/users/{name}",
    operation_id = "delete_user",
    tag = "users",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Deleted; their keys and tokens revoked"),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `user_delete`, or a user above the caller", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Deleting oneself", body = ErrorBody),
    ),
)]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::UserDelete, Some(&Resource::user(&name)))?;
    if name == caller.user() {
        return Err(ApiError::conflict("a user cannot delete themselves; ask another admin"));
    }
    let user = find(&state, &name)?;
    check_assignable(&state, &caller, &user.roles)?;
    let audit = event(&caller, "user.delete", &name, Value::Null);
    let now = now_millis();
    write_audited(&state, audit, move |tx| tx.delete_user(&name, now).map(drop)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's password: one's own with the current one, anyone's with
/// `user_modify`.
#[utoipa::path(
    put,
    path = "/users/{name}/password",
    operation_id = "set_user_password",
    tag = "users",
    params(("name" = String, Path, description = "User name")),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Another user without `user_modify`, or a wrong current password", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "The new password is too short or too long", body = ErrorBody),
    ),
)]
pub(crate) async fn set_password(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let privileged = caller.allows(Permission::UserModify, Some(&Resource::user(&name)));
    if name != caller.user() && !privileged {
        caller.require(Permission::UserModify, Some(&Resource::user(&name)))?;
    }
    check_password(&body.password).map_err(|e| ApiError::invalid("password", e.to_string()))?;
    let mut user = find(&state, &name)?;
    let current = user.password_hash.clone();
    let new = body.password;
    let given = body.current_password;
    let (hash, current_ok) = tokio::task::spawn_blocking(move || {
        let ok = match (&given, &current) {
            (Some(given), Some(current)) => verify_password(given, current),
            _ => false,
        };
        (hash_password(&new), ok)
    })
    .await
    .map_err(ApiError::internal)?;
    if !privileged && !current_ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "current_password: missing or wrong; changing your own password needs the current one",
        ));
    }
    user.password_hash = Some(hash.map_err(ApiError::internal)?);
    user.updated_at = now_millis();
    let audit = event(&caller, "user.password", &name, Value::Null);
    write_audited(&state, audit, move |tx| tx.replace_user(&user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a user's whole set of roles (creating the user, without a password,
/// if there is none: as StackStorm's assignment files do for users of an
/// auth backend).
#[utoipa::path(
    put,
    path = "/users/{name}/roles",
    operation_id = "set_user_roles",
    tag = "users",
    params(("name" = String, Path, description = "User name")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The user with their roles", body = UserView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_modify`, or a role above the caller", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "An unknown role or a bad user name", body = ErrorBody),
    ),
)]
pub(crate) async fn set_roles(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Body(body): Body<RolesBody>,
) -> Result<Json<UserView>, ApiError> {
    check_name(&name).map_err(|m| ApiError::invalid("name", format!("name: {m}")))?;
    let roles = if body.enabled { body.roles } else { Vec::new() };
    let now = now_millis();
    let existing = state.engine().store().read()?.user(&name)?;
    let mut changed: Vec<String> = roles.clone();
    if let Some(user) = &existing {
        changed.extend(user.roles.iter().filter(|r| !roles.contains(r)).cloned());
    }
    check_assignable(&state, &caller, &changed)?;
    let user = match existing {
        Some(user) => UserRecord {
            roles,
            description: body.description.unwrap_or(user.description.clone()),
            updated_at: now,
            ..user
        },
        None => UserRecord {
            name: name.clone(),
            password_hash: None,
            roles,
            enabled: true,
            description: body.description.unwrap_or_default(),
            created_at: now,
            updated_at: now,
        },
    };
    let view = UserView::from(&user);
    let audit = event(&caller, "user.roles", &name, json!({"roles": user.roles}));
    write_audited(&state, audit, move |tx| {
        if tx.user(&user.name)?.is_some() { tx.replace_user(&user) } else { tx.insert_user(&user) }
    })
    .await?;
    Ok(Json(view))
}

/// Assigns one role to a user.
#[utoipa::path(
    put,
    path = "/users/{name}/roles/{role}",
    operation_id = "assign_role",
    tag = "users",
    params(("name" = String, Path, description = "User name"), ("role" = String, Path, description = "Role name")),
    responses(
        (status = 200, description = "The user with their roles", body = UserView),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_modify`, or a role above the caller", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "No such role", body = ErrorBody),
    ),
)]
pub(crate) async fn assign(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((name, role)): Path<(String, String)>,
) -> Result<Json<UserView>, ApiError> {
    change_role(&state, &caller, name, role, true).await
}

/// Takes one role from a user.
#[utoipa::path(
    delete,
    path = "/users/{name}/roles/{role}",
    operation_id = "revoke_role",
    tag = "users",
    params(("name" = String, Path, description = "User name"), ("role" = String, Path, description = "Role name")),
    responses(
        (status = 200, description = "The user with their roles", body = UserView),
        (status = 401, description = "No live API key or token", body = ErrorBody),
        (status = 403, description = "Without `role_modify`, or a role above the caller", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "No such role", body = ErrorBody),
    ),
)]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path((name, role)): Path<(String, String)>,
) -> Result<Json<UserView>, ApiError> {
    change_role(&state, &caller, name, role, false).await
}

async fn change_role(
    state: &ApiState,
    caller: &Caller,
    name: String,
    role: String,
    assign: bool,
) -> Result<Json<UserView>, ApiError> {
    let mut user = find(state, &name)?;
    check_assignable(state, caller, std::slice::from_ref(&role))?;
    if assign {
        if !user.roles.contains(&role) {
            user.roles.push(role.clone());
        }
    } else {
        user.roles.retain(|r| *r != role);
    }
    user.updated_at = now_millis();
    let view = UserView::from(&user);
    let action = if assign { "role.assign" } else { "role.revoke" };
    let audit = event(caller, action, &name, json!({"role": role}));
    write_audited(state, audit, move |tx| tx.replace_user(&user)).await?;
    Ok(Json(view))
}
