//! `squall rule list|get|create|delete|enable|disable`: the rules stored on
//! the server (`squall rule test`, on local files, is in `rule.rs`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, note_partial, opt_text, print_json, show, text, time};

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only the rules of this pack.
    #[arg(long, value_name = "PACK")]
    pack: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RefArgs {
    /// The rule's reference, `pack.name`.
    #[arg(value_name = "REF")]
    reference: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// The rule, in StackStorm's rule YAML (or JSON, if the file name ends
    /// in `.json`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

fn path(reference: &str) -> String {
    format!("/rules/{}", segment(reference))
}

pub(crate) fn list(args: ListArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let mut rules = client.get("/rules", &[])?.body;
    if let (Some(pack), Value::Array(all)) = (&args.pack, &mut rules) {
        all.retain(|rule| text(rule, "pack") == *pack);
    }
    if args.remote.json {
        print_json(stdout, &rules)?;
        return Ok(0);
    }
    let mut table = Table::new(&["REF", "ENABLED", "TRIGGER", "ACTION", "DESCRIPTION"]);
    for rule in items(&rules) {
        let enabled = match (rule["enabled"].as_bool(), rule["error"].is_null()) {
            (_, false) => "broken",
            (Some(true), true) => "yes",
            _ => "no",
        };
        table.row(vec![
            text(rule, "ref"),
            enabled.to_owned(),
            text(&rule["trigger"], "type"),
            text(&rule["action"], "ref"),
            text(rule, "description"),
        ]);
    }
    table.print(stdout, "no rules")?;
    Ok(0)
}

/// One rule for people.
fn print_rule(out: &mut dyn Write, rule: &Value) -> anyhow::Result<()> {
    let parameters = |part: &Value| {
        part.get("parameters").filter(|p| p.as_object().is_some_and(|p| !p.is_empty())).map(show)
    };
    let criteria = rule.get("criteria").filter(|c| c.as_object().is_some_and(|c| !c.is_empty()));
    Fields::new()
        .add("ref", text(rule, "ref"))
        .add("enabled", text(rule, "enabled"))
        .opt("description", opt_text(rule, "description"))
        .add("trigger", text(&rule["trigger"], "type"))
        .opt("trigger_parameters", parameters(&rule["trigger"]))
        .opt("criteria", criteria.map(show))
        .add("action", text(&rule["action"], "ref"))
        .opt("action_parameters", parameters(&rule["action"]))
        .add("created_at", time(rule, "created_at"))
        .add("updated_at", time(rule, "updated_at"))
        .opt("error", opt_text(rule, "error"))
        .opt("warnings", warnings(rule))
        .print(out)
}

/// The server's warnings about the rule (what loads but cannot do what it
/// seems to), one per line.
fn warnings(rule: &Value) -> Option<String> {
    let list = rule.get("warnings")?.as_array()?;
    let lines: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

pub(crate) fn get(args: RefArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let rule = client.get(&path(&args.reference), &[])?.body;
    if args.remote.json {
        print_json(stdout, &rule)?;
    } else {
        print_rule(stdout, &rule)?;
    }
    Ok(0)
}

pub(crate) fn create(args: CreateArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let is_json = args.file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let content_type = if is_json { "application/json" } else { "application/yaml" };
    let client = Client::new(&args.remote)?;
    let rule = client
        .post_text("/rules", content_type, &source)
        .with_context(|| args.file.display().to_string())?
        .body;
    if args.remote.json {
        print_json(stdout, &rule)?;
    } else {
        print_rule(stdout, &rule)?;
    }
    Ok(0)
}

pub(crate) fn delete(args: RefArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    client.delete(&path(&args.reference), &[])?;
    if args.remote.json {
        print_json(stdout, &json!({"ref": args.reference, "deleted": true}))?;
    } else {
        writeln!(stdout, "rule {} deleted", args.reference)?;
    }
    Ok(0)
}

/// `enable` or `disable`.
pub(crate) fn set_enabled(
    args: RefArgs,
    enable: bool,
    stdout: &mut dyn Write,
) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let verb = if enable { "enable" } else { "disable" };
    let rule = client.post_empty(&format!("{}/{verb}", path(&args.reference)))?.body;
    if args.remote.json {
        print_json(stdout, &rule)?;
    } else {
        writeln!(stdout, "rule {} {verb}d", text(&rule, "ref"))?;
    }
    Ok(0)
}

/// `squall rule-enforcement`: what the rules did with the trigger
/// instances they matched (StackStorm's rule enforcements).
#[derive(Debug, clap::Args)]
pub(crate) struct EnforcementArgs {
    #[command(subcommand)]
    command: EnforcementCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EnforcementCommand {
    /// List rule enforcements, newest first: the execution each started,
    /// or why it started none.
    List(EnforcementListArgs),
}

#[derive(Debug, clap::Args)]
struct EnforcementListArgs {
    /// Only this rule's, `pack.name`.
    #[arg(long, value_name = "REF")]
    rule: Option<String>,
    /// Only the failed ones: the rule matched but started nothing (its
    /// parameters did not render or fit the action, or the action is not
    /// installed).
    #[arg(long)]
    failed: bool,
    /// How many to show, 1 to 1000.
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    limit: usize,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run_enforcement(
    args: EnforcementArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let EnforcementCommand::List(args) = args.command;
    let client = Client::new(&args.remote)?;
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(rule) = args.rule {
        query.push(("rule_ref", rule));
    }
    if args.failed {
        query.push(("status", "failed".to_owned()));
    }
    let answer = client.get("/ruleenforcements", &query)?;
    if args.remote.json {
        print_json(stdout, &answer.body)?;
        return Ok(0);
    }
    let enforcements = items(&answer.body);
    let mut table =
        Table::new(&["ENFORCED", "RULE", "STATUS", "EXECUTION", "TRIGGER INSTANCE", "REASON"]);
    for enforcement in enforcements {
        table.row(vec![
            time(enforcement, "enforced_at"),
            text(&enforcement["rule"], "ref"),
            text(enforcement, "status"),
            text(enforcement, "execution_id"),
            text(enforcement, "trigger_instance_id"),
            text(enforcement, "failure_reason"),
        ]);
    }
    let empty = if args.failed { "no failed rule enforcements" } else { "no rule enforcements" };
    table.print(stdout, empty)?;
    note_partial(stderr, enforcements.len(), &answer, "rule enforcements")?;
    Ok(0)
}
