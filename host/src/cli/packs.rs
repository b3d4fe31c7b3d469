//! `squall pack …` and `squall action list|get`: the packs the server runs
//! and their actions, installing, upgrading and removing them, and (in
//! `pack_build.rs` and `pack_registry.rs`) the commands on local files and
//! registries.

use std::io::Write;

use serde_json::Value;

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, opt_text, print_json, show, text};

#[derive(Debug, clap::Args)]
pub(crate) struct PackArgs {
    #[command(subcommand)]
    command: PackCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PackCommand {
    /// List the packs.
    List(ListArgs),
    /// Show one pack: its actions, signer, requested and granted capabilities.
    Get(NameArgs),
    /// Create a pack that builds as it is: `squall pack new NAME --lang
    /// rust|python|js`.
    New(super::pack_new::NewArgs),
    /// Build a bundle from a pack's source directory.
    Build(super::pack_build::BuildArgs),
    /// Turn a StackStorm pack directory into a Squall pack source
    /// directory and report what converted and why not.
    Import(super::pack_import::ImportArgs),
    /// Rebuild and reinstall a pack on the server whenever its source
    /// changes (`--once`: build and install once).
    Dev(super::pack_dev::DevArgs),
    /// Make a signing key pair.
    Keygen(super::pack_build::KeygenArgs),
    /// Sign a bundle.
    Sign(super::pack_build::SignArgs),
    /// Check a bundle's signature against public keys and show what it asks for.
    Verify(super::pack_build::VerifyArgs),
    /// Print the parameters a local pack's action would be given, as the
    /// server prepares them from pack.toml: defaults applied, schema
    /// checked (what the Python and JavaScript test helpers run).
    Params(super::pack_params::ParamsArgs),
    /// Install or upgrade a pack from a file, an http(s) URL or a registry.
    #[command(visible_alias = "upgrade")]
    Install(InstallArgs),
    /// Remove a pack.
    Remove(RemoveArgs),
    /// Print a pack's configuration, or set it from a YAML or JSON file
    /// (`-`: standard input), checked against its config schema.
    Config(super::pack_config::ConfigArgs),
    /// Push a bundle to an OCI registry.
    Push(PushArgs),
    /// Find packs in the default registry.
    Search(SearchArgs),
}

#[derive(Debug, clap::Args)]
struct PushArgs {
    /// The bundle file.
    #[arg(value_name = "BUNDLE")]
    bundle: std::path::PathBuf,
    /// `registry/repository[:tag]`, or `name[@version]` under the default
    /// registry; the tag defaults to the bundle's version.
    #[arg(value_name = "REF")]
    reference: String,
    /// Print the result as one JSON object (`reference`, `digest`,
    /// `size`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: super::pack_registry::RegistryOpts,
}

#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// Part of a pack's repository name.
    #[arg(value_name = "TERM")]
    term: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: super::pack_registry::RegistryOpts,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// A bundle file, an http(s) URL, a registry reference
    /// (`registry/repo:tag`) or `name[@version]` in the default registry.
    #[arg(value_name = "SOURCE")]
    source: String,
    /// Grant a capability (repeatable): `all` (everything requested),
    /// `kv`, `http=URL-PATTERN`, `secret=NAME`, `exec=/ABS/PATH`.
    #[arg(long, value_name = "GRANT")]
    grant: Vec<String>,
    /// Grant everything the pack requests without asking.
    #[arg(long, short)]
    yes: bool,
    /// Accept a bundle with no signature (local development; audited).
    #[arg(long)]
    allow_unsigned: bool,
    /// The pack's configuration, a JSON file.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    registry: super::pack_registry::RegistryOpts,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct RemoveArgs {
    /// The pack's name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Remove it even if other packs' rules use it (they are disabled).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ActionArgs {
    #[command(subcommand)]
    command: ActionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ActionCommand {
    /// List the actions the server can run.
    List(ActionListArgs),
    /// Show one action: its parameters and policy.
    Get(NameArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct ActionListArgs {
    /// Only the actions of this pack.
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    /// The pack's name, or the action's `pack.action`.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(
    args: PackArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    match args.command {
        PackCommand::New(args) => return super::pack_new::new(args, stdout),
        PackCommand::Build(args) => return super::pack_build::build(args, stdout),
        PackCommand::Import(args) => return super::pack_import::import(args, stdout),
        PackCommand::Dev(args) => return super::pack_dev::run(args, stdout, stderr),
        PackCommand::Keygen(args) => return super::pack_build::keygen(args, stdout),
        PackCommand::Sign(args) => return super::pack_build::sign(args, stdout),
        PackCommand::Verify(args) => return super::pack_build::verify(args, stdout),
        PackCommand::Params(args) => return super::pack_params::params(args, stdout, stderr),
        PackCommand::Install(args) => return install(args, stdout, stderr),
        PackCommand::Config(args) => return super::pack_config::run(args, stdout),
        PackCommand::Push(args) => {
            super::pack_registry::push(
                &args.bundle,
                &args.reference,
                &args.registry,
                args.json,
                stdout,
                stderr,
            )?;
            return Ok(0);
        }
        PackCommand::Search(args) => {
            super::pack_registry::search(&args.term, &args.registry, args.json, stdout)?;
            return Ok(0);
        }
        PackCommand::Remove(args) => {
            let client = Client::new(&args.remote)?;
            let query = [("force", args.force.to_string())];
            let removed = client.delete(&format!("/packs/{}", segment(&args.name)), &query)?.body;
            if args.remote.json {
                print_json(stdout, &removed)?;
                return Ok(0);
            }
            writeln!(stdout, "removed {} {}", text(&removed, "name"), text(&removed, "version"))?;
            for rule in items(&removed["disabled_rules"]) {
                writeln!(stdout, "disabled rule {}", rule.as_str().unwrap_or_default())?;
            }
        }
        PackCommand::List(args) => {
            let client = Client::new(&args.remote)?;
            let packs = client.get("/packs", &[])?.body;
            if args.remote.json {
                print_json(stdout, &packs)?;
                return Ok(0);
            }
            let mut table = Table::new(&["NAME", "VERSION", "ACTIONS", "DESCRIPTION"]);
            for pack in items(&packs) {
                table.row(vec![
                    text(pack, "name"),
                    text(pack, "version"),
                    items(&pack["actions"]).len().to_string(),
                    text(pack, "description"),
                ]);
            }
            table.print(stdout, "no packs")?;
        }
        PackCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let pack = client.get(&format!("/packs/{}", segment(&args.name)), &[])?.body;
            if args.remote.json {
                print_json(stdout, &pack)?;
                return Ok(0);
            }
            let actions: Vec<String> = items(&pack["actions"])
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let requested: Vec<&str> =
                items(&pack["requested"]).iter().filter_map(Value::as_str).collect();
            Fields::new()
                .add("name", text(&pack, "name"))
                .opt("version", opt_text(&pack, "version"))
                .opt("description", opt_text(&pack, "description"))
                .opt("publisher", opt_text(&pack, "publisher"))
                .add("signer", opt_text(&pack, "signer").unwrap_or_else(|| "(unsigned)".into()))
                .add("actions", actions.join(", "))
                .add("requested", requested.join(", "))
                .add("granted", granted(&pack["grants"]))
                .print(stdout)?;
        }
    }
    Ok(0)
}

/// Granted capabilities as `--grant` spells them (`http=…, secret=…, kv,
/// exec=…`), or `nothing`.
fn granted(grants: &Value) -> String {
    let list = |field: &str| -> Vec<&str> {
        items(&grants[field]).iter().filter_map(Value::as_str).collect()
    };
    let mut shown: Vec<String> = Vec::new();
    shown.extend(list("outbound_hosts").into_iter().map(|h| format!("http={h}")));
    shown.extend(list("secrets").into_iter().map(|s| format!("secret={s}")));
    if grants["kv"] == Value::Bool(true) {
        shown.push("kv".to_owned());
    }
    shown.extend(list("exec").into_iter().map(|p| format!("exec={p}")));
    if shown.is_empty() { "nothing".to_owned() } else { shown.join(", ") }
}

pub(crate) fn run_action(args: ActionArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        ActionCommand::List(args) => {
            let client = Client::new(&args.remote)?;
            let mut actions = client.get("/actions", &[])?.body;
            if let (Some(pack), Value::Array(all)) = (&args.pack, &mut actions) {
                all.retain(|action| text(action, "pack") == *pack);
            }
            if args.remote.json {
                print_json(stdout, &actions)?;
                return Ok(0);
            }
            let mut table = Table::new(&["REF", "DESCRIPTION"]);
            for action in items(&actions) {
                table.row(vec![text(action, "ref"), text(action, "description")]);
            }
            table.print(stdout, "no actions")?;
        }
        ActionCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let action = client.get(&format!("/actions/{}", segment(&args.name)), &[])?.body;
            if args.remote.json {
                print_json(stdout, &action)?;
                return Ok(0);
            }
            Fields::new()
                .add("ref", text(&action, "ref"))
                .opt("description", opt_text(&action, "description"))
                .add("parameters", show(&action["parameters_schema"]))
                .opt("output", action.get("output_schema").filter(|o| !o.is_null()).map(show))
                .add("policy", show(&action["policy"]))
                .print(stdout)?;
        }
    }
    Ok(0)
}

/// Fetches the bundle, shows what it asks for, settles the grants (asking
/// on a terminal), and sends it to the server, which verifies it before
/// compiling anything.
fn install(
    args: InstallArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    use std::io::IsTerminal as _;

    let client = Client::new(&args.remote)?;
    let (bytes, origin) = super::pack_fetch::fetch_bundle(&args.source, &args.registry, stderr)?;
    let bundle = crate::pack::Bundle::read(&bytes, &origin)?;
    let manifest = &bundle.manifest;
    let requested = manifest.capabilities.describe();
    writeln!(
        stderr,
        "{} {} from {origin} requests: {}",
        manifest.name,
        manifest.version,
        if requested.is_empty() { "nothing".to_owned() } else { requested.join(", ") }
    )?;
    let mut grants = args.grant.clone();
    if grants.is_empty() && !requested.is_empty() {
        if args.yes {
            grants.push("all".into());
        } else if std::io::stdin().is_terminal() {
            write!(stderr, "grant all of these? [y/N] ")?;
            stderr.flush()?;
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if matches!(answer.trim(), "y" | "Y" | "yes") {
                grants.push("all".into());
            } else {
                anyhow::bail!("not installed; pass --grant for the capabilities to grant");
            }
        } else {
            writeln!(stderr, "granting nothing (pass --grant or --yes to grant)")?;
        }
    }
    // Checked here for a clear message before the upload.
    crate::pack::parse_grants(&manifest.capabilities, &grants)?;
    let query = install_query(&grants, args.allow_unsigned, &origin, args.config.as_deref())?;
    let progress = super::pack_fetch::Phase::start(
        stderr,
        &format!("verifying and compiling {} on the server", manifest.name),
    );
    let answer = client.post_bytes("/packs", &query, "application/wasm", &bytes);
    progress.finish(stderr, answer.is_ok());
    let installed = answer?.body;
    if args.remote.json {
        print_json(stdout, &installed)?;
        return Ok(0);
    }
    writeln!(stdout, "{}", installed_line(&installed))?;
    Ok(0)
}

/// The query `POST /packs` takes: the grants as `--grant` spells them,
/// whether an unsigned bundle is accepted, where the bundle came from, and
/// the pack's configuration read from `config` (checked to be JSON).
pub(crate) fn install_query(
    grants: &[String],
    allow_unsigned: bool,
    origin: &str,
    config: Option<&std::path::Path>,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut query = vec![
        ("grants", grants.join(",")),
        ("allow_unsigned", allow_unsigned.to_string()),
        ("origin", origin.to_owned()),
    ];
    if let Some(path) = config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str::<Value>(&text)
            .map_err(|e| anyhow::anyhow!("{}: expected JSON: {e}", path.display()))?;
        query.push(("config", text));
    }
    Ok(query)
}

/// What an install did, from the server's answer: `upgraded NAME from A to
/// B (signed by …; verified in 2ms, compiled in 1.3s)`.
pub(crate) fn installed_line(installed: &Value) -> String {
    let (name, version) = (text(installed, "name"), text(installed, "version"));
    let what = match opt_text(installed, "previous") {
        Some(previous) if previous == version => format!("reinstalled {name} {version}"),
        Some(previous) => format!("upgraded {name} from {previous} to {version}"),
        None => format!("installed {name} {version}"),
    };
    let micros = |field: &str| {
        let us = installed.get(field).and_then(Value::as_u64).unwrap_or(0);
        super::pack_fetch::human(std::time::Duration::from_micros(us))
    };
    format!(
        "{what} (signed by {}; verified in {}, compiled in {})",
        opt_text(installed, "signer").unwrap_or_else(|| "nobody: unsigned".into()),
        micros("verify_us"),
        micros("compile_us"),
    )
}
