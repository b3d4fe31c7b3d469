//! Actions that misbehave, so tests can prove the sandbox contains them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::{Value, json};
use squall_sdk::{
    Context, Error, Event, Poll, Result, WebhookRequest, WebhookResponse, WebhookResult, kv, log,
};

/// Never returns: only the epoch deadline can stop it.
fn spin(_: Value, _: &Context) -> Result<Value> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks until something stops it.
fn bomb(_: Value, _: &Context) -> Result<Value> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![0xA5; 1 << 20]));
    }
}

#[derive(Deserialize)]
struct Flood {
    mebibytes: usize,
}

/// Returns a string of the given size.
fn flood(params: Flood, _: &Context) -> Result<String> {
    Ok("x".repeat(params.mebibytes << 20))
}

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Counts calls in a global: a fresh sandbox always answers 1.
fn counter(_: Value, _: &Context) -> Result<Value> {
    let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(json!({ "calls": calls }))
}

/// Writes `lines` log lines of `bytes` bytes each, then sleeps `sleep_ms`
/// milliseconds (none without it), then fails if `fail`.
fn chatter(params: Value, _: &Context) -> Result<Value> {
    let lines = params["lines"].as_u64().unwrap_or(1);
    let bytes = params["bytes"].as_u64().unwrap_or(8) as usize;
    for i in 0..lines {
        let mut line = format!("line {i} ");
        line.extend(std::iter::repeat_n('.', bytes.saturating_sub(line.len())));
        log::info(&line);
    }
    if let Some(ms) = params["sleep_ms"].as_u64() {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    if params["fail"].as_bool() == Some(true) {
        return Err(Error::failed("gave up after logging"));
    }
    Ok(json!({ "written": lines }))
}

/// Panics: the host must report a crash, not fall over.
fn panic(_: Value, _: &Context) -> Result<Value> {
    panic!("the guest panicked on purpose")
}

/// Tries every capability that is denied by default and reports what each
/// answered.
fn reach(_: Value, _: &Context) -> Result<Value> {
    let secret = squall_sdk::secrets::get("db-password").map_err(|e| e.to_string());
    let command = squall_sdk::exec::Command {
        program: "rm".into(),
        args: vec!["-rf".into(), "/".into()],
        stdin: None,
        timeout_ms: None,
    };
    let exec = squall_sdk::exec::run(&command).map(|o| o.status).map_err(|e| e.to_string());
    let file = std::fs::read_to_string("/etc/passwd").map_err(|e| e.kind().to_string());
    let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
    let socket = std::net::TcpStream::connect("127.0.0.1:9").map_err(|e| e.kind().to_string());
    Ok(json!({
        "secret": secret,
        "exec": exec,
        "file": file.map(|_| "read"),
        "env": env,
        "socket": socket.map(|_| "connected"),
        "http": outbound_http(),
    }))
}

/// Sends `GET https://example.com/` through `wasi:http` and reports the
/// outcome.
fn outbound_http() -> std::result::Result<u16, String> {
    use squall_sdk::__bindings::wasi::http::outgoing_handler::handle;
    use squall_sdk::__bindings::wasi::http::types::{Fields, OutgoingRequest, Scheme};

    let request = OutgoingRequest::new(Fields::new());
    request.set_scheme(Some(&Scheme::Https)).map_err(|()| "scheme")?;
    request.set_authority(Some("example.com")).map_err(|()| "authority")?;
    request.set_path_with_query(Some("/")).map_err(|()| "path")?;
    let pending = handle(request, None).map_err(|code| format!("{code:?}"))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response.status()),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        other => Err(format!("unexpected: {other:?}")),
    }
}

#[derive(Deserialize)]
struct KvRoundTrip {
    key: String,
    value: String,
}

/// Writes, reads back, lists and deletes a key.
fn kv_round_trip(params: KvRoundTrip, _: &Context) -> Result<Value> {
    let before = kv::get(&params.key)?;
    kv::set(&params.key, &params.value, None)?;
    let after = kv::get(&params.key)?;
    let listed = kv::list_keys("")?;
    Ok(json!({ "before": before, "after": after, "listed": listed }))
}

/// Returns the pack config and the execution context it was called with.
fn whoami(_: Value, ctx: &Context) -> Result<Value> {
    let config: Value = squall_sdk::config::get()?;
    Ok(json!({
        "config": config,
        "execution_id": ctx.execution_id,
        "pack": ctx.pack,
        "attempt": ctx.attempt,
    }))
}

/// Fails with a message of `kibibytes` KiB.
fn rant(params: Value, _: &Context) -> Result<Value> {
    let kibibytes = params["kibibytes"].as_u64().unwrap_or(1) as usize;
    Err(Error::failed("é".repeat(kibibytes << 9)))
}

/// Reports a timeout of its own making.
fn give_up(_: Value, _: &Context) -> Result<Value> {
    Err(Error::Timeout("upstream did not answer in 3s".into()))
}

#[derive(Deserialize)]
struct Ticks {
    batch: u64,
}

/// Emits `batch` numbered `hostile.tick` events after the cursor and moves
/// the cursor past them.
fn ticks(config: Ticks, cursor: Option<String>) -> Result<Poll> {
    let start: u64 = match cursor {
        None => 0,
        Some(text) => text
            .parse()
            .map_err(|_| Error::invalid_input(format!("cursor `{text}` is not a number")))?,
    };
    let events = (start + 1..=start + config.batch)
        .map(|n| Event::new("hostile.tick", &json!({ "n": n })))
        .collect::<Result<Vec<_>>>()?;
    Ok(Poll { events, cursor: Some((start + config.batch).to_string()) })
}

/// Emits an event whose payload is not JSON.
fn junk(_: Value, _: Option<String>) -> Result<Poll> {
    Ok(Poll {
        events: vec![Event { trigger: "hostile.junk".into(), payload: "{not json".into() }],
        cursor: None,
    })
}

/// Turns any request into one `hostile.hook` event and answers 202; with
/// `spin` in the query it never returns, like `spin`.
fn hook(request: WebhookRequest) -> Result<WebhookResult> {
    if request.query.split('&').any(|pair| pair == "spin") {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    let body = String::from_utf8(request.body.clone())
        .map_err(|_| Error::invalid_input("body is not UTF-8"))?;
    let event = Event::new(
        "hostile.hook",
        &json!({
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "signature": request.header("X-Signature"),
            "body": body,
        }),
    )?;
    let response = WebhookResponse {
        status: 202,
        headers: vec![("x-events".into(), "1".into())],
        body: b"queued".to_vec(),
    };
    Ok(WebhookResult { events: vec![event], response })
}

/// Turns a request into one event of the trigger type its query names
/// (`?trigger=pack.Name`) with the JSON body as payload: for
/// `tests/it/st2_names.rs`, whose trigger type's name has capitals and
/// dots, as StackStorm allows.
fn relay(request: WebhookRequest) -> Result<WebhookResult> {
    let trigger = request
        .query
        .split('&')
        .find_map(|pair| pair.strip_prefix("trigger="))
        .ok_or_else(|| Error::invalid_input("expected ?trigger=NAME"))?;
    let payload: Value = serde_json::from_slice(&request.body)
        .map_err(|e| Error::invalid_input(format!("body: {e}")))?;
    let event = Event::new(trigger, &payload)?;
    let response = WebhookResponse { status: 202, headers: Vec::new(), body: b"relayed".to_vec() };
    Ok(WebhookResult { events: vec![event], response })
}

squall_sdk::export_pack! {
    actions: {
        "spin" => spin,
        "bomb" => bomb,
        "flood" => flood,
        "counter" => counter,
        "chatter" => chatter,
        "panic" => panic,
        "reach" => reach,
        "kv" => kv_round_trip,
        "whoami" => whoami,
        "give-up" => give_up,
        "rant" => rant,
        // A name as StackStorm writes them: dots, capitals, a dash.
        "ops.Count-calls" => counter,
    },
    sensors: {
        "ticks" => ticks,
        "junk" => junk,
    },
    webhooks: {
        "hook" => hook,
        "Relay.In" => relay,
    },
}
