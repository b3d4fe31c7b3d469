//! `squall pack import ST2_PACK_DIR [-o DIR]`: a StackStorm pack turned
//! into a Squall pack source directory (`pack::st2_import`), and the
//! import report printed: per action, workflow, sensor, rule, alias and
//! file, whether it converted and why not. The pack's Python requirements
//! are fetched here, at the edge, with `python3 -m pip` (pure-Python
//! wheels only), unless `--offline`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pack::Manifest;
use crate::pack::st2_import::{
    self, Dependencies, Fetched, Known, Needed, PYTHON_VERSION, Requirement,
};

/// The core pack's manifest, as `squall serve` embeds it.
const CORE_MANIFEST: &str = include_str!(env!("SQUALL_CORE_PACK_MANIFEST"));

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// The StackStorm pack's directory (with `pack.yaml`).
    #[arg(value_name = "ST2_PACK_DIR")]
    dir: PathBuf,
    /// Where to write the Squall pack; it must not exist or be empty
    /// [default: ./NAME, the pack's name].
    #[arg(long, short, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the import report as one JSON object (`pack`, `version`,
    /// `out`, `items`, `summary`) instead of text.
    #[arg(long)]
    json: bool,
    /// Fetch no Python packages: the requirements are reported as not
    /// bundled, and the actions that import them as not converted.
    #[arg(long, conflicts_with = "wheels")]
    offline: bool,
    /// Take the requirements' wheels from this directory only (pip's
    /// `--no-index --find-links DIR`) instead of PyPI.
    #[arg(long, value_name = "DIR")]
    wheels: Option<PathBuf>,
}

pub(crate) fn import(args: ImportArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let builtin = crate::engine::TriggerTypes::builtin();
    let trigger = |name: &str| builtin.get(name).is_some();
    let core = Manifest::from_toml(CORE_MANIFEST, Path::new("core/pack.toml (built into squall)"))?;
    let builtins = crate::engine::Actions::default();
    // The core pack every server has (built into squall), and the host's
    // own actions: StackStorm's `core.local` and the like are not there.
    let action = |reference: &str| {
        let core_action =
            reference.strip_prefix("core.").is_some_and(|name| core.actions.contains_key(name));
        core_action || builtins.get(reference).is_some()
    };
    let needed = st2_import::needs(&args.dir)?;
    let scratch = tempfile::tempdir()?;
    if !args.json && !needed.requirements.is_empty() && !args.offline {
        let names: Vec<&str> = needed.requirements.iter().map(|r| r.spec.as_str()).collect();
        writeln!(stdout, "fetching {} with pip (pure-Python wheels only)", names.join(", "))?;
    }
    let deps = fetch(needed, &args, scratch.path());
    let known = Known { trigger: &trigger, action: &action };
    let plan = st2_import::plan(&args.dir, &known, &deps)?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(&plan.report.pack));
    st2_import::write(&plan, &out)?;
    if args.json {
        let mut report = serde_json::to_value(&plan.report)?;
        report["out"] = out.display().to_string().into();
        super::output::print_json(stdout, &report)?;
    } else {
        write!(stdout, "{}", plan.report.to_text())?;
        writeln!(stdout, "wrote {}; next: squall pack build {}", out.display(), out.display())?;
    }
    Ok(0)
}

/// The options that make pip take only pure-Python wheels for the Python
/// componentize-py builds with.
fn pure_python() -> Vec<String> {
    ["--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none"]
        .into_iter()
        .map(String::from)
        .chain(["--python-version".into(), PYTHON_VERSION.into()])
        .collect()
}

/// `python3 -m pip ARGS`: Ok(stdout) or Err(stderr's last lines).
fn pip(args: &[String]) -> Result<String, String> {
    let out = Command::new("python3")
        .args(["-m", "pip", "--disable-pip-version-check", "--no-input"])
        .args(args)
        .output()
        .map_err(|e| format!("python3 -m pip could not run: {e}"))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// What became of the requirements: each downloaded on its own (so one
/// that cannot be had does not stop the others), then all unpacked
/// together into `scratch/site`, which the plan copies to `vendor/`.
fn fetch(needed: Needed, args: &ImportArgs, scratch: &Path) -> Dependencies {
    let Needed { requirements, skipped } = needed;
    let mut deps = Dependencies { skipped, ..Dependencies::default() };
    if requirements.is_empty() {
        deps.source = "none needed".into();
        return deps;
    }
    if args.offline {
        deps.source = "none fetched (--offline)".into();
        let why =
            "not fetched (--offline): import without --offline, or with --wheels DIR, to bundle it";
        deps.outcomes =
            requirements.into_iter().map(|r| (r, Fetched::Missing(why.into()))).collect();
        return deps;
    }
    let (index, source): (Vec<String>, String) = match &args.wheels {
        Some(dir) => (
            vec!["--no-index".into(), "--find-links".into(), dir.display().to_string()],
            format!("the wheels in {}", dir.display()),
        ),
        None => {
            (vec!["--retries".into(), "1".into(), "--timeout".into(), "20".into()], "PyPI".into())
        }
    };
    deps.source = source.clone();
    let wheels = scratch.join("wheels");
    let mut fetched: Vec<(Requirement, Vec<String>)> = Vec::new();
    // Once the index cannot be reached, the rest are not tried.
    let mut unreachable: Option<String> = None;
    for requirement in requirements {
        if let Some(why) = &unreachable {
            deps.outcomes.push((requirement, Fetched::Missing(why.clone())));
            continue;
        }
        let mut argv: Vec<String> =
            vec!["download".into(), "-d".into(), wheels.display().to_string()];
        argv.extend(pure_python());
        argv.extend(index.iter().cloned());
        argv.push(requirement.spec.clone());
        match pip(&argv) {
            Ok(out) => {
                let names = out
                    .lines()
                    .find_map(|l| l.strip_prefix("Successfully downloaded "))
                    .map(|l| l.split_whitespace().map(String::from).collect())
                    .unwrap_or_default();
                fetched.push((requirement, names));
            }
            Err(err) => {
                let why = download_failure(&err, &source);
                if why.starts_with("not fetched") {
                    unreachable = Some(why.clone());
                }
                deps.outcomes.push((requirement, Fetched::Missing(why)));
            }
        }
    }
    if fetched.is_empty() {
        return deps;
    }
    let site = scratch.join("site");
    let mut argv: Vec<String> =
        vec!["install".into(), "--target".into(), site.display().to_string()];
    argv.extend(pure_python());
    argv.extend(["--no-index".into(), "--find-links".into(), wheels.display().to_string()]);
    argv.extend(["--no-compile".into(), "--no-warn-script-location".into()]);
    argv.extend(fetched.iter().map(|(r, _)| r.spec.clone()));
    match pip(&argv) {
        Ok(_) => {
            deps.site = Some(site);
            deps.outcomes.extend(fetched.into_iter().map(|(r, n)| (r, Fetched::Bundled(n))));
        }
        Err(err) => {
            let why = format!("downloaded, but pip could not unpack it: {}", last_error(&err));
            deps.outcomes
                .extend(fetched.into_iter().map(|(r, _)| (r, Fetched::Missing(why.clone()))));
        }
    }
    deps
}

/// Why pip could not download a requirement, in the report's words.
fn download_failure(stderr: &str, source: &str) -> String {
    const NETWORK: &[&str] = &[
        "NewConnectionError",
        "Max retries exceeded",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "ConnectTimeoutError",
        "ReadTimeoutError",
    ];
    if stderr.starts_with("python3 -m pip could not run") {
        return format!(
            "not fetched: {stderr}; install Python 3 with pip, or import with --offline"
        );
    }
    if NETWORK.iter().any(|marker| stderr.contains(marker)) {
        return format!(
            "not fetched: {source} could not be reached; import again when it can, or with --wheels DIR"
        );
    }
    if stderr.contains("No matching distribution found") {
        return format!(
            "{source} has no pure-Python wheel (py3-none-any) of it for Python {PYTHON_VERSION}: it has native code, which cannot run in the sandbox, or no such package exists"
        );
    }
    format!("pip could not download it: {}", last_error(stderr))
}

/// The last `ERROR:` line pip printed, else its last line.
fn last_error(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let line = lines.iter().rev().find(|l| l.starts_with("ERROR:")).or(lines.last());
    line.map_or_else(String::new, |l| l.trim_start_matches("ERROR: ").to_owned())
}

#[cfg(test)]
mod tests {
    use super::download_failure;

    #[test]
    fn pip_failures_are_told_apart() {
        let native = "Looking in links: /opt/wheels\nERROR: Could not find a version that satisfies the requirement lxml (from versions: none)\nERROR: No matching distribution found for lxml\n";
        let why = download_failure(native, "PyPI");
        assert!(why.starts_with("PyPI has no pure-Python wheel (py3-none-any) of it"), "{why}");
        let offline = "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(...: Failed to establish a new connection: [Errno 111] Connection refused')': /simple/six/\nERROR: No matching distribution found for six\n";
        let why = download_failure(offline, "PyPI");
        assert!(why.starts_with("not fetched: PyPI could not be reached"), "{why}");
        let other = "ERROR: Invalid requirement: 'x==='\n";
        assert_eq!(
            download_failure(other, "PyPI"),
            "pip could not download it: Invalid requirement: 'x==='"
        );
    }
}
