//! The chat platforms' endpoints through the router: Slack slash commands
//! and Mattermost outgoing webhooks, signed and badly signed, the command
//! run as the mapped user, and the result posted to a local stand-in for
//! the platform's reply address by the sandboxed `http.request` action.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use squall::api::AccessPolicy;
use squall::chatops::ChatConfig;
use squall::pack::Manifest;
use squall::runtime::{Grants, OutboundHost};
use squall_tests::HTTP_PACK;

use super::{Api, json_body};

const SAY: &str = "name: say\npack: chatops\naction_ref: core.echo\nformats: ['say {{message}}']\n\
ack: {format: 'saying {{ execution.parameters.message }}'}\nresult: {format: 'said {{ execution.result.message }}'}\n";

/// A stand-in for a platform's reply address: records each POST body.
async fn reply_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |body: Bytes| {
        let record = record.clone();
        async move {
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            record.lock().expect("lock").push(body);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A server with the http pack granted `reply`'s host, the chat settings,
/// users `alice` (admin) and `eve` (observer), and the `say` alias.
async fn server(reply: &str) -> Api {
    let grant = reply.to_owned();
    let api = Api::start_with_packs(AccessPolicy::default(), move |runtime, actions| {
        let manifest_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../packs/http/pack.toml");
        let manifest = Manifest::load(Path::new(manifest_path)).expect("http manifest");
        let grants = Grants {
            outbound_hosts: vec![OutboundHost::parse(&grant).expect("grant")],
            ..Grants::default()
        };
        let wasm = std::fs::read(HTTP_PACK).expect("http pack");
        let component = runtime
            .runtime
            .load_bytes_granted(Path::new(HTTP_PACK), &wasm, "http", grants)
            .expect("http loads");
        actions.add_pack(&manifest, Arc::new(component)).expect("http actions");
        vec![manifest]
    })
    .await;
    let settings = format!(
        "users: {{U_ALICE: alice, eve: eve}}\nslack: {{signing_secret: sl4ck}}\n\
         mattermost: {{token: mm-t0ken, incoming_webhook: '{reply}/hooks/in'}}\n"
    );
    api.state.set_chat_config(ChatConfig::from_yaml(&settings, "chatops.yaml").expect("settings"));
    super::add_user(api.engine.store(), "alice", &["admin"], None).await;
    super::add_user(api.engine.store(), "eve", &["observer"], None).await;
    let (status, body) = api.call(Method::POST, "/api/v1/actionalias", Some(json!(SAY))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api
}

fn slack_request(secret: &str, timestamp: i64, body: &str) -> Request<Body> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    Request::post("/api/v1/chatops/slack")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp.to_string())
        .header("x-slack-signature", signature)
        .body(Body::from(body.to_owned()))
        .expect("request")
}

/// Waits until `seen` holds `count` bodies.
async fn replies(seen: &Arc<Mutex<Vec<Value>>>, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = seen.lock().expect("lock").clone();
        if now.len() >= count || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_actions(api: &Api) -> Vec<String> {
    let audit = api.get("/api/v1/audit?limit=100").await;
    audit
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn slack_commands_are_verified_run_as_the_mapped_user_and_answered_through_the_reply_url() {
    let (reply, seen) = reply_server().await;
    let api = server(&reply).await;
    let now = jiff::Timestamp::now().as_second();
    let form = format!(
        "command=%2Fsquall&text=say+hello&user_id=U_ALICE&user_name=alice&channel_id=C1&channel_name=ops&response_url={}",
        urlencode(&format!("{reply}/slack/response"))
    );
    // Signed with another secret, signed too long ago, not signed: 401, nothing runs.
    for request in [
        slack_request("wrong", now, &form),
        slack_request("sl4ck", now - 600, &form),
        Request::post("/api/v1/chatops/slack").body(Body::from(form.clone())).expect("request"),
    ] {
        let response = api.send(request).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let none = api.get("/api/v1/executions?action=core.echo").await;
    assert_eq!(none, json!([]), "a badly signed command ran something");
    assert!(audit_actions(&api).await.iter().filter(|a| *a == "auth.failed").count() >= 3);

    let response = api.send(slack_request("sl4ck", now, &form)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer = json_body(response).await;
    assert_eq!(answer, json!({"text": "saying hello", "response_type": "in_channel"}));
    let [posted] = &replies(&seen, 1).await[..] else { panic!("one reply: {:?}", seen) };
    assert_eq!(posted, &json!({"response_type": "in_channel", "text": "said hello"}));
    let runs = api.get("/api/v1/executions?action=core.echo").await;
    assert_eq!(runs[0]["context"]["user"], "alice", "{runs}");
    assert_eq!(runs[0]["context"]["api_user"], "U_ALICE");
    assert_eq!(runs[0]["context"]["source_channel"], "ops");
    // The reply went out through the sandboxed action, not the host.
    let posts = api.get("/api/v1/executions?action=http.request").await;
    assert_eq!(posts[0]["status"], "succeeded", "{posts}");
    assert!(audit_actions(&api).await.contains(&"alias.execute".to_owned()));
}

#[tokio::test]
async fn mattermost_tokens_are_checked_and_unmapped_or_unpermitted_users_are_refused_in_the_channel()
 {
    let (reply, seen) = reply_server().await;
    let api = server(&reply).await;
    let hook = |token: &str, user: &str, text: &str| {
        let body = json!({"token": token, "text": text, "user_name": user,
            "channel_name": "town-square", "trigger_word": "squall"});
        Request::post("/api/v1/chatops/mattermost")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let response = api.send(hook("not-the-token", "alice", "squall say hi")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Mapped but only an observer: refused, in the channel, and audited.
    let response = api.send(hook("mm-t0ken", "eve", "squall say hi")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = json_body(response).await["text"].as_str().unwrap_or_default().to_owned();
    assert!(
        text.starts_with("Sorry: user `eve` lacks the permission `action_alias_execute`"),
        "{text}"
    );
    // Not mapped at all (no default user): refused.
    let response = api.send(hook("mm-t0ken", "mallory", "squall say hi")).await;
    let text = json_body(response).await["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.contains("chat user `mallory` is not mapped to a Squall user"), "{text}");
    assert_eq!(api.get("/api/v1/executions?action=core.echo").await, json!([]));
    assert_eq!(audit_actions(&api).await.iter().filter(|a| *a == "alias.refused").count(), 2);
    // Mapped through `users:` (alice is mapped only by Slack id; eve by name).
    let settings_user = api.send(hook("mm-t0ken", "U_ALICE", "squall say hi there")).await;
    assert_eq!(json_body(settings_user).await, json!({"text": "saying hi there"}));
    let [posted] = &replies(&seen, 1).await[..] else { panic!("one reply: {:?}", seen) };
    assert_eq!(posted, &json!({"text": "said hi there", "channel": "town-square"}));
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
