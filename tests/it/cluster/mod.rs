//! Cluster mode against the real thing: three `nats-server` processes with
//! JetStream, clustered on loopback ports, and `squall serve --cluster`
//! nodes as processes, killed with SIGKILL and restarted while they work.

mod failover;
mod spread;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

type Http = Client<HttpConnector, Full<axum::body::Bytes>>;

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("port").port()
}

/// Three clustered NATS servers with JetStream; killed when dropped.
pub(super) struct Nats {
    dir: PathBuf,
    client_ports: Vec<u16>,
    servers: Vec<Option<Child>>,
}

impl Nats {
    pub(super) fn start(dir: &Path) -> Self {
        let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<String> =
            route_ports.iter().map(|p| format!("nats-route://127.0.0.1:{p}")).collect();
        for (i, (client, route)) in client_ports.iter().zip(&route_ports).enumerate() {
            let config = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{client}\n\
                 jetstream {{ store_dir: \"{store}\" }}\n\
                 cluster {{ name: squall, listen: 127.0.0.1:{route}, routes: [{routes}] }}\n",
                store = dir.join(format!("js{i}")).display(),
                routes = routes.join(", "),
            );
            std::fs::write(dir.join(format!("n{i}.conf")), config).expect("NATS config");
        }
        let mut nats = Self { dir: dir.to_owned(), client_ports, servers: Vec::new() };
        for i in 0..3 {
            let server = nats.spawn(i);
            nats.servers.push(Some(server));
        }
        for i in 0..3 {
            nats.wait_until_listening(i);
        }
        nats
    }

    /// Starts server `i`, its output appended to `n{i}.log` (shown when it
    /// does not come up).
    fn spawn(&self, i: usize) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .expect("NATS log file");
        Command::new("nats-server")
            .arg("-c")
            .arg(self.dir.join(format!("n{i}.conf")))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server (the Debian package `nats-server`; .ci/run installs it)")
    }

    fn log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{i}.log"))
    }

    /// Waits until server `i` accepts connections. A restarted server
    /// recovers its JetStream store before it listens, which on a loaded
    /// machine takes a while; one that exited (its port briefly held by
    /// someone else's socket, say) is started again.
    fn wait_until_listening(&mut self, i: usize) {
        let port = self.client_ports[i];
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = self.servers[i].as_mut().and_then(|s| s.try_wait().ok().flatten());
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                panic!(
                    "NATS server n{i} does not listen on port {port} ({exited:?}); its log:\n{log}"
                );
            }
            if exited.is_some() {
                std::thread::sleep(Duration::from_millis(500));
                self.servers[i] = Some(self.spawn(i));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The servers as `--cluster` takes them.
    pub(super) fn urls(&self) -> String {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(super) fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.servers[i].take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    pub(super) fn restart(&mut self, i: usize) {
        self.kill(i);
        let server = self.spawn(i);
        self.servers[i] = Some(server);
        self.wait_until_listening(i);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        (0..self.servers.len()).for_each(|i| self.kill(i));
    }
}

/// One `squall serve --cluster` node; killed when dropped.
pub(super) struct Node {
    pub(super) name: String,
    data: PathBuf,
    urls: String,
    extra: Vec<String>,
    child: Option<Child>,
    pub(super) base: String,
    pub(super) key: String,
    http: Http,
}

impl Node {
    /// Starts node `name` on `urls` with its data under `dir/name`, and
    /// `extra` flags (packs, say); returns once it serves.
    pub(super) fn start(dir: &Path, name: &str, urls: &str, extra: &[String]) -> Self {
        let mut node = Self {
            name: name.to_owned(),
            data: dir.join(name),
            urls: urls.to_owned(),
            extra: extra.to_vec(),
            child: None,
            base: String::new(),
            key: String::new(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        };
        node.spawn(None);
        node
    }

    fn spawn(&mut self, port: Option<u16>) {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let mut child = Command::new(env!("CARGO_BIN_EXE_squall-host"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--listen", &listen, "--cluster", &self.urls, "--node", &self.name])
            .args(["--heartbeat", "300ms", "--node-timeout", "2s"])
            .args(&self.extra)
            .env_remove("SQUALL_DATA_DIR")
            .env_remove("SQUALL_LISTEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start squall serve --cluster");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let listening = stdout
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split("listening on ").nth(1).map(str::to_owned))
            .unwrap_or_else(|| panic!("node {} did not start serving", self.name));
        std::thread::spawn(move || stdout.map_while(Result::ok).for_each(drop));
        self.base = listening.split(' ').next().expect("address").to_owned();
        let key = std::fs::read_to_string(self.data.join("admin-api-key")).expect("key file");
        self.key = key.trim().to_owned();
        self.child = Some(child);
    }

    /// SIGKILL, as a machine dying would.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on its data directory and its port.
    pub(super) fn restart(&mut self) {
        self.kill();
        let port = self.base.rsplit(':').next().and_then(|p| p.parse().ok());
        self.spawn(port);
    }

    /// A request with the node's admin key; the status and JSON body.
    pub(super) async fn send(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let body = body.unwrap_or_default().as_bytes().to_vec();
        self.send_bytes(method, path, "application/json", body).await
    }

    /// A request with a body of `kind`; the status and JSON body (`0` and
    /// null when the node did not answer).
    pub(super) async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        kind: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key))
            .header("content-type", kind)
            .body(Full::new(axum::body::Bytes::from(body)))
            .expect("request");
        let response =
            match tokio::time::timeout(Duration::from_secs(20), self.http.request(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(_)) | Err(_) => return (0, Value::Null),
            };
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Opens the event stream at `path` and returns a reader of its text.
    pub(super) async fn stream(&self, path: &str) -> hyper::body::Incoming {
        let request = http::Request::builder()
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.key))
            .body(Full::new(axum::body::Bytes::new()))
            .expect("request");
        let response = self.http.request(request).await.expect("the stream opens");
        assert_eq!(response.status(), 200, "stream {path} on node {}", self.name);
        response.into_body()
    }

    pub(super) async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send("GET", path, None).await;
        assert_eq!(status, 200, "GET {path} on node {}: {body}", self.name);
        body
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A cluster for one test: three NATS servers and `nodes` Squall nodes,
/// started one after the other (the first creates the log).
pub(super) struct Cluster {
    _dir: tempfile::TempDir,
    pub(super) nats: Nats,
    pub(super) nodes: Vec<Node>,
}

impl Cluster {
    pub(super) fn start(nodes: usize, extra: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let nats = Nats::start(dir.path());
        let urls = nats.urls();
        let mut started: Vec<Node> = Vec::new();
        for i in 0..nodes {
            let name = format!("node{i}");
            if let Some(first) = started.first() {
                share_key(&first.data, &dir.path().join(&name));
            }
            started.push(Node::start(dir.path(), &name, &urls, extra));
        }
        let nodes = started;
        Self { _dir: dir, nats, nodes }
    }
}

/// Polls `check` until it answers `Some`, for up to `limit`.
pub(super) async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads `stream` until its text holds every one of `needles`.
pub(super) async fn read_until(
    stream: &mut hyper::body::Incoming,
    needles: &[&str],
    limit: Duration,
) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !needles.iter().all(|n| text.contains(n)) {
        let frame = tokio::time::timeout_at(deadline, stream.frame()).await.unwrap_or_else(|_| {
            panic!("the stream did not show {needles:?} within {limit:?}: {text}")
        });
        let Some(Ok(frame)) = frame else { panic!("the stream ended: {text}") };
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    text
}

/// Gives the node whose data directory is `to` the secret key file of the
/// node at `from`, as an operator must: secrets are sealed with it.
pub(super) fn share_key(from: &Path, to: &Path) {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new().mode(0o700).recursive(true).create(to).expect("data directory");
    let key = std::fs::read(from.join("squall.redb.key")).expect("the first node's key file");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to.join("squall.redb.key"))
        .expect("a key file");
    std::io::Write::write_all(&mut file, &key).expect("write the key");
}
