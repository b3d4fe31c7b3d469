//! `squall pack config PACK [FILE]`: a pack's configuration on the server
//! after install (StackStorm's `/configs`): without FILE it prints the
//! current one (secret values masked unless an admin asks with
//! `--show-secrets`), with FILE (YAML or JSON, `-` for standard input) it
//! sets it; the server checks it against the pack's config schema and keeps
//! the old one when it does not fit.

use std::io::{Read as _, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::client::{Client, Remote, segment};
use super::output::print_json;

#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// The pack's name.
    #[arg(value_name = "PACK")]
    pack: String,
    /// The configuration to set: a YAML or JSON file whose top level is a
    /// mapping, or `-` for standard input. Without it, the current one is
    /// printed.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Show secret values in plain text (only an admin may).
    #[arg(long)]
    show_secrets: bool,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: ConfigArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let client = Client::new(&args.remote)?;
    let path = format!("/configs/{}", segment(&args.pack));
    let Some(file) = &args.file else {
        let query: Vec<(&str, String)> =
            if args.show_secrets { vec![("show_secrets", "true".to_owned())] } else { Vec::new() };
        let config = client.get(&path, &query)?.body;
        if args.remote.json {
            print_json(stdout, &config)?;
        } else {
            // Pretty JSON: what `squall pack config PACK FILE` takes back.
            writeln!(stdout, "{}", serde_json::to_string_pretty(&config["values"])?)?;
        }
        return Ok(0);
    };
    let (name, values) = read_values(file)?;
    let set = client.put_json(&path, &values).with_context(|| format!("{name}: not set"))?.body;
    if args.remote.json {
        print_json(stdout, &set)?;
        return Ok(0);
    }
    let count = values.as_object().map_or(0, serde_json::Map::len);
    writeln!(
        stdout,
        "config of {} set from {name} ({count} key{}); its actions use it from their next run and its poll sensors start over with it (see it with: squall pack config {})",
        args.pack,
        if count == 1 { "" } else { "s" },
        args.pack
    )?;
    Ok(0)
}

/// The file's name as errors show it, and its values: YAML (JSON is YAML
/// too) whose top level is a mapping.
fn read_values(file: &std::path::Path) -> anyhow::Result<(String, Value)> {
    let (name, text) = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("cannot read standard input")?;
        ("standard input".to_owned(), text)
    } else {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
        (name, text)
    };
    crate::limits::check(&text, crate::limits::Format::Yaml)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let values: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{name}: expected YAML or JSON: {e}"))?;
    match values {
        Value::Object(_) => Ok((name, values)),
        Value::Null => {
            bail!("{name}: expected a mapping of config keys to values, got an empty document")
        }
        Value::Array(_) => bail!("{name}: expected a mapping of config keys to values, got a list"),
        _ => bail!("{name}: expected a mapping of config keys to values, got a single value"),
    }
}
