//! `squall pack params PACK ACTION [JSON]`: the parameters an action of a
//! local pack would be given, as the server computes them from pack.toml
//! (defaults applied, then the JSON Schema checked) — the one
//! implementation the Python and JavaScript test helpers call, so that a
//! unit test sees what an execution on the server would.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use serde_json::{Map, Value};

use crate::pack::Manifest;

#[derive(Debug, clap::Args)]
pub(crate) struct ParamsArgs {
    /// The pack's directory, or its manifest (a `.toml` file).
    #[arg(value_name = "PACK")]
    pack: PathBuf,
    /// The action: its name in pack.toml, or `PACK.NAME`.
    #[arg(value_name = "ACTION")]
    action: String,
    /// The parameters asked for, one JSON object.
    #[arg(value_name = "JSON", default_value = "{}")]
    params: String,
}

/// Prints the prepared parameters as one line of JSON (exit 0), or the
/// server's refusal on stderr (exit 2).
pub(crate) fn params(
    args: ParamsArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let file = if args.pack.is_dir() { args.pack.join("pack.toml") } else { args.pack.clone() };
    let manifest = Manifest::load(&file)?;
    // The action's own name (which may hold dots: `kv.get`), else its ref.
    let name = match crate::limits::split_ref(&args.action) {
        _ if manifest.actions.contains_key(&args.action) => args.action.as_str(),
        Some((pack, name)) if pack == manifest.name => name,
        Some((pack, _)) => {
            bail!("{}: declares pack `{}`, not `{pack}`", file.display(), manifest.name)
        }
        None => args.action.as_str(),
    };
    let Some(declared) = manifest.actions.get(name) else {
        let hint = crate::rules::closest(name, manifest.actions.keys().map(String::as_str))
            .map(|n| format!("; did you mean `{n}`?"))
            .unwrap_or_default();
        bail!("{}: declares no action `{name}`{hint}", file.display());
    };
    let given: Map<String, Value> = match serde_json::from_str(&args.params) {
        Ok(Value::Object(given)) => given,
        Ok(other) => bail!("JSON: expected an object of parameters, got {other}"),
        Err(e) => bail!("JSON: not JSON: {e}"),
    };
    let reference = format!("{}.{name}", manifest.name);
    let validator = crate::engine::compile_parameters(&reference, &declared.parameters)?;
    match crate::engine::prepare_parameters(&reference, &declared.parameters, &validator, given) {
        Ok(prepared) => {
            writeln!(stdout, "{prepared}")?;
            Ok(0)
        }
        Err(refusal) => {
            writeln!(stderr, "error: {refusal}")?;
            Ok(super::EXIT_USAGE)
        }
    }
}
