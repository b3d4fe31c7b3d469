//! Slow and surplus clients against `squall serve`: connections that hold
//! half-sent headers neither delay other clients nor stay open past the
//! header-read timeout, and connections past the cap are refused at once
//! until others close.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::api::server::{Launch, Server};

/// Connections holding half-sent headers in the load test.
const HOLDERS: usize = 2_000;
/// The header-read timeout the load test gives the server: long enough
/// that every holder is still open while health is probed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
const HEALTH: &str = "/api/v1/health";

const RULE: &str = r#"
name: hardening
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: hardening/hello}}
action:
  ref: core.echo
  parameters: {message: "hello {{ trigger.body.name }}"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_delay_no_one_and_are_closed_after_the_header_read_timeout() {
    // The holders, the probes and the client's own pool.
    let open_files = rlimit::increase_nofile_limit(8_192).expect("read the open-file limit");
    assert!(open_files > HOLDERS as u64 + 200, "this test needs more than {HOLDERS} open files");
    let dir = tempfile::tempdir().expect("tempdir");
    let timeout = format!("{}s", HEADER_TIMEOUT.as_secs());
    let launch =
        Launch { packs: true, args: vec!["--header-read-timeout", &timeout], ..Launch::default() };
    let (server, _) = Server::launch(&dir.path().join("data"), launch);
    let response =
        server.send(Method::POST, "/api/v1/rules", "application/yaml", RULE.into()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let address = address(&server);

    // Each holder waits for the server to close it, from the moment it
    // has sent half its headers.
    let mut holders = Vec::with_capacity(HOLDERS);
    for _ in 0..HOLDERS {
        let opened = Instant::now();
        let stream = half_sent(&address).await;
        holders.push(tokio::spawn(async move {
            let closed = closed_within(stream, HEADER_TIMEOUT + Duration::from_secs(20)).await;
            (opened, closed)
        }));
    }

    let mut probes = Vec::with_capacity(100);
    for _ in 0..100 {
        let start = Instant::now();
        let (status, body) = get(&address, HEALTH).await;
        probes.push(start.elapsed());
        assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    }
    probes.sort();
    let p99 = probes[98];
    assert!(p99 < Duration::from_millis(100), "health p99 {p99:?} under slow clients: {probes:?}");
    let execution = server.fire("hardening/hello", "", json!({"name": "slow"})).await;
    let done = server.finished(&execution).await;
    assert_eq!(done["result"], json!({"message": "hello slow"}));
    let served = Instant::now();

    for holder in holders {
        let (opened, closed) = holder.await.expect("holder task");
        let closed = closed.expect("the server never closed a connection with half-sent headers");
        assert!(closed > served, "a holder was closed before the probes ended");
        assert!(closed >= opened + HEADER_TIMEOUT, "closed {:?} after opening", closed - opened);
    }
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_are_refused_at_once_until_some_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let launch = Launch {
        packs: true,
        args: vec!["--max-connections", "8", "--header-read-timeout", "60s"],
        ..Launch::default()
    };
    let (server, mut seen) = Server::launch(&dir.path().join("data"), launch);
    let limits = server.line(&mut seen, |l| l.contains("connections;"));
    assert!(limits.contains("at most 8 connections; request headers within 1m"), "{limits}");
    let address = address(&server);
    let mut holders = Vec::new();
    for _ in 0..8 {
        holders.push(half_sent(&address).await);
    }

    // Bounded: without the refusal this connection would wait a minute.
    let refused = tokio::time::timeout(Duration::from_secs(10), get(&address, HEALTH));
    let (status, body) = refused.await.expect("the refusal came at once");
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON error");
    let error = body["error"].as_str().expect("error");
    assert!(error.contains("8 connections") && error.contains("--max-connections"), "{error}");

    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(&address, HEALTH).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "still refused after the holders closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = server.call(Method::GET, "/api/v1/executions?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let idle = Duration::from_secs(3);
    let launch = Launch {
        packs: true,
        args: vec!["--header-read-timeout", "1s", "--idle-timeout", "3s"],
        ..Launch::default()
    };
    let (server, _) = Server::launch(&dir.path().join("data"), launch);
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    stream.write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: squall\r\n\r\n").await.expect("send");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !answer.ends_with(br#"{"status":"ok"}"#) {
        let n = stream.read(&mut buffer).await.expect("read the answer");
        assert_ne!(n, 0, "closed before the answer: {:?}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buffer[..n]);
    }
    let answered = Instant::now();
    let closed = closed_within(stream, idle + Duration::from_secs(10)).await;
    let closed = closed.expect("the server never closed an idle connection");
    // The server's idle clock starts when it has sent the answer, a little
    // before this side has read it (more so on a loaded machine): allow
    // half a second, which still tells the 3 s idle timeout from the 1 s
    // header timeout.
    let slack = Duration::from_millis(500);
    assert!(closed + slack >= answered + idle, "closed {:?} after the answer", closed - answered);
    server.stop();
}

/// The server's `127.0.0.1:PORT`.
fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// A connection that sends half a request's headers, then nothing.
async fn half_sent(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nhost: squall\r\nx-slow: ")
        .await
        .expect("send half the headers");
    stream
}

/// When the server closed `stream` (it sends nothing first), if within
/// `limit`.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> Option<Instant> {
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    });
    read.await.ok()
}

/// A GET on a connection of its own, closed after the answer: its status
/// and body.
async fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: squall\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read the answer");
    let answer = String::from_utf8(answer).expect("UTF-8");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("no status line in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned());
    (status, body.unwrap_or_default())
}

/// A webhook's work is carried to its end even when its client hangs up
/// before the answer: what was committed is not left half done (an
/// execution committed running with nobody to commit its ending).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_whose_client_hangs_up_is_carried_to_its_end() {
    const SLOW_RULE: &str = r#"
name: slow
pack: tests
enabled: true
trigger: {type: core.webhook, parameters: {url: hardening/slow}}
action:
  ref: core.sleep
  parameters: {seconds: 0.3}
"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) =
        Server::launch(&dir.path().join("data"), Launch { packs: true, ..Launch::default() });
    let response =
        server.send(Method::POST, "/api/v1/rules", "application/yaml", SLOW_RULE.into()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let address = address(&server);
    let body = r#"{"n": 1}"#;
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        let request = format!(
            "POST /api/v1/webhooks/hardening/slow HTTP/1.1\r\nhost: squall\r\n\
             authorization: Bearer {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            server.key,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        // Hang up without reading the answer.
        drop(stream);
    }
    // Whatever was committed ends: no execution stays running.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, list) =
            server.call(Method::GET, "/api/v1/executions?action=core.sleep&limit=100", None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let executions = list.as_array().expect("a list");
        let unfinished: Vec<&Value> =
            executions.iter().filter(|e| e["finished_at"].is_null()).collect();
        if !executions.is_empty() && unfinished.is_empty() {
            for execution in executions {
                assert_eq!(execution["status"], json!("succeeded"), "{execution}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 30 s, {} of {} executions have not ended: {unfinished:?}",
            unfinished.len(),
            executions.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop();
}
