//! `squall trust add|list|remove`: the server's keyring of public keys
//! that pack bundles may be signed with.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::json;

use super::client::{Client, Remote, segment};
use super::output::{Table, items, print_json, text};
use crate::pack::{fingerprint, load_public_key};

#[derive(Debug, clap::Args)]
pub(crate) struct TrustArgs {
    #[command(subcommand)]
    command: TrustCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TrustCommand {
    /// Trust a public key (wasmsign2, PEM, DER or OpenSSH) under a name.
    Add(AddArgs),
    /// List the trusted keys.
    List(ListArgs),
    /// Stop trusting a key; packs it signed stay installed.
    Remove(RemoveArgs),
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    /// A name for the key, e.g. the publisher's.
    #[arg(value_name = "NAME")]
    name: String,
    /// The public key file.
    #[arg(value_name = "PUBLIC_KEY")]
    public_key: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct RemoveArgs {
    /// The key's name.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: TrustArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        TrustCommand::Add(args) => {
            let key = load_public_key(&args.public_key)?;
            let client = Client::new(&args.remote)?;
            let body = json!({"name": args.name, "public_key": hex::encode(key.to_bytes())});
            let added = client.post_json("/trust", &body).context("trust add")?.body;
            if args.remote.json {
                print_json(stdout, &added)?;
            } else {
                writeln!(stdout, "trusted {} ({})", text(&added, "name"), fingerprint(&key))?;
            }
        }
        TrustCommand::List(args) => {
            let keys = Client::new(&args.remote)?.get("/trust", &[])?.body;
            if args.remote.json {
                print_json(stdout, &keys)?;
                return Ok(0);
            }
            let mut table = Table::new(&["NAME", "FINGERPRINT", "KEY ID"]);
            for key in items(&keys) {
                table.row(vec![text(key, "name"), text(key, "fingerprint"), text(key, "key_id")]);
            }
            table.print(stdout, "no trusted keys")?;
        }
        TrustCommand::Remove(args) => {
            Client::new(&args.remote)?.delete(&format!("/trust/{}", segment(&args.name)), &[])?;
            writeln!(stdout, "no longer trusted: {}", args.name)?;
        }
    }
    Ok(0)
}
