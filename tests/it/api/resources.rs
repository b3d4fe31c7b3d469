//! The resources through the router: executions, rules, the datastore,
//! trigger types and instances, packs and actions, metrics.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::{Api, HELLO_RULE, json_body, text_body};

/// Requests `action` with `parameters`; returns the new execution's id.
async fn run(api: &Api, action: &str, parameters: Value) -> String {
    let request = json!({"action": action, "parameters": parameters});
    let (status, body) = api.call(Method::POST, "/api/v1/executions", Some(request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["action"]["ref"], action);
    body["id"].as_str().expect("id").to_owned()
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array().expect("list").iter().map(|e| e["id"].as_str().expect("id")).collect()
}

#[tokio::test]
async fn executions_are_requested_listed_newest_first_filtered_and_read() {
    let api = Api::start().await;
    let first = run(&api, "core.echo", json!({"message": "one"})).await;
    let failing = run(&api, "core.fail", json!({})).await;
    let last = run(&api, "core.echo", json!({"message": "three"})).await;
    let done = api.finished(&first).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["result"], json!({"message": "one"}));
    assert_eq!(done["parameters"], json!({"message": "one"}));
    let failed = api.finished(&failing).await;
    assert_eq!(failed["error"], "core.fail was asked to fail");
    // StackStorm's result for a failed action: its message under `error`.
    assert_eq!(failed["result"], json!({"error": "core.fail was asked to fail"}));
    api.finished(&last).await;

    let response = api
        .send(api.authed(Method::GET, "/api/v1/executions").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(response.headers()["x-total-count"], "3");
    assert_eq!(ids(&json_body(response).await), [&last, &failing, &first]);
    assert_eq!(ids(&api.get("/api/v1/executions?action=core.echo").await), [&last, &first]);
    let failed = api.get("/api/v1/executions?status=failed").await;
    assert_eq!(ids(&failed), [&failing]);
    // A list shows summaries: parameters and results only when asked.
    assert!(failed[0].get("parameters").is_none() && failed[0].get("result").is_none());
    let failed = api.get("/api/v1/executions?status=failed&include_attributes=parameters").await;
    assert_eq!(failed[0]["parameters"], json!({"message": "core.fail was asked to fail"}));
    assert_eq!(failed[0].as_object().map(|o| o.len()), Some(2), "only id and parameters");
    assert_eq!(ids(&api.get("/api/v1/executions?limit=1&offset=1").await), [&failing]);
    assert_eq!(ids(&api.get("/api/v1/executions?limit=2").await), [&last, &failing]);
    assert_eq!(api.get("/api/v1/executions?since=2999-01-01T00:00:00Z").await, json!([]));
    assert_eq!(api.get("/api/v1/executions?until=2000-01-01T00:00:00Z").await, json!([]));
    let created = done["created_at"].as_str().expect("created_at");
    let since = api.get(&format!("/api/v1/executions?since={created}&action=core.echo")).await;
    assert_eq!(ids(&since), [&last, &first]);
    for bad in ["limit=0", "limit=1001", "status=done", "since=yesterday"] {
        let (status, body) =
            api.call(Method::GET, &format!("/api/v1/executions?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    let one = api.get(&format!("/api/v1/executions/{first}")).await;
    assert_eq!(one["status"], "succeeded");
    assert_eq!(one["result"], json!({"message": "one"}));
    assert!(one["logs"].is_array(), "{one}");
    let (status, body) = api
        .call(Method::GET, "/api/v1/executions/0197aaaa-0000-7000-8000-000000000000", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "execution 0197aaaa-0000-7000-8000-000000000000 not found");
}

#[tokio::test]
async fn cancel_answers_the_state_it_was_in_or_409_once_finished_and_re_run_makes_a_new_execution()
{
    let api = Api::start().await;
    let sleeper = run(&api, "core.sleep", json!({"seconds": 30})).await;
    let (status, body) =
        api.call(Method::DELETE, &format!("/api/v1/executions/{sleeper}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        ["requested", "scheduled", "running"]
            .contains(&body["previous_status"].as_str().expect("status")),
        "{body}"
    );
    assert_eq!(api.finished(&sleeper).await["status"], "canceled");

    let echo = run(&api, "core.echo", json!({"message": "again"})).await;
    api.finished(&echo).await;
    let (status, body) =
        api.call(Method::DELETE, &format!("/api/v1/executions/{echo}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], format!("execution {echo} already finished (succeeded)"));
    assert_eq!(body["detail"], json!({"status": "succeeded"}));

    let (status, rerun) =
        api.call(Method::POST, &format!("/api/v1/executions/{echo}/re_run"), None).await;
    assert_eq!(status, StatusCode::OK, "{rerun}");
    let new = rerun["id"].as_str().expect("id");
    assert_ne!(new, echo);
    assert_eq!(rerun["parameters"], json!({"message": "again"}));
    assert_eq!(api.finished(new).await["result"], json!({"message": "again"}));
    let missing = "0197aaaa-0000-7000-8000-000000000000";
    for (method, path) in [
        (Method::POST, format!("/api/v1/executions/{missing}/re_run")),
        (Method::DELETE, format!("/api/v1/executions/{missing}")),
    ] {
        assert_eq!(api.call(method, &path, None).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

/// POSTs to a webhook; returns the execution it started.
async fn fire(api: &Api, name: &str, body: Value) -> (StatusCode, Option<Value>) {
    let (status, answer) =
        api.call(Method::POST, &format!("/api/v1/webhooks/{name}"), Some(body)).await;
    if status != StatusCode::ACCEPTED {
        return (status, None);
    }
    let instance = answer["trigger_instances"][0].as_str().expect("instance");
    let instance = api.get(&format!("/api/v1/triggerinstances/{instance}")).await;
    let execution =
        instance["rule_enforcements"][0]["execution"].as_str().expect("execution").to_owned();
    assert_eq!(answer["executions"], json!([execution]), "the 202 names the execution");
    (status, Some(api.finished(&execution).await))
}

#[tokio::test]
async fn rules_are_created_enabled_disabled_replaced_and_deleted_and_take_effect_at_once() {
    let api = Api::start().await;
    let created = api.add_rule(HELLO_RULE).await;
    assert_eq!(created["ref"], "tests.hello");
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["trigger"],
        json!({"type": "core.st2.webhook", "parameters": {"url": "hello"}})
    );
    assert_eq!(created["source"], HELLO_RULE);
    let (_, execution) = fire(&api, "hello", json!({"name": "ops"})).await;
    let execution = execution.expect("started");
    assert_eq!(execution["result"], json!({"message": "hello ops"}));
    assert_eq!(execution["rule"], "tests.hello");

    let request =
        api.authed(Method::POST, "/api/v1/rules").header(header::CONTENT_TYPE, "text/yaml");
    let response = api.send(request.body(Body::from(HELLO_RULE)).expect("request")).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(json_body(response).await["error"], "rule `tests.hello` already exists");

    let (status, body) = api.call(Method::POST, "/api/v1/rules/tests.hello/disable", None).await;
    assert_eq!((status, &body["enabled"]), (StatusCode::OK, &json!(false)));
    assert_eq!(fire(&api, "hello", json!({"name": "ops"})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::POST, "/api/v1/rules/tests.hello/enable", None).await.0,
        StatusCode::OK
    );
    assert_eq!(fire(&api, "hello", json!({"name": "ops"})).await.0, StatusCode::ACCEPTED);

    let replaced = HELLO_RULE.replace("hello {{", "hi {{");
    let request = api
        .authed(Method::PUT, "/api/v1/rules/tests.hello")
        .header(header::CONTENT_TYPE, "application/yaml");
    let response = api.send(request.body(Body::from(replaced)).expect("request")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, execution) = fire(&api, "hello", json!({"name": "ops"})).await;
    assert_eq!(execution.expect("started")["result"], json!({"message": "hi ops"}));
    let other = HELLO_RULE.replace("name: hello", "name: other");
    let request = api
        .authed(Method::PUT, "/api/v1/rules/tests.hello")
        .header(header::CONTENT_TYPE, "application/yaml");
    let response = api.send(request.body(Body::from(other)).expect("request")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // JSON works too; a rule says `enabled` or is disabled (StackStorm's default).
    let json_rule = json!({
        "name": "quiet", "pack": "tests",
        "trigger": {"type": "core.webhook", "parameters": {"url": "quiet"}},
        "criteria": {"trigger.body.level": {"type": "equals", "pattern": "high"}},
        "action": {"ref": "core.noop"}
    });
    let (status, body) = api.call(Method::POST, "/api/v1/rules", Some(json_rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["enabled"], false);
    assert_eq!(
        body["criteria"],
        json!({"trigger.body.level": {"type": "equals", "pattern": "high"}})
    );
    let refs: Vec<Value> = api
        .get("/api/v1/rules")
        .await
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["ref"].clone())
        .collect();
    assert_eq!(refs, [json!("tests.hello"), json!("tests.quiet")]);

    let (status, _) = api.call(Method::DELETE, "/api/v1/rules/tests.hello", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call(Method::GET, "/api/v1/rules/tests.hello", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/rules/tests.hello", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(fire(&api, "hello", json!({})).await.0, StatusCode::NOT_FOUND);
    for path in ["/api/v1/rules/nope.nope/enable", "/api/v1/rules/nope.nope/disable"] {
        assert_eq!(api.call(Method::POST, path, None).await.0, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn secrets_are_write_only_and_every_change_commits_a_kv_changed_instance() {
    let api = Api::start().await;
    let secret = json!({"value": "hunter2", "secret": true});
    let (status, body) = api.call(Method::PUT, "/api/v1/keys/db_password", Some(secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "id": "system:db_password", "name": "db_password", "scope": "system",
            "value": "********", "secret": true, "encrypted": true,
            "expires_at": null, "expire_timestamp": null
        })
    );
    let plain = json!({"value": "7", "ttl": 3600, "scope": "pack:core"});
    let (status, body) = api.call(Method::PUT, "/api/v1/keys/keep_days", Some(plain)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], "7");
    assert!(body["expires_at"].is_string(), "{body}");

    assert_eq!(api.get("/api/v1/keys/db_password").await["value"], "********");
    assert_eq!(api.get("/api/v1/keys/keep_days?scope=pack:core").await["value"], "7");
    assert_eq!(
        api.call(Method::GET, "/api/v1/keys/keep_days", None).await.0,
        StatusCode::NOT_FOUND
    );
    let system = api.get("/api/v1/keys").await;
    assert_eq!(system.as_array().expect("list").len(), 1);
    assert_eq!(api.get("/api/v1/keys?scope=pack:core&prefix=keep").await[0]["name"], "keep_days");
    assert_eq!(api.get("/api/v1/keys?scope=pack:core&prefix=x").await, json!([]));
    assert_eq!(api.get("/api/v1/keys?scope=pack:core&name=keep_days").await[0]["value"], "7");
    assert_eq!(api.get("/api/v1/keys?scope=pack:core&name=keep").await, json!([]));

    let (status, _) =
        api.call(Method::DELETE, "/api/v1/keys/keep_days?scope=pack:core", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/keys/keep_days?scope=pack:core", None).await.0,
        StatusCode::NOT_FOUND
    );
    for bad in ["/api/v1/keys?scope=pack:", "/api/v1/keys?scope=global"] {
        assert_eq!(api.call(Method::GET, bad, None).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, body) =
        api.call(Method::PUT, "/api/v1/keys/k", Some(json!({"value": "v", "ttl": 0}))).await;
    assert_eq!(
        (status, &body["detail"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!({"field": "ttl"}))
    );

    // Three changes, three instances; the secret appears in none of them,
    // nor anywhere else the API shows.
    let changes = api
        .get("/api/v1/triggerinstances?trigger=core.kv_changed&include_attributes=payload")
        .await;
    assert_eq!(changes.as_array().expect("list").len(), 3, "{changes}");
    assert_eq!(changes[2]["payload"]["new_object"]["value"], "********");
    for path in [
        "/api/v1/keys",
        "/api/v1/triggerinstances?exclude_attributes=rule_enforcements",
        "/api/v1/keys/db_password",
        "/metrics",
    ] {
        let response =
            api.send(api.authed(Method::GET, path).body(Body::empty()).expect("request")).await;
        assert!(!text_body(response).await.contains("hunter2"), "{path} shows the secret");
    }
}

#[tokio::test]
async fn trigger_types_instances_and_re_emit() {
    let api = Api::start().await;
    let types = api.get("/api/v1/triggertypes").await;
    let webhook = types
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["ref"] == "core.webhook")
        .expect("core.webhook");
    assert_eq!(webhook["pack"], "core");
    assert_eq!(webhook["name"], "webhook");
    assert_eq!(webhook["parameters_schema"]["required"], json!(["url"]));
    assert_eq!(api.get("/api/v1/triggertypes/core.st2.webhook").await["ref"], "core.webhook");
    assert_eq!(
        api.call(Method::GET, "/api/v1/triggertypes/core.nope", None).await.0,
        StatusCode::NOT_FOUND
    );

    api.add_rule(HELLO_RULE).await;
    let (_, execution) = fire(&api, "hello", json!({"name": "a"})).await;
    let instance_id =
        execution.expect("started")["trigger_instance"].as_str().expect("instance").to_owned();
    let instance = api.get(&format!("/api/v1/triggerinstances/{instance_id}")).await;
    assert_eq!(instance["trigger"], "core.webhook");
    assert_eq!(instance["parameters"], json!({"url": "hello"}));
    assert_eq!(instance["status"], "processed");
    assert_eq!(instance["rule_enforcements"][0]["rule"], "tests.hello");

    let (status, emitted) = api
        .call(Method::POST, &format!("/api/v1/triggerinstances/{instance_id}/re_emit"), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{emitted}");
    assert_ne!(emitted["trigger_instance"], json!(instance_id));
    let again = emitted["executions"][0].as_str().expect("one execution");
    assert_eq!(api.finished(again).await["result"], json!({"message": "hello a"}));
    let webhooks = api.get("/api/v1/triggerinstances?trigger=core.st2.webhook").await;
    assert_eq!(
        ids(&webhooks),
        [emitted["trigger_instance"].as_str().expect("id"), instance_id.as_str()]
    );
    assert_eq!(
        ids(&api.get("/api/v1/triggerinstances?trigger=core.webhook&limit=1&offset=1").await),
        [instance_id.as_str()]
    );
    let missing = "/api/v1/triggerinstances/0197aaaa-0000-7000-8000-000000000000/re_emit";
    assert_eq!(api.call(Method::POST, missing, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/api/v1/sensors").await, json!([]));
}

#[tokio::test]
async fn packs_and_actions_describe_the_catalog() {
    let api = Api::start().await;
    let packs = api.get("/api/v1/packs").await;
    assert_eq!(
        packs,
        json!([{
            "id": "core", "ref": "core", "uid": "pack:core",
            "name": "core", "version": "0.1.0",
            "description": "Building blocks: echo, noop, fail and sleep",
            "actions": ["core.echo", "core.fail", "core.noop", "core.sleep"],
            "publisher": "Squall project", "author": "Squall project",
            "signer": null, "requested": [], "grants": {}
        }])
    );
    assert_eq!(api.get("/api/v1/packs/core").await, packs[0]);
    assert_eq!(api.call(Method::GET, "/api/v1/packs/nope", None).await.0, StatusCode::NOT_FOUND);
    let actions = api.get("/api/v1/actions").await;
    // The core pack's four and the built-ins `core.ask` and `chatops.*`.
    let refs: Vec<&str> =
        actions.as_array().expect("list").iter().filter_map(|a| a["ref"].as_str()).collect();
    assert_eq!(
        refs,
        [
            "chatops.get_execution",
            "chatops.list_inquiries",
            "chatops.post_message",
            "chatops.respond_inquiry",
            "core.ask",
            "core.echo",
            "core.fail",
            "core.noop",
            "core.sleep"
        ]
    );
    assert_eq!(
        api.get("/api/v1/actions/chatops.post_message").await["runner_type"],
        "announcement"
    );
    assert_eq!(api.get("/api/v1/actions/core.ask").await["pack"], "core");
    let echo = api.get("/api/v1/actions/core.echo").await;
    assert_eq!(echo["ref"], "core.echo");
    assert_eq!(echo["id"], "core.echo");
    assert_eq!(echo["uid"], "action:core:echo");
    assert_eq!(echo["pack"], "core");
    assert_eq!(echo["runner_type"], "wasm");
    assert_eq!(echo["enabled"], true);
    // StackStorm's parameter metadata, from the JSON Schema.
    assert_eq!(echo["parameters"]["message"]["type"], "string");
    assert_eq!(echo["parameters"]["message"]["required"], true);
    assert_eq!(echo["description"], "Returns its `message` unchanged");
    assert_eq!(echo["parameters_schema"]["required"], json!(["message"]));
    assert_eq!(echo["output_schema"]["required"], json!(["message"]));
    assert_eq!(echo["policy"]["timeout_ms"], 60_000);
    assert_eq!(echo["policy"]["on_crash"], "retry");
    assert_eq!(api.get("/api/v1/actions/core.sleep").await["policy"]["timeout_ms"], 600_000);
    assert_eq!(
        api.call(Method::GET, "/api/v1/actions/core.nope", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn metrics_count_requests_events_and_store_activity() {
    let api = Api::start().await;
    let id = run(&api, "core.echo", json!({"message": "m"})).await;
    api.finished(&id).await;
    api.get("/api/v1/packs").await;
    api.get("/api/v1/packs").await;
    api.call(Method::GET, "/api/v1/nope", None).await;
    // The engine's events are counted as they arrive: wait for this one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let request = api.authed(Method::GET, "/metrics").body(Body::empty());
        let response = api.send(request.expect("request")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
        let text = text_body(response).await;
        if text.contains(r#"squall_executions_total{status="succeeded"}"#) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "no succeeded execution counted:\n{text}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    for line in [
        r#"squall_http_requests_total{method="GET",route="/api/v1/packs",status="200"} 2"#,
        r#"squall_http_requests_total{method="POST",route="/api/v1/executions",status="201"} 1"#,
        r#"squall_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"squall_executions_total{status="succeeded"} 1"#,
        "squall_executions_queued 0",
        "# TYPE squall_store_commits_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    let commits: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("squall_store_commits_total "))
        .and_then(|v| v.parse().ok())
        .expect("commits");
    assert!(commits >= 2, "{text}");
}
