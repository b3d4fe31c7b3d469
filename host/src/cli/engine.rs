//! `squall engine`: the engine in the foreground, fed trigger instances as
//! JSON lines on standard input. Each line is acknowledged on standard
//! output once it is committed, so a producer knows what it may forget; a
//! producer that replays lines after a crash gives them ids, and a replay of
//! a committed line is answered as a duplicate.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::engine::{
    Actions, Catalog, Engine, EngineConfig, Event, Ingest, StoreAudit, StoreKv, StoreSecrets,
    register_rule_files,
};
use crate::pack::Manifest;
use crate::runtime::{HostServices, Runtime, RuntimeConfig, StaticConfig};
use crate::store::{Store, StoreConfig};

#[derive(Debug, clap::Args)]
pub(crate) struct EngineArgs {
    /// Where the database, its key file and the compile cache live.
    #[arg(long, env = "SQUALL_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// A pack to run: its `pack.toml` and its component. Repeatable.
    #[arg(long, num_args = 2, value_names = ["MANIFEST", "COMPONENT"])]
    pack: Vec<PathBuf>,
    /// A directory of rule files (`*.yaml`, `*.yml`) to register in the
    /// store (replacing rules of the same reference) before starting; the
    /// engine runs every stored rule.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Exit once standard input is closed and no execution is queued or
    /// running, instead of running until killed.
    #[arg(long)]
    exit_when_idle: bool,
}

/// One line of input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    id: Option<Uuid>,
    trigger: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    payload: Value,
}

/// Lines being committed at once: enough to fill group commits, few enough
/// to bound memory.
const IN_FLIGHT: usize = 512;

pub(crate) fn run(
    args: EngineArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data directory {}", args.data_dir.display()))?;
    let store = Store::open(&args.data_dir.join("squall.redb"), StoreConfig::default())?;
    let services = HostServices {
        kv: Arc::new(StoreKv::new(store.clone())),
        config: Arc::new(StaticConfig::default()),
        secrets: Arc::new(StoreSecrets::new(store.clone())),
        audit: Arc::new(StoreAudit::new(store.clone())),
    };
    let runtime =
        Runtime::new(RuntimeConfig::with_cache_dir(args.data_dir.join("cache")), services)?;
    let mut packs = Vec::new();
    for pair in args.pack.chunks(2) {
        let [manifest_path, component_path] = pair else {
            bail!("--pack takes MANIFEST COMPONENT")
        };
        let manifest = Manifest::load(manifest_path)?;
        let component = runtime
            .load(component_path, &manifest.name)
            .with_context(|| format!("pack {}", manifest.name))?;
        packs.push((manifest, Arc::new(component)));
    }
    // Actions are in the catalog before the engine starts, so executions a
    // crash left behind find them when they are recovered.
    let mut actions = Actions::default();
    for (manifest, component) in &packs {
        actions.add_pack(manifest, component.clone())?;
    }
    let executor = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let config = EngineConfig::default();
    executor.block_on(async {
        if let Some(dir) = &args.rules {
            let registered = register_rule_files(&store, dir).await?;
            let _ = writeln!(
                stderr,
                "squall engine: registered {} rules from {}",
                registered.len(),
                dir.display()
            );
        }
        let catalog = Catalog::load(&store)?;
        let ingest =
            Ingest::new(store.clone(), Arc::new(catalog.trigger_types), catalog.rules, actions);
        let engine = Engine::start(ingest, config).await?;
        for (manifest, component) in packs {
            engine.install_pack(&manifest, component, Value::Object(Map::new())).await?;
        }
        let _ = writeln!(stderr, "squall engine: reading trigger instances from standard input");
        feed(&engine, stdout).await?;
        if args.exit_when_idle {
            wait_until_idle(&store).await?;
            return Ok(0);
        }
        std::future::pending::<()>().await;
        Ok(0)
    })
}

/// Commits every line of standard input, up to [`IN_FLIGHT`] at once, and
/// acknowledges each on `stdout` as its commit completes.
async fn feed(engine: &Engine, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let (lines_tx, mut lines) =
        tokio::sync::mpsc::channel::<(usize, std::io::Result<String>)>(IN_FLIGHT);
    std::thread::Builder::new()
        .name("squall-stdin".into())
        .spawn(move || {
            for (index, line) in std::io::stdin().lock().lines().enumerate() {
                if lines_tx.blocking_send((index + 1, line)).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the input thread")?;
    let mut pending = tokio::task::JoinSet::new();
    let mut open = true;
    while open || !pending.is_empty() {
        tokio::select! {
            received = lines.recv(), if open && pending.len() < IN_FLIGHT => match received {
                None => open = false,
                Some((number, line)) => {
                    let line = line.context("cannot read standard input")?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let engine = engine.clone();
                    pending.spawn(async move { (number, emit(&engine, &line).await) });
                }
            },
            Some(done) = pending.join_next() => {
                let (number, answer) = done.context("an ingest task failed")?;
                let mut answer = answer.unwrap_or_else(|error| json!({"error": error}));
                answer["line"] = json!(number);
                writeln!(stdout, "{answer}").context("cannot write to standard output")?;
                stdout.flush().context("cannot write to standard output")?;
            }
        }
    }
    Ok(())
}

async fn emit(engine: &Engine, line: &str) -> Result<Value, String> {
    let line: Line = serde_json::from_str(line).map_err(|e| {
        format!("expected {{\"trigger\": TYPE, \"payload\": {{...}}, \"id\"?: UUID, \"parameters\"?: {{...}}}}: {e}")
    })?;
    let event = Event {
        id: line.id,
        trigger: line.trigger,
        parameters: line.parameters,
        payload: line.payload,
    };
    let emitted = engine.emit(event).await.map_err(|e| e.to_string())?;
    Ok(json!({"id": emitted.id, "executions": emitted.executions, "duplicate": emitted.duplicate}))
}

async fn wait_until_idle(store: &Store) -> anyhow::Result<()> {
    loop {
        let snapshot = store.read()?;
        if snapshot.queued_executions()? == 0 && snapshot.running_executions()? == 0 {
            return Ok(());
        }
        drop(snapshot);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
