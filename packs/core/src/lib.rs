//! The core pack: the building blocks every Squall installation has.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use squall_sdk::{Context, Error, Result};

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Echo {
    message: String,
}

/// Returns its `message` unchanged.
fn echo(params: Echo, _ctx: &Context) -> Result<Echo> {
    Ok(params)
}

/// Does nothing and returns `null`; useful as a workflow placeholder.
fn noop(_params: Value, _ctx: &Context) -> Result<Value> {
    Ok(Value::Null)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fail {
    #[serde(default = "default_failure")]
    message: String,
}

fn default_failure() -> String {
    "core.fail was asked to fail".to_owned()
}

/// Always fails with the given `message`.
fn fail(params: Fail, _ctx: &Context) -> Result<Value> {
    Err(Error::Failed(params.message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sleep {
    seconds: f64,
}

#[derive(Serialize)]
struct Slept {
    slept_seconds: f64,
}

/// Sleeps `seconds` (fractions allowed), then reports how long it slept.
fn sleep(params: Sleep, _ctx: &Context) -> Result<Slept> {
    let duration = Duration::try_from_secs_f64(params.seconds).map_err(|_| {
        Error::InvalidInput(format!(
            "parameter `seconds`: expected a non-negative number, got {}",
            params.seconds
        ))
    })?;
    std::thread::sleep(duration);
    Ok(Slept { slept_seconds: params.seconds })
}

squall_sdk::export_pack! {
    actions: {
        "echo" => echo,
        "noop" => noop,
        "fail" => fail,
        "sleep" => sleep,
    },
}
