//! `squall run`: one action, on the server (`squall run PACK.ACTION
//! [KEY=VALUE ...]`) or locally in a sandbox of this process (`squall run
//! --component FILE ACTION [KEY=VALUE ...]`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use super::client::Remote;
use crate::runtime::{
    ActionRequest, Grants, HostServices, Limits, LoadError, Runtime, RuntimeConfig,
};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Run locally: the pack component (`.wasm`) to load. Without it, the
    /// action runs on the server.
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,
    /// The action to run: `PACK.NAME` on the server; with --component,
    /// `NAME`, or `PACK.NAME` to also set the pack name (split at the first
    /// `.`; a NAME with dots, such as `kv.get`, is taken whole when
    /// --manifest declares it).
    #[arg(value_name = "ACTION")]
    action: String,
    /// Parameters. A value that parses as JSON is taken as JSON
    /// (`count=3`, `tags=["a"]`), anything else as a string.
    #[arg(value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// On the server: print the execution id and return without waiting.
    #[arg(long = "async", conflicts_with = "component")]
    no_wait: bool,
    #[command(flatten)]
    remote: Remote,
    /// With --component: wall-clock deadline, e.g. `500ms`, `5s`, `2m`.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, requires = "component")]
    timeout: Duration,
    /// With --component: memory cap for the sandbox, e.g. `64MiB`, `1GiB`.
    #[arg(long, default_value = "64MiB", value_parser = parse_bytes, requires = "component")]
    memory: u64,
    /// With --component: pack name the imports are scoped to (default:
    /// from ACTION, else the file name).
    #[arg(long, requires = "component")]
    pack: Option<String>,
    /// With --component: compile cache directory.
    #[arg(long, env = "SQUALL_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// With --component: the pack's manifest, whose parameter schemas and
    /// defaults apply as on the server (default: `pack.toml` in the
    /// current directory, when it declares the pack).
    #[arg(long, value_name = "FILE", requires = "component")]
    manifest: Option<PathBuf>,
}

pub(crate) fn run(
    args: RunArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let params = parse_params(&args.params)?;
    let Some(component_path) = &args.component else {
        return super::executions::run_remote(
            &args.action,
            params,
            args.no_wait,
            &args.remote,
            stdout,
            stderr,
        );
    };
    if args.remote.url.is_some() || args.remote.api_key.is_some() {
        bail!("--url and --api-key are for running on the server; --component runs locally");
    }
    let given_manifest = args.manifest.as_deref().map(crate::pack::Manifest::load).transpose()?;
    // An action's own name may hold dots (`kv.get`): one the manifest
    // declares whole is that name, not a ref.
    let own_name = given_manifest.as_ref().is_some_and(|m| m.actions.contains_key(&args.action));
    let (pack, action) = match crate::limits::split_ref(&args.action) {
        Some((pack, action)) if !own_name => (pack.to_owned(), action.to_owned()),
        _ => {
            let stem = component_path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let named = given_manifest.as_ref().map(|m| m.name.clone());
            let pack = args.pack.clone().or(named).or(stem).unwrap_or_else(|| "local".to_owned());
            (pack, args.action.clone())
        }
    };
    let cache_dir = args.cache_dir.unwrap_or_else(default_cache_dir);
    let limits = Limits { timeout: args.timeout, memory_bytes: args.memory, ..Limits::default() };
    let runtime = local_runtime(&cache_dir, args.memory)?;
    let wasm = std::fs::read(component_path)
        .map_err(|source| LoadError::Read { path: component_path.to_owned(), source })?;
    // A local one-shot run grants the pack its key-value scope (in memory,
    // gone when the run ends) and nothing else: no secrets, no outbound
    // hosts, no host programs.
    let grants = Grants { kv: true, ..Grants::default() };
    let component = runtime.load_bytes_granted(component_path, &wasm, &pack, grants)?;
    tracing::debug!(
        component = %component_path.display(),
        sha256 = component.sha256(),
        "{}",
        match component.origin() {
            crate::runtime::LoadOrigin::Cache => "loaded from the compile cache",
            crate::runtime::LoadOrigin::Compiled => "compiled (and written to the compile cache)",
        }
    );
    if !component.exports_action() {
        bail!(crate::runtime::InvokeError::NoActionExport { component: component.file_name() });
    }
    let component = std::sync::Arc::new(component);
    let params = match local_manifest(given_manifest, &pack)? {
        // As the server does: defaults filled in, the schema checked.
        Some(manifest) => {
            let mut actions = crate::engine::Actions::default();
            actions.add_pack(&manifest, component.clone())?;
            let reference = format!("{pack}.{action}");
            let Some(spec) = actions.get(&reference) else {
                bail!("{reference}: the manifest declares no such action");
            };
            match spec.prepare_parameters(params) {
                Ok(prepared) => prepared,
                Err(refusal) => {
                    writeln!(stderr, "error: {refusal}")?;
                    return Ok(super::EXIT_USAGE);
                }
            }
        }
        None => Value::Object(params),
    };
    let request = ActionRequest {
        action,
        params: params.to_string(),
        execution_id: format!("local-{}", std::process::id()),
        attempt: 1,
    };
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let invocation = executor.block_on(component.run_action(&request, &limits));

    for record in &invocation.logs.records {
        writeln!(stderr, "[{}] {}", record.level, record.message)?;
    }
    if invocation.logs.dropped > 0 {
        writeln!(stderr, "[warn] {} further log lines were dropped", invocation.logs.dropped)?;
    }
    match invocation.result {
        Ok(output) => {
            // Compact whatever the pack's JSON library wrote (Python's puts
            // blanks after `:`), so that every language prints alike.
            match serde_json::from_str::<Value>(&output) {
                Ok(value) => writeln!(stdout, "{value}")?,
                Err(_) => writeln!(stdout, "{output}")?,
            }
            Ok(0)
        }
        Err(error) => {
            writeln!(stderr, "error: {pack}.{}: {error}", request.action)?;
            Ok(super::EXIT_FAILED)
        }
    }
}

/// The compile cache local runs use unless told otherwise (`--cache-dir`,
/// `$SQUALL_CACHE_DIR`): `squall pack build` leaves its compiled bundle
/// there, so the first run of a fresh build does not compile it again.
pub(crate) fn default_cache_dir() -> PathBuf {
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("squall").join("compiled")
}

/// The runtime of a local run (and of `squall pack build`'s compile): the
/// same engine configuration for both, so that they share cache entries.
pub(crate) fn local_runtime(
    cache_dir: &std::path::Path,
    memory: u64,
) -> Result<Runtime, crate::runtime::RuntimeError> {
    let mut config = RuntimeConfig::with_cache_dir(cache_dir);
    config.max_concurrent_instances = 4;
    config.max_memory_bytes = config.max_memory_bytes.max(memory);
    Runtime::new(config, HostServices::default())
}

/// The manifest a local run applies: the one given, else `pack.toml` in the
/// current directory when it declares `pack`; none otherwise (the run then
/// passes the parameters as given, and says nothing about a schema).
fn local_manifest(
    given: Option<crate::pack::Manifest>,
    pack: &str,
) -> anyhow::Result<Option<crate::pack::Manifest>> {
    if let Some(manifest) = given {
        if manifest.name != pack {
            bail!("--manifest declares pack `{}`, not `{pack}`", manifest.name);
        }
        return Ok(Some(manifest));
    }
    let here = std::path::Path::new("pack.toml");
    match crate::pack::Manifest::load(here) {
        Ok(manifest) if manifest.name == pack => Ok(Some(manifest)),
        _ => Ok(None),
    }
}

/// `KEY=VALUE` pairs into a JSON object; values are JSON where they parse.
fn parse_params(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut params = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("parameter `{pair}`: expected KEY=VALUE");
        };
        if key.is_empty() {
            bail!("parameter `{pair}`: the key before `=` is empty");
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        if params.insert(key.to_owned(), value).is_some() {
            bail!("parameter `{key}` is given more than once");
        }
    }
    Ok(params)
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    text.parse::<bytesize::ByteSize>()
        .map(|size| size.as_u64())
        .map_err(|e| format!("expected a size such as 64MiB: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_where_they_parse_and_strings_otherwise() {
        let pairs: Vec<String> =
            ["n=3", "flag=true", "list=[1,\"a\"]", "word=hi", "quoted=\"7\"", "empty="]
                .map(String::from)
                .into();
        let params = parse_params(&pairs).expect("valid pairs");
        assert_eq!(
            Value::Object(params).to_string(),
            r#"{"n":3,"flag":true,"list":[1,"a"],"word":"hi","quoted":"7","empty":""}"#
        );
    }

    #[test]
    fn malformed_pairs_name_the_parameter() {
        let error = parse_params(&["novalue".to_owned()]).expect_err("no `=`");
        assert_eq!(error.to_string(), "parameter `novalue`: expected KEY=VALUE");
        let error = parse_params(&["a=1".to_owned(), "a=2".to_owned()]).expect_err("duplicate");
        assert_eq!(error.to_string(), "parameter `a` is given more than once");
    }

    #[test]
    fn sizes_accept_binary_units() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("lots").is_err());
    }
}
