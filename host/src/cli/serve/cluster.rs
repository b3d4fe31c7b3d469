//! `squall serve --cluster`: the flags that make this process one node of a
//! cluster on NATS JetStream, joining it, and what a node does besides a
//! single one (catching up before it serves, following other nodes'
//! changes to rules and the work queue).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cluster::{Cluster, ClusterConfig};
use crate::engine::EngineEvent;
use crate::engine::{Engine, PackManager};
use crate::store::{AppliedChanges, Store};

#[derive(Debug, clap::Args)]
pub(crate) struct ClusterArgs {
    /// Run as one node of a cluster on these NATS servers (JetStream on);
    /// every node given the same servers is part of one installation. A
    /// comma-separated list of `nats://HOST:PORT`. Without it nothing of
    /// NATS is used.
    #[arg(long, env = "SQUALL_CLUSTER", value_delimiter = ',', value_name = "URL")]
    cluster: Vec<String>,
    /// This node's name in the cluster: unique, and the same across its
    /// restarts (required with --cluster).
    #[arg(long, env = "SQUALL_NODE", value_name = "NAME", requires = "cluster")]
    node: Option<String>,
    /// Replicas of the cluster's log and buckets, when this node creates
    /// them [default: one per NATS server, at most 3].
    #[arg(long, value_name = "N", requires = "cluster", value_parser = clap::value_parser!(u8).range(1..=5))]
    replicas: Option<u8>,
    /// Time between this node's heartbeats.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// A node not heard from for this long is dead: the others retry or
    /// abandon what it was running, per each action's policy.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    node_timeout: Duration,
}

/// How long a joining node waits to apply the log before it serves.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(120);

impl ClusterArgs {
    /// The NATS servers given.
    pub(crate) fn servers(&self) -> &[String] {
        &self.cluster
    }

    /// The cluster settings, or `None` for a single node.
    pub(crate) fn config(&self) -> anyhow::Result<Option<ClusterConfig>> {
        if self.cluster.is_empty() {
            return Ok(None);
        }
        let Some(node) = self.node.clone() else {
            bail!("--cluster needs --node NAME: this node's name, unique in the cluster");
        };
        if self.node_timeout <= self.heartbeat * 2 {
            bail!(
                "--node-timeout ({}) must be more than twice --heartbeat ({})",
                humantime::format_duration(self.node_timeout),
                humantime::format_duration(self.heartbeat)
            );
        }
        Ok(Some(ClusterConfig {
            servers: self.cluster.clone(),
            node,
            replicas: self.replicas.map(usize::from),
            heartbeat: self.heartbeat,
            node_timeout: self.node_timeout,
        }))
    }
}

/// Waits until the store has applied every entry the log had when called,
/// so the node starts from the cluster's state, not an empty one.
pub(crate) async fn catch_up(cluster: &Cluster, store: &Store) -> anyhow::Result<()> {
    let target = cluster.last_sequence().await.context("cannot read the cluster's log")?;
    let deadline = Instant::now() + CATCH_UP_LIMIT;
    loop {
        let at = store.log_sequence()?;
        if at >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "this node applied the cluster's log up to entry {at} of {target} in {CATCH_UP_LIMIT:?}; is the disk or the network slow?"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Keeps the engine in step with what other nodes write: packs installed,
/// configured or removed elsewhere are put to work or out of service here,
/// rules and trigger types are reloaded when they change, and new work on
/// the queue wakes the dispatcher.
pub(crate) fn follow_changes(engine: Engine, packs: PackManager) {
    let mut applied = engine.store().applied();
    tokio::spawn(async move {
        loop {
            let changes = match applied.recv().await {
                Ok(changes) => changes,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: reload everything that could have changed.
                    let tables = ["packs", "rules", "execution_queue"].map(String::from);
                    std::sync::Arc::new(AppliedChanges {
                        tables: tables.into_iter().collect(),
                        ..AppliedChanges::default()
                    })
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            announce(&engine, &changes);
            let tables = &changes.tables;
            if tables.contains("packs") || tables.contains("bundles") {
                for problem in packs.sync_with_store().await {
                    tracing::error!(%problem, "cluster: a pack another node stored does not run here");
                }
            }
            if tables.contains("rules") || tables.contains("trigger_types") {
                match engine.reload_rules() {
                    Ok(problems) => {
                        for problem in problems {
                            tracing::warn!(%problem, "cluster: a rule another node stored did not load");
                        }
                    }
                    Err(error) => tracing::error!(%error, "cluster: cannot reload the rules"),
                }
            }
            if tables.contains("execution_queue") {
                engine.ingest().work_signal().notify_one();
            }
        }
    });
}

/// Puts what other nodes committed on this node's event feed (as
/// `elsewhere`), so that the event stream and the web UI on any node show
/// the whole cluster.
fn announce(engine: &Engine, changes: &AppliedChanges) {
    if changes.executions.is_empty() && changes.trigger_instances.is_empty() {
        return;
    }
    let Ok(snapshot) = engine.store().read() else { return };
    for &id in &changes.trigger_instances {
        if let Ok(Some(instance)) = snapshot.trigger_instance(id) {
            engine.ingest().announce_elsewhere(EngineEvent::TriggerInstance {
                id,
                trigger: instance.trigger,
                elsewhere: true,
            });
        }
    }
    for &id in &changes.executions {
        if let Ok(Some(execution)) = snapshot.execution_head(id) {
            engine.ingest().announce_elsewhere(EngineEvent::Execution {
                id,
                action: execution.action,
                status: execution.status,
                elsewhere: true,
            });
        }
    }
}
