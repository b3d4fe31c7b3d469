//! Capability grants enforced by the runtime: outbound HTTP against a
//! loopback server, secrets, kv and exec, each allowed only as granted, every
//! denial audited (in memory and in the store) without secret values.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use squall::engine::{CAPABILITY_DENIED, StoreAudit, StoreSecrets};
use squall::runtime::{
    Capability, Denial, Grants, HostServices, InvokeError, MemoryAudit, OutboundHost,
    PackErrorKind, StaticSecrets,
};
use squall::store::{KvScope, Store, StoreConfig};
use squall_tests::{CAPS_GUEST, TestRuntime, call};

const PACK: &str = "caps";
const SECRET_VALUE: &str = "s3cr3t-value-never-shown";

/// A runtime whose secrets are `token` (set) and `other` (set, never
/// granted), recording denials in memory.
fn runtime() -> (TestRuntime, Arc<MemoryAudit>) {
    let audit = Arc::new(MemoryAudit::default());
    let secrets = StaticSecrets(HashMap::from([
        ("token".to_owned(), SECRET_VALUE.to_owned()),
        ("other".to_owned(), format!("{SECRET_VALUE}-other")),
    ]));
    let runtime = TestRuntime::with_services(HostServices {
        secrets: Arc::new(secrets),
        audit: audit.clone(),
        ..HostServices::default()
    });
    (runtime, audit)
}

fn denial(capability: Capability, target: &str) -> Denial {
    Denial { pack: PACK.to_owned(), capability, target: target.to_owned() }
}

/// The output of a call that must succeed, as JSON.
fn ok(result: Result<String, InvokeError>) -> Value {
    let output = result.unwrap_or_else(|e| panic!("expected success, got {e}"));
    serde_json::from_str(&output).expect("output is JSON")
}

/// The message of a pack error of `kind`.
fn pack_error(result: Result<String, InvokeError>, kind: PackErrorKind) -> String {
    match result {
        Err(InvokeError::Pack(error)) if error.kind == kind => error.message,
        other => panic!("expected a {kind:?} pack error, got {other:?}"),
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with a fixed
/// body and counts them.
async fn loopback_server() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            "hello from loopback"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

#[tokio::test]
async fn fetch_reaches_granted_hosts_only_and_denials_are_audited() {
    let (port, hits) = loopback_server().await;
    let (runtime, audit) = runtime();
    let grants = Grants {
        outbound_hosts: vec![OutboundHost::parse(&format!("http://127.0.0.1:{port}")).expect("ok")],
        ..Grants::default()
    };
    let caps = runtime.load_granted(CAPS_GUEST, PACK, grants);

    let allowed = format!(r#"{{"url":"http://127.0.0.1:{port}/hello?x=1"}}"#);
    let fetched = ok(call(&caps, "fetch", &allowed).await.result);
    assert_eq!(fetched, json!({"status": 200, "body": "hello from loopback"}));
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The same server under another name, another loopback address, another
    // port, another scheme: none is granted.
    for url in [
        format!("http://localhost:{port}/hello?token=abc"),
        format!("http://127.0.0.2:{port}/hello"),
        format!("http://127.0.0.1:{}/hello", port.wrapping_add(1).max(1)),
        format!("https://127.0.0.1:{port}/hello"),
    ] {
        let result = call(&caps, "fetch", &json!({ "url": url }).to_string()).await.result;
        let message = pack_error(result, PackErrorKind::Denied);
        assert!(message.ends_with("was not granted to this pack"), "{message}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a denied request never reaches the server");

    let other_port = port.wrapping_add(1).max(1);
    assert_eq!(
        audit.denials(),
        [
            // The query is left out of the audit trail.
            denial(Capability::Http, &format!("http://localhost:{port}/hello")),
            denial(Capability::Http, &format!("http://127.0.0.2:{port}/hello")),
            denial(Capability::Http, &format!("http://127.0.0.1:{other_port}/hello")),
            denial(Capability::Http, &format!("https://127.0.0.1:{port}/hello")),
        ]
    );
    assert_eq!(caps.grants().outbound_hosts.len(), 1);
}

#[tokio::test]
async fn a_pack_granted_nothing_reaches_no_host() {
    let (port, hits) = loopback_server().await;
    let (runtime, audit) = runtime();
    let caps = runtime.load(CAPS_GUEST, PACK);
    assert_eq!(caps.grants(), &Grants::default());

    let url = format!("http://127.0.0.1:{port}/");
    let result = call(&caps, "fetch", &json!({ "url": url }).to_string()).await.result;
    pack_error(result, PackErrorKind::Denied);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(audit.denials(), [denial(Capability::Http, &url)]);
}

#[tokio::test]
async fn secrets_are_read_by_granted_name_only_and_never_audited_by_value() {
    let (runtime, audit) = runtime();
    let grants =
        Grants { secrets: ["token".to_owned(), "missing".to_owned()].into(), ..Grants::default() };
    let caps = runtime.load_granted(CAPS_GUEST, PACK, grants);

    let read = ok(call(&caps, "secret", r#"{"name":"token"}"#).await.result);
    assert_eq!(read, json!({"value": SECRET_VALUE}));

    let unset = call(&caps, "secret", r#"{"name":"missing"}"#).await.result;
    assert_eq!(pack_error(unset, PackErrorKind::Failed), "secret `missing` is not set");

    // Set in the source but not granted.
    let refused = call(&caps, "secret", r#"{"name":"other"}"#).await;
    assert_eq!(
        pack_error(refused.result, PackErrorKind::Denied),
        "secret `other` was not granted to this pack"
    );
    assert!(!format!("{:?}", refused.logs).contains(SECRET_VALUE));

    let denials = audit.denials();
    assert_eq!(denials, [denial(Capability::Secret, "other")]);
    let recorded = format!("{denials:?} {}", serde_json::to_string(&denials).expect("json"));
    assert!(!recorded.contains(SECRET_VALUE), "{recorded}");
    assert_eq!(
        serde_json::to_value(&denials[0]).expect("json"),
        json!({"pack": "caps", "capability": "secret", "target": "other"})
    );
}

#[tokio::test]
async fn kv_needs_its_grant() {
    let (runtime, audit) = runtime();
    let plain = runtime.load(CAPS_GUEST, PACK);
    let result = call(&plain, "kv", r#"{"key":"last-run","value":"monday"}"#).await.result;
    assert_eq!(
        pack_error(result, PackErrorKind::Denied),
        "key-value access was not granted to this pack"
    );
    assert_eq!(audit.denials(), [denial(Capability::Kv, "last-run")]);

    let granted = runtime.load_with_kv(CAPS_GUEST, PACK);
    let read = ok(call(&granted, "kv", r#"{"key":"last-run","value":"monday"}"#).await.result);
    assert_eq!(read, json!({"value": "monday"}));
    assert_eq!(audit.denials().len(), 1, "a granted call is not audited");
}

fn exec_grants(programs: &[&str]) -> Grants {
    Grants { exec: programs.iter().map(Into::into).collect(), ..Grants::default() }
}

#[tokio::test]
async fn exec_runs_granted_programs_by_exact_path_only() {
    let (runtime, audit) = runtime();
    let caps = runtime.load_granted(CAPS_GUEST, PACK, exec_grants(&["/bin/echo"]));

    let echoed = call(&caps, "exec", r#"{"program":"/bin/echo","args":["hello","$HOME","*"]}"#);
    assert_eq!(
        ok(echoed.await.result),
        json!({"status": 0, "stdout": "hello $HOME *\n", "stderr": ""}),
        "arguments reach the program as they are, without a shell"
    );

    for program in ["/bin/ls", "echo", "/bin/../bin/echo", "/usr/bin/echo"] {
        let params = json!({ "program": program, "args": ["/"] }).to_string();
        let result = call(&caps, "exec", &params).await.result;
        assert_eq!(
            pack_error(result, PackErrorKind::Denied),
            format!("host command `{program}` was not granted to this pack")
        );
    }
    assert_eq!(
        audit.denials(),
        ["/bin/ls", "echo", "/bin/../bin/echo", "/usr/bin/echo"]
            .map(|p| denial(Capability::Exec, p))
    );
}

#[tokio::test]
async fn exec_gives_an_empty_environment_root_cwd_and_the_command_stdin() {
    let (runtime, _) = runtime();
    let grants = exec_grants(&["/usr/bin/env", "/bin/pwd", "/bin/cat", "/bin/sh"]);
    let caps = runtime.load_granted(CAPS_GUEST, PACK, grants);

    let env = ok(call(&caps, "exec", r#"{"program":"/usr/bin/env"}"#).await.result);
    assert_eq!(env["stdout"], "", "the host's environment does not leak");
    let pwd = ok(call(&caps, "exec", r#"{"program":"/bin/pwd"}"#).await.result);
    assert_eq!(pwd["stdout"], "/\n");
    let cat = ok(call(&caps, "exec", r#"{"program":"/bin/cat","stdin":"piped in"}"#).await.result);
    assert_eq!(cat, json!({"status": 0, "stdout": "piped in", "stderr": ""}));

    let failing = r#"{"program":"/bin/sh","args":["-c","echo oops >&2; exit 3"]}"#;
    assert_eq!(
        ok(call(&caps, "exec", failing).await.result),
        json!({"status": 3, "stdout": "", "stderr": "oops\n"})
    );
    let killed = r#"{"program":"/bin/sh","args":["-c","kill -9 $$"]}"#;
    assert_eq!(ok(call(&caps, "exec", killed).await.result)["status"], -1);
}

#[tokio::test]
async fn exec_caps_output_and_kills_at_the_timeout() {
    let (runtime, _) = runtime();
    let caps = runtime.load_granted(CAPS_GUEST, PACK, exec_grants(&["/bin/sh"]));

    // 3 MiB on stdout: 1 MiB is kept, the rest is read and dropped.
    let flood = r#"{"program":"/bin/sh","args":["-c","head -c 3145728 /dev/zero | tr '\\0' x; echo done >&2"]}"#;
    let flooded = ok(call(&caps, "exec", flood).await.result);
    assert_eq!(flooded["stdout"].as_str().map(str::len), Some(1 << 20));
    assert_eq!(flooded["stderr"], "done\n");
    assert_eq!(flooded["status"], 0);

    let started = Instant::now();
    let slow = r#"{"program":"/bin/sh","args":["-c","sleep 30"],"timeout_ms":200}"#;
    let result = call(&caps, "exec", slow).await.result;
    assert_eq!(
        pack_error(result, PackErrorKind::Timeout),
        "host command `/bin/sh` did not finish within 200 ms and was killed"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());

    let too_long = r#"{"program":"/bin/sh","args":["-c","true"],"timeout_ms":300001}"#;
    let result = call(&caps, "exec", too_long).await.result;
    assert_eq!(
        pack_error(result, PackErrorKind::InvalidInput),
        "timeout-ms of host command `/bin/sh` must be 1 to 300000, got 300001"
    );
}

#[tokio::test]
async fn the_store_backs_secrets_and_records_denials_in_the_audit_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = StoreConfig { retention: None, ..StoreConfig::default() };
    let store = Store::open(&dir.path().join("squall.redb"), config).expect("store");
    store
        .write(|tx| {
            tx.kv_set_secret(&KvScope::System, "token", SECRET_VALUE, None)?;
            // A plain item is a setting, not a secret: never handed out.
            tx.kv_set(&KvScope::System, "plain", "not-a-secret".to_owned(), None)
        })
        .await
        .expect("write");
    let runtime = TestRuntime::with_services(HostServices {
        secrets: Arc::new(StoreSecrets::new(store.clone())),
        audit: Arc::new(StoreAudit::new(store.clone())),
        ..HostServices::default()
    });
    let grants = Grants { secrets: ["token".into(), "plain".into()].into(), ..Grants::default() };
    let caps = runtime.load_granted(CAPS_GUEST, PACK, grants);

    let read = ok(call(&caps, "secret", r#"{"name":"token"}"#).await.result);
    assert_eq!(read, json!({"value": SECRET_VALUE}));
    let plain = call(&caps, "secret", r#"{"name":"plain"}"#).await.result;
    assert_eq!(pack_error(plain, PackErrorKind::Failed), "secret `plain` is not set");

    let refused = call(&caps, "secret", r#"{"name":"root-password"}"#).await.result;
    pack_error(refused, PackErrorKind::Denied);
    let refused = call(&caps, "exec", r#"{"program":"/bin/ls"}"#).await.result;
    pack_error(refused, PackErrorKind::Denied);

    // Written before the pack heard `denied`, so already in the log.
    let events = store.read().expect("snapshot").audit(0, 100).expect("audit");
    let denied: Vec<Value> = events
        .iter()
        .filter(|(_, e)| e.action == CAPABILITY_DENIED)
        .map(|(_, e)| json!([e.actor, e.subject, e.detail]))
        .collect();
    assert_eq!(
        denied,
        [
            json!(["pack:caps", "root-password", {"capability": "secret"}]),
            json!(["pack:caps", "/bin/ls", {"capability": "exec"}]),
        ]
    );
    let logged = format!("{events:?}");
    assert!(!logged.contains(SECRET_VALUE), "{logged}");
}
