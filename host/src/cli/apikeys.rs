//! `squall apikey create|list|revoke`: the server's API keys, each acting
//! as a user (the caller, unless an admin names another) and optionally
//! limited to sending webhooks. A new key is shown once, when it is
//! created.

use std::io::Write;

use serde_json::{Value, json};

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, print_json, text, time};
use crate::access::check_webhook_pattern;

#[derive(Debug, clap::Args)]
pub(crate) struct ApiKeyArgs {
    #[command(subcommand)]
    command: ApiKeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it (the only time it is shown).
    Create(CreateArgs),
    /// List the keys (never the keys themselves).
    List(ListArgs),
    /// Revoke a key: requests with it are refused from now on.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// What the key is for, e.g. `ci`.
    #[arg(value_name = "NAME")]
    name: String,
    /// The user the key acts as [default: you]; making a key for another
    /// user needs admin rights.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Limit the key to sending webhooks whose name matches PATTERN (`*`
    /// matches any run, e.g. `alerts/*`); it can do nothing else.
    /// Repeatable.
    #[arg(long = "webhook", value_name = "PATTERN")]
    webhooks: Vec<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct RevokeArgs {
    /// The key's id (from `squall apikey list`).
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(
    args: ApiKeyArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    match args.command {
        ApiKeyCommand::Create(args) => {
            for pattern in &args.webhooks {
                check_webhook_pattern(pattern).map_err(|m| anyhow::anyhow!("--webhook: {m}"))?;
            }
            let client = Client::new(&args.remote)?;
            let mut body = json!({"name": args.name});
            if let Some(user) = &args.user {
                body["user"] = json!(user);
            }
            if !args.webhooks.is_empty() {
                body["webhooks"] = json!(args.webhooks);
            }
            let created = client.post_json("/apikeys", &body)?.body;
            if args.remote.json {
                print_json(stdout, &created)?;
            } else {
                Fields::new()
                    .add("id", text(&created, "id"))
                    .add("name", text(&created, "name"))
                    .add("user", text(&created, "user"))
                    .add("webhooks", webhooks(&created, "not limited"))
                    .add("key", text(&created, "key"))
                    .print(stdout)?;
            }
            writeln!(stderr, "note: store the key now; it cannot be shown again")?;
        }
        ApiKeyCommand::List(args) => {
            let client = Client::new(&args.remote)?;
            let keys = client.get("/apikeys", &[])?.body;
            if args.remote.json {
                print_json(stdout, &keys)?;
                return Ok(0);
            }
            let mut table = Table::new(&["ID", "NAME", "USER", "WEBHOOKS", "CREATED", "REVOKED"]);
            for key in items(&keys) {
                table.row(vec![
                    text(key, "id"),
                    text(key, "name"),
                    text(key, "user"),
                    webhooks(key, "-"),
                    time(key, "created_at"),
                    time(key, "revoked_at"),
                ]);
            }
            table.print(stdout, "no API keys")?;
        }
        ApiKeyCommand::Revoke(args) => {
            let client = Client::new(&args.remote)?;
            client.delete(&format!("/apikeys/{}", segment(&args.id)), &[])?;
            if args.remote.json {
                print_json(stdout, &json!({"id": args.id, "revoked": true}))?;
            } else {
                writeln!(stdout, "API key {} revoked", args.id)?;
            }
        }
    }
    Ok(0)
}

/// The webhook patterns a key is limited to, or `none` when it is not
/// limited.
fn webhooks(key: &Value, none: &str) -> String {
    let patterns: Vec<&str> = items(&key["webhooks"]).iter().filter_map(Value::as_str).collect();
    if patterns.is_empty() { none.to_owned() } else { patterns.join(", ") }
}
