//! StackStorm's clients against the router: the paths, query parameters,
//! bodies and shapes `st2` and st2client use (st2client 3.9.0 is the
//! reference; `tests/st2client.sh` drives the real one against a server).

use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{Api, HELLO_RULE};

#[tokio::test]
async fn every_route_answers_with_a_trailing_slash_and_the_root_tells_the_version() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let root = api.get("/api/v1/").await;
    assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(root, api.get("/api/v1").await);
    // The root needs a key, as StackStorm's does.
    let (status, _) = api.call_as("", Method::GET, "/api/v1/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rules = api.get("/api/v1/rules/?limit=50").await;
    assert_eq!(rules, api.get("/api/v1/rules?limit=50").await);
    assert_eq!(rules[0]["ref"], "tests.hello", "{rules}");
    let packs = api.get("/api/v1/packs/").await;
    assert_eq!(packs[0]["name"], "core", "{packs}");
    assert_eq!(api.get("/api/v1/rules/tests.hello/").await["ref"], "tests.hello");
    // Permissions still apply to the rewritten path.
    let (status, body) = api.call_as("", Method::GET, "/api/v1/rules/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Several slashes are one; a missing route stays missing.
    let (status, body) = api.call(Method::GET, "/api/v1/nothing/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no route for GET /api/v1/nothing", "{body}");
    assert_eq!(api.get("/api/v1/packs//").await, packs);
}

#[tokio::test]
async fn executions_carry_stackstorm_s_attributes_and_take_its_query_and_body() {
    let api = Api::start().await;
    // st2client sends `user: null`; an admin may name another user.
    let request = json!({"action": "core.echo", "parameters": {"message": "hi"}, "user": null});
    let (status, created) = api.call(Method::POST, "/api/v1/executions/", Some(request)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let done = api.finished(&id).await;
    assert_eq!(done["action"]["ref"], "core.echo");
    assert_eq!(done["action"]["pack"], "core");
    assert_eq!(done["action"]["name"], "echo");
    assert_eq!(done["action"]["runner_type"], "wasm");
    assert_eq!(done["action"]["parameters"]["message"]["required"], true);
    assert_eq!(done["runner"]["name"], "wasm");
    assert_eq!(done["liveaction"]["id"], id.as_str());
    assert_eq!(done["liveaction"]["parameters"], json!({"message": "hi"}));
    assert_eq!(done["context"]["user"], "admin");
    assert_eq!(done["start_timestamp"], done["created_at"]);
    assert_eq!(done["end_timestamp"], done["finished_at"]);
    assert!(done["elapsed_seconds"].as_f64().is_some_and(|s| s >= 0.0), "{done}");
    let log: Vec<&str> = done["log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|c| c["status"].as_str().expect("status"))
        .collect();
    assert_eq!(log.first(), Some(&"requested"), "{done}");
    assert_eq!(log.last(), Some(&"succeeded"), "{done}");
    assert_eq!(done["parent"], Value::Null);
    assert_eq!(done["children"], json!([]));

    let ops = api.key_for("ops", &["observer"], &[]).await;
    let as_other = json!({"action": "core.echo", "parameters": {"message": "x"}, "user": "admin"});
    let (status, body) =
        api.call_as(&ops, Method::POST, "/api/v1/executions", Some(as_other)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // What `st2 execution list` asks.
    let list = api
        .get("/api/v1/executions/?limit=50&parent=null&sort_desc=True&include_attributes=id%2Caction.ref%2Ccontext.user%2Cstatus%2Cstart_timestamp%2Cend_timestamp")
        .await;
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    assert_eq!(list[0]["action"]["ref"], "core.echo");
    assert_eq!(list[0]["context"]["user"], "admin");
    assert!(list[0].get("result").is_none(), "{list}");
    assert_eq!(api.get("/api/v1/executions?limit=-1").await.as_array().map(Vec::len), Some(1));
    for (query, parameter) in [
        ("sort_asc=True", "sort_asc"),
        ("sort_desc=maybe", "sort_desc"),
        ("parent=nope", "parent"),
        ("limit=-2", "limit"),
    ] {
        let (status, body) =
            api.call(Method::GET, &format!("/api/v1/executions?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.starts_with(parameter)), "{body}");
    }

    // `st2 execution re-run` sends parameters, tasks, reset and delay, and
    // expects 200.
    let again = json!({"parameters": {"message": "again"}, "tasks": [], "reset": [], "delay": 0});
    let (status, rerun) =
        api.call(Method::POST, &format!("/api/v1/executions/{id}/re_run"), Some(again)).await;
    assert_eq!(status, StatusCode::OK, "{rerun}");
    let rerun = api.finished(rerun["id"].as_str().expect("id")).await;
    assert_eq!(rerun["result"], json!({"message": "again"}));
    let late = json!({"delay": 5});
    let (status, body) =
        api.call(Method::POST, &format!("/api/v1/executions/{id}/re_run"), Some(late)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn keys_runners_and_trigger_instances_answer_as_st2client_asks() {
    let api = Api::start().await;
    // `st2 key set` PUTs its name, id, scope and user along.
    let set = json!({"id": "k", "name": "k", "value": "v", "scope": "system", "user": null});
    let (status, body) = api.call(Method::PUT, "/api/v1/keys/k", Some(set)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = json!({"name": "s", "value": "hunter2", "secret": true, "scope": "pack:core"});
    let (status, body) = api.call(Method::PUT, "/api/v1/keys/s", Some(secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // `scope=all`: every scope; `decrypt` is taken and secrets stay masked.
    let all = api.get("/api/v1/keys/?decrypt=true&scope=all&limit=50").await;
    let names: Vec<(&str, &str)> = all
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| (k["scope"].as_str().expect("scope"), k["value"].as_str().expect("value")))
        .collect();
    assert_eq!(names, [("system", "v"), ("pack:core", "********")]);
    let other = json!({"name": "other", "value": "v"});
    let (status, body) = api.call(Method::PUT, "/api/v1/keys/k", Some(other)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"]["parameter"], "name");
    let user = json!({"value": "v", "user": "bob"});
    let (status, body) = api.call(Method::PUT, "/api/v1/keys/k", Some(user)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"]["parameter"], "user");

    // `st2 run` looks the action's runner up by name.
    let runners = api.get("/api/v1/runnertypes/?name=wasm").await;
    assert_eq!(runners.as_array().map(Vec::len), Some(1), "{runners}");
    assert_eq!(runners[0]["name"], "wasm");
    assert_eq!(runners[0]["actions"], 4);
    assert_eq!(api.get("/api/v1/runnertypes/inquirer").await["actions"], 1);
    let (status, _) = api.call(Method::GET, "/api/v1/runnertypes/python-script", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The datastore changes above committed trigger instances.
    let instances = api
        .get("/api/v1/triggerinstances/?include_attributes=id%2Ctrigger%2Coccurrence_time%2Cstatus&limit=50")
        .await;
    assert_eq!(instances.as_array().map(Vec::len), Some(2), "{instances}");
    assert_eq!(instances[0]["trigger"], "core.kv_changed", "{instances}");
    assert!(instances[0]["occurrence_time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let types = api.get("/api/v1/triggertypes/").await;
    let webhook = types.as_array().expect("types").iter().find(|t| t["ref"] == "core.webhook");
    assert_eq!(webhook.map(|t| t["uid"].clone()), Some(json!("trigger_type:core:webhook")));
}

#[tokio::test]
async fn rules_take_back_what_they_gave_and_their_enforcements_and_webhooks_are_listed() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let rule = api.get("/api/v1/rules/tests.hello").await;
    assert_eq!(rule["id"], "tests.hello");
    assert_eq!(rule["uid"], "rule:tests:hello");
    // `st2 rule disable` PUTs the whole answer back, by id.
    let mut disabled = rule.clone();
    disabled["enabled"] = json!(false);
    let (status, body) = api.call(Method::PUT, "/api/v1/rules/tests.hello", Some(disabled)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], false);
    assert!(!body["source"].as_str().expect("source").contains("created_at"), "{body}");
    let mut enabled = body.clone();
    enabled["enabled"] = json!(true);
    let (status, body) = api.call(Method::PUT, "/api/v1/rules/tests.hello/", Some(enabled)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["enabled"], true);

    // The rule's webhook is listed, and a call to it is enforced.
    let hooks = api.get("/api/v1/webhooks/").await;
    let hello: Vec<&Value> =
        hooks.as_array().expect("hooks").iter().filter(|h| h["url"] == "hello").collect();
    assert_eq!(hello.len(), 1, "{hooks}");
    assert_eq!(hello[0]["parameters"]["url"], "hello");
    assert_eq!(hello[0]["type"], "core.st2.webhook");
    assert_eq!(hello[0]["rules"], json!(["tests.hello"]));
    assert!(hooks.as_array().expect("hooks").iter().any(|h| h["url"] == "hostile"), "{hooks}");
    let (status, fired) =
        api.call(Method::POST, "/api/v1/webhooks/hello", Some(json!({"name": "bob"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fired}");
    let enforcements = api.get("/api/v1/ruleenforcements/?limit=50").await;
    assert_eq!(enforcements.as_array().map(Vec::len), Some(1), "{enforcements}");
    let enforcement = &enforcements[0];
    assert_eq!(enforcement["rule"]["ref"], "tests.hello");
    assert_eq!(enforcement["trigger_instance_id"], fired["trigger_instances"][0]);
    assert_eq!(enforcement["execution_id"], fired["executions"][0]);
    assert_eq!(enforcement["status"], "succeeded");
    assert_eq!(enforcement["failure_reason"], Value::Null);
    let only = api.get("/api/v1/ruleenforcements?rule_ref=nope.nope").await;
    assert_eq!(only, json!([]));
    let chosen = api.get("/api/v1/ruleenforcements?include_attributes=rule.ref").await;
    assert_eq!(
        chosen[0].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["id".to_owned(), "rule".to_owned()])
    );

    // Deleting by id.
    let (status, _) = api.call(Method::DELETE, "/api/v1/rules/tests.hello/", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/api/v1/rules/").await, json!([]));
}

#[tokio::test]
async fn output_is_the_log_as_text_split_by_output_type() {
    let api = Api::start().await;
    let mut execution = squall::store::Execution::new("core.echo", json!({"message": "x"}));
    execution.status = squall::store::ExecutionStatus::Succeeded;
    for (level, message) in [("info", "starting"), ("warn", "disk at 91%"), ("debug", "done")] {
        execution
            .logs
            .push(squall::store::ExecutionLog { level: level.into(), message: message.into() });
    }
    let id = execution.id;
    api.engine
        .store()
        .write(move |tx| tx.insert_execution(&execution, false))
        .await
        .expect("insert");
    let text = |query: &'static str| {
        let api = &api;
        async move {
            let request = api
                .authed(Method::GET, &format!("/api/v1/executions/{id}/output{query}"))
                .body(axum::body::Body::empty())
                .expect("request");
            let response = api.send(request).await;
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
            super::text_body(response).await
        }
    };
    assert_eq!(text("").await, "starting\ndisk at 91%\ndone\n");
    assert_eq!(text("?output_type=all").await, "starting\ndisk at 91%\ndone\n");
    assert_eq!(text("?output_type=stdout").await, "starting\ndone\n");
    assert_eq!(text("?output_type=stderr").await, "disk at 91%\n");
    let (status, body) = api
        .call(Method::GET, &format!("/api/v1/executions/{id}/output?output_type=result"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"]["parameter"], "output_type");
    // The execution shows the same lines with their levels.
    let shown = api.get(&format!("/api/v1/executions/{id}")).await;
    assert_eq!(shown["logs"][1], json!({"level": "warn", "message": "disk at 91%"}));
}

#[tokio::test]
async fn stackstorm_s_stream_sends_its_event_names_filters_and_ends_when_asked() {
    let api = Api::start().await;
    let open = |query: String| {
        let api = &api;
        async move {
            // The key as a query parameter, as st2client sends it.
            let uri = format!("/stream/v1/stream?{query}&st2-api-key={}", api.key);
            let request = Request::get(uri).body(axum::body::Body::empty());
            let response = api.send(request.expect("request")).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            super::stream::Events::new(response.into_body())
        }
    };
    let mut updates = open("events=st2.execution__*".to_owned()).await;
    let mut instances = open("events=st2.trigger_instance__create".to_owned()).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/api/v1/executions",
            Some(json!({"action": "core.echo", "parameters": {"message": "hi"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let seen = updates
        .until(|name, data| {
            name == "st2.execution__update" && data["id"] == id && data["status"] == "succeeded"
        })
        .await;
    assert!(seen.iter().all(|(name, _)| name.starts_with("st2.execution__")), "{seen:?}");
    // The data is the execution as the API shows it.
    let (_, last) = seen.last().expect("last");
    assert_eq!(last["action"]["ref"], "core.echo");
    assert_eq!(last["result"], json!({"message": "hi"}));
    // A datastore change commits a trigger instance.
    let (status, _) = api.call(Method::PUT, "/api/v1/keys/k", Some(json!({"value": "v"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (name, data) = instances.next().await.expect("an instance");
    assert_eq!(name, "st2.trigger_instance__create");
    assert_eq!(data["trigger"], "core.kv_changed");

    // `st2 execution tail`: the stream ends once the execution finished.
    let (_, again) = api
        .call(
            Method::POST,
            "/api/v1/executions",
            Some(json!({"action": "core.sleep", "parameters": {"seconds": 1}})),
        )
        .await;
    let again = again["id"].as_str().expect("id").to_owned();
    let mut tail = open(format!(
        "events=st2.execution__update&end_execution_id={again}&end_event=st2.execution__update"
    ))
    .await;
    let mut last = None;
    while let Some((_, data)) = tail.next().await {
        last = Some(data);
    }
    let last = last.expect("events before the end");
    assert_eq!(last["id"], again.as_str());
    assert_eq!(last["status"], "succeeded");

    let (status, body) = api.call(Method::GET, "/stream/v1/stream?execution_ids=nope", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn inquiries_show_their_ttl_and_take_st2_s_response_body() {
    let api = Api::start().await;
    let ask = json!({"action": "core.ask", "parameters": {}});
    let (status, asked) = api.call(Method::POST, "/api/v1/executions", Some(ask)).await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    let id = asked["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let inquiry = loop {
        let (status, body) = api.call(Method::GET, &format!("/api/v1/inquiries/{id}"), None).await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no inquiry: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    // core.ask's default ttl is a day.
    assert_eq!(inquiry["ttl"], 1440, "{inquiry}");
    let wrong = json!({"id": "another", "response": {"continue": true}});
    let (status, body) =
        api.call(Method::PUT, &format!("/api/v1/inquiries/{id}/"), Some(wrong)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["detail"]["parameter"], "id");
    let answer = json!({"id": id, "response": {"continue": true}});
    let (status, body) =
        api.call(Method::PUT, &format!("/api/v1/inquiries/{id}/"), Some(answer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["response"], json!({"continue": true}));
    assert_eq!(api.finished(&id).await["status"], "succeeded");
}

#[tokio::test]
async fn catalog_lists_take_stackstorm_s_pack_and_name_filters_and_attributes() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let echo = api.get("/api/v1/actions/?pack=core&name=echo").await;
    assert_eq!(echo.as_array().map(Vec::len), Some(1), "{echo}");
    assert_eq!(echo[0]["ref"], "core.echo");
    assert_eq!(api.get("/api/v1/actions?pack=nope").await, json!([]));
    let page =
        api.get("/api/v1/actions?pack=core&limit=2&offset=1&include_attributes=ref,pack").await;
    assert_eq!(
        page,
        json!([
            {"id": "core.echo", "ref": "core.echo", "pack": "core"},
            {"id": "core.fail", "ref": "core.fail", "pack": "core"}
        ])
    );
    // What `st2 rule list --pack tests` sends.
    let rules =
        api.get("/api/v1/rules/?pack=tests&include_attributes=ref%2Cpack%2Cdescription%2Cenabled&limit=50").await;
    assert_eq!(rules[0]["ref"], "tests.hello", "{rules}");
    assert!(rules[0].get("source").is_none(), "{rules}");
    assert_eq!(api.get("/api/v1/rules?pack=other").await, json!([]));
    let webhook = api.get("/api/v1/triggertypes?pack=core&name=webhook").await;
    assert_eq!(webhook.as_array().map(Vec::len), Some(1), "{webhook}");
    for (query, parameter) in
        [("colour=red", "colour"), ("limit=0", "limit"), ("sort_asc=true", "sort_asc")]
    {
        let (status, body) = api.call(Method::GET, &format!("/api/v1/actions?{query}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.starts_with(parameter)), "{body}");
    }
}
