//! What one node changes, every node sees and acts on: rules, keys,
//! executions; timers fire once per instant across the cluster.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Cluster, eventually};

pub(super) const HELLO: &str = r#"{"name": "hello", "pack": "examples", "enabled": true,
  "trigger": {"type": "core.webhook", "parameters": {"url": "hello"}},
  "action": {"ref": "core.echo", "parameters": {"message": "hello {{ trigger.body.name }}"}}}"#;

/// The executions a webhook's 202 names.
pub(super) fn executions(answer: &Value) -> Vec<String> {
    answer["executions"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|id| id.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_stored_on_one_node_runs_on_another_and_shows_on_a_third_and_disabling_it_applies_everywhere()
 {
    let cluster = Cluster::start(3, &[]);
    let [a, b, c] = &cluster.nodes[..] else { unreachable!("three nodes") };
    let (status, _) = a.send("POST", "/api/v1/rules", Some(HELLO)).await;
    assert_eq!(status, 201, "create the rule on node a");

    // b matches it within a second of a's answer.
    let stored = Instant::now();
    let started = eventually(Duration::from_secs(1), "node b matching a's rule", || async {
        let (status, answer) =
            b.send("POST", "/api/v1/webhooks/hello", Some(r#"{"name": "bee"}"#)).await;
        (status == 202 && !executions(&answer).is_empty()).then(|| executions(&answer))
    })
    .await;
    assert!(stored.elapsed() < Duration::from_secs(1));

    // c shows the execution b ran, with its result.
    let id = &started[0];
    let shown = eventually(Duration::from_secs(10), "node c showing b's execution", || async {
        let (status, execution) = c.send("GET", &format!("/api/v1/executions/{id}"), None).await;
        (status == 200 && execution["status"] == "succeeded").then_some(execution)
    })
    .await;
    assert_eq!(shown["result"]["message"], json!("hello bee"), "{shown}");

    // c's event stream shows what b runs.
    let mut events = c.stream("/api/v1/stream?events=execution").await;
    let (status, answer) =
        b.send("POST", "/api/v1/webhooks/hello", Some(r#"{"name": "sea"}"#)).await;
    assert_eq!(status, 202);
    let id = executions(&answer).pop().expect("an execution");
    super::read_until(&mut events, &[&id, "succeeded"], Duration::from_secs(10)).await;

    // Disabled through b: a stops matching within a second.
    let (status, _) = b.send("POST", "/api/v1/rules/examples.hello/disable", Some("{}")).await;
    assert!(status < 300, "disable on b: {status}");
    let disabled = Instant::now();
    eventually(Duration::from_secs(1), "node a no longer matching", || async {
        let (status, answer) =
            a.send("POST", "/api/v1/webhooks/hello", Some(r#"{"name": "ay"}"#)).await;
        // No rule listens on the route any more: refused, or accepted
        // with nothing started.
        (status == 404 || (status == 202 && executions(&answer).is_empty())).then_some(())
    })
    .await;
    assert!(disabled.elapsed() < Duration::from_secs(1));

    // A key set on c is read back on c at once (its own write) and on a.
    let (status, _) = c
        .send("PUT", "/api/v1/keys/greeting", Some(r#"{"name": "greeting", "value": "from c"}"#))
        .await;
    assert!(status < 300, "set a key on c: {status}");
    assert_eq!(c.get("/api/v1/keys/greeting").await["value"], "from c");
    eventually(Duration::from_secs(1), "node a reading c's key", || async {
        let (status, key) = a.send("GET", "/api/v1/keys/greeting", None).await;
        (status == 200 && key["value"] == "from c").then_some(())
    })
    .await;
}

const EVERY_SECOND: &str = r#"{"name": "tick", "pack": "examples", "enabled": true,
  "trigger": {"type": "core.interval_timer", "parameters": {"unit": "seconds", "delta": 1}},
  "action": {"ref": "core.noop", "parameters": {}}}"#;

/// The instants the interval timer fired for, as stored, oldest first.
async fn firings(node: &super::Node) -> Vec<jiff::Timestamp> {
    let page = node.get("/api/v1/triggerinstances?trigger=core.interval_timer&limit=500").await;
    let mut instants = Vec::new();
    for head in page.as_array().expect("a list") {
        let id = head["id"].as_str().expect("an id");
        let instance = node.get(&format!("/api/v1/triggerinstances/{id}")).await;
        let at = instance["payload"]["executed_at"].as_str().expect("executed_at");
        instants.push(at.parse::<jiff::Timestamp>().expect("an instant"));
    }
    instants.sort();
    instants
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_once_per_instant_across_the_cluster_and_across_a_nodes_death() {
    let mut cluster = Cluster::start(3, &[]);
    let (status, _) = cluster.nodes[0].send("POST", "/api/v1/rules", Some(EVERY_SECOND)).await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The node that stored the timer's anchor may be the one that dies.
    cluster.nodes[0].kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let instants = firings(&cluster.nodes[1]).await;
    assert!(instants.len() >= 6, "fired {} times in 8 s: {instants:?}", instants.len());
    for pair in instants.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert_eq!(
            gap,
            jiff::SignedDuration::from_secs(1),
            "instants one second apart, none twice, none skipped: {instants:?}"
        );
    }
    let seen = eventually(Duration::from_secs(2), "node 2 seeing every firing", || async {
        let seen = firings(&cluster.nodes[2]).await;
        (seen.len() >= instants.len()).then_some(seen)
    })
    .await;
    assert_eq!(seen[..instants.len()], instants[..], "every node sees the same firings");
}

const NAP: &str = r#"{"name": "nap", "pack": "examples", "enabled": true,
  "trigger": {"type": "core.webhook", "parameters": {"url": "nap"}},
  "action": {"ref": "core.sleep", "parameters": {"seconds": 0.3}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_policy_holds_across_the_cluster() {
    // The core pack with `sleep` limited to one run at a time, cluster-wide.
    let packs = tempfile::tempdir().expect("tempdir");
    let manifest = packs.path().join("pack.toml");
    let text = std::fs::read_to_string(squall_tests::CORE_MANIFEST).expect("manifest").replace(
        r#"policy = { timeout = "10m" }"#,
        r#"policy = { timeout = "1m", concurrency = { threshold = 1, action = "delay", delay = "50ms" } }"#,
    );
    std::fs::write(&manifest, text).expect("write the manifest");
    let pack =
        ["--pack".to_owned(), manifest.display().to_string(), squall_tests::CORE_PACK.to_owned()];
    let cluster = Cluster::start(3, &pack);
    let (status, _) = cluster.nodes[0].send("POST", "/api/v1/rules", Some(NAP)).await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Two requests through each node, at once.
    let sends = cluster.nodes.iter().flat_map(|node| {
        (0..2).map(move |_| node.send("POST", "/api/v1/webhooks/nap", Some("{}")))
    });
    let mut ids = Vec::new();
    for (status, answer) in futures_util::future::join_all(sends).await {
        assert_eq!(status, 202, "{answer}");
        ids.extend(executions(&answer));
    }
    assert_eq!(ids.len(), 6);
    // Read on one node: it learns of the others' executions as it applies
    // their log entries, so one may not be there yet (404) at first.
    let reader = &cluster.nodes[1];
    let mut spans = Vec::new();
    for id in &ids {
        let execution = eventually(Duration::from_secs(30), "a sleep ending", || async {
            let (status, execution) =
                reader.send("GET", &format!("/api/v1/executions/{id}"), None).await;
            (status == 200 && execution["status"] == "succeeded").then_some(execution)
        })
        .await;
        // StackStorm's start_timestamp is when it was requested; the log
        // says when it started running.
        let running = execution["log"]
            .as_array()
            .expect("a log")
            .iter()
            .rfind(|entry| entry["status"] == "running")
            .and_then(|entry| entry["timestamp"].as_str())
            .expect("a running entry");
        let end = execution["end_timestamp"].as_str().expect("an end");
        let at = |text: &str| -> jiff::Timestamp { text.parse().expect("a time") };
        spans.push((at(running), at(end)));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "two sleeps ran at once on the cluster: {spans:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_secret_key_refuses_to_join() {
    let cluster = Cluster::start(1, &[]);
    let (status, _) = cluster.nodes[0]
        .send(
            "PUT",
            "/api/v1/keys/token",
            Some(r#"{"name": "token", "value": "s3cret", "secret": true}"#),
        )
        .await;
    assert!(status < 300, "set a secret: {status}");
    let data = tempfile::tempdir().expect("tempdir");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_squall-host"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path().join("stranger"))
        .args(["--listen", "127.0.0.1:0", "--cluster", &cluster.nats.urls(), "--node", "stranger"])
        .env_remove("SQUALL_DATA_DIR")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("it stops by itself")
        .expect("it ran");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not the cluster's"), "{stderr}");
    assert!(stderr.contains("squall.redb.key"), "names the key file: {stderr}");
    assert!(!stderr.contains("s3cret"));
}

/// `squall cluster status --json` against the test's NATS servers.
async fn status(cluster: &Cluster) -> Value {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_squall-host"))
        .args(["cluster", "status", "--json", "--node-timeout", "2s", "--cluster"])
        .arg(cluster.nats.urls())
        .output()
        .await
        .expect("squall cluster status runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_shows_the_nodes_their_heartbeats_and_the_log() {
    let mut cluster = Cluster::start(2, &[]);
    let shown = status(&cluster).await;
    let nodes = shown["nodes"].as_array().expect("nodes");
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["node"].as_str()).collect();
    assert_eq!(names, ["node0", "node1"], "{shown}");
    assert!(nodes.iter().all(|n| n["alive"] == true), "{shown}");
    assert_eq!(shown["stream"]["name"], "SQUALL_LOG");
    assert_eq!(shown["stream"]["replicas"], 3, "one replica per NATS server");
    assert_eq!(shown["stream"]["peers"].as_array().map(Vec::len), Some(2), "{shown}");
    assert!(shown["stream"]["last_sequence"].as_u64() > Some(0));

    cluster.nodes[1].kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shown = status(&cluster).await;
    let alive: Vec<(String, bool)> = shown["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["node"].as_str().unwrap_or_default().to_owned(), n["alive"] == true))
        .collect();
    assert_eq!(alive, [("node0".to_owned(), true), ("node1".to_owned(), false)], "{shown}");
}

/// The core component as the pack `demo`, unsigned, with a rule relaying
/// `relay` webhooks to its echo.
fn demo_bundle() -> Vec<u8> {
    let core = std::fs::read_to_string(squall_tests::CORE_MANIFEST).expect("core manifest");
    let manifest = core.replacen("name = \"core\"", "name = \"demo\"", 1);
    let relay = "name: relay\npack: demo\nenabled: true\n\
                 trigger: {type: core.webhook, parameters: {url: relay}}\n\
                 action: {ref: demo.echo, parameters: {message: 'n={{ trigger.body.n }}'}}\n";
    let files = squall::pack::BundleFiles {
        manifest,
        rules: std::collections::BTreeMap::from([("relay.yaml".to_owned(), relay.to_owned())]),
        workflows: std::collections::BTreeMap::new(),
        aliases: std::collections::BTreeMap::new(),
    };
    let component = std::fs::read(squall_tests::CORE_PACK).expect("core component");
    squall::pack::assemble(&component, &files, "demo.wasm").expect("assemble")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_installed_on_one_node_runs_on_another_and_its_removal_applies_there() {
    let cluster = Cluster::start(2, &["--allow-unsigned".to_owned()]);
    let [a, b] = &cluster.nodes[..] else { unreachable!("two nodes") };
    let (status, installed) = a
        .send_bytes("POST", "/api/v1/packs?allow_unsigned=true", "application/wasm", demo_bundle())
        .await;
    assert_eq!(status, 201, "install on a: {installed}");
    // b compiles it from the log and runs its action through its rule.
    let id = eventually(Duration::from_secs(30), "node b running the new pack", || async {
        let (status, answer) = b.send("POST", "/api/v1/webhooks/relay", Some(r#"{"n": 7}"#)).await;
        (status == 202).then(|| executions(&answer).pop()).flatten()
    })
    .await;
    let done = eventually(Duration::from_secs(10), "demo.echo ending", || async {
        let execution = b.get(&format!("/api/v1/executions/{id}")).await;
        (execution["status"] == "succeeded").then_some(execution)
    })
    .await;
    assert_eq!(done["action"]["ref"], "demo.echo", "{done}");
    assert_eq!(done["result"]["message"], "n=7", "{done}");
    assert_eq!(b.get("/api/v1/actions/demo.echo").await["ref"], "demo.echo");

    // Removed through b: a takes it out of service too.
    let (status, removed) = b.send("DELETE", "/api/v1/packs/demo", None).await;
    assert!(status < 300, "remove on b: {status} {removed}");
    eventually(Duration::from_secs(5), "node a dropping demo.echo", || async {
        let (status, _) = a.send("GET", "/api/v1/actions/demo.echo", None).await;
        (status == 404).then_some(())
    })
    .await;
}

const TICKS_MANIFEST: &str = r#"
name = "hostile"
version = "0.3.0"
description = "test guest"

[actions.whoami]
description = "says who it runs as"

[triggers.tick]
description = "a numbered tick"
payload = { type = "object", required = ["n"], properties = { n = { type = "integer" } } }

[sensors.ticks]
kind = "poll"
interval = "200ms"
emits = ["tick"]

[config]
type = "object"
required = ["batch"]
properties = { batch = { type = "integer", minimum = 1 } }
"#;

/// The numbers of the `hostile.tick` instances stored, in order.
async fn ticks(node: &super::Node) -> Vec<u64> {
    let page = node.get("/api/v1/triggerinstances?trigger=hostile.tick&limit=1000").await;
    let mut numbers = Vec::new();
    for head in page.as_array().expect("a list") {
        let id = head["id"].as_str().expect("an id");
        let instance = node.get(&format!("/api/v1/triggerinstances/{id}")).await;
        numbers.push(instance["payload"]["n"].as_u64().expect("n"));
    }
    numbers.sort_unstable();
    numbers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_sensor_polls_on_one_node_and_moves_when_it_dies_without_repeating_or_skipping() {
    let mut cluster = Cluster::start(3, &["--allow-unsigned".to_owned()]);
    let files = squall::pack::BundleFiles {
        manifest: TICKS_MANIFEST.to_owned(),
        rules: std::collections::BTreeMap::new(),
        workflows: std::collections::BTreeMap::new(),
        aliases: std::collections::BTreeMap::new(),
    };
    let component = std::fs::read(squall_tests::HOSTILE_GUEST).expect("the test guest");
    let bundle = squall::pack::assemble(&component, &files, "hostile.wasm").expect("assemble");
    let node = &cluster.nodes[0];
    let (status, installed) = node
        .send_bytes("POST", "/api/v1/packs?allow_unsigned=true", "application/wasm", bundle)
        .await;
    assert_eq!(status, 201, "{installed}");
    // One event per poll, numbered on from the shared cursor.
    let (status, config) =
        node.send("PUT", "/api/v1/configs/hostile", Some(r#"{"batch": 1}"#)).await;
    assert!(status < 300, "configure: {status} {config}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = ticks(&cluster.nodes[1]).await;
    assert!(!before.is_empty(), "the sensor polled");
    // Whichever node holds the lease, one of the three dies: if it was the
    // holder, another takes the sensor over once the lease runs out.
    cluster.nodes[0].kill();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let after = ticks(&cluster.nodes[1]).await;
    assert!(
        after.len() > before.len() + 5,
        "polling went on: {} then {}",
        before.len(),
        after.len()
    );
    let expected: Vec<u64> = (1..=after.len() as u64).collect();
    assert_eq!(after, expected, "every number once, none skipped");
}
