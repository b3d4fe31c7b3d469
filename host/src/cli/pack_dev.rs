//! `squall pack dev DIR`: the author's loop. Builds the pack in DIR as
//! `squall pack build` does and installs it on the server as `squall pack
//! install BUNDLE --yes` does, then again each time a source file changes,
//! one line per cycle, until Ctrl-C.
//!
//! Changes are found by polling modification times (a few hundred files
//! at most, a few times a second: no watcher dependency, and it works the
//! same on every file system). Build output is not watched (`target/`,
//! `node_modules/`, `__pycache__/`, hidden directories, the bundle), and a
//! burst of saves is one cycle: it starts once nothing has changed for
//! [`QUIET`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::client::{Client, Remote};
use super::pack_build::{Built, Plan, Warnings};
use super::pack_fetch::human;

/// How often the source tree is looked at.
const POLL: Duration = Duration::from_millis(250);
/// How long the tree must stay unchanged before a cycle starts.
const QUIET: Duration = Duration::from_millis(400);
/// Directories never watched, wherever they are: build output and caches.
const IGNORED_DIRS: &[&str] = &["target", "node_modules", "__pycache__"];

#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// The pack's source directory (with `pack.toml`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Use this component instead of building one with the pack's
    /// toolchain; it is watched too.
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,
    /// Where to write the bundle [default: DIR/target/NAME-VERSION.wasm].
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Sign each bundle with this secret key; without it the bundle is
    /// unsigned, which the server accepts only when it runs with
    /// `--allow-unsigned`.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    /// Grant a capability (repeatable), as `pack install --grant`; without
    /// any, everything the pack requests is granted (`--yes`).
    #[arg(long, value_name = "GRANT")]
    grant: Vec<String>,
    /// The pack's configuration, a JSON file (watched too).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Build and install once, then exit (non-zero if either failed).
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(
    args: DevArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    if !args.dir.join("pack.toml").is_file() {
        anyhow::bail!(
            "{}: no pack.toml here; pass the pack's source directory",
            args.dir.display()
        );
    }
    let client = Client::new(&args.remote)?;
    let watch = Watch::new(&args);
    let mut seen = watch.snapshot();
    let ok = cycle(&args, &client, "start", stdout)?;
    if args.once {
        return Ok(if ok { 0 } else { super::EXIT_FAILED });
    }
    writeln!(stderr, "watching {} for changes (Ctrl-C to stop)", args.dir.display())?;
    loop {
        std::thread::sleep(POLL);
        let mut now = watch.snapshot();
        if now == seen {
            continue;
        }
        // A burst of saves (an editor's, a `git checkout`) is one cycle:
        // wait until the tree holds still.
        loop {
            std::thread::sleep(QUIET);
            let later = watch.snapshot();
            if later == now {
                break;
            }
            now = later;
        }
        let what = changed(&seen, &now, &args.dir);
        // What the build itself writes outside the ignored directories (a
        // first `Cargo.lock`) is seen as a change once, and then is stable.
        seen = now;
        cycle(&args, &client, &what, stdout)?;
    }
}

/// One build and install, reported on one line; `false` if either failed.
fn cycle(
    args: &DevArgs,
    client: &Client,
    what: &str,
    stdout: &mut dyn Write,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let stamp = jiff::Zoned::now().strftime("%H:%M:%S").to_string();
    let spinner =
        super::pack_fetch::Phase::on_terminal(&format!("{what}: building and installing"));
    let outcome = build_and_install(args, client);
    if let Some(spinner) = spinner {
        spinner.clear();
    }
    let took = human(started.elapsed());
    let ok = outcome.is_ok();
    let line = match outcome {
        Ok(done) => format!("{stamp} {what}: {done} in {took}"),
        Err(error) => format!("{stamp} {what}: failed after {took}: {}", super::one_line(&error)),
    };
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(ok)
}

/// Builds the bundle and installs it; what was done, as the rest of the
/// cycle's line.
fn build_and_install(args: &DevArgs, client: &Client) -> anyhow::Result<String> {
    let mut sink = std::io::sink();
    let mut warnings = Warnings { stdout: &mut sink, kept: Some(Vec::new()) };
    let plan = Plan {
        dir: &args.dir,
        component: args.component.as_deref(),
        out: args.out.as_deref(),
        sign: args.sign.as_deref(),
        // The server compiles what it installs; a local compile would only
        // double the wait.
        compile_into: None,
    };
    let built = super::pack_build::build_bundle(&plan, &mut warnings)
        .map_err(|e| e.context("build failed"))?;
    let warned = warnings.kept.unwrap_or_default();
    let Built { manifest, out, bundle } = built;
    let mut grants = args.grant.clone();
    if grants.is_empty() && !manifest.capabilities.describe().is_empty() {
        grants.push("all".into());
    }
    crate::pack::parse_grants(&manifest.capabilities, &grants)?;
    let origin = out.display().to_string();
    let query =
        super::packs::install_query(&grants, args.sign.is_none(), &origin, args.config.as_deref())?;
    let installed = client
        .post_bytes("/packs", &query, "application/wasm", &bundle)
        .map_err(|e| e.context(format!("built {}, install failed", manifest.name)))?
        .body;
    let mut line = super::packs::installed_line(&installed);
    if !warned.is_empty() {
        line.push_str(&format!("; warnings: {}", warned.join("; ")));
    }
    Ok(line)
}

/// What is watched: every file under the pack's directory but the build
/// output, and the component and configuration files named outside it.
struct Watch {
    dir: PathBuf,
    extra: Vec<PathBuf>,
    out: Option<PathBuf>,
}

/// Each watched file's modification time and length.
type Snapshot = BTreeMap<PathBuf, (Option<SystemTime>, u64)>;

impl Watch {
    fn new(args: &DevArgs) -> Self {
        let extra = args.component.iter().chain(&args.config).cloned().collect();
        Self { dir: args.dir.clone(), extra, out: args.out.clone() }
    }

    fn snapshot(&self) -> Snapshot {
        let mut files = Snapshot::new();
        self.walk(&self.dir, &mut files);
        for path in &self.extra {
            if let Ok(meta) = path.metadata() {
                files.insert(path.clone(), (meta.modified().ok(), meta.len()));
            }
        }
        files
    }

    fn walk(&self, dir: &Path, files: &mut Snapshot) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || self.out.as_deref() == Some(path.as_path()) {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if !IGNORED_DIRS.contains(&name.as_ref()) {
                    self.walk(&path, files);
                }
            } else if !ignored_file(&name) {
                let meta = entry.metadata().ok();
                let stamp = meta.as_ref().and_then(|m| m.modified().ok());
                files.insert(path, (stamp, meta.map_or(0, |m| m.len())));
            }
        }
    }
}

/// Editors' swap and backup files and compiled Python.
fn ignored_file(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".pyc")
        || name.ends_with(".bak")
}

/// The files that differ between two snapshots, for the cycle's line:
/// `src/lib.rs changed`, `pack.toml and 2 more changed`.
fn changed(before: &Snapshot, after: &Snapshot, dir: &Path) -> String {
    let mut paths: Vec<&PathBuf> = after
        .iter()
        .filter(|(path, stamp)| before.get(*path) != Some(stamp))
        .map(|(path, _)| path)
        .chain(before.keys().filter(|path| !after.contains_key(*path)))
        .collect();
    paths.sort();
    paths.dedup();
    let shown = |path: &Path| path.strip_prefix(dir).unwrap_or(path).display().to_string();
    match paths.as_slice() {
        [] => "files changed".to_owned(),
        [one] => format!("{} changed", shown(one)),
        [first, rest @ ..] => format!("{} and {} more changed", shown(first), rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_is_not_watched_and_changes_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        for file in ["pack.toml", "src/lib.rs", "target/x.wasm", "node_modules/m/i.js", ".git/HEAD"]
        {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, "x").expect("write");
        }
        std::fs::write(root.join("app.py~"), "x").expect("write");
        let out = root.join("pack.wasm");
        std::fs::write(&out, "bundle").expect("write");
        let watch = Watch { dir: root.to_owned(), extra: Vec::new(), out: Some(out) };
        let before = watch.snapshot();
        let watched: Vec<String> = before
            .keys()
            .map(|p| p.strip_prefix(root).expect("under").display().to_string())
            .collect();
        assert_eq!(watched, ["pack.toml", "src/lib.rs"]);

        std::fs::write(root.join("src/lib.rs"), "longer").expect("write");
        let after = watch.snapshot();
        assert_eq!(changed(&before, &after, root), "src/lib.rs changed");
        std::fs::remove_file(root.join("pack.toml")).expect("rm");
        std::fs::write(root.join("src/new.rs"), "x").expect("write");
        assert_eq!(changed(&after, &watch.snapshot(), root), "pack.toml and 1 more changed");
    }
}
