//! The datastore's parameters: a scope given in the query of a `PUT` is
//! used (it was ignored and the key written to `system`), an empty or
//! malformed one is a 400 naming `scope`; key names are printable (no
//! control characters, no whitespace but the space, no bidirectional
//! controls: 422 naming the rule); a JSON body in a charset other than
//! UTF-8 is 415 naming the charset.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use super::{Api, error, timed};

#[tokio::test]
async fn a_scope_in_the_query_is_used_and_a_bad_one_is_400() {
    let api = Api::start().await;
    let value = json!({"value": "7"});
    let (status, body) =
        api.call(Method::PUT, "/api/v1/keys/days?scope=pack:core", Some(value.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "pack:core");
    assert_eq!(api.get("/api/v1/keys/days?scope=pack:core").await["value"], "7");
    let (status, _) = api.call(Method::GET, "/api/v1/keys/days", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "written to system after all");

    for query in
        ["scope=", "scope=pack:", "scope=global", "scope=pack:Not-A-Pack", "scope=pack:a%0Ab"]
    {
        let path = format!("/api/v1/keys/days?{query}");
        let (status, body) = api.call(Method::PUT, &path, Some(value.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(error(&body).starts_with("scope: expected `system` or `pack:NAME`"), "{body}");
        assert_eq!(body["detail"], json!({"parameter": "scope"}));
        let (status, _) = api.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "GET {query}");
    }
    let both = json!({"value": "7", "scope": "system"});
    let (status, body) =
        api.call(Method::PUT, "/api/v1/keys/days?scope=pack:core", Some(both)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error(&body), "scope: the query says `pack:core` and the body `system`; give one");
    let same = json!({"value": "8", "scope": "pack:core"});
    let (status, _) = api.call(Method::PUT, "/api/v1/keys/days?scope=pack:core", Some(same)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn key_names_are_printable() {
    let api = Api::start().await;
    let stored = api.stored();
    let value = json!({"value": "v"});
    for (encoded, found) in [
        ("a%0Ab", "U+000A at byte 1 is a control character"),
        ("a%0Db", "U+000D at byte 1 is a control character"),
        ("tab%09", "U+0009 at byte 3 is a control character"),
        ("nul%00", "invalid key: expected 1 to 512 bytes without NUL"),
        ("evil%E2%80%AEtxt.exe", "U+202E at byte 4 is a bidirectional control"),
        ("iso%E2%81%A6x", "U+2066 at byte 3 is a bidirectional control"),
        ("line%E2%80%A8sep", "U+2028 at byte 4 is a separator"),
        ("nb%C2%A0sp", "U+00A0 at byte 2 is a separator"),
    ] {
        let (status, body) =
            api.call(Method::PUT, &format!("/api/v1/keys/{encoded}"), Some(value.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{encoded}: {body}");
        assert_eq!(body["detail"], json!({"field": "key"}), "{encoded}");
        assert!(error(&body).contains(found), "{encoded}: {body}");
    }
    assert_eq!(api.stored(), stored, "a refused key was stored");
    let (status, body) =
        api.call(Method::PUT, "/api/v1/keys/rule%20count%20%E2%9C%93", Some(value)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "rule count ✓");
    let (status, body) = api
        .call(Method::PUT, "/api/v1/keys/x%0Ay", Some(json!({"value": "v", "secret": true})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a secret too: {body}");
    assert!(error(&body).contains("names are limited to printable characters"), "{body}");
}

#[tokio::test]
async fn a_json_body_in_another_charset_is_415_naming_it() {
    let api = Api::start().await;
    let stored = api.stored();
    let utf16: Vec<u8> = r#"{"value": "v"}"#.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (content_type, body) in [
        ("application/json; charset=utf-16", utf16.clone()),
        ("application/json;charset=\"UTF-16LE\"", utf16),
        ("application/json; charset=iso-8859-1", br#"{"value": "v"}"#.to_vec()),
    ] {
        let request = api
            .authed(Method::PUT, "/api/v1/keys/k")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        let (status, answer, _) = timed(&api, request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}: {answer}");
        let charset = answer["detail"]["charset"].as_str().expect("the charset named");
        assert!(
            error(&answer).starts_with(&format!("charset `{charset}` is not supported")),
            "{answer}"
        );
        assert!(content_type.to_ascii_lowercase().contains(charset), "{content_type}: {charset}");
    }
    for content_type in ["application/yaml; charset=utf-16", "application/json; charset=latin1"] {
        let request = api
            .authed(Method::POST, "/api/v1/rules")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from("name: r"))
            .expect("request");
        let (status, answer, _) = timed(&api, request).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "rule, {content_type}: {answer}");
    }
    // Signing in reads its body itself; the same rule holds.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/v1/tokens")
        .header(header::CONTENT_TYPE, "application/json; charset=utf-16")
        .body(Body::from(r#"{"ttl": 60}"#))
        .expect("request");
    let (status, answer, _) = timed(&api, request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "sign-in: {answer}");
    assert_eq!(answer["detail"]["charset"], "utf-16");
    assert_eq!(api.stored(), stored);
    for content_type in ["application/json; charset=utf-8", "application/json;charset=UTF-8"] {
        let request = api
            .authed(Method::PUT, "/api/v1/keys/k")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(r#"{"value": "v"}"#))
            .expect("request");
        let (status, answer, _) = timed(&api, request).await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {answer}");
    }
}
