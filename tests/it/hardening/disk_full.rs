//! A full disk under webhook load: `squall serve` on a small tmpfs answers
//! 507 while the disk is full, keeps answering reads, takes writes again
//! once space is freed (no restart), and loses nothing it acknowledged.
//! Also the store's own recovery when the filesystem itself refuses a
//! commit (no reserve): it reopens the file once space returns.
//!
//! Mounting a tmpfs needs root (CAP_SYS_ADMIN), which CI has.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use squall::store::{Store, StoreConfig, WriteError};
use tokio::sync::Mutex;

use crate::api::server::{Launch, Server};

const RULE: &str = r#"
name: diskfull
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: diskfull/hello}}
action:
  ref: core.echo
  parameters: {message: "hello {{ trigger.body.name }}"}
"#;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        assert!(
            output.status.success(),
            "this test mounts a tmpfs and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { path: path.to_owned() }
    }
}

/// Bytes free on the filesystem holding `path`, as `df` says.
fn free(path: &Path) -> u64 {
    let output =
        Command::new("df").args(["-B1", "--output=avail"]).arg(path).output().expect("run df");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines().nth(1).and_then(|l| l.trim().parse().ok()).expect("df's answer")
}

/// Fills the filesystem holding `dir` with a ballast file until `leave`
/// bytes are free (with `leave` 0: until the disk refuses), as another
/// process would.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    use std::io::Write as _;
    let ballast = dir.join("ballast");
    let mut file = std::fs::File::create(&ballast).expect("ballast");
    let chunk = vec![0x5a_u8; 1 << 20];
    while free(dir) > leave {
        let room = (free(dir) - leave).min(chunk.len() as u64) as usize;
        if file.write_all(&chunk[..room]).and_then(|()| file.sync_data()).is_err() {
            break;
        }
    }
    ballast
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// What the webhook clients saw.
#[derive(Default)]
struct Seen {
    /// Trigger instances acknowledged with 202, and when.
    acknowledged: Vec<(String, Instant)>,
    /// Refusals with 507 and their messages.
    full: Vec<String>,
    /// Anything else.
    other: Vec<(StatusCode, Value)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_507_keeps_reads_and_recovers_without_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "96m");
    let launch =
        Launch { packs: true, args: vec!["--min-free-space", "16MiB"], ..Launch::default() };
    let (server, _) = Server::launch(&disk.path.join("data"), launch);
    let response =
        server.send(Method::POST, "/api/v1/rules", "application/yaml", RULE.into()).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let running = Arc::new(AtomicBool::new(true));
    let mut clients = Vec::new();
    for client in 0..4 {
        let (seen, running) = (seen.clone(), running.clone());
        let (http, base, key) = (server.http.clone(), server.base.clone(), server.key.clone());
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"name": format!("c{client}-{n}")});
                let (status, answer) = post_webhook(&http, &base, &key, &body).await;
                let mut seen = seen.lock().await;
                match status {
                    StatusCode::ACCEPTED => {
                        let instance = answer["trigger_instances"][0].as_str().expect("instance");
                        seen.acknowledged.push((instance.to_owned(), Instant::now()));
                    }
                    StatusCode::INSUFFICIENT_STORAGE => {
                        seen.full.push(answer["error"].as_str().unwrap_or_default().to_owned());
                        drop(seen);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => seen.other.push((other, answer)),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before_full = seen.lock().await.acknowledged.len();
    assert!(before_full > 0, "no webhook was acknowledged before the disk filled");

    // Another process fills the disk to below the reserve.
    let disk_path = disk.path.clone();
    let ballast =
        tokio::task::spawn_blocking(move || fill(&disk_path, 8 << 20)).await.expect("filler");
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().await.full.is_empty() {
        assert!(Instant::now() < deadline, "no 507 ten seconds after the disk filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let full_since = Instant::now();

    // Reads keep working while writes are refused.
    for _ in 0..10 {
        let (status, page) = server.call(Method::GET, "/api/v1/executions?limit=5", None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!page.as_array().expect("a list").is_empty());
        let (status, health) = server.call(Method::GET, "/api/v1/health", None).await;
        assert_eq!(status, StatusCode::OK, "{health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let seen = seen.lock().await;
        let message = &seen.full[0];
        assert!(
            message.contains("disk holding the database is full")
                && message.contains("resume by themselves"),
            "{message}"
        );
        let late = seen.acknowledged.iter().filter(|(_, at)| *at > full_since).count();
        assert_eq!(late, 0, "webhooks acknowledged while the disk was full");
    }

    // Space comes back: writes resume without a restart.
    std::fs::remove_file(&ballast).expect("remove the ballast");
    let freed = Instant::now();
    let deadline = freed + Duration::from_secs(10);
    while !seen.lock().await.acknowledged.iter().any(|(_, at)| *at > freed) {
        assert!(Instant::now() < deadline, "writes did not resume after space was freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.store(false, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }

    // Nothing acknowledged is lost, and each ran to its end.
    let seen = seen.lock().await;
    assert!(seen.other.is_empty(), "unexpected answers: {:?}", seen.other);
    for (instance, _) in &seen.acknowledged {
        let (status, record) =
            server.call(Method::GET, &format!("/api/v1/triggerinstances/{instance}"), None).await;
        assert_eq!(status, StatusCode::OK, "acknowledged instance {instance} lost: {record}");
        let execution = record["rule_enforcements"][0]["execution"].as_str().expect("execution");
        let done = server.finished(execution).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    drop(seen);
    server.stop();
}

/// POSTs one webhook the way any client would.
async fn post_webhook(
    http: &Client<HttpConnector, Full<Bytes>>,
    base: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("{base}/api/v1/webhooks/diskfull/hello"))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = http.request(request).await.expect("the server answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_the_filesystem_refuses_is_disk_full_and_the_store_reopens_when_space_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("disk"), "24m");
    let config = StoreConfig { retention: None, min_free_bytes: 0, ..StoreConfig::default() };
    let store = Store::open(&disk.path.join("squall.redb"), config).expect("open");
    store.write(|tx| tx.kv_set(&kv_scope(), "kept", "before".into(), None)).await.expect("write");

    // No reserve: redb itself runs into the full disk.
    let ballast = fill(&disk.path, 0);
    let big = "x".repeat(512 << 10);
    let mut refused = None;
    for n in 0..64 {
        let value = big.clone();
        match store
            .write(move |tx| tx.kv_set(&kv_scope(), &format!("big{n}"), value.clone(), None))
            .await
        {
            Ok(_) => {}
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }
    let refused = refused.expect("a write past the end of the disk was refused");
    assert!(matches!(refused, WriteError::DiskFull { .. }), "{refused:?}");
    assert!(refused.to_string().contains("disk holding the database is full"), "{refused}");

    std::fs::remove_file(&ballast).expect("remove the ballast");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.write(|tx| tx.kv_set(&kv_scope(), "after", "after".into(), None)).await {
            Ok(_) => break,
            Err(error) => {
                assert!(Instant::now() < deadline, "the store did not recover: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let snapshot = store.read().expect("read after recovery");
    let kept = snapshot.kv_get(&kv_scope(), "kept", squall::store::now_millis()).expect("get");
    assert_eq!(kept.as_deref(), Some("before"));
    let after = snapshot.kv_get(&kv_scope(), "after", squall::store::now_millis()).expect("get");
    assert_eq!(after.as_deref(), Some("after"));
}

fn kv_scope() -> squall::store::KvScope {
    squall::store::KvScope::System
}
