//! `squall cluster status`: reads a cluster's state from NATS itself (the
//! nodes' heartbeats and the log's stream), so it works with every node
//! down, which is when it is needed most.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;

use super::output::{Table, print_json};
use crate::cluster::Cluster;
use crate::store::now_millis;

#[derive(Debug, clap::Args)]
pub(crate) struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterCommand {
    /// Nodes (last heartbeat, log entry applied, executions running), the
    /// NATS servers, and the log stream's replicas.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The cluster's NATS servers, as given to `squall serve --cluster`.
    #[arg(
        long,
        env = "SQUALL_CLUSTER",
        value_delimiter = ',',
        value_name = "URL",
        required = true
    )]
    cluster: Vec<String>,
    /// A node not heard from for this long is shown as dead.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    node_timeout: Duration,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ClusterArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let ClusterCommand::Status(args) = args.command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let status = runtime.block_on(async {
        let cluster = Cluster::observe(args.cluster.clone(), args.node_timeout).await?;
        cluster.status().await
    })?;
    if args.json {
        print_json(stdout, &serde_json::to_value(&status)?)?;
        return Ok(0);
    }
    let now = now_millis();
    let mut nodes = Table::new(&["NODE", "STATE", "HEARTBEAT", "LOG ENTRY", "RUNNING", "API"]);
    for node in &status.nodes {
        nodes.row(vec![
            node.node.clone(),
            if node.alive { "alive".into() } else { "dead".into() },
            format!("{:.1}s ago", now.saturating_sub(node.heartbeat_at) as f64 / 1000.0),
            node.log_sequence.to_string(),
            running(&node.running),
            node.api_url.clone().unwrap_or_default(),
        ]);
    }
    writeln!(stdout, "nodes:")?;
    nodes.print(stdout, "(no node has written a heartbeat yet)")?;
    let stream = &status.stream;
    writeln!(
        stdout,
        "\nlog: stream {} — {} entries ({} bytes), last entry {}, {} replica(s), leader {}",
        stream.name,
        stream.entries,
        stream.bytes,
        stream.last_sequence,
        stream.replicas,
        stream.leader.as_deref().unwrap_or("(none)")
    )?;
    for peer in &stream.peers {
        let state = if peer.offline {
            "offline"
        } else if peer.current {
            "current"
        } else {
            "catching up"
        };
        writeln!(stdout, "  replica {}: {state}, {} entries behind", peer.server, peer.lag)?;
    }
    writeln!(
        stdout,
        "\nNATS: connected to {}; servers {}",
        status.connected_to,
        status.servers.join(", ")
    )?;
    Ok(0)
}

/// The executions a node runs, as the table shows them: how many, and the
/// first ids (`--json` has them all).
fn running(ids: &[uuid::Uuid]) -> String {
    let shown: Vec<String> = ids.iter().take(3).map(ToString::to_string).collect();
    match ids.len() {
        0 => "0".into(),
        n if n <= 3 => format!("{n}: {}", shown.join(", ")),
        n => format!("{n}: {}, …", shown.join(", ")),
    }
}
