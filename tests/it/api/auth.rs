//! API keys: every route but health and signing in refuses a request
//! without a live key or token; keys are shown once, listed without key or
//! hash, and a revoked key stops working with the next request;
//! StackStorm's header and query parameter work too, and the key never
//! reaches a payload.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::openapi::{concrete, document, operations};
use super::{Api, HELLO_RULE, json_body, text_body};

#[tokio::test]
async fn every_route_but_health_and_sign_in_refuses_a_request_without_a_live_key() {
    let api = Api::start().await;
    let doc = document(&api).await;
    let routes = operations(&doc);
    assert!(routes.len() >= 30, "only {} routes documented", routes.len());
    for (method, path, _) in routes {
        let uri = concrete(&path);
        let without = Request::builder().method(method.clone()).uri(&uri).body(Body::empty());
        let wrong = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::AUTHORIZATION, "Bearer sq_0000")
            .body(Body::empty());
        let response = api.send(without.expect("request")).await;
        if path == "/api/v1/health" {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(json_body(response).await, json!({"status": "ok"}));
            continue;
        }
        if path == "/" || path == "/ui/{path}" {
            // The web UI's static files: no credentials needed.
            assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
            assert!(
                response.headers()[header::CONTENT_TYPE]
                    .to_str()
                    .is_ok_and(|t| t.starts_with("text/html"))
            );
            continue;
        }
        if path.starts_with("/api/v1/chatops/") {
            // A platform's signature is the credential; not set up: 404.
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            continue;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body = json_body(response).await;
        if path == "/auth/v1/tokens" {
            // Signing in asks for a password, not a key.
            assert!(body["error"].as_str().is_some_and(|e| e.contains("Basic")), "{body}");
            continue;
        }
        assert_eq!(
            body["error"],
            "missing credentials: send an API key (`St2-Api-Key: KEY` or `Authorization: Bearer KEY`) or a token (`X-Auth-Token`)",
            "{method} {path}"
        );
        let response = api.send(wrong.expect("request")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(
            json_body(response).await["error"],
            "unknown, expired or revoked API key or token"
        );
    }
    // As in StackStorm, a key in the query counts on every route.
    let uri = format!("/api/v1/packs?st2-api-key={}", api.key);
    let response = api.send(Request::get(uri).body(Body::empty()).expect("request")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_key_is_shown_once_listed_without_secrets_and_stops_working_once_revoked() {
    let api = Api::start().await;
    let (status, created) =
        api.call(Method::POST, "/api/v1/apikeys", Some(json!({"name": "ci"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().expect("key").to_owned();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["name"], "ci");
    assert!(key.starts_with("sq_") && key.len() == 3 + 64, "{key}");
    assert!(key[3..].chars().all(|c| c.is_ascii_hexdigit()), "{key}");

    let with_key = |key: &str| {
        Request::get("/api/v1/packs")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .expect("request")
    };
    assert_eq!(api.send(with_key(&key)).await.status(), StatusCode::OK);

    let listing = api.authed(Method::GET, "/api/v1/apikeys").body(Body::empty());
    let text = text_body(api.send(listing.expect("request")).await).await;
    let hash = hex(&Sha256::digest(key.as_bytes()));
    assert!(!text.contains(&key) && !text.contains(&hash), "{text}");
    let keys: Value = serde_json::from_str(&text).expect("JSON");
    let names: Vec<&str> =
        keys.as_array().expect("list").iter().map(|k| k["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["admin", "ci"]);
    for listed in keys.as_array().expect("list") {
        let mut fields: Vec<&String> = listed.as_object().expect("object").keys().collect();
        fields.sort();
        assert_eq!(fields, ["created_at", "id", "name", "revoked_at", "user", "webhooks"]);
    }

    let (status, body) = api.call(Method::DELETE, &format!("/api/v1/apikeys/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let response = api.send(with_key(&key)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_body(response).await["error"], "unknown, expired or revoked API key or token");
    // Others are unaffected; the listing shows when it was revoked.
    let keys = api.get("/api/v1/apikeys").await;
    assert!(keys[0]["revoked_at"].is_null());
    assert!(keys[1]["revoked_at"].is_string(), "{keys}");

    let (status, _) = api
        .call(Method::DELETE, "/api/v1/apikeys/0197aaaa-0000-7000-8000-000000000000", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) =
        api.call(Method::POST, "/api/v1/apikeys", Some(json!({"name": " "}))).await;
    assert_eq!(
        (status, &body["detail"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!({"field": "name"}))
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn st2_header_and_webhook_query_keys_work_and_never_reach_a_payload() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let st2 = Request::get("/api/v1/packs").header("St2-Api-Key", &api.key).body(Body::empty());
    assert_eq!(api.send(st2.expect("request")).await.status(), StatusCode::OK);

    let hook = |uri: String, auth: Option<(&str, String)>| {
        let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some((name, value)) = auth {
            request = request.header(name, value);
        }
        request.body(Body::from(r#"{"name": "ops"}"#)).expect("request")
    };
    let attempts = [
        hook(format!("/api/v1/webhooks/hello?st2-api-key={}", api.key), None),
        hook(format!("/api/v1/webhooks/hello?api_key={}&x=1", api.key), None),
        hook(
            "/api/v1/webhooks/hello".into(),
            Some(("authorization", format!("Bearer {}", api.key))),
        ),
        hook("/api/v1/webhooks/hello".into(), Some(("st2-api-key", api.key.clone()))),
    ];
    for request in attempts {
        let response = api.send(request).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body = json_body(response).await;
        let id = body["trigger_instances"][0].as_str().expect("instance id");
        let instance = api.get(&format!("/api/v1/triggerinstances/{id}")).await;
        assert_eq!(instance["payload"]["body"], json!({"name": "ops"}));
        assert!(!instance.to_string().contains(&api.key), "key leaked: {instance}");
    }

    // A pack sensor sees the query without the key.
    let request = Request::post(format!("/api/v1/webhooks/hostile?env=prod&api_key={}", api.key))
        .header("X-Signature", "sha256=abc")
        .body(Body::from("payload"))
        .expect("request");
    let response = api.send(request).await;
    let status = response.status();
    let headers = response.headers().clone();
    let text = text_body(response).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(headers["x-events"], "1");
    assert_eq!(text, "queued");
    let instances =
        api.get("/api/v1/triggerinstances?trigger=hostile.hook&include_attributes=payload").await;
    assert_eq!(instances[0]["payload"]["query"], "env=prod");
    assert_eq!(instances[0]["payload"]["path"], "/api/v1/webhooks/hostile");
    assert_eq!(instances[0]["payload"]["signature"], "sha256=abc");
}
