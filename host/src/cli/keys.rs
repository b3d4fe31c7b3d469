//! `squall key list|get|set|delete`: the server's key-value datastore
//! (StackStorm's `st2 key`), by scope; secrets are shown as `********`.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, opt_time, print_json, text, time};

#[derive(Debug, clap::Args)]
pub(crate) struct KeyArgs {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// List the live keys of a scope.
    List(ListArgs),
    /// Show one key (a secret's value is `********`).
    Get(NameArgs),
    /// Store a value.
    Set(SetArgs),
    /// Remove a key.
    Delete(NameArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only keys starting with this.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// `system` or `pack:NAME`.
    #[arg(long, default_value = "system", value_name = "SCOPE")]
    scope: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    /// The key.
    #[arg(value_name = "NAME")]
    name: String,
    /// `system` or `pack:NAME`.
    #[arg(long, default_value = "system", value_name = "SCOPE")]
    scope: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct SetArgs {
    /// The key.
    #[arg(value_name = "NAME")]
    name: String,
    /// The value (stored as a string, as StackStorm does).
    #[arg(value_name = "VALUE")]
    value: String,
    /// Encrypt it at rest and never show it again.
    #[arg(long)]
    secret: bool,
    /// Expire it after this long: seconds (`3600`) or a duration (`1h`,
    /// `30m`).
    #[arg(long, value_name = "TTL", value_parser = parse_ttl)]
    ttl: Option<u64>,
    /// `system` or `pack:NAME`.
    #[arg(long, default_value = "system", value_name = "SCOPE")]
    scope: String,
    #[command(flatten)]
    remote: Remote,
}

/// Seconds, either as a number or a duration such as `1h`.
fn parse_ttl(text: &str) -> Result<u64, String> {
    let seconds = match text.parse::<u64>() {
        Ok(seconds) => seconds,
        Err(_) => humantime::parse_duration(text)
            .map(|d: Duration| d.as_secs())
            .map_err(|e| format!("expected seconds or a duration such as 1h: {e}"))?,
    };
    if seconds == 0 {
        return Err("expected at least 1 second".to_owned());
    }
    Ok(seconds)
}

pub(crate) fn run(args: KeyArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        KeyCommand::List(args) => list(args, stdout),
        KeyCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let scope = [("scope", args.scope)];
            let key = client.get(&path(&args.name), &scope)?.body;
            print_key(stdout, &key, args.remote.json)
        }
        KeyCommand::Set(args) => {
            let client = Client::new(&args.remote)?;
            let mut body = json!({"value": args.value, "secret": args.secret, "scope": args.scope});
            if let Some(ttl) = args.ttl {
                body["ttl"] = json!(ttl);
            }
            let key = client.put_json(&path(&args.name), &body)?.body;
            print_key(stdout, &key, args.remote.json)
        }
        KeyCommand::Delete(args) => {
            let client = Client::new(&args.remote)?;
            client.delete(&path(&args.name), &[("scope", args.scope.clone())])?;
            if args.remote.json {
                let deleted = json!({"name": args.name, "scope": args.scope, "deleted": true});
                print_json(stdout, &deleted)?;
            } else {
                writeln!(stdout, "key {} deleted from scope {}", args.name, args.scope)?;
            }
            Ok(0)
        }
    }
}

fn path(name: &str) -> String {
    format!("/keys/{}", segment(name))
}

fn print_key(out: &mut dyn Write, key: &Value, json: bool) -> anyhow::Result<u8> {
    if json {
        print_json(out, key)?;
    } else {
        Fields::new()
            .add("name", text(key, "name"))
            .add("value", text(key, "value"))
            .add("secret", text(key, "secret"))
            .add("scope", text(key, "scope"))
            .opt("expires_at", opt_time(key, "expires_at"))
            .print(out)?;
    }
    Ok(0)
}

fn list(args: ListArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let mut query = vec![("scope", args.scope)];
    if let Some(prefix) = args.prefix {
        query.push(("prefix", prefix));
    }
    let keys = client.get("/keys", &query)?.body;
    if args.remote.json {
        print_json(stdout, &keys)?;
        return Ok(0);
    }
    let mut table = Table::new(&["NAME", "VALUE", "SECRET", "SCOPE", "EXPIRES"]);
    for key in items(&keys) {
        table.row(vec![
            text(key, "name"),
            text(key, "value"),
            text(key, "secret"),
            text(key, "scope"),
            time(key, "expires_at"),
        ]);
    }
    table.print(stdout, "no keys")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttls_are_seconds_or_durations() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("soon").is_err());
    }
}
