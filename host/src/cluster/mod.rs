//! Cluster mode on NATS JetStream (`squall serve --cluster`): the stream the
//! store replicates through (`log.rs`), the nodes' heartbeats and the
//! cluster's status (`nodes.rs`). Nothing here runs on a single node.

mod log;
mod nodes;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, object_store, stream};

pub use log::JetStreamLog;
pub use nodes::{ClusterStatus, NodeStatus, StreamStatus};

use crate::store::{LogError, Replication};

/// The stream of node heartbeats: one subject per node, its last message
/// kept. (A stream rather than a KV bucket: the KV API of the client asks
/// the server for account fields that NATS 2.9 does not send.)
pub(crate) const NODES: &str = "SQUALL_NODES";
pub(crate) const NODE_SUBJECTS: &str = "squall.nodes.*";

/// How long a node waits for JetStream to become ready when it joins.
const JETSTREAM_READY: Duration = Duration::from_secs(30);

/// How a node joins.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// NATS server URLs (`nats://host:port`).
    pub servers: Vec<String>,
    /// This node's name, unique in the cluster and the same across its
    /// restarts (its running executions are recorded under it).
    pub node: String,
    /// Replicas of the log; `None` is one per server, at most 3.
    pub replicas: Option<usize>,
    /// Time between heartbeats.
    pub heartbeat: Duration,
    /// A node silent this long is dead: the others take over its work.
    pub node_timeout: Duration,
}

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No server answered.
    #[error("cannot connect to NATS at {servers}: {message}")]
    Connect {
        /// The servers tried.
        servers: String,
        /// What the client said.
        message: String,
    },
    /// JetStream refused to create or open what the cluster needs.
    #[error("JetStream: {0} (is JetStream enabled on the servers? `nats-server --jetstream`)")]
    JetStream(String),
    /// The node's name cannot be used.
    #[error("--node {0:?}: expected 1 to 64 letters, digits, `-` or `_`")]
    NodeName(String),
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A node's connection to the cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(crate) config: ClusterConfig,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) nodes: stream::Stream,
    log: Arc<JetStreamLog>,
    /// Dead nodes whose workflow timers this node armed again, until they
    /// are heard from.
    pub(crate) mourned: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Cluster {
    /// Connects, and creates the log stream, the heartbeat bucket and the
    /// entry store if this is the cluster's first node.
    pub async fn join(config: ClusterConfig) -> Result<Self, ClusterError> {
        check_node_name(&config.node)?;
        let client = connect(&config.servers).await?;
        let js = jetstream::new(client.clone());
        let replicas = config.replicas.unwrap_or_else(|| {
            let known = client.server_info().connect_urls.len().max(config.servers.len());
            known.clamp(1, 3)
        });
        // Servers started together elect JetStream's leaders for a few
        // seconds; until then they refuse to create streams.
        let deadline = std::time::Instant::now() + JETSTREAM_READY;
        loop {
            match Self::prepare(&js, replicas).await {
                Ok((nodes, entries)) => {
                    let log = Arc::new(JetStreamLog::new(
                        tokio::runtime::Handle::current(),
                        client.clone(),
                        js.clone(),
                        entries,
                    ));
                    return Ok(Self { config, client, js, nodes, log, mourned: Arc::default() });
                }
                Err(error) if std::time::Instant::now() > deadline => return Err(error),
                Err(error) => {
                    tracing::info!(%error, "cluster: JetStream not ready yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Creates (or opens) the log stream, the heartbeat stream and the
    /// entry store.
    async fn prepare(
        js: &jetstream::Context,
        replicas: usize,
    ) -> Result<(stream::Stream, object_store::ObjectStore), ClusterError> {
        let failed = |e: &dyn std::fmt::Display| ClusterError::JetStream(e.to_string());
        js.get_or_create_stream(stream::Config {
            name: log::STREAM.into(),
            subjects: vec![log::SUBJECT.into()],
            description: Some("squall: the replicated log of every store write".into()),
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..stream::Config::default()
        })
        .await
        .map_err(|e| failed(&e))?;
        let nodes = js
            .get_or_create_stream(stream::Config {
                name: NODES.into(),
                subjects: vec![NODE_SUBJECTS.into()],
                description: Some("squall: node heartbeats".into()),
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                ..stream::Config::default()
            })
            .await
            .map_err(|e| failed(&e))?;
        let entries = match js.get_object_store(log::ENTRIES).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: log::ENTRIES.into(),
                    description: Some("squall: log entries too large for a message".into()),
                    num_replicas: replicas,
                    storage: stream::StorageType::File,
                    ..object_store::Config::default()
                })
                .await
                .map_err(|e| failed(&e))?,
        };
        Ok((nodes, entries))
    }

    /// Connects to an existing cluster without joining it or creating
    /// anything (`squall cluster status`).
    pub async fn observe(
        servers: Vec<String>,
        node_timeout: Duration,
    ) -> Result<Self, ClusterError> {
        let client = connect(&servers).await?;
        let js = jetstream::new(client.clone());
        let missing = |what: &str, e: &dyn std::fmt::Display| {
            ClusterError::JetStream(format!(
                "no squall cluster on these servers (`{what}`: {e}); start a node with `squall serve --cluster`"
            ))
        };
        let nodes = js.get_stream(NODES).await.map_err(|e| missing(NODES, &e))?;
        let entries =
            js.get_object_store(log::ENTRIES).await.map_err(|e| missing(log::ENTRIES, &e))?;
        let log = Arc::new(JetStreamLog::new(
            tokio::runtime::Handle::current(),
            client.clone(),
            js.clone(),
            entries,
        ));
        let config = ClusterConfig {
            servers,
            node: String::new(),
            replicas: None,
            heartbeat: Duration::from_secs(1),
            node_timeout,
        };
        Ok(Self { config, client, js, nodes, log, mourned: Arc::default() })
    }

    /// What the store needs to replicate through this cluster.
    pub fn replication(&self) -> Replication {
        Replication { log: self.log.clone(), node: self.config.node.clone() }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.config.node
    }

    /// The log's last entry now: a node that has applied it has seen every
    /// write acknowledged before this call.
    pub async fn last_sequence(&self) -> Result<u64, ClusterError> {
        Ok(self.log.last_sequence().await?)
    }
}

pub(crate) async fn connect(servers: &[String]) -> Result<async_nats::Client, ClusterError> {
    let addresses = servers
        .iter()
        .map(|s| s.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ClusterError::Connect {
            servers: servers.join(","),
            message: e.to_string(),
        })?;
    async_nats::ConnectOptions::new()
        .name("squall")
        .connection_timeout(Duration::from_secs(5))
        .connect(addresses)
        .await
        .map_err(|e| ClusterError::Connect { servers: servers.join(","), message: e.to_string() })
}

fn check_node_name(name: &str) -> Result<(), ClusterError> {
    let fine = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fine { Ok(()) } else { Err(ClusterError::NodeName(name.into())) }
}
