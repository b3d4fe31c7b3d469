//! Losing a machine loses nothing acknowledged: webhook load spread over
//! the nodes while a Squall node or a NATS server is killed and restarted,
//! and a long workflow whose node dies finishing on another.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;

use super::spread::{HELLO, executions};
use super::{Cluster, Node, eventually};

const FINAL: [&str; 5] = ["succeeded", "failed", "timeout", "abandoned", "canceled"];

/// What the load got acknowledged.
#[derive(Default)]
struct Acked {
    instances: Vec<String>,
    executions: Vec<String>,
}

/// Sends `count` webhooks from each of 4 clients, round-robin over the
/// nodes not being restarted; a refused or unanswered one is not counted.
async fn load(nodes: Arc<Vec<Mutex<Node>>>, count: usize, sent: Arc<Mutex<usize>>) -> Acked {
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (nodes, acked, sent) = (nodes.clone(), acked.clone(), sent.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..count {
                let node = nodes[(client + n) % nodes.len()].lock().await;
                let body = format!(r#"{{"name": "c{client}n{n}"}}"#);
                let (status, answer) =
                    node.send("POST", "/api/v1/webhooks/hello", Some(&body)).await;
                drop(node);
                *sent.lock().await += 1;
                if status == 202 {
                    let mut acked = acked.lock().await;
                    if let Some(ids) = answer["trigger_instances"].as_array() {
                        acked
                            .instances
                            .extend(ids.iter().filter_map(|i| i.as_str().map(str::to_owned)));
                    }
                    acked.executions.extend(executions(&answer));
                }
            }
        }));
    }
    for client in clients {
        client.await.expect("a load client");
    }
    Arc::try_unwrap(acked).ok().expect("clients done").into_inner()
}

/// Every acknowledged event is stored with its execution, on `reader`, and
/// every execution succeeded (one cut short by a death is retried, and its
/// cut attempt recorded).
async fn check_acknowledged(reader: &Node, acked: &Acked) {
    assert!(acked.executions.len() >= acked.instances.len(), "one execution per event");
    for id in &acked.instances {
        let (status, instance) =
            reader.send("GET", &format!("/api/v1/triggerinstances/{id}"), None).await;
        assert_eq!(status, 200, "acknowledged trigger instance {id} is stored: {instance}");
    }
    let unique: HashSet<&String> = acked.executions.iter().collect();
    assert_eq!(unique.len(), acked.executions.len(), "no execution id handed out twice");
    for id in &acked.executions {
        let execution: Value =
            eventually(Duration::from_secs(60), &format!("execution {id} ending"), || async {
                let (status, execution) =
                    reader.send("GET", &format!("/api/v1/executions/{id}"), None).await;
                let ended = status == 200
                    && FINAL.contains(&execution["status"].as_str().unwrap_or_default());
                ended.then_some(execution)
            })
            .await;
        assert_eq!(execution["status"], "succeeded", "{execution}");
    }
}

/// Three nodes under webhook load, a third of it sent: the cluster, its
/// nodes (shared with the load), and the load, to await for what it got
/// acknowledged.
async fn cluster_under_load() -> (Cluster, Arc<Vec<Mutex<Node>>>, tokio::task::JoinHandle<Acked>) {
    let mut cluster = Cluster::start(3, &[]);
    let (status, _) = cluster.nodes[0].send("POST", "/api/v1/rules", Some(HELLO)).await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let nodes: Arc<Vec<Mutex<Node>>> =
        Arc::new(std::mem::take(&mut cluster.nodes).into_iter().map(Mutex::new).collect());
    let sent = Arc::new(Mutex::new(0));
    let running = tokio::spawn(load(nodes.clone(), 60, sent.clone()));
    eventually(Duration::from_secs(60), "a third of the load sent", || async {
        (*sent.lock().await >= 80).then_some(())
    })
    .await;
    (cluster, nodes, running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_acknowledged_while_a_node_is_killed_and_restarted_all_run() {
    let (_cluster, nodes, running) = cluster_under_load().await;
    // Killed mid-load, and back a little later, on the same data.
    nodes[1].lock().await.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nodes[1].lock().await.restart();
    let acked = running.await.expect("the load");
    let count = acked.instances.len();
    assert!(count >= 160, "most of the load acknowledged: {count}");
    let reader = nodes[2].lock().await;
    check_acknowledged(&reader, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_acknowledged_while_a_nats_server_is_killed_and_restarted_all_run() {
    let (mut cluster, nodes, running) = cluster_under_load().await;
    cluster.nats.kill(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.nats.restart(0);
    let mut acked = running.await.expect("the load");
    // While the log's stream elects a new leader, writes may be refused
    // (never acknowledged and lost); afterwards every node takes them again.
    assert!(acked.instances.len() >= 80, "the load before the kill: {}", acked.instances.len());
    for (n, node) in nodes.iter().enumerate() {
        let node = node.lock().await;
        let answer =
            eventually(Duration::from_secs(30), "a node taking webhooks again", || async {
                let body = format!(r#"{{"name": "after{n}"}}"#);
                let (status, answer) =
                    node.send("POST", "/api/v1/webhooks/hello", Some(&body)).await;
                (status == 202).then_some(answer)
            })
            .await;
        let ids = answer["trigger_instances"].as_array().expect("instances");
        acked.instances.extend(ids.iter().filter_map(|i| i.as_str().map(str::to_owned)));
        acked.executions.extend(executions(&answer));
    }
    let reader = nodes[0].lock().await;
    check_acknowledged(&reader, &acked).await;
}

const LONG_RULE: &str = r#"{"name": "long", "pack": "examples", "enabled": true,
  "trigger": {"type": "core.webhook", "parameters": {"url": "long"}},
  "action": {"ref": "flows.long", "parameters": {}}}"#;

/// Twenty steps in a row, each a short sleep that counts; the third waits
/// 3 s before it starts (a delay armed in its node's memory).
fn long_workflow() -> String {
    let mut text = String::from("version: 1.0\nvars:\n  - count: 0\ntasks:\n");
    for step in 0..20 {
        let next = if step < 19 { format!("\n        do: t{}", step + 1) } else { String::new() };
        let delay = if step == 2 { "    delay: 3\n" } else { "" };
        text.push_str(&format!(
            "  t{step}:\n{delay}    action: core.sleep\n    input: {{seconds: 0.25}}\n    next:\n      - publish: [count: '{{{{ ctx().count + 1 }}}}']{next}\n"
        ));
    }
    text.push_str("output:\n  - count: '{{ ctx().count }}'\n");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_whose_node_dies_mid_way_finishes_on_another_with_its_output() {
    let packs = tempfile::tempdir().expect("tempdir");
    let flows = packs.path().join("flows");
    std::fs::create_dir_all(flows.join("workflows")).expect("flows dir");
    std::fs::write(
        flows.join("pack.toml"),
        "name = \"flows\"\nversion = \"1.0.0\"\n[actions.long]\nworkflow = \"workflows/long.yaml\"\n",
    )
    .expect("manifest");
    std::fs::write(flows.join("workflows/long.yaml"), long_workflow()).expect("workflow");
    let pack = vec![
        "--pack".to_owned(),
        flows.join("pack.toml").display().to_string(),
        squall_tests::CORE_PACK.to_owned(),
    ];
    let mut cluster = Cluster::start(3, &pack);
    let (status, _) = cluster.nodes[0].send("POST", "/api/v1/rules", Some(LONG_RULE)).await;
    assert_eq!(status, 201);
    let (status, answer) = cluster.nodes[0].send("POST", "/api/v1/webhooks/long", Some("{}")).await;
    assert_eq!(status, 202, "{answer}");
    let id = executions(&answer).pop().expect("the workflow's execution");
    // Mid-way, in the third step's delay: two steps done, most to come.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    cluster.nodes[0].kill();
    let reader = &cluster.nodes[1];
    let done: Value = eventually(Duration::from_secs(60), "the workflow ending", || async {
        let (status, execution) =
            reader.send("GET", &format!("/api/v1/executions/{id}"), None).await;
        (status == 200 && FINAL.contains(&execution["status"].as_str().unwrap_or_default()))
            .then_some(execution)
    })
    .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["output"]["count"], 20, "{done}");
}
