//! The crash test: the host as a real process is fed 10,000 events that each
//! start one action, killed with SIGKILL part-way, restarted, and fed the
//! same events again (a producer replays what it cannot prove was
//! committed). Every event must end with exactly one succeeded execution.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use squall::store::{ExecutionStatus, Store, StoreConfig, TriggerInstanceStatus, new_id};
use squall_tests::{CORE_MANIFEST, CORE_PACK};
use uuid::Uuid;

const EVENTS: usize = 10_000;

const RULE: &str = r#"
name: each_event_runs_noop
pack: load
enabled: true
trigger:
  type: core.webhook
  parameters: {url: load}
action:
  ref: core.noop
  parameters:
    seq: "{{ trigger.body.seq }}"
"#;

fn host(data: &Path, rules: &Path, exit_when_idle: bool) -> Child {
    engine_process(data, rules, &[], exit_when_idle)
}

/// `squall engine` as a real process on `data` with the core pack, the
/// `extra` packs (manifest, component) and the rule files in `rules`,
/// reading events from a pipe and acknowledging them on another.
pub(super) fn engine_process(
    data: &Path,
    rules: &Path,
    extra: &[(&Path, &Path)],
    exit_when_idle: bool,
) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_squall-host"));
    command.arg("engine").arg("--data-dir").arg(data).args(["--pack", CORE_MANIFEST, CORE_PACK]);
    for (manifest, component) in extra {
        command.arg("--pack").arg(manifest).arg(component);
    }
    command
        .arg("--rules")
        .arg(rules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if exit_when_idle {
        command.arg("--exit-when-idle");
    }
    command.spawn().expect("start the host")
}

/// Waits (at most `limit`) for a host started with `--exit-when-idle` to
/// exit, and asserts it succeeded.
pub(super) fn exits_when_idle(host: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = host.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the restarted host never went idle");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the restarted host failed: {status}");
}

/// One `core.webhook` event line per id, to `url`, with its `seq`.
pub(super) fn webhook_lines(ids: &[Uuid], url: &str) -> Vec<String> {
    ids.iter()
        .enumerate()
        .map(|(seq, id)| {
            json!({"id": id, "trigger": "core.webhook", "parameters": {"url": url},
                   "payload": {"headers": {}, "body": {"seq": seq}}})
            .to_string()
        })
        .collect()
}

/// Writes every event to the host's standard input from a thread; closes it
/// at the end when `close` (otherwise the host keeps waiting for more).
fn feed(child: &mut Child, lines: Vec<String>, close: bool) -> std::thread::JoinHandle<()> {
    let mut stdin = child.stdin.take().expect("stdin");
    std::thread::spawn(move || {
        for line in lines {
            // The host may be killed mid-write: stop quietly.
            if writeln!(stdin, "{line}").is_err() {
                return;
            }
        }
        if !close {
            std::mem::forget(stdin);
        }
    })
}

#[test]
fn a_host_killed_mid_stream_loses_nothing_and_runs_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, rules) = (dir.path().join("data"), dir.path().join("rules"));
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("load.yaml"), RULE).expect("rule");

    let ids: Vec<Uuid> = (0..EVENTS).map(|_| new_id()).collect();
    let lines = webhook_lines(&ids, "load");

    // First run: kill it once a third of the events are acknowledged, with
    // executions queued and running.
    let mut first = host(&data, &rules, false);
    let writer = feed(&mut first, lines.clone(), false);
    let mut acked = HashSet::new();
    let stdout = BufReader::new(first.stdout.take().expect("stdout"));
    for line in stdout.lines() {
        let answer: Value = serde_json::from_str(&line.expect("ack line")).expect("ack is JSON");
        assert!(answer.get("error").is_none(), "refused: {answer}");
        acked.insert(answer["id"].as_str().expect("id").to_owned());
        if acked.len() >= EVENTS / 3 {
            break;
        }
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let _ = writer.join();

    // Second run: the producer replays everything; the host recovers what
    // was running, finishes the queue and exits when idle.
    let mut second = host(&data, &rules, true);
    let writer = feed(&mut second, lines, true);
    let stdout = BufReader::new(second.stdout.take().expect("stdout"));
    let mut duplicates = 0;
    for line in stdout.lines() {
        let answer: Value = serde_json::from_str(&line.expect("ack line")).expect("ack is JSON");
        assert!(answer.get("error").is_none(), "refused: {answer}");
        if answer["duplicate"] == json!(true) {
            duplicates += 1;
        } else {
            let id = answer["id"].as_str().expect("id");
            assert!(!acked.contains(id), "an acknowledged event was committed again: {id}");
        }
    }
    writer.join().expect("writer");
    exits_when_idle(&mut second, Duration::from_secs(300));
    assert!(duplicates >= acked.len(), "every acknowledged event was recognised on replay");

    let store = Store::open(
        &data.join("squall.redb"),
        StoreConfig { retention: None, ..StoreConfig::default() },
    )
    .expect("reopen");
    let snapshot = store.read().expect("read");
    let executions = snapshot.executions(None, 10 * EVENTS).expect("executions");
    let noops: Vec<_> = executions.iter().filter(|e| e.action == "core.noop").collect();
    let mut by_instance: HashMap<Uuid, usize> = HashMap::new();
    for execution in &noops {
        assert_eq!(execution.status, ExecutionStatus::Succeeded, "{execution:?}");
        *by_instance.entry(execution.trigger_instance.expect("caused by an event")).or_default() +=
            1;
    }
    assert_eq!(noops.len(), EVENTS, "one execution record per event");
    for (seq, id) in ids.iter().enumerate() {
        let instance = snapshot.trigger_instance(*id).expect("read").expect("event committed");
        assert_eq!(instance.status, TriggerInstanceStatus::Processed);
        assert_eq!(instance.payload["body"]["seq"], json!(seq));
        assert_eq!(by_instance.get(id), Some(&1), "event {seq} has exactly one execution");
        assert_eq!(instance.decisions.len(), 1);
    }
    assert_eq!(snapshot.queued_executions().expect("queue"), 0);
    assert_eq!(snapshot.running_executions().expect("running"), 0);
    let recovered = noops.iter().filter(|e| e.attempt > 1).count();
    eprintln!(
        "crash test: {} acknowledged before SIGKILL, {duplicates} replays recognised, {recovered} executions recovered",
        acked.len()
    );
}
