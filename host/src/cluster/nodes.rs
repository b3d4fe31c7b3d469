//! Nodes of a cluster: each writes a heartbeat to the `squall_nodes` bucket
//! (its name, API address, the log entry it has applied, the executions it
//! runs); each watches the others' and takes over the executions of a node
//! silent for longer than the node timeout, as after a crash. The status
//! `squall cluster status` prints is read from the same bucket and the
//! log's stream.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError, log};
use crate::engine::Engine;
use crate::store::{Millis, Store, now_millis};

/// What a node says about itself at each heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its name (`--node`).
    pub node: String,
    /// Its API's address, if it serves one.
    pub api_url: Option<String>,
    /// When it started, and when it last wrote this.
    pub started_at: Millis,
    pub heartbeat_at: Millis,
    /// The last log entry its database applied.
    pub log_sequence: u64,
    /// The executions it is running.
    pub running: Vec<uuid::Uuid>,
    /// Whether it was heard from within the node timeout (filled in by the
    /// reader).
    #[serde(default)]
    pub alive: bool,
}

/// The log's stream, as JetStream reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamStatus {
    pub name: String,
    pub entries: u64,
    pub bytes: u64,
    pub last_sequence: u64,
    pub replicas: usize,
    /// The server leading the stream's replicas, and each replica's state.
    pub leader: Option<String>,
    pub peers: Vec<PeerStatus>,
}

/// One replica of the stream other than the leader.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub server: String,
    pub current: bool,
    pub offline: bool,
    /// Entries it is behind the leader.
    pub lag: u64,
}

/// `squall cluster status`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The NATS server this client is connected to, and the servers it
    /// knows of.
    pub connected_to: String,
    pub servers: Vec<String>,
    pub stream: StreamStatus,
    pub nodes: Vec<NodeStatus>,
}

fn node_subject(node: &str) -> String {
    format!("squall.nodes.{node}")
}

impl Cluster {
    /// Every node's last heartbeat, by name.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, ClusterError> {
        let failed = |e: &dyn std::fmt::Display| ClusterError::JetStream(e.to_string());
        let mut subjects =
            self.nodes.info_with_subjects(super::NODE_SUBJECTS).await.map_err(|e| failed(&e))?;
        let mut names = BTreeSet::new();
        while let Some(subject) = subjects.next().await {
            let (subject, _) = subject.map_err(|e| failed(&e))?;
            if let Some(name) = subject.strip_prefix("squall.nodes.") {
                names.insert(name.to_owned());
            }
        }
        let timeout = Millis::try_from(self.config.node_timeout.as_millis()).unwrap_or(Millis::MAX);
        let now = now_millis();
        let mut nodes = Vec::new();
        for name in names {
            let Ok(message) =
                self.nodes.get_last_raw_message_by_subject(&node_subject(&name)).await
            else {
                continue;
            };
            if let Ok(mut status) = serde_json::from_slice::<NodeStatus>(&message.payload) {
                status.alive = now.saturating_sub(status.heartbeat_at) <= timeout;
                nodes.push(status);
            }
        }
        Ok(nodes)
    }

    /// The cluster as `squall cluster status` shows it.
    pub async fn status(&self) -> Result<ClusterStatus, ClusterError> {
        let failed = |e: &dyn std::fmt::Display| ClusterError::JetStream(e.to_string());
        let mut stream = self.js.get_stream(log::STREAM).await.map_err(|e| failed(&e))?;
        let info = stream.info().await.map_err(|e| failed(&e))?.clone();
        let cluster = info.cluster.clone();
        let server = self.client.server_info();
        Ok(ClusterStatus {
            connected_to: format!("{} ({}:{})", server.server_name, server.host, server.port),
            servers: server.connect_urls.clone(),
            stream: StreamStatus {
                name: info.config.name.clone(),
                entries: info.state.messages,
                bytes: info.state.bytes,
                last_sequence: info.state.last_sequence,
                replicas: info.config.num_replicas,
                leader: cluster.as_ref().and_then(|c| c.leader.clone()),
                peers: cluster
                    .map(|c| {
                        c.replicas
                            .into_iter()
                            .map(|r| PeerStatus {
                                server: r.name,
                                current: r.current,
                                offline: r.offline,
                                lag: r.lag.unwrap_or(0),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            nodes: self.nodes().await?,
        })
    }

    /// Writes this node's heartbeat every `heartbeat`, and takes over the
    /// executions of nodes silent for longer than the node timeout, until
    /// the engine stops.
    pub fn start(&self, store: Store, engine: Engine, api_url: Option<String>) {
        let cluster = self.clone();
        tokio::spawn(async move {
            let started_at = now_millis();
            let mut ticks = tokio::time::interval(cluster.config.heartbeat);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let running = store.read().and_then(|s| s.running_on()).unwrap_or_default();
                let status = NodeStatus {
                    node: cluster.config.node.clone(),
                    api_url: api_url.clone(),
                    started_at,
                    heartbeat_at: now_millis(),
                    log_sequence: store.log_sequence().unwrap_or(0),
                    running: running
                        .iter()
                        .filter(|(_, n)| *n == cluster.config.node)
                        .map(|(id, _)| *id)
                        .collect(),
                    alive: true,
                };
                let bytes = serde_json::to_vec(&status).unwrap_or_default();
                let sent = match cluster
                    .js
                    .publish(node_subject(&cluster.config.node), bytes.into())
                    .await
                {
                    Ok(ack) => ack.await.map(drop).map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                if let Err(error) = sent {
                    tracing::warn!(%error, "cluster: cannot write this node's heartbeat");
                    continue;
                }
                cluster.take_over_dead(&engine, &running).await;
            }
        });
    }

    /// Takes over the running executions of every other node not heard
    /// from within the node timeout. Several live nodes may try at once:
    /// each execution is taken over in one replicated write that first
    /// checks it is still the dead node's, so only one succeeds.
    async fn take_over_dead(&self, engine: &Engine, running: &[(uuid::Uuid, String)]) {
        let owners: BTreeSet<&str> = running
            .iter()
            .map(|(_, node)| node.as_str())
            .filter(|node| *node != self.config.node)
            .collect();
        if owners.is_empty() {
            return;
        }
        let Ok(nodes) = self.nodes().await else { return };
        let alive: BTreeMap<&str, bool> =
            nodes.iter().map(|n| (n.node.as_str(), n.alive)).collect();
        for owner in owners {
            if alive.get(owner).copied().unwrap_or(false) {
                self.mourned
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(owner);
                continue;
            }
            // Its workflows' delays and inquiries' deadlines lived in its
            // memory: armed here again, once per death.
            let first = self
                .mourned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(owner.to_owned());
            if first && let Err(error) = engine.rearm_flow_timers().await {
                tracing::error!(node = owner, %error, "cluster: cannot arm a dead node's workflow timers");
            }
            match engine.take_over(owner).await {
                Ok(0) => {}
                Ok(count) => {
                    tracing::warn!(
                        node = owner,
                        executions = count,
                        "cluster: took over the work of a node that stopped answering"
                    );
                }
                Err(error) => {
                    tracing::error!(node = owner, %error, "cluster: cannot take over a dead node's work")
                }
            }
        }
    }
}
