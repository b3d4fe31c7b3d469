//! The `web` fixture, a StackStorm pack whose actions call an HTTP service
//! with `requests` (and one with `urllib.request`), imported with its
//! requirements fetched from PyPI, built, signed and installed on a live
//! server granted one loopback host: its actions reach a stub service on
//! 127.0.0.1 through Squall's outbound HTTP and answer what StackStorm's
//! Python runner records; a host not granted fails the action with the
//! denial, which is in the audit log; the action importing a native-only
//! package was not converted.

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::build::{build_fixture, run, start};

/// The service the actions call: `/v1/old` redirects to `/v1/status`,
/// which answers JSON with the token it was sent; `/v1/items` echoes what
/// is posted (201); `/v1/missing` is 404; `/text` is plain text.
async fn stub_service() -> String {
    let app = axum::Router::new()
        .route("/v1/old", get(|| async { Redirect::to("/v1/status") }))
        .route(
            "/v1/status",
            get(|headers: HeaderMap| async move {
                let token = headers.get("x-token").and_then(|v| v.to_str().ok()).map(String::from);
                Json(json!({"healthy": true, "token": token}))
            }),
        )
        .route(
            "/v1/items",
            post(|headers: HeaderMap, Json(item): Json<Value>| async move {
                let client =
                    headers.get("x-client").and_then(|v| v.to_str().ok()).map(String::from);
                (StatusCode::CREATED, Json(json!({"item": item, "client": client})))
            }),
        )
        .route("/v1/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/text",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/plain")], "plain words").into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listener");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(axum::serve(listener, app).into_future());
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_pack_using_requests_reaches_granted_hosts_only() {
    let built = tokio::task::spawn_blocking(|| build_fixture("web", "web_demo-0.3.0.wasm"))
        .await
        .expect("the build thread");
    // requests and its dependencies were fetched into the pack; the
    // config's default URL is asked for as an outbound host.
    assert!(built.pack.join("vendor/requests/__init__.py").is_file());
    let manifest = std::fs::read_to_string(built.pack.join("pack.toml")).expect("pack.toml");
    assert!(manifest.contains("\noutbound_hosts = [\"https://api.example.com\"]\n"), "{manifest}");

    let service = stub_service().await;
    let server = start(&built).await;
    let bundle = built.bundle.to_str().expect("utf-8");
    let grant = format!("http={service}");
    let installed = server.cli(&["pack", "install", bundle, "--grant", &grant]).await;
    assert!(installed.ok().starts_with("installed web_demo 0.3.0"), "{}", installed.stdout);

    // requests.get, with its headers, following the redirect as requests
    // does; the result is StackStorm's Python runner's.
    let base = format!("base_url={service}/v1");
    let (code, execution) = run(&server, "web_demo.get_status", &["path=/old", &base]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(
        execution["result"],
        json!({
            "stdout": "GET /old: 200\n",
            "stderr": "",
            "exit_code": 0,
            "result": {
                "status": 200,
                "url": format!("{service}/v1/status"),
                "redirects": [303],
                "content_type": "application/json",
                "body": {"healthy": true, "token": "t0k"},
            },
        })
    );

    // A Session's headers and json=, a tuple timeout, raise_for_status.
    let (code, execution) =
        run(&server, "web_demo.post_item", &[&base, r#"item={"name": "disk", "size": 3}"#]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(
        execution["result"]["result"],
        json!({
            "created": {"item": {"name": "disk", "size": 3}, "client": "st2"},
            "reason": "Created",
            "missing": format!("404 Client Error: Not Found for url: {service}/v1/missing"),
        })
    );

    // urllib.request from the standard library goes the same way.
    let url = format!("url={service}/text");
    let (code, execution) = run(&server, "web_demo.fetch_text", &[&url]).await;
    assert_eq!(code, 0, "{execution}");
    assert_eq!(execution["result"]["result"], json!({"status": 200, "text": "plain words"}));

    // A host that was not granted (the config's default, asked for but
    // not granted here): requests raises ConnectionError naming it, the
    // execution fails with it, and the audit log has the denial.
    let (code, execution) =
        run(&server, "web_demo.get_status", &["base_url=https://api.example.com/v1"]).await;
    assert_ne!(code, 0);
    assert_eq!(execution["status"], "failed", "{execution}");
    let error = execution["result"]["error"].as_str().expect("an error message");
    let failed: Value = serde_json::from_str(error).expect("the failed result as JSON");
    assert_eq!((&failed["exit_code"], &failed["result"]), (&json!(1), &json!("None")));
    let stderr = failed["stderr"].as_str().unwrap_or_default();
    assert!(
        stderr.contains(
            "requests.exceptions.ConnectionError: outbound HTTP to api.example.com \
             (https://api.example.com/v1/status) was not granted to this pack"
        ),
        "{stderr}"
    );
    let audit = server.cli(&["audit", "--action", "capability.denied", "--json"]).await.json();
    let denied = audit.as_array().expect("audit list").iter().any(|e| {
        e["actor"] == "pack:web_demo"
            && e["detail"]["capability"] == "http"
            && e.to_string().contains("api.example.com")
    });
    assert!(denied, "{audit}");
}
