//! `squall inquiry list|get|respond`: the questions `core.ask` tasks put
//! to people, and answering them (StackStorm's `st2 inquiry`).

use std::io::Write;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, opt_text, print_json, show, text, time};

#[derive(Debug, clap::Args)]
pub(crate) struct InquiryArgs {
    #[command(subcommand)]
    command: InquiryCommand,
}

#[derive(Debug, clap::Subcommand)]
enum InquiryCommand {
    /// List inquiries, oldest first: pending ones unless `--status` says
    /// otherwise.
    List(ListArgs),
    /// Show one inquiry with the schema its response must fit.
    Get(IdArgs),
    /// Answer an inquiry; the workflow that asked resumes. A response that
    /// does not fit the schema is refused.
    Respond(RespondArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only inquiries in this state.
    #[arg(long, value_name = "STATUS", value_parser = ["pending", "responded", "expired", "canceled"])]
    status: Option<String>,
    /// Only the inquiries this workflow execution asked.
    #[arg(long, value_name = "ID")]
    workflow: Option<String>,
    /// Print only the ids, one per line (for `inquiry respond $(…)`).
    #[arg(short, long, conflicts_with = "json")]
    quiet: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct IdArgs {
    /// The inquiry id (the `core.ask` execution's).
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct RespondArgs {
    /// The inquiry id (the `core.ask` execution's).
    #[arg(value_name = "ID")]
    id: String,
    /// The response as JSON, e.g. '{"continue": true}'.
    #[arg(long, short = 'r', value_name = "JSON")]
    response: String,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: InquiryArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        InquiryCommand::List(args) => {
            let query: Vec<(&str, String)> =
                args.status.map(|s| vec![("status", s)]).unwrap_or_default();
            let mut inquiries = Client::new(&args.remote)?.get("/inquiries", &query)?.body;
            if let (Some(workflow), Some(list)) = (&args.workflow, inquiries.as_array_mut()) {
                list.retain(|inquiry| opt_text(inquiry, "workflow").as_deref() == Some(workflow));
            }
            if args.remote.json {
                return print_json(stdout, &inquiries).map(|()| 0);
            }
            if args.quiet {
                for inquiry in items(&inquiries) {
                    writeln!(stdout, "{}", text(inquiry, "id"))?;
                }
                return Ok(0);
            }
            let mut table = Table::new(&["ID", "STATUS", "WORKFLOW", "EXPIRES"]);
            for inquiry in items(&inquiries) {
                table.row(vec![
                    text(inquiry, "id"),
                    text(inquiry, "status"),
                    opt_text(inquiry, "workflow").unwrap_or_else(|| "-".into()),
                    time(inquiry, "expires_at"),
                ]);
            }
            table.print(stdout, "no inquiries")?;
        }
        InquiryCommand::Get(args) => {
            let path = format!("/inquiries/{}", segment(&args.id));
            let inquiry = Client::new(&args.remote)?.get(&path, &[])?.body;
            if args.remote.json {
                return print_json(stdout, &inquiry).map(|()| 0);
            }
            print_inquiry(stdout, &inquiry)?;
        }
        InquiryCommand::Respond(args) => {
            let response: Value = serde_json::from_str(&args.response)
                .with_context(|| format!("--response: expected JSON, found `{}`", args.response))?;
            let path = format!("/inquiries/{}", segment(&args.id));
            let client = Client::new(&args.remote)?;
            let answered = client.put_json(&path, &json!({ "response": response }))?.body;
            if args.remote.json {
                return print_json(stdout, &answered).map(|()| 0);
            }
            writeln!(stdout, "inquiry {} answered; its workflow resumes", text(&answered, "id"))?;
        }
    }
    Ok(0)
}

fn print_inquiry(out: &mut dyn Write, inquiry: &Value) -> anyhow::Result<()> {
    let mut fields = Fields::new();
    fields
        .add("id", text(inquiry, "id"))
        .add("status", text(inquiry, "status"))
        .opt("workflow", opt_text(inquiry, "workflow"))
        .opt("route", opt_text(inquiry, "route").filter(|r| !r.is_empty()))
        .add("schema", inquiry.get("schema").map(show).unwrap_or_default())
        .add("created_at", time(inquiry, "created_at"))
        .add("expires_at", time(inquiry, "expires_at"))
        .opt("response", inquiry.get("response").filter(|r| !r.is_null()).map(show));
    fields.print(out)
}
