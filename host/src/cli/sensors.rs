//! `squall sensor list`: the poll sensors the server runs and how they are
//! doing.

use std::io::Write;
use std::time::Duration;

use super::client::{Client, Remote};
use super::output::{Table, items, print_json, text, time};

#[derive(Debug, clap::Args)]
pub(crate) struct SensorArgs {
    #[command(subcommand)]
    command: SensorCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SensorCommand {
    /// List the poll sensors: interval, polls, events, errors.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: SensorArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let SensorCommand::List(args) = args.command;
    let client = Client::new(&args.remote)?;
    let sensors = client.get("/sensors", &[])?.body;
    if args.remote.json {
        print_json(stdout, &sensors)?;
        return Ok(0);
    }
    let mut table =
        Table::new(&["REF", "INTERVAL", "POLLS", "EVENTS", "ERRORS", "LAST POLL", "LAST ERROR"]);
    for sensor in items(&sensors) {
        let interval = sensor["interval_ms"]
            .as_u64()
            .map(|ms| humantime::format_duration(Duration::from_millis(ms)).to_string())
            .unwrap_or_default();
        table.row(vec![
            text(sensor, "ref"),
            interval,
            text(sensor, "polls"),
            text(sensor, "events"),
            text(sensor, "errors"),
            time(sensor, "last_poll"),
            text(sensor, "last_error"),
        ]);
    }
    table.print(stdout, "no poll sensors")?;
    Ok(0)
}
