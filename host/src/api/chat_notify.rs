//! Results back to chat: when an execution an alias started ends, its
//! alias's `result` message is rendered (with the execution as the API
//! shows it, secrets masked) and announced on the event stream as
//! `st2.announcement__<route>` for a bot, or posted to a chat platform's
//! reply address by the sandboxed reply action (`http.request` unless the
//! settings name another) — never by the host itself.

use std::sync::Weak;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::execution_view::ExecutionView;
use super::state::{ApiState, Inner};
use crate::chatops::{ActionAlias, ChatMessage};
use crate::engine::EngineEvent;
use crate::store::{ChatRoute, Execution};

/// Follows the engine's feed until the API's state is gone.
pub(crate) async fn follow(state: Weak<Inner>, mut feed: broadcast::Receiver<EngineEvent>) {
    loop {
        let (id, status) = match feed.recv().await {
            Ok(EngineEvent::Execution { id, status, elsewhere: false, .. })
                if status.is_finished() =>
            {
                (id, status)
            }
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "chat notifications fell behind; some results were not announced"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(state) = ApiState::upgrade(&state) else { return };
        // Every finished execution passes here: its head alone (no
        // parameters, result or logs) says whether chat asked for it.
        let read = state.engine().store().read().and_then(|snapshot| {
            match snapshot.execution_head(id)? {
                Some(head) if head.chat.is_some() => snapshot.execution(id),
                _ => Ok(None),
            }
        });
        let execution = match read {
            Ok(Some(execution)) => execution,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(execution = %id, %error, "cannot read a finished execution for chat");
                continue;
            }
        };
        tracing::debug!(execution = %id, ?status, "announcing an alias execution's result");
        if let Err(error) = notify(&state, &execution).await {
            tracing::warn!(execution = %id, %error, "cannot send an alias execution's result to chat");
        }
    }
}

/// Sends `execution`'s result where its chat origin says.
async fn notify(state: &ApiState, execution: &Execution) -> Result<(), String> {
    let Some(chat) = execution.chat.as_deref() else { return Ok(()) };
    let alias = alias_of(state, &chat.alias);
    let view = ExecutionView::read(execution, state).map_err(|e| e.message().to_owned())?;
    let view = serde_json::to_value(view).map_err(|e| e.to_string())?;
    let Some(ChatMessage { message, extra }) = crate::chatops::result(alias.as_ref(), &view) else {
        return Ok(());
    };
    match &chat.route {
        ChatRoute::Stream { route } => {
            let mut payload = Map::new();
            payload.insert("message".into(), json!(message));
            payload.insert("user".into(), json!(chat.chat_user));
            payload.insert("channel".into(), json!(chat.source_channel));
            payload.insert("whisper".into(), json!(false));
            payload.insert("extra".into(), extra.unwrap_or_else(|| json!({})));
            payload.insert("context".into(), chat.source_context.clone());
            state.engine().ingest().announce_to_chat(route, Value::Object(payload));
            Ok(())
        }
        ChatRoute::Reply { platform, url } => {
            let body = match platform.as_str() {
                "slack" => json!({"response_type": "in_channel", "text": message}),
                _ => json!({"text": message, "channel": chat.source_channel}),
            };
            let action = state
                .chat_config()
                .map_or_else(|| "http.request".to_owned(), |c| c.reply_action.clone());
            let parameters = json!({
                "method": "POST",
                "url": url,
                "headers": {"content-type": "application/json"},
                "body": body.to_string(),
            });
            let parameters = parameters.as_object().cloned().unwrap_or_default();
            state
                .engine()
                .request_by(&action, parameters, Some(format!("chatops ({platform})")))
                .await
                .map(drop)
                .map_err(|e| format!("the reply action {action}: {e}"))
        }
    }
}

/// The alias `reference`, if it still loads.
fn alias_of(state: &ApiState, reference: &str) -> Option<ActionAlias> {
    let record = state.engine().store().read().ok()?.alias(reference).ok()??;
    ActionAlias::from_yaml(&record.source, &format!("alias {reference}"), None).ok()
}
