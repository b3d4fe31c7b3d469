//! `squall serve`: the engine with the HTTP API in front of it. Opens (or
//! creates) the data directory, loads the packs (the core pack is built into
//! the binary, `builtin.rs`, and loaded unless a pack named `core` is given
//! or installed), starts the engine on the stored rules, creates the user
//! `admin` (role `system_admin`, a random password in `admin-password`) and
//! an admin API key on first start, and serves until Ctrl-C or SIGTERM, then
//! stops gracefully. `limits.rs` has the connection limits' flags.

mod builtin;
mod cluster;
mod installs;
mod limits;
mod records;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use crate::access::{SYSTEM_ADMIN, hash_password, random_secret};
use crate::api::{self, AccessPolicy, ApiState, ConnectionLimits};
use crate::engine::{
    Actions, Catalog, Engine, EngineConfig, Ingest, PackConfigs, PackManager, StoreAudit, StoreKv,
    StoreSecrets, load_installed,
};
use crate::pack::Manifest;
use crate::runtime::{HostServices, Runtime, RuntimeConfig};
use crate::store::{FIRST_ADMIN, RuleRecord, Store, StoreConfig, UserRecord, now_millis};

/// The rule a fresh data directory starts with, when no `--pack` is given.
const EXAMPLE_RULE: &str = r#"name: hello
pack: examples
description: 'Says hello to whoever POSTs {"name": ...} to /api/v1/webhooks/hello'
enabled: true
trigger:
  type: core.webhook
  parameters: {url: hello}
action:
  ref: core.echo
  parameters:
    message: "hello {{ trigger.body.name }}"
"#;
const EXAMPLE_REF: &str = "examples.hello";

/// The file the admin API key is written to, in the data directory.
const ADMIN_KEY_FILE: &str = "admin-api-key";
/// The file the first admin's password is written to, in the data
/// directory.
const ADMIN_PASSWORD_FILE: &str = "admin-password";

/// How long a graceful stop waits for open requests.
const STOP_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where the database, its key file, the compile cache and the admin
    /// API key live [default: the user's data directory, then `squall`].
    #[arg(long, env = "SQUALL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The address to listen on.
    #[arg(long, env = "SQUALL_LISTEN", value_name = "ADDR", default_value = "127.0.0.1:9101")]
    listen: SocketAddr,
    /// A pack to run: its `pack.toml` and its component. Repeatable.
    /// The core pack (`core.echo`, `core.noop`, `core.fail`, `core.sleep`)
    /// is built into squall and always loaded, unless a pack named `core`
    /// is given here or installed from a bundle, which replaces it. With no
    /// `--pack`, a fresh data directory gets the example rule
    /// `examples.hello`.
    #[arg(long, num_args = 2, value_names = ["MANIFEST", "COMPONENT"])]
    pack: Vec<PathBuf>,
    /// Accept pack bundles without a signature (each such install is
    /// audited). Without it, no client can install an unsigned bundle.
    #[arg(long)]
    allow_unsigned: bool,
    /// A token's lifetime when the client asks for none.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    token_ttl: Duration,
    /// The longest token lifetime a client may ask for.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    token_max_ttl: Duration,
    /// ChatOps settings (YAML): which Squall user each chat user acts as
    /// (`users:`, `default_user:`), and the Slack and Mattermost endpoints'
    /// secrets (docs/chatops.md). Without it, a chat bot's commands run as
    /// the bot's own user.
    #[arg(long, value_name = "FILE")]
    chatops: Option<PathBuf>,
    /// A registry (`host[:port]`) the server may pull packs from when a
    /// client asks it to install one by name (`POST /api/v1/packs/pull`,
    /// the web UI's "Install from a registry"); repeatable. Without it the
    /// server pulls from none: it never fetches a place a client chose.
    /// Loopback registries are spoken to over plain HTTP, others over HTTPS.
    #[arg(long = "registry", env = "SQUALL_REGISTRIES", value_delimiter = ',', value_name = "HOST[:PORT]", value_parser = registry_host)]
    registries: Vec<String>,
    #[command(flatten)]
    limits: limits::LimitArgs,
    #[command(flatten)]
    records: records::RecordArgs,
    #[command(flatten)]
    installs: installs::InstallArgs,
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
}

pub(crate) fn run(
    args: ServeArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let chat = args.chatops.as_deref().map(load_chat_config).transpose()?;
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => dirs::data_dir()
            .context("there is no user data directory here; pass --data-dir")?
            .join("squall"),
    };
    create_private_dir(&data_dir)?;
    // Before anything opens files, so the database and packs count against
    // the raised limit.
    let limits = args.limits.resolve(stderr);
    let database = data_dir.join("squall.redb");
    let fresh = !database.exists();
    let executor = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cluster = match args.cluster.config()? {
        Some(config) => Some(executor.block_on(crate::cluster::Cluster::join(config))?),
        None => None,
    };
    let store = Store::open(
        &database,
        StoreConfig {
            limits: args.records.limits(),
            min_free_bytes: args.records.min_free_bytes(),
            replication: cluster.as_ref().map(crate::cluster::Cluster::replication),
            ..StoreConfig::default()
        },
    )?;
    if let Some(cluster) = &cluster {
        executor.block_on(cluster::catch_up(cluster, &store))?;
        let shared = executor.block_on(store.write(|tx| tx.secret_key_is_shared()))?;
        if !shared {
            bail!(
                "the secret key file {} is not the cluster's: secrets set through other nodes                  would not decrypt here. Give every node the same key file (copy it from a node                  already in the cluster), then start this node again",
                crate::store::secret_key_path(&database).display()
            );
        }
        writeln!(
            stdout,
            "squall serve: node `{}` of the cluster on {}, at entry {} of its log",
            cluster.node(),
            args.cluster.servers().join(","),
            store.log_sequence()?
        )?;
    }
    let configs = Arc::new(PackConfigs::default());
    let services = HostServices {
        kv: Arc::new(StoreKv::new(store.clone())),
        config: configs.clone(),
        secrets: Arc::new(StoreSecrets::new(store.clone())),
        audit: Arc::new(StoreAudit::new(store.clone())),
    };
    let runtime =
        Arc::new(Runtime::new(RuntimeConfig::with_cache_dir(data_dir.join("cache")), services)?);
    // Packs installed from bundles come back first, from the store and the
    // compile cache; a file pack of the same name does not replace one.
    let (installed, problems) = load_installed(&store, &runtime)?;
    for problem in problems {
        let _ = writeln!(stderr, "squall serve: {problem}");
    }
    let mut loaded = Vec::new();
    // Actions are in the catalog before the engine starts, so executions a
    // crash left behind find them when they are recovered.
    let mut actions = Actions::default();
    for pair in args.pack.chunks(2) {
        let [manifest_path, component_path] = pair else {
            bail!("--pack takes MANIFEST COMPONENT")
        };
        let manifest = Manifest::load(manifest_path)?;
        if installed.iter().any(|p| p.manifest.name == manifest.name) {
            continue;
        }
        let component = Arc::new(
            runtime
                .load(component_path, &manifest.name)
                .with_context(|| format!("pack {}", manifest.name))?,
        );
        actions.add_pack(&manifest, component.clone())?;
        loaded.push((manifest, component));
    }
    // The core pack built into the binary, unless one was given or is
    // installed.
    if !loaded.iter().any(|(m, _)| m.name == builtin::NAME)
        && !installed.iter().any(|p| p.manifest.name == builtin::NAME)
    {
        let (manifest, component) = builtin::load(&runtime)?;
        let component = Arc::new(component);
        actions.add_pack(&manifest, component.clone())?;
        loaded.push((manifest, component));
    }
    for pack in &installed {
        actions.add_pack(&pack.manifest, pack.component.clone())?;
    }
    // A node joining a cluster finds the example rule there already.
    let example = args.pack.is_empty() && fresh && cluster.is_none();
    executor.block_on(async {
        if example {
            install_example(&store).await?;
        }
        let catalog = Catalog::load(&store)?;
        let ingest =
            Ingest::new(store.clone(), Arc::new(catalog.trigger_types), catalog.rules, actions);
        // Bound before the engine starts so that workflows can be told the
        // API's address (`ctx().st2.api_url`), even with port 0.
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr().context("cannot read the listening address")?;
        let config = EngineConfig {
            api_url: Some(format!("http://{address}{}", api::API_PREFIX)),
            ..EngineConfig::default()
        };
        let engine = Engine::start(ingest, config).await?;
        if let Some(cluster) = &cluster {
            cluster.start(store.clone(), engine.clone(), Some(format!("http://{address}")));
        }
        let mut manifests = Vec::with_capacity(loaded.len());
        for (manifest, component) in loaded {
            engine.install_pack(&manifest, component, Value::Object(Map::new())).await?;
            manifests.push(manifest);
        }
        let packs = PackManager::new(engine.clone(), runtime.clone()).with_configs(configs);
        packs.resume(installed)?;
        if cluster.is_some() {
            cluster::follow_changes(engine.clone(), packs.clone());
        }
        let password_file = data_dir.join(ADMIN_PASSWORD_FILE);
        let admin_created = admin_user(&store, &password_file).await?;
        let key_file = data_dir.join(ADMIN_KEY_FILE);
        let created = admin_key(&store, &key_file).await?;
        let has_example = store.read()?.rule(EXAMPLE_REF)?.is_some_and(|r| r.enabled);
        if admin_created {
            writeln!(
                stdout,
                "squall serve: user `{FIRST_ADMIN}` (system_admin) created; its password is in {} (sign in with: squall login {FIRST_ADMIN})",
                password_file.display()
            )?;
        }
        announce(stdout, address, &data_dir, &key_file, created, has_example)?;
        if args.allow_unsigned {
            writeln!(stdout, "squall serve: unsigned bundles are accepted (--allow-unsigned)")?;
        }
        if args.token_ttl > args.token_max_ttl {
            bail!("--token-ttl ({:?}) is longer than --token-max-ttl ({:?})", args.token_ttl, args.token_max_ttl);
        }
        let policy = AccessPolicy {
            allow_unsigned: args.allow_unsigned,
            token_ttl: args.token_ttl,
            token_max_ttl: args.token_max_ttl,
        };
        let state = ApiState::with_policy(engine.clone(), manifests, policy);
        if let Some(chat) = chat {
            state.set_chat_config(chat);
        }
        state.enable_pack_lifecycle(packs);
        if !args.registries.is_empty() {
            writeln!(
                stdout,
                "squall serve: packs may be pulled from {} (--registry)",
                args.registries.join(", ")
            )?;
        }
        state.allow_registries(args.registries.clone());
        state.limit_installs(args.installs.limits());
        writeln!(
            stdout,
            "squall serve: at most {} connections; request headers within {}, idle connections closed after {}",
            limits.max_connections,
            humantime::format_duration(limits.header_read_timeout),
            humantime::format_duration(limits.idle_timeout),
        )?;
        serve(listener, state, limits, stdout).await?;
        engine.shutdown().await;
        let _ = writeln!(stdout, "squall serve: stopped");
        Ok(0)
    })
}

/// Serves until Ctrl-C or SIGTERM, then lets open requests finish (event
/// streams are ended) for up to [`STOP_GRACE`].
async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: ConnectionLimits,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(api::serve(listener, state, limits, async move {
        let _ = stopped.await;
    }));
    tokio::select! {
        () = stop_signal() => {}
        ended = &mut server => {
            ended.context("the server task failed")?.context("the server failed")?;
            bail!("the server stopped by itself");
        }
    }
    let _ = writeln!(stdout, "squall serve: stopping");
    let _ = stdout.flush();
    let _ = stop.send(());
    match tokio::time::timeout(STOP_GRACE, &mut server).await {
        Ok(ended) => ended.context("the server task failed")?.context("the server failed")?,
        Err(_) => {
            tracing::warn!("requests still open after {STOP_GRACE:?}; stopping anyway");
            server.abort();
        }
    }
    Ok(())
}

async fn stop_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => drop(signal.recv().await),
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Stores the example rule.
async fn install_example(store: &Store) -> anyhow::Result<()> {
    let now = now_millis();
    let record = RuleRecord {
        reference: EXAMPLE_REF.into(),
        source: EXAMPLE_RULE.into(),
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    store.write(move |tx| tx.put_rule(&record)).await.context("cannot store the example rule")?;
    Ok(())
}

/// Creates the admin API key and writes it to `file` (mode 0600) unless
/// the file exists; says whether it created one. Deleting the file and
/// restarting creates a new key (the old one stays valid until revoked).
async fn admin_key(store: &Store, file: &Path) -> anyhow::Result<bool> {
    if let Ok(existing) = std::fs::read_to_string(file) {
        let known = store.read()?.api_key_by_hash(&api::hash_key(existing.trim()))?;
        if known.is_none_or(|k| k.revoked_at.is_some()) {
            tracing::warn!(
                file = %file.display(),
                "the admin API key in this file is unknown or revoked; delete the file and restart to get a new one"
            );
        }
        return Ok(false);
    }
    let (_, key) = api::create_api_key(store, "admin", FIRST_ADMIN, Vec::new())
        .await
        .context("cannot create the admin API key")?;
    write_private(file, &format!("{key}\n"))
        .with_context(|| format!("cannot write the admin API key to {}", file.display()))?;
    Ok(true)
}

/// Creates the user `admin` with the role `system_admin` and a random
/// password written to `file` (mode 0600), unless the user exists; says
/// whether it created one.
async fn admin_user(store: &Store, file: &Path) -> anyhow::Result<bool> {
    if store.read()?.user(FIRST_ADMIN)?.is_some() {
        return Ok(false);
    }
    let password = random_secret("")?.chars().take(32).collect::<String>();
    let hash = hash_password(&password)?;
    let now = now_millis();
    let user = UserRecord {
        name: FIRST_ADMIN.to_owned(),
        password_hash: Some(hash),
        roles: vec![SYSTEM_ADMIN.to_owned()],
        enabled: true,
        description: "created on first start".to_owned(),
        created_at: now,
        updated_at: now,
    };
    // A stale file (the database was replaced) is rewritten.
    let _ = std::fs::remove_file(file);
    write_private(file, &format!("{password}\n"))
        .with_context(|| format!("cannot write the admin password to {}", file.display()))?;
    store.write(move |tx| tx.insert_user(&user)).await.context("cannot create the user admin")?;
    Ok(true)
}

fn announce(
    stdout: &mut dyn Write,
    address: SocketAddr,
    data_dir: &Path,
    key_file: &Path,
    created: bool,
    example: bool,
) -> anyhow::Result<()> {
    let base = format!("http://{address}");
    writeln!(stdout, "squall serve: data in {}", data_dir.display())?;
    let fresh = if created { "created now" } else { "created on first start" };
    writeln!(stdout, "squall serve: admin API key in {} ({fresh})", key_file.display())?;
    writeln!(stdout, "squall serve: listening on {base} (API under {base}{})", api::API_PREFIX)?;
    if example {
        let auth = format!("-H \"Authorization: Bearer $(cat {})\"", shell_quote(key_file));
        writeln!(stdout, "squall serve: try the example rule {EXAMPLE_REF}:")?;
        writeln!(
            stdout,
            "  curl -s {auth} -H 'Content-Type: application/json' -d '{{\"name\": \"world\"}}' {base}/api/v1/webhooks/hello \
             && sleep 1 && curl -s {auth} '{base}/api/v1/executions?limit=1&include_attributes=action,status,result,error'"
        )?;
    }
    stdout.flush()?;
    Ok(())
}

/// `path` quoted for a POSIX shell.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?.write_all(text.as_bytes())
}

/// Reads `--chatops FILE`; one that holds platform secrets and others may
/// read is refused, as a key file would be.
fn load_chat_config(path: &Path) -> anyhow::Result<crate::chatops::ChatConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--chatops: cannot read {}", path.display()))?;
    let config = crate::chatops::ChatConfig::from_yaml(&text, &path.display().to_string())?;
    #[cfg(unix)]
    if config.slack.is_some() || config.mattermost.is_some() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{}: holds chat platform secrets but others may read it (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(config)
}

/// A registry as `--registry` takes it: `host` or `host:port`, no scheme
/// and no path.
fn registry_host(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (host, Some(port)),
        _ => (text, None),
    };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok());
    if host_ok && port_ok && !text.contains("://") && !text.contains('/') {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!("expected HOST or HOST:PORT (e.g. ghcr.io or 127.0.0.1:5000), got {text:?}"))
    }
}
