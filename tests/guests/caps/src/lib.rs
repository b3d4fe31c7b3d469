//! One action per capability, each using it through `squall-sdk` and
//! returning what the host answered: an `Err` is the pack's error, so a
//! denial reaches the test as `denied`.

use serde::Deserialize;
use serde_json::{Value, json};
use squall_sdk::http::{Request, send};
use squall_sdk::{Context, Result, exec, kv, secrets};

#[derive(Deserialize)]
struct Fetch {
    url: String,
}

/// `GET url` through `wasi:http`: `{status, body}`.
fn fetch(params: Fetch, _: &Context) -> Result<Value> {
    let response = send(&Request::get(params.url))?;
    Ok(json!({ "status": response.status, "body": response.text()? }))
}

#[derive(Deserialize)]
struct Secret {
    name: String,
}

/// The secret `name`: `{value}`.
fn secret(params: Secret, _: &Context) -> Result<Value> {
    Ok(json!({ "value": secrets::get(&params.name)? }))
}

#[derive(Deserialize)]
struct Kv {
    key: String,
    value: String,
}

/// Sets `key` to `value`, then reads it back: `{value}`.
fn kv_set_get(params: Kv, _: &Context) -> Result<Value> {
    kv::set(&params.key, &params.value, None)?;
    Ok(json!({ "value": kv::get(&params.key)? }))
}

#[derive(Deserialize)]
struct Exec {
    program: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u32>,
}

/// Runs `program` with `args`: `{status, stdout, stderr}`.
fn run(params: Exec, _: &Context) -> Result<Value> {
    let output = exec::run(&exec::Command {
        program: params.program,
        args: params.args,
        stdin: params.stdin,
        timeout_ms: params.timeout_ms,
    })?;
    Ok(json!({ "status": output.status, "stdout": output.stdout, "stderr": output.stderr }))
}

squall_sdk::export_pack! {
    actions: {
        "fetch" => fetch,
        "secret" => secret,
        "kv" => kv_set_get,
        "exec" => run,
    },
}
