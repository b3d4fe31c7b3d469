//! `squall pack list|get` and `squall action list|get`: the packs the
//! server runs and their actions.

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
    /// Show one pack and its actions.
    Get(NameArgs),
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

pub(crate) fn run(args: PackArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
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
            Fields::new()
                .add("name", text(&pack, "name"))
                .opt("version", opt_text(&pack, "version"))
                .opt("description", opt_text(&pack, "description"))
                .add("actions", actions.join(", "))
                .print(stdout)?;
        }
    }
    Ok(0)
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
