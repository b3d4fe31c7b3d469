//! `squall audit`: the server's audit log — pack lifecycle, trust changes
//! and denied capabilities.

use std::io::Write;

use super::client::{Client, Remote};
use super::output::{Table, items, print_json, show, text};

#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Only this action, e.g. `capability.denied` or `pack.install`.
    #[arg(long)]
    action: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: AuditArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let mut query = vec![("after", args.after.to_string()), ("limit", args.limit.to_string())];
    if let Some(action) = args.action {
        query.push(("action", action));
    }
    let events = Client::new(&args.remote)?.get("/audit", &query)?.body;
    if args.remote.json {
        print_json(stdout, &events)?;
        return Ok(0);
    }
    let mut table = Table::new(&["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"]);
    for event in items(&events) {
        table.row(vec![
            text(event, "seq"),
            text(event, "at"),
            text(event, "actor"),
            text(event, "action"),
            text(event, "subject"),
            show(&event["detail"]),
        ]);
    }
    table.print(stdout, "no audit events")?;
    Ok(0)
}
