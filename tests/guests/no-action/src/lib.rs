//! A component built for the `sensor-pack` world: it has no `action`
//! export, and running an action on it must say so.

wit_bindgen::generate!({
    world: "sensor-pack",
    path: "../../../sdk/wit",
    generate_all,
});

use exports::squall::pack::sensor::{Guest, PollResult, WebhookRequest, WebhookResult};
use squall::pack::types::Error;

struct NoAction;

impl Guest for NoAction {
    fn poll(_name: String, _config: String, cursor: Option<String>) -> Result<PollResult, Error> {
        Ok(PollResult { events: Vec::new(), cursor })
    }

    fn on_webhook(_name: String, _request: WebhookRequest) -> Result<WebhookResult, Error> {
        Err(Error::InvalidInput("no webhooks here".into()))
    }
}

export!(NoAction);
