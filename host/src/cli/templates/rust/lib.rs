//! The __NAME__ pack: the action `hello` and the poll sensor `ticker`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use squall_sdk::{Context, Event, Poll, Result};

#[derive(Debug, Deserialize)]
struct Hello {
    name: String,
}

#[derive(Debug, Serialize)]
struct Greeting {
    message: String,
}

/// The action: the host has already checked the parameters against the
/// schema in pack.toml (and filled in the default name).
fn hello(params: Hello, _ctx: &Context) -> Result<Greeting> {
    squall_sdk::log::info(&format!("greeting {}", params.name));
    Ok(Greeting { message: greeting(&params.name) })
}

fn greeting(name: &str) -> String {
    format!("hello, {name}")
}

/// The sensor: one tick per poll, numbered from the cursor the host kept.
fn ticker(_config: serde_json::Value, cursor: Option<String>) -> Result<Poll> {
    let n = cursor.and_then(|c| c.parse::<u64>().ok()).unwrap_or(0) + 1;
    Ok(Poll {
        events: vec![Event::new("__NAME__.tick", &json!({ "n": n }))?],
        cursor: Some(n.to_string()),
    })
}

squall_sdk::export_pack! {
    actions: { "hello" => hello },
    sensors: { "ticker" => ticker },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name() {
        assert_eq!(greeting("ops"), "hello, ops");
    }

    #[test]
    fn ticks_count_on_from_the_cursor() {
        let poll = ticker(json!({}), Some("41".into())).expect("poll");
        assert_eq!(poll.cursor.as_deref(), Some("42"));
        assert_eq!(poll.events.len(), 1);
    }
}
