//! Bundle uploads against a real `squall serve` over raw TCP, so that a
//! body can be sent slowly or endlessly: installs past
//! `--max-concurrent-installs` are refused at once with 503 and
//! `Retry-After`, and an upload past `--max-bundle-size` is refused without
//! the server's peak memory (VmHWM, reset before) growing by much more
//! than the limit — a refused 250 MiB upload used to cost 548 MB.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::api::server::{Launch, Server};

/// Refusals from a real process on a shared machine: generous, but far
/// below reading the body.
const PROMPT: Duration = Duration::from_secs(1);

const MIB: u64 = 1 << 20;

/// The pid of the `squall serve` whose data directory is `data`.
fn pid_of(data: &Path) -> u32 {
    let wanted = data.to_str().expect("UTF-8 path");
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let entry = entry.expect("entry");
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&b"serve".as_slice()) && args.contains(&wanted.as_bytes()) {
            return pid;
        }
    }
    panic!("no squall serve for {wanted}");
}

/// A line of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with(field)).expect("field");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
}

/// A request's head for `POST /api/v1/packs` with `headers`.
fn head(server: &Server, headers: &str) -> String {
    format!(
        "POST /api/v1/packs HTTP/1.1\r\nHost: squall\r\nAuthorization: Bearer {}\r\nContent-Type: application/wasm\r\n{headers}\r\n",
        server.key
    )
}

fn connect(server: &Server) -> TcpStream {
    let address = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    stream
}

/// Reads an answer's head (status line and headers), lower-cased.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[test]
fn uploads_are_bounded_in_number_and_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args = vec!["--max-bundle-size", "8MiB", "--max-concurrent-installs", "1"];
    let (server, _) = Server::launch(&data, Launch { packs: true, args, ..Launch::default() });
    let pid = pid_of(&data);

    // One install holds the only place, its body still arriving; the next
    // is refused at once. (Retried while the machine is too slow for the
    // first to have taken its place before the second arrives.)
    let deadline = Instant::now() + Duration::from_secs(30);
    let slow = loop {
        assert!(Instant::now() < deadline, "no install ever held its place");
        let mut slow = connect(&server);
        slow.write_all(head(&server, "Content-Length: 1048576\r\n").as_bytes()).expect("write");
        slow.write_all(&[0; 1024]).expect("write");
        std::thread::sleep(Duration::from_millis(200));
        slow.set_read_timeout(Some(Duration::from_millis(10))).expect("timeout");
        if slow.read(&mut [0u8; 1]).is_ok() {
            continue; // answered already: it did not get the place
        }
        let mut surplus = connect(&server);
        let started = Instant::now();
        surplus.write_all(head(&server, "Content-Length: 8\r\n").as_bytes()).expect("write");
        surplus.write_all(b"\0asm\x0d\0\x01\0").expect("write");
        let answer = read_head(&mut surplus);
        if !answer.starts_with("http/1.1 503") {
            continue;
        }
        assert!(started.elapsed() < PROMPT, "refused after {:?}", started.elapsed());
        assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
        break slow;
    };
    drop(slow);

    // Declared over the limit: refused before the body.
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let mut declared = connect(&server);
        let length = format!("Content-Length: {}\r\n", 200 * MIB);
        declared.write_all(head(&server, &length).as_bytes()).expect("write");
        let answer = read_head(&mut declared);
        // The slow upload may still hold its place for a moment.
        if !answer.starts_with("http/1.1 503") || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(started.elapsed() < PROMPT, "refused after {:?}", started.elapsed());

    // Not declared: 200 MiB sent in chunks; the server stops at 8 MiB.
    // Peak memory is measured from now (writing 5 to clear_refs resets it).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset the peak RSS");
    let before = status_kib(pid, "VmHWM:");
    let mut endless = connect(&server);
    endless.write_all(head(&server, "Transfer-Encoding: chunked\r\n").as_bytes()).expect("write");
    let mut writer = endless.try_clone().expect("clone");
    let sending = std::thread::spawn(move || {
        let chunk = vec![b'x'; MIB as usize];
        for _ in 0..200 {
            let framed = writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| writer.write_all(&chunk))
                .and_then(|()| writer.write_all(b"\r\n"));
            if framed.is_err() {
                break;
            }
        }
    });
    let answer = read_head(&mut endless);
    drop(endless);
    sending.join().expect("writer");
    let after = status_kib(pid, "VmHWM:");
    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    let grown = (after.saturating_sub(before)) * 1024;
    assert!(
        grown < 8 * MIB + 8 * MIB,
        "peak RSS grew by {} MiB for an upload refused at 8 MiB",
        grown / MIB
    );
}
