//! Bad input gets the right 4xx, in the one JSON error shape, with a
//! message naming what is wrong — and changes nothing stored.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{Api, HELLO_RULE, json_body};

/// POSTs `body` as it is, with `content_type`.
async fn post(
    api: &Api,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = api.authed(Method::POST, path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = api.send(request.body(Body::from(body)).expect("request")).await;
    let status = response.status();
    (status, json_body(response).await)
}

#[tokio::test]
async fn malformed_json_and_wrong_types_are_400_naming_the_problem_and_store_nothing() {
    let api = Api::start().await;
    let stored = api.stored();
    let cases: [(&str, &str); 5] = [
        (
            r#"{"action": "core.echo", "parameters": "#,
            "Failed to parse the request body as JSON: parameters: EOF while parsing a value at line 1 column 38",
        ),
        (
            r#"{"action": 5}"#,
            "Failed to deserialize the JSON body into the target type: action: invalid type: integer `5`, expected a string at line 1 column 12",
        ),
        (
            r#"{"action": "core.echo", "parameters": ["message"]}"#,
            "Failed to deserialize the JSON body into the target type: parameters: invalid type: sequence, expected a map at line 1 column 38",
        ),
        (
            r#"{"action": "core.echo", "parms": {}}"#,
            "Failed to deserialize the JSON body into the target type: parms: unknown field `parms`, expected one of `action`, `parameters`, `user` at line 1 column 31",
        ),
        (
            r#"{"parameters": {}}"#,
            "Failed to deserialize the JSON body into the target type: missing field `action` at line 1 column 18",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) =
            post(&api, "/api/v1/executions", Some("application/json"), body.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, json!({"error": message}), "{body}");
    }
    let (status, answer) =
        post(&api, "/api/v1/executions", None, br#"{"action": "core.echo"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("Content-Type")), "{answer}");
    let (status, answer) = api.call(Method::PUT, "/api/v1/keys/k", Some(json!({"value": 5}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("value: invalid type: integer `5`")),
        "{answer}"
    );
    let (status, answer) = api.call(Method::GET, "/api/v1/executions?limit=many", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("limit")), "{answer}");
    let (status, answer) = api.call(Method::GET, "/api/v1/executions/not-a-uuid", None).await;
    assert_eq!(
        (status, answer),
        (StatusCode::BAD_REQUEST, json!({"error": "execution id `not-a-uuid` is not a UUID"}))
    );

    assert_eq!(api.stored(), stored, "a refused request stored something");
    assert_eq!(api.get("/api/v1/executions").await, json!([]));
    assert_eq!(api.get("/api/v1/keys").await, json!([]));
}

#[tokio::test]
async fn an_unknown_action_or_parameters_that_do_not_fit_are_422_naming_the_field() {
    let api = Api::start().await;
    let stored = api.stored();
    let (status, answer) =
        api.call(Method::POST, "/api/v1/executions", Some(json!({"action": "core.ech"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer,
        json!({"error": "unknown action `core.ech`", "detail": {"field": "action"}})
    );
    let request = json!({"action": "core.echo", "parameters": {"message": 5}});
    let (status, answer) = api.call(Method::POST, "/api/v1/executions", Some(request)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer["detail"], json!({"field": "parameters"}));
    assert_eq!(
        answer["error"],
        r#"action core.echo: parameter `message`: 5 is not of type "string""#
    );
    let request = json!({"action": "core.echo", "parameters": {}});
    let (status, answer) = api.call(Method::POST, "/api/v1/executions", Some(request)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer["error"].as_str().is_some_and(|e| e.contains("\"message\" is a required property")),
        "{answer}"
    );
    assert_eq!(api.stored(), stored);
    assert_eq!(api.get("/api/v1/executions").await, json!([]));
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_webhooks_take_up_to_4_mib() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let stored = api.stored();
    let over = |size: usize| {
        let mut body = br#"{"action": "core.echo", "parameters": {"message": ""#.to_vec();
        body.resize(size, b'a');
        body.extend_from_slice(br#""}}"#);
        body
    };
    let (status, answer) = post(
        &api,
        "/api/v1/executions",
        Some("application/json"),
        over(squall::api::BODY_LIMIT + 1),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("length limit")), "{answer}");
    let (status, _) = post(
        &api,
        "/api/v1/webhooks/hello",
        Some("application/json"),
        over(squall::api::WEBHOOK_BODY_LIMIT + 1),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(api.stored(), stored);
    let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(2 << 20));
    let (status, answer) =
        post(&api, "/api/v1/webhooks/hello", Some("application/json"), big.into_bytes()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

#[tokio::test]
async fn an_invalid_rule_is_refused_naming_the_field_and_nothing_is_stored() {
    let api = Api::start().await;
    let stored = api.stored();
    let cases: [(&str, StatusCode, Value); 6] = [
        ("name: [unclosed\n", StatusCode::BAD_REQUEST, Value::Null),
        (
            "name: r\npack: p\ntrigger: {type: core.webhook, parameters: {url: x}}\naction: {ref: 5}\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"field": "action.ref"}),
        ),
        (
            "name: r\npack: p\ntrigger: {type: core.nope}\naction: {ref: core.echo}\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"field": "trigger.type"}),
        ),
        (
            "name: r\npack: p\ntrigger: {type: core.webhook, parameters: {url: 'a b'}}\naction: {ref: core.echo}\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"field": "trigger.parameters"}),
        ),
        (
            "name: r\npack: p\ntrigger: {type: core.webhook, parameters: {url: x}}\naction: {ref: core.nope}\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"field": "action.ref"}),
        ),
        (
            "name: r\npack: p\ntrigger: {type: core.webhook, parameters: {url: x}}\n",
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"field": "action"}),
        ),
    ];
    for (yaml, status, detail) in cases {
        let (got, answer) =
            post(&api, "/api/v1/rules", Some("application/yaml"), yaml.into()).await;
        assert_eq!(got, status, "{yaml}: {answer}");
        let message = answer["error"].as_str().expect("message");
        assert!(message.starts_with("rule: "), "{message}");
        if detail.is_null() {
            assert!(message.contains("not valid YAML"), "{message}");
        } else {
            let field = detail["field"].as_str().expect("field");
            assert!(message.contains(field), "{message} does not name {field}");
            assert_eq!(answer["detail"], detail, "{yaml}");
        }
    }
    let (status, answer) =
        post(&api, "/api/v1/rules", Some("application/json"), b"{\"name\": ".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().is_some_and(|e| e.starts_with("rule: not valid JSON")),
        "{answer}"
    );
    let (status, _) = post(&api, "/api/v1/rules", Some("text/html"), HELLO_RULE.into()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(api.stored(), stored);
    assert_eq!(api.get("/api/v1/rules").await, json!([]));
}

#[tokio::test]
async fn a_panic_is_answered_as_a_generic_500() {
    let response = squall::api::answer_panic(Box::new("secret internals: /etc/squall"));
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json_body(response).await;
    assert_eq!(body, json!({"error": "internal error; see the server log"}));
}

#[tokio::test]
async fn values_at_the_edges_of_what_the_document_allows_are_answered_as_it_says() {
    let api = Api::start().await;
    // A ref that is no URL path segment as it is: its Location is encoded
    // (a control character would not even make a valid header), and leads
    // to it. An empty `criteria` reads as no criteria.
    let rule = json!({
        "name": "odd\u{1}/name", "pack": "p", "criteria": null,
        "trigger": {"type": "core.webhook", "parameters": {"url": "odd"}},
        "action": {"ref": "core.noop"},
    });
    let request = api
        .authed(Method::POST, "/api/v1/rules")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(rule.to_string()));
    let response = api.send(request.expect("request")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION].to_str().expect("location").to_owned();
    assert_eq!(location, "/api/v1/rules/p.odd%01%2Fname");
    assert_eq!(json_body(response).await["criteria"], json!({}));
    assert_eq!(api.get(&location).await["ref"], "p.odd\u{1}/name");
    // A TTL past what a time can be written as is refused, not stored with
    // an expiry no client can read.
    let put = json!({"value": "v", "ttl": 1_u64 << 63});
    let (status, answer) = api.call(Method::PUT, "/api/v1/keys/k", Some(put)).await;
    assert_eq!(
        (status, &answer["detail"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!({"field": "ttl"}))
    );
    // Any non-negative offset, however large, is a page (an empty one).
    let huge = "194669679284453606250512384";
    assert_eq!(api.get(&format!("/api/v1/triggerinstances?offset={huge}")).await, json!([]));
    assert_eq!(api.get(&format!("/api/v1/executions?offset={huge}")).await, json!([]));
    let (status, _) = api.call(Method::GET, "/api/v1/executions?offset=-1", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Valid RFC 3339 times past jiff's last timestamp (late on 9999-12-30).
    for time in ["9999-12-31T00:00:00Z", "9999-12-31T23:59:59-23:59"] {
        assert_eq!(api.get(&format!("/api/v1/executions?until={time}")).await, json!([]));
    }
    // API key names: 200 characters (not bytes), not all blank.
    let long = "é".repeat(200);
    let (status, _) = api.call(Method::POST, "/api/v1/apikeys", Some(json!({"name": long}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api.call(Method::POST, "/api/v1/apikeys", Some(json!({"name": "  "}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
