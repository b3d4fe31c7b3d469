//! The `squall` client commands against a real server: the API tests'
//! engine (core pack, an admin key) behind the router on a TCP listener on
//! 127.0.0.1 (port 0), driven through `squall::cli::execute` on a blocking
//! thread.

use expect_test::{Expect, expect};
use serde_json::Value;
use squall::api::router;

use super::api::Api;

/// The API tests' engine and key, served on a loopback port.
pub(super) struct Server {
    url: String,
    key: String,
    pub(super) api: Api,
}

/// What one CLI invocation did.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) code: u8,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Outcome {
    /// Exit status, stdout and stderr with ids and times masked.
    fn rendered(&self) -> String {
        mask(&format!("exit {}\nstdout:\n{}stderr:\n{}", self.code, self.stdout, self.stderr))
    }

    fn check(&self, expected: Expect) {
        expected.assert_eq(&self.rendered());
    }

    /// Stdout of a command that must have succeeded.
    pub(super) fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{}", self.rendered());
        &self.stdout
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", self.stdout))
    }
}

impl Server {
    pub(super) async fn start() -> Self {
        let api = Api::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listener");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(axum::serve(listener, router(api.state.clone())).into_future());
        Self { url, key: api.key.clone(), api }
    }

    /// The server's base URL and the admin API key, for a `squall` child
    /// process.
    pub(super) fn credentials(&self) -> [&str; 4] {
        ["--url", &self.url, "--api-key", &self.key]
    }

    /// `squall ARGS --url URL --api-key KEY`.
    pub(super) async fn cli(&self, args: &[&str]) -> Outcome {
        let mut argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        argv.extend([
            "--url".to_owned(),
            self.url.clone(),
            "--api-key".to_owned(),
            self.key.clone(),
        ]);
        execute(argv).await
    }
}

/// Runs `squall ARGS` on a blocking thread while the server runs here.
pub(super) async fn execute(args: Vec<String>) -> Outcome {
    tokio::task::spawn_blocking(move || {
        let argv = std::iter::once("squall".to_owned()).chain(args);
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let code = squall::cli::execute(argv, &mut stdout, &mut stderr);
        Outcome {
            code,
            stdout: String::from_utf8(stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(stderr).expect("utf-8 stderr"),
        }
    })
    .await
    .expect("the CLI thread")
}

/// Replaces each distinct UUID with a numbered one of the same width
/// (`00000001-0000-…`, by first appearance), RFC 3339 times to the second
/// with `YYYY-MM-DDTHH:MM:SSZ`, and the value of a `took:` line with
/// `<took>`, so that tables keep their alignment.
fn mask(text: &str) -> String {
    fn is_uuid(s: &[u8]) -> bool {
        s.len() == 36
            && s.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    }
    fn is_time(s: &[u8]) -> bool {
        s.len() == 20
            && s.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                10 => *b == b'T',
                13 | 16 => *b == b':',
                19 => *b == b'Z',
                _ => b.is_ascii_digit(),
            })
    }
    let mut ids: Vec<String> = Vec::new();
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i..i + 36).is_some_and(is_uuid) {
            let id = &text[i..i + 36];
            let n = match ids.iter().position(|known| known == id) {
                Some(n) => n + 1,
                None => {
                    ids.push(id.to_owned());
                    ids.len()
                }
            };
            out.push_str(&format!("{n:08}-0000-0000-0000-000000000000"));
            i += 36;
        } else if bytes.get(i..i + 20).is_some_and(is_time) {
            out.push_str("YYYY-MM-DDTHH:MM:SSZ");
            i += 20;
        } else {
            let c = text[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out.lines()
        .map(|line| match line.strip_prefix("took:") {
            Some(_) => "took:        <took>".to_owned(),
            None => line.to_owned(),
        })
        .map(|line| line + "\n")
        .collect()
}

/// The value of the `name: value` line in `text`.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.trim())
    })
}

const RULE: &str = r#"name: disk_full
pack: ops
description: Clean up when a disk is nearly full
enabled: true
trigger: {type: core.st2.webhook, parameters: {url: disk}}
criteria:
  trigger.body.used: {type: greaterthan, pattern: 0.9}
action:
  ref: core.echo
  parameters: {message: "clean {{ trigger.body.mount }}"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_the_action_and_prints_its_result() {
    let server = Server::start().await;
    server.cli(&["run", "core.echo", "message=hi"]).await.check(expect![[r#"
        exit 0
        stdout:
        id:          00000001-0000-0000-0000-000000000000
        action:      core.echo
        status:      succeeded
        parameters:  {"message":"hi"}
        created_at:  YYYY-MM-DDTHH:MM:SSZ
        started_at:  YYYY-MM-DDTHH:MM:SSZ
        finished_at: YYYY-MM-DDTHH:MM:SSZ
        took:        <took>
        result:      {"message":"hi"}
        stderr:
    "#]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_action_exits_1_and_says_why_on_one_line() {
    let server = Server::start().await;
    server.cli(&["run", "core.fail", "message=disk full"]).await.check(expect![[r#"
        exit 1
        stdout:
        id:          00000001-0000-0000-0000-000000000000
        action:      core.fail
        status:      failed
        parameters:  {"message":"disk full"}
        created_at:  YYYY-MM-DDTHH:MM:SSZ
        started_at:  YYYY-MM-DDTHH:MM:SSZ
        finished_at: YYYY-MM-DDTHH:MM:SSZ
        took:        <took>
        result:      {"error":"disk full"}
        error:       disk full
        stderr:
        error: core.fail 00000001-0000-0000-0000-000000000000: disk full
    "#]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_prints_an_id_that_execution_get_and_list_show() {
    let server = Server::start().await;
    let started = server.cli(&["run", "--async", "core.sleep", "seconds=0.2"]).await;
    assert_eq!(started.code, 0, "{}", started.rendered());
    let id = started.stdout.trim().to_owned();
    assert_eq!(mask(&id), "00000001-0000-0000-0000-000000000000\n", "one id: {id}");

    let shown = server.cli(&["execution", "get", &id]).await;
    assert_eq!(shown.code, 0, "{}", shown.rendered());
    assert_eq!(field(&shown.stdout, "id"), Some(id.as_str()), "{}", shown.stdout);
    assert_eq!(field(&shown.stdout, "action"), Some("core.sleep"), "{}", shown.stdout);

    // Finished by the time `re-run` waited for its copy.
    let again = server.cli(&["execution", "re-run", &id]).await;
    assert_eq!(again.code, 0, "{}", again.rendered());
    assert!(!again.stdout.contains(&id), "a new execution: {}", again.stdout);
    assert_eq!(field(&again.stdout, "result"), Some(r#"{"slept_seconds":0.2}"#));

    server.cli(&["execution", "list", "--action", "core.sleep"]).await.check(expect![[r#"
        exit 0
        stdout:
        ID                                    ACTION      STATUS     RULE  CREATED
        00000001-0000-0000-0000-000000000000  core.sleep  succeeded        YYYY-MM-DDTHH:MM:SSZ
        00000002-0000-0000-0000-000000000000  core.sleep  succeeded        YYYY-MM-DDTHH:MM:SSZ
        stderr:
    "#]]);
    let list = server.cli(&["execution", "list", "--all", "--limit", "1"]).await;
    assert_eq!(list.stdout.lines().count(), 2, "a header and one row: {}", list.stdout);
    assert_eq!(
        list.stderr,
        "note: 1 of 2 executions shown, newest first; more match: --offset 1 shows the next page\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_each_state_change_of_a_running_execution_until_it_succeeds() {
    let server = Server::start().await;
    let started = server.cli(&["run", "--async", "core.sleep", "seconds=1"]).await;
    let id = started.stdout.trim().to_owned();
    let tail = server.cli(&["execution", "tail", &id]).await;
    assert_eq!(tail.code, 0, "{}", tail.rendered());
    // Where it is when tail starts (requested, or already running), then
    // every change, each once.
    let lines: Vec<&str> = tail.stdout.lines().collect();
    let prefix = format!("{id} core.sleep ");
    let states: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix(&prefix)).collect();
    assert_eq!(states.len(), lines.len(), "{}", tail.stdout);
    let (before, last) = states.split_at(states.len().saturating_sub(2));
    assert_eq!(last, ["running", "succeeded"], "{}", tail.stdout);
    assert!(before.len() <= 1, "{}", tail.stdout);
    assert!(before.iter().all(|s| ["requested", "scheduled"].contains(s)), "{}", tail.stdout);

    // A finished execution: its last state, and its outcome as exit status.
    let failed = server.cli(&["run", "core.fail", "message=no", "--json"]).await;
    assert_eq!(failed.code, 1, "{}", failed.rendered());
    let failed: Value = serde_json::from_str(&failed.stdout).expect("the execution as JSON");
    let failed = failed["id"].as_str().expect("an id");
    let tail = server.cli(&["execution", "tail", failed, "--json"]).await;
    assert_eq!(tail.code, 1, "{}", tail.rendered());
    let line: Value = serde_json::from_str(tail.stdout.trim()).expect("one JSON line");
    assert_eq!(line["status"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_created_from_yaml_listed_and_disabled() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("disk_full.yaml");
    std::fs::write(&file, RULE).expect("rule file");
    let file = file.to_str().expect("utf-8 path");

    let created = server.cli(&["rule", "create", file]).await;
    assert_eq!(created.code, 0, "{}", created.rendered());
    assert_eq!(field(&created.stdout, "ref"), Some("ops.disk_full"), "{}", created.stdout);
    assert_eq!(field(&created.stdout, "enabled"), Some("true"));
    server.cli(&["rule", "list"]).await.check(expect![[r#"
        exit 0
        stdout:
        REF            ENABLED  TRIGGER           ACTION     DESCRIPTION
        ops.disk_full  yes      core.st2.webhook  core.echo  Clean up when a disk is nearly full
        stderr:
    "#]]);
    server.cli(&["rule", "disable", "ops.disk_full"]).await.check(expect![[r#"
        exit 0
        stdout:
        rule ops.disk_full disabled
        stderr:
    "#]]);
    let listed = server.cli(&["rule", "list", "--json"]).await.json();
    assert_eq!(listed[0]["ref"], "ops.disk_full");
    assert_eq!(listed[0]["enabled"], false);

    let again = server.cli(&["rule", "create", file]).await;
    assert_eq!(again.code, 2);
    assert_eq!(
        again.stderr,
        format!("error: {file}: rule `ops.disk_full` already exists (HTTP 409 Conflict)\n")
    );
    // A rule that loads but cannot do what it seems to is stored, and its
    // warning is shown.
    let odd = dir.path().join("odd.yaml");
    let odd_rule = "name: odd\npack: ops\ntrigger: {type: core.st2.webhook, parameters: {url: odd}}\ncriteria:\n  payload.x: {type: exists}\naction: {ref: core.echo, parameters: {message: hi}}\n";
    std::fs::write(&odd, odd_rule).expect("rule file");
    let warned = server.cli(&["rule", "create", odd.to_str().expect("utf-8 path")]).await;
    assert_eq!(warned.code, 0, "{}", warned.rendered());
    let warning = field(&warned.stdout, "warnings").unwrap_or_default();
    assert!(
        warning.starts_with("criteria.payload.x: criteria keys start with `trigger.`"),
        "{}",
        warned.stdout
    );
    server.cli(&["rule", "delete", "ops.odd"]).await;
    let deleted = server.cli(&["rule", "delete", "ops.disk_full"]).await;
    assert_eq!(deleted.stdout, "rule ops.disk_full deleted\n");
    server.cli(&["rule", "list"]).await.check(expect![[r#"
        exit 0
        stdout:
        no rules
        stderr:
    "#]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_shown_masked() {
    let server = Server::start().await;
    let set = server.cli(&["key", "set", "token", "s3cret", "--secret"]).await;
    assert_eq!(set.code, 0, "{}", set.rendered());
    assert!(!set.stdout.contains("s3cret"), "{}", set.stdout);
    server.cli(&["key", "set", "keep_days", "7", "--ttl", "1h"]).await;
    server.cli(&["key", "get", "token"]).await.check(expect![[r#"
        exit 0
        stdout:
        name:   token
        value:  ********
        secret: true
        scope:  system
        stderr:
    "#]]);
    server.cli(&["key", "list"]).await.check(expect![[r#"
        exit 0
        stdout:
        NAME       VALUE     SECRET  SCOPE   EXPIRES
        keep_days  7         false   system  YYYY-MM-DDTHH:MM:SSZ
        token      ********  true    system
        stderr:
    "#]]);
    let deleted = server.cli(&["key", "delete", "keep_days"]).await;
    assert_eq!(deleted.stdout, "key keep_days deleted from scope system\n");
    let gone = server.cli(&["key", "get", "keep_days"]).await;
    assert_eq!(
        gone.stderr,
        "error: key `keep_days` not found in scope system (HTTP 404 Not Found)\n"
    );
    assert_eq!(gone.code, 2);
    // Each change was an event.
    let instances = server.cli(&["trigger-instance", "list", "--json"]).await.json();
    let triggers: Vec<&str> = instances
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|i| i["trigger"].as_str())
        .collect();
    assert_eq!(triggers, ["core.kv_changed"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_is_the_servers_json() {
    let server = Server::start().await;
    let run = server.cli(&["run", "core.echo", "message=hi", "--json"]).await.json();
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["result"]["message"], "hi");
    let id = run["id"].as_str().expect("an id");
    let got = server.cli(&["execution", "get", id, "--json"]).await.json();
    assert_eq!(got, run);
    let list = server.cli(&["execution", "list", "--json"]).await.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let packs = server.cli(&["pack", "list", "--json"]).await.json();
    assert_eq!(packs[0]["name"], "core");
    for args in [
        &["trigger", "list", "--json"][..],
        &["key", "list", "--json"],
        &["apikey", "list", "--json"],
        &["sensor", "list", "--json"],
        &["action", "get", "core.echo", "--json"],
    ] {
        let value = server.cli(args).await.json();
        assert!(value.is_array() || value.is_object(), "{args:?}: {value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_tables() {
    let server = Server::start().await;
    server.cli(&["pack", "list"]).await.check(expect![[r#"
        exit 0
        stdout:
        NAME  VERSION  ACTIONS  DESCRIPTION
        core  0.1.0    4        Building blocks: echo, noop, fail and sleep
        stderr:
    "#]]);
    server.cli(&["action", "list"]).await.check(expect![[r#"
        exit 0
        stdout:
        REF                      DESCRIPTION
        chatops.get_execution    An execution's status and outcome (not its parameters), for…
        chatops.list_inquiries   List the pending inquiries, for chat
        chatops.post_message     Post a message to chat: announced on the event stream for t…
        chatops.respond_inquiry  Answer an inquiry with `response`, which must fit its schema
        core.ask                 Ask a person: the workflow waits until a response that fits…
        core.echo                Returns its `message` unchanged
        core.fail                Always fails with `message`
        core.noop                Does nothing and returns null
        core.sleep               Sleeps `seconds`, then reports how long it slept
        stderr:
    "#]]);
    let triggers = server.cli(&["trigger", "list"]).await;
    assert!(triggers.stdout.starts_with("NAME  "), "{}", triggers.stdout);
    assert!(triggers.stdout.contains("\ncore.webhook "), "{}", triggers.stdout);
    server.cli(&["sensor", "list"]).await.check(expect![[r#"
        exit 0
        stdout:
        no poll sensors
        stderr:
    "#]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_revoked_key_exits_2_with_one_line_saying_401() {
    let server = Server::start().await;
    let url = server.url.clone();
    let anonymous = execute(vec!["rule".into(), "list".into(), "--url".into(), url.clone()]).await;
    assert_eq!(anonymous.code, 2, "{}", anonymous.rendered());
    assert_eq!(anonymous.stdout, "");
    assert_eq!(anonymous.stderr.lines().count(), 1, "{}", anonymous.stderr);
    assert!(anonymous.stderr.starts_with("error: "), "{}", anonymous.stderr);
    assert!(anonymous.stderr.contains("(HTTP 401 Unauthorized)"), "{}", anonymous.stderr);

    let created = server.cli(&["apikey", "create", "ci", "--json"]).await.json();
    let (id, key) = (created["id"].as_str().expect("id"), created["key"].as_str().expect("key"));
    let with = |key: &str| {
        vec![
            "rule".into(),
            "list".into(),
            "--url".into(),
            url.clone(),
            "--api-key".into(),
            key.into(),
        ]
    };
    assert_eq!(execute(with(key)).await.code, 0);
    let revoked = server.cli(&["apikey", "revoke", id]).await;
    assert_eq!(revoked.stdout, format!("API key {id} revoked\n"));
    let refused = execute(with(key)).await;
    assert_eq!(refused.code, 2);
    assert_eq!(
        refused.stderr,
        "error: unknown, expired or revoked API key or token (HTTP 401 Unauthorized); the key given with \
         --api-key was refused\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_not_there_is_named_with_a_hint() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let outcome =
        execute(vec!["execution".into(), "list".into(), "--url".into(), url.clone()]).await;
    assert_eq!(outcome.code, 2);
    assert_eq!(
        outcome.stderr,
        format!(
            "error: cannot connect to {url}: connection refused; is the server running? Start it \
             with `squall serve`, or point --url/SQUALL_URL at it\n"
        )
    );
    let https =
        execute(vec!["pack".into(), "list".into(), "--url".into(), "https://x".into()]).await;
    assert_eq!(https.code, 2);
    assert!(https.stderr.contains("https is not supported"), "{}", https.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_one_line_and_the_local_mode_is_untouched() {
    let server = Server::start().await;
    server.cli(&["run", "core.echo", "volume=11"]).await.check(expect![[r#"
        exit 2
        stdout:
        stderr:
        error: action core.echo: parameters: Additional properties are not allowed ('volume' was unexpected) (HTTP 422 Unprocessable Entity; detail: {"field":"parameters"})
    "#]]);
    server.cli(&["run", "echo"]).await.check(expect![[r#"
        exit 2
        stdout:
        stderr:
        error: action `echo`: expected PACK.ACTION (e.g. core.echo); to run an action of a local component, pass --component FILE
    "#]]);
    let missing =
        server.cli(&["execution", "cancel", "01a1fdbf-feea-73b1-8008-3a121a1445e8"]).await;
    assert_eq!(
        missing.stderr,
        "error: execution 01a1fdbf-feea-73b1-8008-3a121a1445e8 not found (HTTP 404 Not Found)\n"
    );
    // Local-only flags need --component; --async does not go with it.
    let local =
        execute(vec!["run".into(), "--timeout".into(), "1s".into(), "core.echo".into()]).await;
    assert_eq!(local.code, 2);
    assert!(local.stderr.contains("--component <FILE>"), "{}", local.stderr);
    let snapshot = server.api.engine.store().read().expect("snapshot");
    assert!(snapshot.executions(None, 10).expect("read").is_empty(), "nothing was requested");
}

/// A server whose catalog also has `hostile.chatter` (it logs `lines` lines
/// `line N .`, then fails if `fail`) and the `flows.talky` workflow, whose
/// task `talk` runs it and task `nap` sleeps after it.
async fn server_with_logging_actions() -> (Server, squall_tests::TestRuntime) {
    const TALKY: &str = r#"
version: 1.0
tasks:
  talk:
    action: hostile.chatter
    input: {lines: 1, bytes: 8}
    next:
      - do: nap
  nap:
    action: core.sleep
    input: {seconds: 0.5}
"#;
    let server = Server::start().await;
    let runtime = squall_tests::TestRuntime::new();
    let hostile = squall::pack::Manifest::from_toml(
        "name = \"hostile\"\nversion = \"1.0.0\"\n[actions.chatter]\nparameters = { type = \"object\" }\n",
        std::path::Path::new("hostile/pack.toml"),
    )
    .expect("hostile manifest");
    let workflows = std::collections::BTreeMap::from([("talky".to_owned(), TALKY.to_owned())]);
    let engine = server.api.state.engine();
    let mut actions = (*engine.ingest().actions()).clone();
    actions
        .add_pack(
            &hostile,
            std::sync::Arc::new(runtime.load(squall_tests::HOSTILE_GUEST, "hostile")),
        )
        .expect("hostile actions");
    actions
        .add_pack(
            &super::workflow_engine::flows_manifest(&workflows),
            std::sync::Arc::new(runtime.load(squall_tests::CORE_PACK, "flows")),
        )
        .expect("flows actions");
    engine.set_actions(actions);
    (server, runtime)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_the_log_lines_to_stderr_and_execution_get_shows_them() {
    let (server, _runtime) = server_with_logging_actions().await;
    let run = server.cli(&["run", "hostile.chatter", "lines=2", "bytes=8"]).await;
    assert_eq!(run.code, 0, "{}", run.rendered());
    assert_eq!(run.stderr, "[info] line 0 .\n[info] line 1 .\n", "{}", run.rendered());
    assert!(!run.stdout.contains("line 0"), "stdout keeps the result only: {}", run.stdout);
    assert_eq!(field(&run.stdout, "result"), Some(r#"{"written":2}"#), "{}", run.stdout);
    let id = field(&run.stdout, "id").expect("an id").to_owned();

    // After the other fields, one line each with its level.
    let shown = server.cli(&["execution", "get", &id]).await;
    let after: Vec<&str> = shown.ok().lines().skip_while(|l| *l != "logs:").collect();
    assert_eq!(after, ["logs:", "  info   line 0 .", "  info   line 1 ."], "{}", shown.stdout);
    let fields: Vec<&str> = shown.stdout.lines().take_while(|l| *l != "logs:").collect();
    assert_eq!(fields.last().map(|l| l.starts_with("result:")), Some(true), "{}", shown.stdout);
    // --json stays the server's record, logs and all.
    let record = server.cli(&["execution", "get", &id, "--json"]).await.json();
    assert_eq!(record["logs"][1]["message"], "line 1 .", "{record}");

    // A failing action's log lines come before the error, on stderr too.
    let failed = server.cli(&["run", "hostile.chatter", "lines=1", "fail=true", "--json"]).await;
    assert_eq!(failed.code, 1, "{}", failed.rendered());
    let lines: Vec<&str> = failed.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", failed.stderr);
    assert_eq!(lines[0], "[info] line 0 .", "{}", failed.stderr);
    assert!(lines[1].starts_with("error: hostile.chatter "), "{}", failed.stderr);
    let record: Value = serde_json::from_str(&failed.stdout).expect("stdout is the JSON record");
    assert_eq!(record["status"], "failed");

    // Nothing logged, no `logs:`, and nothing on stderr.
    let quiet = server.cli(&["run", "core.echo", "message=hi"]).await;
    assert_eq!(quiet.stderr, "", "{}", quiet.rendered());
    let echo = field(&quiet.stdout, "id").expect("an id").to_owned();
    let shown = server.cli(&["execution", "get", &echo]).await;
    assert!(!shown.ok().contains("logs:"), "{}", shown.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_on_a_workflow_shows_each_task_with_its_times_and_log_lines() {
    let (server, _runtime) = server_with_logging_actions().await;
    let started = server.cli(&["run", "--async", "flows.talky"]).await;
    let workflow = started.ok().trim().to_owned();
    let tail = server.cli(&["execution", "tail", &workflow]).await;
    assert_eq!(tail.code, 0, "{}", tail.rendered());
    let lines: Vec<&str> = tail.stdout.lines().collect();
    assert_eq!(lines.last().copied(), Some(format!("{workflow} flows.talky succeeded").as_str()));
    // What a task logged comes once, with its name, after its start: as
    // it is logged (before its end) if the tail was there, or under its
    // end.
    let logged: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].starts_with("  [")).collect();
    assert_eq!(logged.len(), 1, "{}", tail.stdout);
    assert_eq!(lines[logged[0]], "  [info] talk: line 0 .", "{}", tail.stdout);
    let talk_started = lines.iter().position(|l| l.contains(" task talk started "));
    assert!(talk_started.is_some_and(|at| at < logged[0]), "{}", tail.stdout);
    // The task lines, times and ids masked, in order: each task's start,
    // its end with how long it took.
    let task_lines: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with(&workflow) && !l.starts_with("  ["))
        .collect();
    let tasks: Vec<String> = mask(&task_lines.join("\n"))
        .lines()
        .map(|l| match l.split_once(" in ") {
            Some((head, tail)) => {
                let (_, rest) = tail.split_once(' ').expect("a duration then the action");
                format!("{head} in <took> {rest}")
            }
            None => l.to_owned(),
        })
        .collect();
    assert_eq!(
        tasks,
        [
            "YYYY-MM-DDTHH:MM:SSZ task talk started (hostile.chatter 00000001-0000-0000-0000-000000000000)",
            "YYYY-MM-DDTHH:MM:SSZ task talk succeeded in <took> (hostile.chatter 00000001-0000-0000-0000-000000000000)",
            "YYYY-MM-DDTHH:MM:SSZ task nap started (core.sleep 00000002-0000-0000-0000-000000000000)",
            "YYYY-MM-DDTHH:MM:SSZ task nap succeeded in <took> (core.sleep 00000002-0000-0000-0000-000000000000)",
        ],
        "{}",
        tail.stdout
    );

    // --json, on the finished workflow: one object per line, the tasks
    // with their times, the log line, then how the workflow ended.
    let tail = server.cli(&["execution", "tail", &workflow, "--json"]).await;
    assert_eq!(tail.code, 0, "{}", tail.rendered());
    let events: Vec<Value> = tail
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e["event"].as_str() {
            Some("log") => format!("log {}", e["message"].as_str().unwrap_or("?")),
            Some(event) => format!("{event} {}", e["task"].as_str().unwrap_or("?")),
            None => format!("workflow {}", e["status"].as_str().unwrap_or("?")),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "task_started talk",
            "task_finished talk",
            "log line 0 .",
            "task_started nap",
            "task_finished nap",
            "workflow succeeded",
        ],
        "{}",
        tail.stdout
    );
    for task in events.iter().filter(|e| e["event"] == "task_finished") {
        assert_eq!(task["workflow"], workflow.as_str(), "{task}");
        assert_eq!(task["status"], "succeeded", "{task}");
        assert_eq!(task["retry"], 0, "{task}");
        assert!(task["started_at"].is_string() && task["finished_at"].is_string(), "{task}");
    }
    let log = events.iter().find(|e| e["event"] == "log").expect("the log line");
    assert_eq!(log["task"], "talk", "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_of_a_workflow_prints_its_tasks_log_lines_to_stderr() {
    let (server, _runtime) = server_with_logging_actions().await;
    let run = server.cli(&["run", "flows.talky"]).await;
    assert_eq!(run.code, 0, "{}", run.rendered());
    assert_eq!(run.stderr, "[info] talk: line 0 .\n", "{}", run.rendered());
    assert_eq!(field(&run.stdout, "status"), Some("succeeded"), "{}", run.stdout);
    assert!(!run.stdout.contains("line 0"), "stdout keeps the result only: {}", run.stdout);
    let json = server.cli(&["run", "flows.talky", "--json"]).await;
    assert_eq!(json.json()["status"], "succeeded");
    assert_eq!(json.stderr, "[info] talk: line 0 .\n", "{}", json.rendered());
}
