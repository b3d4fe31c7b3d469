//! The `squall` binary is self-contained, as `cargo install --path host`
//! leaves it: copied alone into an empty prefix and run from `/` with a
//! bare environment, `squall serve` has the core pack built in (`core.echo`
//! is listed and runs), and `squall completion bash` prints a script.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// `squall` alone in `<prefix>/bin`, with a home directory of its own.
struct Prefix {
    dir: tempfile::TempDir,
}

impl Prefix {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home dir");
        std::fs::copy(env!("CARGO_BIN_EXE_squall-host"), dir.path().join("bin/squall"))
            .expect("copy the binary");
        Self { dir }
    }

    fn squall(&self) -> PathBuf {
        self.dir.path().join("bin/squall")
    }

    /// The binary with `args`.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.squall());
        command.args(args);
        self.bare(&mut command);
        command
    }

    /// Runs `command` from `/` with nothing in its environment but `HOME`
    /// (no `SQUALL_*`, no `PATH`).
    fn bare<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .current_dir("/")
            .env_clear()
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::null())
    }
}

/// A `squall serve` child; killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_installed_binary_serves_the_built_in_core_pack_from_anywhere() {
    // Nothing near the current directory to load the core pack from.
    assert!(!Path::new("/packs").exists(), "/packs exists; this test needs it not to");
    let prefix = Prefix::new();
    let data = prefix.dir.path().join("data");
    let squall = prefix.squall().display().to_string();
    let mut command = squall_tests::serve_in(&squall, prefix.dir.path());
    prefix.bare(&mut command).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Killed(command.spawn().expect("start squall serve"));
    let stderr = child.0.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    let mut base = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.split("listening on ").nth(1) {
            base = rest.split(' ').next().map(str::to_owned);
            break;
        }
        seen.push(line);
    }
    // Keep reading, so that the server never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let Some(base) = base else {
        drop(child);
        panic!(
            "squall serve did not start; it said {seen:#?}\n{}",
            stderr.join().unwrap_or_default()
        );
    };
    let key = std::fs::read_to_string(data.join("admin-api-key")).expect("admin key");
    let key = key.trim();

    let actions = get(&base, "/api/v1/actions", key);
    let refs: Vec<&str> = actions
        .as_array()
        .expect("a list of actions")
        .iter()
        .filter_map(|a| a["ref"].as_str())
        .collect();
    for wanted in ["core.echo", "core.noop", "core.fail", "core.sleep"] {
        assert!(refs.contains(&wanted), "{wanted} is not listed: {refs:?}");
    }
    // The example rule of a fresh data directory is there too.
    assert_eq!(get(&base, "/api/v1/rules/examples.hello", key)["enabled"], json!(true));

    let output = prefix
        .command(&["run", "--json", "--url", &base, "--api-key", key, "core.echo", "message=hi"])
        .output()
        .expect("run squall run");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "squall run failed: {said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let execution: Value = serde_json::from_str(&said).expect("JSON from squall run --json");
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(execution["result"], json!({"message": "hi"}));
}

#[test]
fn the_installed_binary_prints_a_bash_completion_script() {
    let prefix = Prefix::new();
    let output = prefix.command(&["completion", "bash"]).output().expect("run squall");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let script = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(script.contains("_squall() {"), "no completion function: {script:.200}");
    assert!(script.contains("complete -F _squall"), "the function is not registered for squall");
    assert!(script.contains("serve"), "the subcommand serve is not completed");
}

/// `GET path` with `key` (HTTP/1.0: the body ends with the connection);
/// the JSON body.
fn get(base: &str, path: &str, key: &str) -> Value {
    let address = base.strip_prefix("http://").expect("an http:// address");
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\r\n")
        .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head.lines().next().unwrap_or_default();
    assert!(status.contains(" 200 "), "GET {path}: {head}\n{body}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}
