//! `POST /webhooks/{name}` (the name may contain `/`): hands the request to
//! the engine, which commits it as a `core.webhook` instance (answered 202
//! with its id) or passes it to the pack webhook sensor registered under
//! the name (answered with the sensor's own reply), always after the
//! commit. The API key is taken out of the headers and query first, so it
//! never reaches a payload.

use axum::extract::{Extension, OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::{CREDENTIAL_PARAMS, Caller, query_pairs, webhook_in_scope};
use super::error::{ApiError, ErrorBody, Path, RawBody};
use super::state::ApiState;
use crate::access::{Permission, Resource};
use crate::engine::WebhookError;
use crate::runtime::{WebhookRequest, WebhookResponse};

/// The answer to a webhook no pack sensor handles.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookAccepted {
    /// The committed `core.webhook` instance.
    trigger_instances: Vec<Uuid>,
    /// The executions its rules started.
    executions: Vec<Uuid>,
    /// Rules that matched but started nothing, each `{rule,
    /// failure_reason}` (absent when there are none).
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_enforcements: Option<Vec<serde_json::Value>>,
}

/// Receives a webhook. Besides the usual headers, the key may come as
/// `?st2-api-key=KEY` or `?api_key=KEY`, for senders that cannot set
/// headers.
#[utoipa::path(
    post,
    path = "/webhooks/{*name}",
    operation_id = "receive_webhook",
    tag = "webhooks",
    params(("name" = String, Path, description = "The webhook's name (a rule's `trigger.parameters.url`, or a pack sensor's route); may contain `/`")),
    request_body(description = "Any body; JSON becomes `trigger.body` as JSON, other text as a string", content((Object = "application/json"), (String = "text/plain"))),
    security(("bearer" = []), ("st2_api_key" = []), ("query_api_key" = [])),
    responses(
        (status = 202, description = "Committed as a core.webhook instance, with the executions its rules started", body = WebhookAccepted),
        (status = "default", description = "A pack sensor's own answer, after its events committed"),
        (status = 400, description = "The body is not what its content type says, or the name is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 401, description = "No live API key", body = ErrorBody),
        (status = 403, description = "The key is limited to other webhooks, or its user lacks `webhook_send` on this one", body = ErrorBody),
        (status = 404, description = "No rule or sensor listens under this name", body = ErrorBody),
        (status = 413, description = "Body over 4 MiB", body = ErrorBody),
        (status = 422, description = "An event does not fit its trigger type", body = ErrorBody),
        (status = 502, description = "The pack's webhook sensor failed", body = ErrorBody),
    ),
)]
pub(crate) async fn receive(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    if !webhook_in_scope(&caller, &name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this API key may only send webhooks matching {}, not `{name}`",
                caller.webhooks.join(", ")
            ),
        ));
    }
    caller.require(Permission::WebhookSend, Some(&Resource::webhook(&name)))?;
    let query = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| {
            !pair.is_empty()
                && !query_pairs(pair).any(|(name, _)| CREDENTIAL_PARAMS.contains(&name.as_str()))
        })
        .collect::<Vec<_>>()
        .join("&");
    let request = WebhookRequest {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query,
        headers: headers
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect(),
        body: body.to_vec(),
    };
    let reply = state.engine().webhook(&name, &request).await.map_err(|error| match error {
        WebhookError::Unknown(_) => ApiError::not_found(error.to_string()),
        WebhookError::Body(_) => ApiError::bad_request(error.to_string()),
        WebhookError::Event { .. } => ApiError::invalid("payload", error.to_string()),
        WebhookError::Sensor { ref sensor, .. } => {
            tracing::warn!(%error, "webhook sensor failed");
            ApiError::new(StatusCode::BAD_GATEWAY, format!("webhook sensor {sensor} failed"))
        }
        // Expected under a flood: the answer says why, the metrics count it.
        WebhookError::Busy { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
        WebhookError::Write(e) => e.into(),
    })?;
    Ok(respond(reply.response))
}

/// The sensor's (or the engine's) answer as an HTTP response; headers
/// that are not valid HTTP, or that framing owns, are left out.
fn respond(reply: WebhookResponse) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = status;
    for (name, value) in reply.headers {
        let parsed =
            HeaderName::from_bytes(name.as_bytes()).ok().zip(HeaderValue::from_str(&value).ok());
        match parsed {
            Some((name, _))
                if ["content-length", "transfer-encoding", "connection"]
                    .contains(&name.as_str()) => {}
            Some((name, value)) => {
                response.headers_mut().append(name, value);
            }
            None => {
                tracing::warn!(header = %name, "webhook reply header is not valid HTTP; dropped")
            }
        }
    }
    response
}

/// A webhook the server listens under: StackStorm's webhook (the
/// `core.st2.webhook` trigger a rule gives a `url`), or a pack's webhook
/// sensor's route.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    /// The name it is posted to (`/api/v1/webhooks/{url}`).
    #[schema(example = "hello")]
    url: String,
    /// `core.st2.webhook` for rules' webhooks; `pack.sensor` for a pack's
    /// webhook sensor.
    #[serde(rename = "type")]
    #[schema(example = "core.st2.webhook")]
    kind: String,
    /// `{"url": ...}`, as StackStorm's trigger parameters.
    #[schema(value_type = Object)]
    parameters: serde_json::Value,
    description: String,
    /// The rules in force that listen to it (`pack.name`).
    rules: Vec<String>,
}

/// Every webhook the server listens under, by name.
#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Webhooks by name", body = [WebhookView]),
        (status = 401, description = "No live API key", body = ErrorBody),
    ),
)]
pub(crate) async fn list(State(state): State<ApiState>) -> axum::Json<Vec<WebhookView>> {
    let mut by_url: std::collections::BTreeMap<String, WebhookView> = Default::default();
    let rules = state.engine().ingest().rules();
    for rule in rules.rules_for("core.webhook") {
        let Some(url) = rule.trigger_parameters.get("url").and_then(|u| u.as_str()) else {
            continue;
        };
        let url = url.to_owned();
        let view = by_url.entry(url.clone()).or_insert_with(|| WebhookView {
            parameters: serde_json::json!({"url": url}),
            url,
            kind: "core.st2.webhook".to_owned(),
            description: "Fires core.webhook for the rules that listen to it".to_owned(),
            rules: Vec::new(),
        });
        view.rules.push(rule.reference.clone());
    }
    for (route, sensor) in state.engine().webhook_sensors().iter() {
        by_url.entry(route.clone()).or_insert_with(|| WebhookView {
            parameters: serde_json::json!({"url": route}),
            url: route.clone(),
            kind: format!("{}.{}", sensor.component.pack(), sensor.name),
            description: format!("Handled by the webhook sensor {}", sensor.name),
            rules: Vec::new(),
        });
    }
    axum::Json(by_url.into_values().collect())
}
