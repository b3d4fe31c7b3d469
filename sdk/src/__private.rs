//! Glue used by [`export_pack!`](crate::export_pack); not a stable API.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__bindings::exports::squall::pack::sensor as wit_sensor;
use crate::{Context, Error, Poll, Result, WebhookRequest, WebhookResult};

pub use crate::__bindings::exports::squall::pack::action::Guest as ActionGuest;
pub use crate::__bindings::exports::squall::pack::sensor::Guest as SensorGuest;
pub use crate::__bindings::squall::pack::types::{Context as WitContext, Error as WitError};
pub use wit_sensor::{
    PollResult as WitPollResult, WebhookRequest as WitWebhookRequest,
    WebhookResult as WitWebhookResult,
};

pub fn context(context: WitContext) -> Context {
    Context { execution_id: context.execution_id, pack: context.pack, attempt: context.attempt }
}

pub fn unknown(kind: &str, name: &str) -> Error {
    Error::InvalidInput(format!("this pack has no {kind} named `{name}`"))
}

pub fn run_action<P, O>(
    action: impl FnOnce(P, &Context) -> Result<O>,
    params: &str,
    context: &Context,
) -> Result<String>
where
    P: DeserializeOwned,
    O: Serialize,
{
    let params = serde_json::from_str(params)
        .map_err(|e| Error::InvalidInput(format!("parameters: {e}")))?;
    let output = action(params, context)?;
    serde_json::to_string(&output).map_err(|e| Error::Failed(format!("output: {e}")))
}

pub fn run_poll<C>(
    sensor: impl FnOnce(C, Option<String>) -> Result<Poll>,
    config: &str,
    cursor: Option<String>,
) -> Result<WitPollResult>
where
    C: DeserializeOwned,
{
    let config = serde_json::from_str(config)
        .map_err(|e| Error::InvalidInput(format!("sensor config: {e}")))?;
    let poll = sensor(config, cursor)?;
    Ok(WitPollResult { events: poll.events.into_iter().map(event).collect(), cursor: poll.cursor })
}

pub fn run_webhook(
    handler: impl FnOnce(WebhookRequest) -> Result<WebhookResult>,
    request: WitWebhookRequest,
) -> Result<WitWebhookResult> {
    let request = WebhookRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
    };
    let result = handler(request)?;
    Ok(WitWebhookResult {
        events: result.events.into_iter().map(event).collect(),
        response: wit_sensor::WebhookResponse {
            status: result.response.status,
            headers: result.response.headers,
            body: result.response.body,
        },
    })
}

fn event(event: crate::Event) -> wit_sensor::Event {
    wit_sensor::Event { trigger: event.trigger, payload: event.payload }
}
