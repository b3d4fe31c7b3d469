//! `squall trigger list|get` (trigger types) and `squall trigger-instance
//! list|get|re-emit`: the kinds of event rules match, and the events that
//! happened.

use std::io::Write;

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, note_partial, opt_text, print_json, show, text, time};

#[derive(Debug, clap::Args)]
pub(crate) struct TriggerArgs {
    #[command(subcommand)]
    command: TriggerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TriggerCommand {
    /// List the trigger types rules can listen to.
    List(ListArgs),
    /// Show one trigger type and its payload schema.
    Get(NameArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct InstanceArgs {
    #[command(subcommand)]
    command: InstanceCommand,
}

#[derive(Debug, clap::Subcommand)]
enum InstanceCommand {
    /// List trigger instances, newest first.
    List(InstanceListArgs),
    /// Show one trigger instance and what the rules did with it.
    Get(IdArgs),
    /// Emit a trigger instance again, matched against the rules in force
    /// now.
    #[command(name = "re-emit")]
    ReEmit(IdArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    /// The trigger type, e.g. `core.webhook` (StackStorm's names work too).
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct InstanceListArgs {
    /// Only instances of this trigger type.
    #[arg(long, value_name = "TRIGGER")]
    trigger: Option<String>,
    /// How many to show, 1 to 1000.
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    limit: usize,
    /// Skip the N newest matches first, to page through the list.
    #[arg(long, default_value_t = 0, value_name = "N")]
    offset: usize,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct IdArgs {
    /// The trigger instance id.
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: TriggerArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        TriggerCommand::List(args) => {
            let client = Client::new(&args.remote)?;
            let types = client.get("/triggertypes", &[])?.body;
            if args.remote.json {
                print_json(stdout, &types)?;
                return Ok(0);
            }
            let mut table = Table::new(&["NAME", "DESCRIPTION"]);
            for trigger in items(&types) {
                table.row(vec![text(trigger, "ref"), text(trigger, "description")]);
            }
            table.print(stdout, "no trigger types")?;
        }
        TriggerCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let trigger = client.get(&format!("/triggertypes/{}", segment(&args.name)), &[])?.body;
            if args.remote.json {
                print_json(stdout, &trigger)?;
                return Ok(0);
            }
            Fields::new()
                .add("name", text(&trigger, "ref"))
                .add("description", text(&trigger, "description"))
                .add("payload_schema", show(&trigger["payload_schema"]))
                .opt(
                    "parameters_schema",
                    trigger.get("parameters_schema").filter(|p| !p.is_null()).map(show),
                )
                .print(stdout)?;
        }
    }
    Ok(0)
}

pub(crate) fn run_instance(
    args: InstanceArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    match args.command {
        InstanceCommand::List(args) => {
            let client = Client::new(&args.remote)?;
            let mut query = vec![("limit", args.limit.to_string())];
            if args.offset > 0 {
                query.push(("offset", args.offset.to_string()));
            }
            if let Some(trigger) = args.trigger {
                query.push(("trigger", trigger));
            }
            let answer = client.get("/triggerinstances", &query)?;
            if args.remote.json {
                print_json(stdout, &answer.body)?;
                return Ok(0);
            }
            let instances = items(&answer.body);
            let mut table = Table::new(&["ID", "TRIGGER", "OCCURRED", "STATUS", "RULES"]);
            for instance in instances {
                let rules: Vec<String> =
                    items(&instance["rule_enforcements"]).iter().map(|e| text(e, "rule")).collect();
                table.row(vec![
                    text(instance, "id"),
                    text(instance, "trigger"),
                    time(instance, "occurred_at"),
                    text(instance, "status"),
                    rules.join(", "),
                ]);
            }
            table.print(stdout, "no trigger instances")?;
            note_partial(stderr, instances.len(), &answer, "trigger instances")?;
        }
        InstanceCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let instance =
                client.get(&format!("/triggerinstances/{}", segment(&args.id)), &[])?.body;
            if args.remote.json {
                print_json(stdout, &instance)?;
                return Ok(0);
            }
            let mut fields = Fields::new();
            fields
                .add("id", text(&instance, "id"))
                .add("trigger", text(&instance, "trigger"))
                .add("occurred_at", time(&instance, "occurred_at"))
                .add("status", text(&instance, "status"));
            if instance["parameters"].as_object().is_some_and(|p| !p.is_empty()) {
                fields.add("parameters", show(&instance["parameters"]));
            }
            fields.add("payload", show(&instance["payload"]));
            for enforcement in items(&instance["rule_enforcements"]) {
                let outcome =
                    match (opt_text(enforcement, "execution"), opt_text(enforcement, "error")) {
                        (Some(execution), _) => format!("started execution {execution}"),
                        (None, Some(error)) => format!("started nothing: {error}"),
                        (None, None) => "started nothing".to_owned(),
                    };
                fields.add("rule", format!("{} {outcome}", text(enforcement, "rule")));
            }
            fields.print(stdout)?;
        }
        InstanceCommand::ReEmit(args) => {
            let client = Client::new(&args.remote)?;
            let path = format!("/triggerinstances/{}/re_emit", segment(&args.id));
            let emitted = client.post_empty(&path)?.body;
            if args.remote.json {
                print_json(stdout, &emitted)?;
                return Ok(0);
            }
            let executions: Vec<String> = items(&emitted["executions"])
                .iter()
                .map(|e| e.as_str().unwrap_or("").to_owned())
                .collect();
            Fields::new()
                .add("trigger_instance", text(&emitted, "trigger_instance"))
                .add(
                    "executions",
                    if executions.is_empty() { "none".to_owned() } else { executions.join(", ") },
                )
                .print(stdout)?;
        }
    }
    Ok(0)
}
