//! `/aliasexecution` and `/aliasexecution/match_and_execute`: a chat
//! command becomes an execution of its alias's action, as StackStorm's
//! bots ask for it. Who it runs as: the chat user mapped to a Squall user
//! by the operator's ChatOps settings (or the caller itself when there are
//! none); both the caller and that user must hold `action_alias_execute`
//! on the alias and `action_execute` on its action. Refusals are audited.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::aliases::{Loaded, view};
use super::auth::{Caller, principal};
use super::error::{ApiError, Body, ErrorBody};
use super::execution_view::ExecutionView;
use super::executions::{find, request_error};
use super::state::ApiState;
use crate::access::{Permission, Principal, Resource};
use crate::chatops::{ActionAlias, ChatIdentity, Matched};
use crate::store::{AliasRecord, AuditEvent, ChatOrigin, ChatRoute, now_millis};

/// The route announcements go to when the bot names none.
pub(crate) const DEFAULT_ROUTE: &str = "chatops";

/// Largest `source_context` a bot may attach, in bytes of JSON: it is
/// kept with the execution and handed back with its result.
const MAX_SOURCE_CONTEXT_BYTES: usize = 8 << 10;

/// A chat command, from a bot or a chat platform.
#[derive(Debug, Clone)]
pub(crate) struct ChatCommand {
    /// The command, without the bot's prefix.
    pub(crate) command: String,
    /// The chat user who typed it, as the platform names them.
    pub(crate) chat_user: Option<String>,
    /// Where they typed it.
    pub(crate) source_channel: String,
    /// Where the result goes.
    pub(crate) route: ChatRoute,
    /// What the bot sent about the channel.
    pub(crate) source_context: Value,
}

/// Who asks: the API caller (the bot's own user), or a chat platform
/// whose request signature was checked.
pub(crate) struct Requester<'a> {
    /// For the audit log.
    pub(crate) actor: String,
    /// The caller's permissions, which bound the chat user's; none for a
    /// platform (its signature is the credential).
    pub(crate) bound: Option<&'a Principal>,
}

impl<'a> From<&'a Caller> for Requester<'a> {
    fn from(caller: &'a Caller) -> Self {
        Self { actor: caller.actor(), bound: Some(&caller.principal) }
    }
}

/// `POST /aliasexecution/match_and_execute`'s body (StackStorm's
/// `AliasMatchAndExecuteInputAPI`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchAndExecute {
    /// The chat command.
    #[schema(example = "say hello")]
    command: String,
    /// The chat user who typed it.
    user: Option<String>,
    /// The channel it was typed in.
    source_channel: String,
    /// StackStorm's older name for the route.
    notification_channel: Option<String>,
    /// The stream route the result is announced on (`chatops` by default).
    notification_route: Option<String>,
    /// Whatever the bot wants back with the result.
    #[schema(value_type = Option<Object>)]
    source_context: Option<Value>,
}

/// `POST /aliasexecution`'s body (StackStorm's `AliasExecution`): the
/// alias and format already chosen.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AliasExecution {
    /// The alias's name (or `pack.name`).
    name: String,
    /// The format (representation) the command matched.
    format: String,
    /// The chat command.
    command: String,
    user: Option<String>,
    source_channel: String,
    notification_channel: Option<String>,
    notification_route: Option<String>,
    #[schema(value_type = Option<Object>)]
    source_context: Option<Value>,
}

impl TryFrom<MatchAndExecute> for ChatCommand {
    type Error = ApiError;

    /// The command, its result announced on the bot's route (`chatops`
    /// unless it names one), within the bound on `source_context`.
    fn try_from(request: MatchAndExecute) -> Result<Self, ApiError> {
        let route = (request.notification_route.or(request.notification_channel))
            .unwrap_or_else(|| DEFAULT_ROUTE.to_owned());
        crate::chatops::check_route(&route).map_err(|e| {
            ApiError::invalid("notification_route", format!("notification_route: {e}"))
        })?;
        let source_context = request.source_context.unwrap_or(Value::Null);
        if source_context.to_string().len() > MAX_SOURCE_CONTEXT_BYTES {
            return Err(ApiError::invalid(
                "source_context",
                format!("source_context: over {MAX_SOURCE_CONTEXT_BYTES} bytes of JSON"),
            ));
        }
        Ok(Self {
            command: request.command,
            chat_user: request.user,
            source_channel: request.source_channel,
            route: ChatRoute::Stream { route },
            source_context,
        })
    }
}

impl AliasExecution {
    /// The alias's name, the format, and the rest as `match_and_execute`
    /// takes it.
    fn split(self) -> (String, String, MatchAndExecute) {
        let command = MatchAndExecute {
            command: self.command,
            user: self.user,
            source_channel: self.source_channel,
            notification_channel: self.notification_channel,
            notification_route: self.notification_route,
            source_context: self.source_context,
        };
        (self.name, self.format, command)
    }
}

/// Matches a command against every enabled alias and runs what it
/// matched: one execution, or one per match for a `match_multiple` format.
#[utoipa::path(
    post,
    path = "/aliasexecution/match_and_execute",
    operation_id = "match_and_execute_alias",
    tag = "chatops",
    request_body = MatchAndExecute,
    responses(
        (status = 201, description = "`{\"results\": [{execution, actionalias, message?, extra?}]}`", body = Object),
        (status = 400, description = "Nothing or several formats match, the alias is disabled, or an immutable parameter was given", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "The caller or the chat user may not run this alias or its action", body = ErrorBody),
        (status = 422, description = "The parameters do not fit the action", body = ErrorBody),
    ),
)]
pub(crate) async fn match_and_execute(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<MatchAndExecute>,
) -> Result<Response, ApiError> {
    let command = ChatCommand::try_from(request)?;
    let results = match_and_run(&state, &Requester::from(&caller), command)
        .await
        .map_err(ApiError::with_faultstring)?;
    Ok((StatusCode::CREATED, Json(json!({"results": results}))).into_response())
}

/// Runs an alias with the format the bot already matched.
#[utoipa::path(
    post,
    path = "/aliasexecution",
    operation_id = "execute_alias",
    tag = "chatops",
    request_body = AliasExecution,
    responses(
        (status = 201, description = "`{execution, actionalias, message?, extra?}`", body = Object),
        (status = 400, description = "The command does not fit the format, the alias is disabled, or an immutable parameter was given", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "The caller or the chat user may not run this alias or its action", body = ErrorBody),
        (status = 404, description = "No such alias", body = ErrorBody),
        (status = 422, description = "The parameters do not fit the action", body = ErrorBody),
    ),
)]
pub(crate) async fn execute(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<AliasExecution>,
) -> Result<Response, ApiError> {
    let (name, format, request) = request.split();
    let loaded = Loaded::read(&state)?;
    let (record, alias) = loaded.by_name(&name).ok_or_else(|| {
        ApiError::not_found(format!("Unable to identify action alias with name \"{name}\"."))
    })?;
    let command = ChatCommand::try_from(request)?;
    // The format the bot chose, taken as StackStorm takes it: one match.
    let matched = Matched { alias, display: None, representation: format, match_multiple: false };
    let mut results = run(&state, &Requester::from(&caller), record, &matched, command)
        .await
        .map_err(ApiError::with_faultstring)?;
    Ok((StatusCode::CREATED, Json(results.remove(0))).into_response())
}

/// Matches `command` and runs what it matched.
pub(crate) async fn match_and_run(
    state: &ApiState,
    requester: &Requester<'_>,
    command: ChatCommand,
) -> Result<Vec<Value>, ApiError> {
    let loaded = Loaded::read(state)?;
    let (matched, record) = loaded.match_command(&command.command)?;
    run(state, requester, record, &matched, command).await
}

/// Runs `found` for `command` as matched by `representation`; answers
/// one result per execution started.
async fn run(
    state: &ApiState,
    requester: &Requester<'_>,
    record: &AliasRecord,
    matched: &Matched<'_>,
    command: ChatCommand,
) -> Result<Vec<Value>, ApiError> {
    let alias = matched.alias;
    let reference = alias.reference();
    if !alias.enabled {
        return Err(ApiError::bad_request(format!(
            "Action alias with name \"{}\" is disabled.",
            alias.name
        )));
    }
    let user = match authorize(state, requester, alias, command.chat_user.as_deref()) {
        Ok(user) => user,
        Err(refusal) => {
            let detail = json!({
                "chat_user": command.chat_user,
                "channel": command.source_channel,
                "reason": refusal.message(),
            });
            let audit = AuditEvent {
                at: now_millis(),
                actor: requester.actor.clone(),
                action: "alias.refused".into(),
                subject: reference.clone(),
                detail,
            };
            state.engine().store().write(move |tx| tx.append_audit(&audit).map(drop)).await?;
            return Err(refusal);
        }
    };
    let all = matched
        .parameters(&command.command)
        .map_err(|e| ApiError::bad_request(format!("command: {e}")))?;
    let spec = state.engine().ingest().action(&alias.action_ref).ok_or_else(|| {
        ApiError::invalid(
            "action_ref",
            format!("action alias {reference}: its action `{}` is not installed", alias.action_ref),
        )
    })?;
    let context = json!({
        "user": user,
        "api_user": command.chat_user,
        "source_channel": command.source_channel,
        "action_alias_ref": {"id": record.id, "name": alias.name},
    });
    let immutable = immutable_parameters(alias, &context)?;
    let origin = ChatOrigin {
        alias: reference.clone(),
        alias_id: record.id,
        chat_user: command.chat_user.clone().unwrap_or_else(|| user.clone()),
        source_channel: command.source_channel.clone(),
        route: command.route.clone(),
        source_context: command.source_context.clone(),
    };
    let mut results = Vec::with_capacity(all.len());
    for parameters in all {
        let overridden: Vec<&String> =
            immutable.keys().filter(|k| parameters.contains_key(*k)).collect();
        if !overridden.is_empty() {
            let names: Vec<&str> = overridden.iter().map(|s| s.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "Immutable arguments cannot be overriden: {}",
                names.join(",")
            )));
        }
        let mut parameters = cast_parameters(parameters, &spec.parameters_schema);
        parameters.extend(immutable.clone());
        let id = state
            .engine()
            .request_from_chat(
                &alias.action_ref,
                parameters,
                Some(user.clone()),
                Some(origin.clone()),
            )
            .await
            .map_err(request_error)?;
        let execution = find(state, id)?;
        let execution = serde_json::to_value(ExecutionView::read(&execution, state)?)
            .map_err(ApiError::internal)?;
        let mut result = json!({"execution": execution, "actionalias": view(record)});
        if let Some(ack) = crate::chatops::ack(alias, &execution) {
            result["message"] = Value::String(ack.message);
            if let Some(extra) = ack.extra {
                result["extra"] = extra;
            }
        }
        results.push(result);
    }
    let audit = AuditEvent {
        at: now_millis(),
        actor: requester.actor.clone(),
        action: "alias.execute".into(),
        subject: reference,
        detail: json!({
            "user": user,
            "chat_user": command.chat_user,
            "channel": command.source_channel,
            "executions": results.iter().map(|r| r["execution"]["id"].clone()).collect::<Vec<_>>(),
        }),
    };
    state.engine().store().write(move |tx| tx.append_audit(&audit).map(drop)).await?;
    Ok(results)
}

/// The Squall user the command runs as, once both the requester and that
/// user may run the alias and its action.
fn authorize(
    state: &ApiState,
    requester: &Requester<'_>,
    alias: &ActionAlias,
    chat_user: Option<&str>,
) -> Result<String, ApiError> {
    let forbidden = |message: String| ApiError::new(StatusCode::FORBIDDEN, message);
    let acting: Principal = match (state.chat_config(), chat_user) {
        (Some(config), Some(chat_user)) => match config.identity(chat_user) {
            ChatIdentity::User(user) => principal(&state.engine().store().read()?, &user)?
                .ok_or_else(|| {
                    forbidden(format!(
                        "chat user `{chat_user}` is mapped to `{user}`, who does not exist or is disabled"
                    ))
                })?,
            ChatIdentity::Unmapped => {
                return Err(forbidden(format!(
                    "chat user `{chat_user}` is not mapped to a Squall user; an admin can add them under `users:` in the ChatOps settings (or set `default_user`)"
                )));
            }
        },
        // Without settings (or a chat user), the caller runs it as itself,
        // as StackStorm's bots do with their own credentials.
        _ => requester.bound.cloned().ok_or_else(|| {
            forbidden("the command names no chat user the settings map".to_owned())
        })?,
    };
    let alias_resource = Resource::action_alias(&alias.reference());
    let action_resource = Resource::action(&alias.action_ref);
    let checks = [
        (Permission::ActionAliasExecute, &alias_resource),
        (Permission::ActionExecute, &action_resource),
    ];
    for (permission, resource) in checks {
        for who in requester.bound.into_iter().chain(std::iter::once(&acting)) {
            if let Err(denied) = who.require(permission, Some(resource)) {
                return Err(super::auth::forbidden(denied));
            }
        }
    }
    Ok(acting.user)
}

/// The alias's immutable parameters, string values rendered as Jinja with
/// the execution's context (`user`, `api_user`, `source_channel`,
/// `action_alias_ref`) in scope, as StackStorm renders them.
fn immutable_parameters(
    alias: &ActionAlias,
    context: &Value,
) -> Result<Map<String, Value>, ApiError> {
    let mut rendered = Map::new();
    for (name, value) in &alias.immutable_parameters {
        let value = match value {
            Value::String(text) if text.contains("{{") || text.contains("{%") => {
                let name_in_error = format!("immutable_parameters.{name}");
                Value::String(crate::rules::render_message(&name_in_error, text, context).map_err(
                    |e| ApiError::invalid("immutable_parameters", format!("{name_in_error}: {e}")),
                )?)
            }
            other => other.clone(),
        };
        rendered.insert(name.clone(), value);
    }
    Ok(rendered)
}

/// Parameters from chat are text; like StackStorm's `cast_params`, each
/// is turned into the type the action's schema declares for it (numbers,
/// booleans, JSON for objects, comma-separated or JSON arrays). Text that
/// does not convert is left for the schema check to name.
pub(crate) fn cast_parameters(given: Map<String, Value>, schema: &Value) -> Map<String, Value> {
    let properties = schema.get("properties").and_then(Value::as_object);
    given
        .into_iter()
        .map(|(name, value)| {
            let declared = properties
                .and_then(|p| p.get(&name))
                .and_then(|p| p.get("type"))
                .and_then(Value::as_str);
            let cast = match (&value, declared) {
                (Value::String(text), Some(kind)) => cast(text.trim(), kind),
                _ => None,
            };
            (name, cast.unwrap_or(value))
        })
        .collect()
}

fn cast(text: &str, kind: &str) -> Option<Value> {
    match kind {
        "integer" => text.parse::<i64>().ok().map(Value::from),
        "number" => text.parse::<i64>().map(Value::from).ok().or_else(|| {
            text.parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
        }),
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Some(Value::Bool(false)),
            _ => None,
        },
        "object" => serde_json::from_str::<Value>(text).ok().filter(Value::is_object),
        "array" if text.starts_with('[') => {
            serde_json::from_str::<Value>(text).ok().filter(Value::is_array)
        }
        "array" => Some(Value::Array(text.split(',').map(|s| Value::from(s.trim())).collect())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_text_is_cast_to_the_declared_types() {
        let schema = json!({"properties": {
            "n": {"type": "integer"}, "x": {"type": "number"}, "b": {"type": "boolean"},
            "hosts": {"type": "array"}, "o": {"type": "object"}, "s": {"type": "string"}
        }});
        let given = json!({"n": "5", "x": "1.5", "b": "True", "hosts": "a, b", "o": "{\"k\": 1}",
            "s": "5", "other": "7"});
        let cast = cast_parameters(given.as_object().cloned().unwrap_or_default(), &schema);
        assert_eq!(
            Value::Object(cast),
            json!({"n": 5, "x": 1.5, "b": true, "hosts": ["a", "b"], "o": {"k": 1}, "s": "5", "other": "7"})
        );
        let bad = json!({"n": "five"});
        let cast = cast_parameters(bad.as_object().cloned().unwrap_or_default(), &schema);
        assert_eq!(cast["n"], "five", "left for the schema check to refuse");
    }
}
