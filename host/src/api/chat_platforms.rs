//! Chat platforms Squall answers without a bot: Slack slash commands
//! (`POST /chatops/slack`, `X-Slack-Signature` checked against the signing
//! secret) and Mattermost or Rocket.Chat outgoing webhooks (`POST
//! /chatops/mattermost`, the webhook's token checked). The signature is
//! the credential: the command then runs as the chat user's mapped Squall
//! user, answered at once with the alias's acknowledgement; the result
//! follows through the platform's reply address, posted by the sandboxed
//! reply action (`chat_notify`), never by the host.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::alias_execution::{ChatCommand, Requester, match_and_run};
use super::error::{ApiError, ErrorBody, RawBody, content_type};
use super::state::ApiState;
use crate::store::{AuditEvent, ChatRoute, now_millis};

/// How far a Slack request's timestamp may be from now, in seconds (Slack's
/// advice against replays).
pub const SLACK_MAX_SKEW_SECONDS: i64 = 300;

/// What Slack sends for a slash command (form-encoded; other fields are
/// ignored).
#[derive(Debug, Deserialize)]
struct SlashCommand {
    text: String,
    user_id: String,
    #[serde(default)]
    user_name: Option<String>,
    channel_id: String,
    #[serde(default)]
    channel_name: Option<String>,
    response_url: String,
}

/// What a Mattermost (or Rocket.Chat) outgoing webhook sends, as JSON or
/// form-encoded.
#[derive(Debug, Deserialize)]
struct OutgoingWebhook {
    token: String,
    text: String,
    user_name: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    channel_name: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    trigger_word: Option<String>,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message.to_owned())
}

/// Records a request whose signature or token did not check.
async fn audit_refusal(state: &ApiState, platform: &str, reason: &str) -> Result<(), ApiError> {
    let audit = AuditEvent {
        at: now_millis(),
        actor: format!("{platform} (unverified)"),
        action: "auth.failed".into(),
        subject: format!("chatops/{platform}"),
        detail: json!({"reason": reason}),
    };
    state.engine().store().write(move |tx| tx.append_audit(&audit).map(drop)).await?;
    Ok(())
}

/// Checks Slack's `v0` signature: HMAC-SHA256 of `v0:TIMESTAMP:BODY` with
/// the signing secret, and a timestamp within five minutes.
fn slack_signature_ok(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let timestamp = header("x-slack-request-timestamp").ok_or("no X-Slack-Request-Timestamp")?;
    let signature = header("x-slack-signature").ok_or("no X-Slack-Signature")?;
    let at: i64 = timestamp.parse().map_err(|_| "X-Slack-Request-Timestamp is not a number")?;
    if (now - at).abs() > SLACK_MAX_SKEW_SECONDS {
        return Err("X-Slack-Request-Timestamp is more than five minutes from now");
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|hex| hex::decode(hex).ok())
        .ok_or("X-Slack-Signature is not v0=HEX")?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| "bad signing secret")?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| "X-Slack-Signature does not match")
}

/// The chat user's Squall identity key: the first of `keys` the settings
/// map, or the first key (for the default user or the refusal).
fn chat_user(state: &ApiState, keys: &[Option<&str>]) -> String {
    let keys: Vec<&str> = keys.iter().flatten().copied().collect();
    let mapped = state.chat_config().and_then(|c| keys.iter().find(|k| c.users.contains_key(**k)));
    mapped.or(keys.first()).map(|k| (*k).to_owned()).unwrap_or_default()
}

/// The answer a platform shows in the channel at once.
fn immediate(results: Result<Vec<Value>, ApiError>, ack_key: &str) -> Response {
    let text = match results {
        Ok(results) => results
            .iter()
            .map(|r| match r.get("message").and_then(Value::as_str) {
                Some(message) => message.to_owned(),
                None => format!(
                    "Running {} (execution {}).",
                    r["execution"]["action"]["ref"].as_str().unwrap_or("the action"),
                    r["execution"]["id"].as_str().unwrap_or("?")
                ),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        // Refusals and non-matches are told to the person, in the channel:
        // the message never holds more than the alias and the reason.
        Err(error) => format!("Sorry: {}", error.message()),
    };
    let mut body = json!({ "text": text });
    if !ack_key.is_empty() {
        body[ack_key] = json!("in_channel");
    }
    (StatusCode::OK, Json(body)).into_response()
}

/// A Slack slash command (`/squall say hello`).
#[utoipa::path(
    post,
    path = "/chatops/slack",
    operation_id = "chatops_slack",
    tag = "chatops",
    request_body(description = "Slack's slash command payload, form-encoded", content_type = "application/x-www-form-urlencoded", content = Object),
    responses(
        (status = 200, description = "The message Slack shows in the channel: the acknowledgement, or why not", body = Object),
        (status = 400, description = "Not Slack's slash command payload", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "A charset other than UTF-8", body = ErrorBody),
        (status = 401, description = "The signature or its timestamp does not check", body = ErrorBody),
        (status = 404, description = "Slack is not set up in the ChatOps settings", body = ErrorBody),
    ),
)]
pub(crate) async fn slack(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let Some(slack) = state.chat_config().and_then(|c| c.slack.clone()) else {
        return Err(ApiError::not_found(
            "Slack is not set up: add `slack: {signing_secret: …}` to the ChatOps settings (--chatops)",
        ));
    };
    let now = jiff::Timestamp::now().as_second();
    if let Err(reason) = slack_signature_ok(slack.signing_secret.expose(), &headers, &body, now) {
        audit_refusal(&state, "slack", reason).await?;
        return Err(unauthorized(reason));
    }
    let command: SlashCommand = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::bad_request(format!("slack: not a slash command payload: {e}")))?;
    let chat = ChatCommand {
        command: command.text.trim().to_owned(),
        chat_user: Some(chat_user(&state, &[Some(&command.user_id), command.user_name.as_deref()])),
        source_channel: command.channel_name.unwrap_or(command.channel_id),
        route: ChatRoute::Reply { platform: "slack".into(), url: command.response_url },
        source_context: Value::Null,
    };
    let requester = Requester { actor: "slack (signed request)".into(), bound: None };
    let results = match_and_run(&state, &requester, chat).await;
    Ok(immediate(results, "response_type"))
}

/// A Mattermost or Rocket.Chat outgoing webhook (`squall say hello` with
/// the trigger word `squall`).
#[utoipa::path(
    post,
    path = "/chatops/mattermost",
    operation_id = "chatops_mattermost",
    tag = "chatops",
    request_body(description = "The outgoing webhook's payload, JSON or form-encoded", content = Object),
    responses(
        (status = 200, description = "The message the platform shows in the channel: the acknowledgement, or why not", body = Object),
        (status = 400, description = "Not an outgoing webhook payload", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 415, description = "A charset other than UTF-8", body = ErrorBody),
        (status = 401, description = "The token does not match", body = ErrorBody),
        (status = 404, description = "Mattermost is not set up in the ChatOps settings", body = ErrorBody),
    ),
)]
pub(crate) async fn mattermost(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let Some(settings) = state.chat_config().and_then(|c| c.mattermost.clone()) else {
        return Err(ApiError::not_found(
            "Mattermost is not set up: add `mattermost: {token: …, incoming_webhook: …}` to the ChatOps settings (--chatops)",
        ));
    };
    let parsed: Result<OutgoingWebhook, String> = if content_type(&headers).contains("json") {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let hook = match parsed {
        Ok(hook) => hook,
        Err(error) => {
            audit_refusal(&state, "mattermost", "not an outgoing webhook payload").await?;
            return Err(ApiError::bad_request(format!(
                "mattermost: not an outgoing webhook payload: {error}"
            )));
        }
    };
    let expected = settings.token.expose().as_bytes();
    if !bool::from(hook.token.as_bytes().ct_eq(expected)) {
        audit_refusal(&state, "mattermost", "token does not match").await?;
        return Err(unauthorized("the outgoing webhook's token does not match"));
    }
    let mut text = hook.text.trim();
    if let Some(word) = hook.trigger_word.as_deref().filter(|w| !w.is_empty()) {
        text = text.strip_prefix(word).unwrap_or(text).trim_start();
    }
    let channel = hook.channel_name.or(hook.channel_id).unwrap_or_default();
    let chat = ChatCommand {
        command: text.to_owned(),
        chat_user: Some(chat_user(&state, &[Some(&hook.user_name), hook.user_id.as_deref()])),
        source_channel: channel,
        route: ChatRoute::Reply { platform: "mattermost".into(), url: settings.incoming_webhook },
        source_context: Value::Null,
    };
    let requester = Requester { actor: "mattermost (token)".into(), bound: None };
    let results = match_and_run(&state, &requester, chat).await;
    Ok(immediate(results, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(format!("v0:{timestamp}:").as_bytes());
        mac.update(body);
        let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        let mut headers = HeaderMap::new();
        headers.insert("x-slack-request-timestamp", timestamp.to_string().parse().expect("ascii"));
        headers.insert("x-slack-signature", signature.parse().expect("ascii"));
        headers
    }

    #[test]
    fn slack_signatures_are_checked_with_their_timestamp() {
        let body = b"text=say+hi&user_id=U1";
        let now = 1_700_000_000;
        assert_eq!(slack_signature_ok("s", &signed("s", now, body), body, now), Ok(()));
        assert!(slack_signature_ok("other", &signed("s", now, body), body, now).is_err());
        assert!(slack_signature_ok("s", &signed("s", now, body), b"text=say+bye", now).is_err());
        let stale = now - SLACK_MAX_SKEW_SECONDS - 1;
        assert_eq!(
            slack_signature_ok("s", &signed("s", stale, body), body, now),
            Err("X-Slack-Request-Timestamp is more than five minutes from now")
        );
        assert_eq!(
            slack_signature_ok("s", &HeaderMap::new(), body, now),
            Err("no X-Slack-Request-Timestamp")
        );
    }
}
