//! The list endpoints through the router: summaries unless attributes
//! are asked for, headers that say the total and where the next page
//! starts, pages that stop at their byte bound, every invalid or unknown
//! parameter a 400 naming it, and the caps refusing what would not fit.

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::api::{Api, json_body};

/// Requests `core.echo` with `message`; returns the execution's id.
async fn echo(api: &Api, message: &str) -> String {
    let request = json!({"action": "core.echo", "parameters": {"message": message}});
    let (status, body) = api.call(Method::POST, "/api/v1/executions", Some(request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    api.finished(&id).await;
    id
}

/// GETs `path`; answers the headers and the JSON list.
async fn list(api: &Api, path: &str) -> (HeaderMap, Value) {
    let request = api.authed(Method::GET, path).body(Body::empty()).expect("request");
    let response = api.send(request).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let headers = response.headers().clone();
    (headers, json_body(response).await)
}

fn value_of<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn every_invalid_or_unknown_list_parameter_is_a_400_naming_it() {
    let api = Api::start().await;
    let bad = [
        ("since", "since=yesterday"),
        ("until", "until=soon"),
        ("status", "status=done"),
        ("offset", "offset=-1"),
        ("limit", "limit=0"),
        ("limit", "limit=1001"),
        ("colour", "colour=red"),
    ];
    for list in ["/api/v1/executions", "/api/v1/triggerinstances", "/api/v1/audit"] {
        for (name, query) in bad {
            let (status, answer) = api.call(Method::GET, &format!("{list}?{query}"), None).await;
            let error = answer["error"].as_str().unwrap_or_default();
            assert_eq!(status, StatusCode::BAD_REQUEST, "{list}?{query}: {answer}");
            assert!(error.contains(name), "{list}?{query}: {error}");
        }
    }
    for list in ["/api/v1/executions", "/api/v1/triggerinstances"] {
        for (name, query) in [
            ("include_attributes", "include_attributes=id,bogus"),
            ("exclude_attributes", "exclude_attributes=id"),
            ("include_attributes", "include_attributes=id&exclude_attributes=status"),
        ] {
            let (status, answer) = api.call(Method::GET, &format!("{list}?{query}"), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{list}?{query}: {answer}");
            assert!(answer["error"].as_str().is_some_and(|e| e.contains(name)), "{answer}");
        }
    }
    // Credentials in the query are the auth layer's, not a list's.
    let (status, answer) =
        api.call(Method::GET, &format!("/api/v1/executions?st2-api-key={}", api.key), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The trigger instance filters exist now, and work.
    for query in ["status=processed", "since=2000-01-01T00:00:00Z", "until=0"] {
        api.get(&format!("/api/v1/triggerinstances?{query}")).await;
    }
}

#[tokio::test]
async fn lists_answer_summaries_and_the_attributes_asked_for() {
    let api = Api::start().await;
    let id = echo(&api, "hello").await;
    let (_, summaries) = list(&api, "/api/v1/executions").await;
    let summary = summaries[0].as_object().expect("object");
    assert!(!summary.contains_key("parameters") && !summary.contains_key("result"), "{summary:?}");
    for kept in ["id", "action", "status", "created_at", "finished_at", "error", "context"] {
        assert!(summary.contains_key(kept), "{kept} missing: {summary:?}");
    }
    let (_, only) = list(&api, "/api/v1/executions?include_attributes=status,%20result").await;
    assert_eq!(only, json!([{"id": id, "status": "succeeded", "result": {"message": "hello"}}]));
    let (_, all_but) = list(&api, "/api/v1/executions?exclude_attributes=parameters").await;
    assert_eq!(all_but[0]["result"], json!({"message": "hello"}));
    assert!(all_but[0].get("parameters").is_none() && all_but[0].get("action").is_some());
    let whole = api.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(whole["parameters"], json!({"message": "hello"}), "one execution is whole");

    api.call(Method::PUT, "/api/v1/keys/colour", Some(json!({"value": "blue"}))).await;
    let (_, instances) = list(&api, "/api/v1/triggerinstances").await;
    assert_eq!(instances[0]["trigger"], "core.kv_changed");
    assert!(instances[0].get("payload").is_none(), "{instances}");
    let (_, with) = list(&api, "/api/v1/triggerinstances?include_attributes=payload").await;
    assert_eq!(with[0]["payload"]["new_object"]["value"], "blue");
    let one = api
        .get(&format!("/api/v1/triggerinstances/{}", with[0]["id"].as_str().unwrap_or_default()))
        .await;
    assert_eq!(one["payload"], with[0]["payload"]);
}

#[tokio::test]
async fn headers_say_the_total_and_where_the_next_page_starts() {
    let api = Api::start().await;
    for i in 0..5 {
        echo(&api, &format!("m{i}")).await;
    }
    let (headers, page) = list(&api, "/api/v1/executions?limit=2").await;
    assert_eq!(page.as_array().map(Vec::len), Some(2));
    assert_eq!(
        (value_of(&headers, "x-total-count"), value_of(&headers, "x-next-offset")),
        (Some("5"), Some("2"))
    );
    let (headers, page) = list(&api, "/api/v1/executions?limit=2&offset=4").await;
    assert_eq!(page.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (value_of(&headers, "x-total-count"), value_of(&headers, "x-next-offset")),
        (Some("5"), None)
    );
    // A filter: the scan stops one match past the page, so the total is
    // unknown until a page reaches the last match.
    let (headers, _) = list(&api, "/api/v1/executions?action=core.echo&limit=1").await;
    assert_eq!(
        (value_of(&headers, "x-total-count"), value_of(&headers, "x-next-offset")),
        (None, Some("1"))
    );
    let (headers, _) = list(&api, "/api/v1/executions?action=core.echo&offset=3").await;
    assert_eq!(
        (value_of(&headers, "x-total-count"), value_of(&headers, "x-next-offset")),
        (Some("5"), None)
    );
    assert_eq!(value_of(&headers, "x-page-truncated"), None);
}

#[tokio::test]
async fn a_page_stops_at_its_byte_bound_and_says_where_to_go_on() {
    let api = Api::start().await;
    // Each about 2 MB with its parameters and result; a page holds 4 MiB.
    let big = "b".repeat(1000 << 10);
    for _ in 0..3 {
        echo(&api, &big).await;
    }
    let path = "/api/v1/executions?include_attributes=parameters,result";
    let (headers, page) = list(&api, path).await;
    assert_eq!(page.as_array().map(Vec::len), Some(2));
    assert_eq!(value_of(&headers, "x-page-truncated"), Some("true"));
    assert_eq!(value_of(&headers, "x-next-offset"), Some("2"));
    let (headers, rest) = list(&api, &format!("{path}&offset=2")).await;
    assert_eq!(
        (rest.as_array().map(Vec::len), value_of(&headers, "x-page-truncated")),
        (Some(1), None)
    );
    // Summaries of the same executions are small.
    let (_, summaries) = list(&api, "/api/v1/executions").await;
    assert!(summaries.to_string().len() < 4096, "{summaries}");
}

#[tokio::test]
async fn events_and_rules_over_the_caps_are_refused_naming_them() {
    let api = Api::start().await;
    api.add_rule(
        r#"
name: big
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: big}}
action: {ref: core.echo, parameters: {message: "{{ trigger.body }}"}}
"#,
    )
    .await;
    let stored = api.stored();
    // Quotes double when written as JSON: 2.1 MiB of them is a 4.2 MiB
    // payload, within the 4 MiB body limit but over the payload cap.
    let (status, answer) = webhook(&api, "\"".repeat(2100 << 10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("over the 4 MiB cap on stored payload"), "{error}");
    assert_eq!(api.stored(), stored, "nothing committed");

    // A payload that fits, whose rule renders parameters over their cap:
    // the instance commits with the enforcement's error; nothing runs.
    let (status, answer) = webhook(&api, "a".repeat(1100 << 10)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["executions"], json!([]));
    let id = answer["trigger_instances"][0].as_str().expect("instance");
    let instance = api.get(&format!("/api/v1/triggerinstances/{id}")).await;
    let enforcement = &instance["rule_enforcements"][0];
    assert_eq!(enforcement["execution"], Value::Null);
    assert_eq!(
        enforcement["error"],
        "parameters: 1.1 MiB as JSON, over the 1 MiB cap on stored parameters"
    );
}

async fn webhook(api: &Api, body: String) -> (StatusCode, Value) {
    let request = api
        .authed(Method::POST, "/api/v1/webhooks/big")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(body))
        .expect("request");
    let response = api.send(request).await;
    let status = response.status();
    (status, json_body(response).await)
}
