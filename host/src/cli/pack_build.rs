//! `squall pack build|keygen|sign|verify`: the commands a pack author runs
//! on local files. Building checks the manifest against the component and
//! the rules against the manifest before writing a bundle, so that an
//! operator's install fails only for reasons an author could not see. The
//! toolchains themselves are driven by `pack_toolchain`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::engine::TriggerTypes;
use crate::pack::{
    Bundle, BundleFiles, Keyring, Manifest, SigningKey, TrustedKey, assemble, fingerprint,
    generate, load_public_key, save_public_key,
};
use crate::rules::Rule;

/// Exported interface a component needs for the manifest's actions.
const ACTION_EXPORT: &str = "squall:pack/action@0.1.0";
/// Exported interface a component needs for the manifest's sensors.
const SENSOR_EXPORT: &str = "squall:pack/sensor@0.1.0";

#[derive(Debug, clap::Args)]
pub(crate) struct BuildArgs {
    /// The pack's source directory (with `pack.toml`).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Use this component instead of building one with the toolchain
    /// `[build].language` names (cargo, componentize-py, componentize-js).
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,
    /// Where to write the bundle [default: DIR/target/NAME-VERSION.wasm].
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Sign the bundle with this secret key as well.
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    /// Print what was built as one JSON object (`name`, `version`,
    /// `bundle`, `bytes`, `signed`, `warnings`) instead of text.
    #[arg(long)]
    json: bool,
    /// The compile cache the bundle is compiled into, so that `squall run
    /// --component BUNDLE` starts without compiling (the one `squall run`
    /// uses by default).
    #[arg(long, env = "SQUALL_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Writes PATH.key (secret, mode 0600) and PATH.pub.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Print the result as one JSON object (`secret_key`, `public_key`,
    /// `fingerprint`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The bundle to sign.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// The secret key.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Where to write the signed bundle [default: over BUNDLE].
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the result as one JSON object (`name`, `version`, `bundle`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The bundle to check.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// A public key to accept (repeatable).
    #[arg(long, value_name = "PUBLIC_KEY")]
    key: Vec<PathBuf>,
    /// A directory of public keys (`*.pub`) to accept.
    #[arg(long, value_name = "DIR")]
    keyring: Option<PathBuf>,
    /// Print the result as one JSON object (`bundle`, `signer`,
    /// `fingerprint`, `name`, `version`, `publisher`, `requests`) instead
    /// of text.
    #[arg(long)]
    json: bool,
}

/// The warnings a build finds: printed as they come, or kept for the JSON
/// object (`--json`).
pub(crate) struct Warnings<'a> {
    pub(crate) stdout: &'a mut dyn Write,
    pub(crate) kept: Option<Vec<String>>,
}

impl Warnings<'_> {
    fn warn(&mut self, warning: String) -> std::io::Result<()> {
        match &mut self.kept {
            Some(kept) => {
                kept.push(warning);
                Ok(())
            }
            None => writeln!(self.stdout, "warning: {warning}"),
        }
    }
}

/// What a build is asked for, whatever it prints: `pack build` and `pack
/// dev` build through [`build_bundle`].
pub(crate) struct Plan<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) component: Option<&'a Path>,
    pub(crate) out: Option<&'a Path>,
    pub(crate) sign: Option<&'a Path>,
    /// Compile the bundle into this compile cache (and so check that it
    /// links against the host) before writing it.
    pub(crate) compile_into: Option<PathBuf>,
}

/// A bundle written by [`build_bundle`].
pub(crate) struct Built {
    pub(crate) manifest: Manifest,
    pub(crate) out: PathBuf,
    pub(crate) bundle: Vec<u8>,
}

pub(crate) fn build(args: BuildArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let mut warnings = Warnings { stdout, kept: args.json.then(Vec::new) };
    let plan = Plan {
        dir: &args.dir,
        component: args.component.as_deref(),
        out: args.out.as_deref(),
        sign: args.sign.as_deref(),
        compile_into: Some(args.cache_dir.clone().unwrap_or_else(super::run::default_cache_dir)),
    };
    let Built { manifest, out, bundle } = build_bundle(&plan, &mut warnings)?;
    let Warnings { stdout, kept } = warnings;
    if let Some(warnings) = kept {
        let built = json!({
            "name": manifest.name,
            "version": manifest.version.to_string(),
            "bundle": out.display().to_string(),
            "bytes": bundle.len(),
            "signed": args.sign.is_some(),
            "warnings": warnings,
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&built)?)?;
        return Ok(0);
    }
    writeln!(
        stdout,
        "built {} {} → {} ({} bytes{})",
        manifest.name,
        manifest.version,
        out.display(),
        bundle.len(),
        if args.sign.is_some() { ", signed" } else { ", unsigned" }
    )?;
    Ok(0)
}

/// Checks the pack in `plan.dir`, builds its component unless one is
/// given, assembles (and signs) the bundle, compiles it into the local
/// cache, and writes it.
pub(crate) fn build_bundle(plan: &Plan<'_>, warnings: &mut Warnings<'_>) -> anyhow::Result<Built> {
    let manifest_path = plan.dir.join("pack.toml");
    let manifest = Manifest::load(&manifest_path)?;
    let rules = read_files(&plan.dir.join("rules"))?;
    check_rules(&manifest, plan.dir, &rules, warnings)?;
    let workflows = read_files(&plan.dir.join("workflows"))?;
    check_workflows(&manifest, plan.dir, warnings)?;
    let aliases = read_files(&plan.dir.join("aliases"))?;
    check_aliases(&manifest, plan.dir, &aliases)?;
    let component_path = match plan.component {
        Some(path) => path.to_owned(),
        None => {
            // The toolchains take tens of seconds for Python and JS: say so
            // on a terminal (a spinner and the time taken), stay quiet in
            // pipes and logs.
            let what = format!("building {} with its toolchain", manifest.name);
            let progress = super::pack_fetch::Phase::on_terminal(&what);
            let built = super::pack_toolchain::build_component(plan.dir, &manifest);
            if let Some(progress) = progress {
                progress.finish(&mut std::io::stderr(), built.is_ok());
            }
            built?
        }
    };
    let component = std::fs::read(&component_path)
        .with_context(|| format!("cannot read {}", component_path.display()))?;
    check_exports(&manifest, &manifest_path, &component_path, &component)?;
    let files = BundleFiles {
        manifest: std::fs::read_to_string(&manifest_path)?,
        rules,
        workflows,
        aliases,
    };
    let origin = component_path.display().to_string();
    let mut bundle = assemble(&component, &files, &origin)?;
    if let Some(key) = plan.sign {
        bundle = SigningKey::load(key)?.sign(&bundle)?;
    }
    let out = plan.out.map(Path::to_owned).unwrap_or_else(|| {
        plan.dir.join("target").join(format!("{}-{}.wasm", manifest.name, manifest.version))
    });
    if let Some(cache_dir) = &plan.compile_into {
        compile_into_cache(&bundle, &out, &manifest.name, cache_dir, warnings)?;
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&out, &bundle).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Built { manifest, out, bundle })
}

/// Compiles `bundle` — the bytes as written, signature and all, which is
/// what `squall run --component` and the server compile — into the local
/// compile cache, so that the first local run of the new bundle does not
/// compile it again. It also checks what only the host can: that the
/// component links against its imports. A cache that cannot be opened or
/// written is a warning; a component that does not compile or link fails
/// the build, as it would fail its install.
fn compile_into_cache(
    bundle: &[u8],
    out: &Path,
    pack: &str,
    cache_dir: &Path,
    warnings: &mut Warnings<'_>,
) -> anyhow::Result<()> {
    let runtime = match super::run::local_runtime(cache_dir, 0) {
        Ok(runtime) => runtime,
        Err(error) => {
            return Ok(warnings.warn(format!("not compiled ahead of its first run: {error}"))?);
        }
    };
    let progress = super::pack_fetch::Phase::on_terminal(&format!("compiling {pack}"));
    let loaded = runtime.load_bytes(out, bundle, pack);
    if let Some(progress) = progress {
        progress.finish(&mut std::io::stderr(), loaded.is_ok());
    }
    match loaded {
        Ok(_) => Ok(()),
        Err(error @ crate::runtime::LoadError::Cache { .. }) => {
            Ok(warnings.warn(format!("not compiled ahead of its first run: {error}"))?)
        }
        Err(error) => Err(error.into()),
    }
}

/// Every workflow an action names loads and validates; its warnings are
/// printed.
fn check_workflows(
    manifest: &Manifest,
    dir: &Path,
    warnings: &mut Warnings<'_>,
) -> anyhow::Result<()> {
    for (path, text) in &manifest.workflows {
        let file = dir.join(path).display().to_string();
        let loaded = crate::workflow::load(text, &file).map_err(|e| anyhow::anyhow!("{e}"))?;
        for warning in &loaded.warnings {
            warnings.warn(warning.to_string())?;
        }
    }
    Ok(())
}

/// Every `*.yaml`/`*.yml` file in `dir` by file name; none when `dir` does
/// not exist.
fn read_files(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).map(str::to_owned);
        let Some(name) = name else { bail!("{}: file name is not UTF-8", path.display()) };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        files.insert(name, text);
    }
    Ok(files)
}

/// Each rule loads, belongs to the pack, and names a trigger type and an
/// action that exist: the pack's own, or the built-in ones of `core`.
fn check_rules(
    manifest: &Manifest,
    dir: &Path,
    rules: &BTreeMap<String, String>,
    warnings: &mut Warnings<'_>,
) -> anyhow::Result<()> {
    let builtin = TriggerTypes::builtin();
    let own = |reference: &str, has: &dyn Fn(&str) -> bool| {
        crate::limits::split_ref(reference).is_some_and(|(p, name)| p == manifest.name && has(name))
    };
    for (name, text) in rules {
        let file = dir.join("rules").join(name).display().to_string();
        let rule = Rule::from_yaml(text, &file)?;
        // What StackStorm loads but cannot do what it seems to: said, not
        // refused.
        for warning in &rule.warnings {
            warnings.warn(format!("{file}: {warning}"))?;
        }
        if rule.pack != manifest.name {
            bail!(
                "{file}: pack: expected `{}`, the pack being built, got `{}`",
                manifest.name,
                rule.pack
            );
        }
        let trigger_known = builtin.get(&rule.trigger_type).is_some()
            || own(&rule.trigger_type, &|t| manifest.triggers.contains_key(t));
        if !trigger_known {
            bail!(
                "{file}: trigger.type: `{}` is neither a built-in trigger type nor declared under [triggers] in pack.toml",
                rule.trigger_type
            );
        }
        if !known_action(manifest, &rule.action_ref) {
            bail!(
                "{file}: action.ref: `{}` is not an action declared under [actions] in pack.toml (nor a core or built-in action)",
                rule.action_ref
            );
        }
    }
    Ok(())
}

/// Whether a rule or alias of the pack may run `reference`: one of the
/// pack's own actions, a core action (another pack's), or a host built-in
/// (`chatops.post_message` and the like).
fn known_action(manifest: &Manifest, reference: &str) -> bool {
    let pack = crate::limits::ref_pack(reference);
    let own = crate::limits::split_ref(reference)
        .is_some_and(|(p, a)| p == manifest.name && manifest.actions.contains_key(a));
    let core = pack == Some("core") && manifest.name != "core";
    own || core || crate::engine::Actions::default().get(reference).is_some()
}

/// Each action alias loads (every format compiles), belongs to the pack,
/// and runs one of its actions or a built-in one.
fn check_aliases(
    manifest: &Manifest,
    dir: &Path,
    aliases: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for (name, text) in aliases {
        let file = dir.join("aliases").join(name).display().to_string();
        let alias = crate::chatops::ActionAlias::from_yaml(text, &file, Some(&manifest.name))?;
        if !known_action(manifest, &alias.action_ref) {
            bail!(
                "{file}: action_ref: `{}` is not an action declared under [actions] in pack.toml (nor a core or built-in action)",
                alias.action_ref
            );
        }
    }
    Ok(())
}

/// Every declared action and sensor has its interface exported.
fn check_exports(
    manifest: &Manifest,
    manifest_path: &Path,
    component_path: &Path,
    component: &[u8],
) -> anyhow::Result<()> {
    let info = crate::pack::registry::component_info(component)
        .map_err(|e| anyhow::anyhow!("{}: {e}", component_path.display()))?;
    let exports = |name: &str| info.exports.iter().any(|e| e == name);
    if manifest.has_component_actions() && !exports(ACTION_EXPORT) {
        bail!(
            "{}: actions: declares {} action(s) but {} does not export `{ACTION_EXPORT}`",
            manifest_path.display(),
            manifest.actions.len(),
            component_path.display()
        );
    }
    if !manifest.sensors.is_empty() && !exports(SENSOR_EXPORT) {
        bail!(
            "{}: sensors: declares {} sensor(s) but {} does not export `{SENSOR_EXPORT}`",
            manifest_path.display(),
            manifest.sensors.len(),
            component_path.display()
        );
    }
    Ok(())
}

pub(crate) fn keygen(args: KeygenArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let secret = args.path.with_extension("key");
    let public = args.path.with_extension("pub");
    for path in [&secret, &public] {
        if path.exists() {
            bail!("{} exists; not overwriting a key", path.display());
        }
    }
    let (key, public_key) = generate();
    key.save(&secret)?;
    save_public_key(&public_key, &public)?;
    if args.json {
        let answer = serde_json::json!({
            "secret_key": secret.display().to_string(),
            "public_key": public.display().to_string(),
            "fingerprint": fingerprint(&public_key),
        });
        writeln!(stdout, "{answer}")?;
        return Ok(0);
    }
    writeln!(
        stdout,
        "secret key: {}\npublic key: {} (fingerprint {})",
        secret.display(),
        public.display(),
        fingerprint(&public_key)
    )?;
    Ok(0)
}

pub(crate) fn sign(args: SignArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read {}", args.bundle.display()))?;
    let bundle = Bundle::read(&bytes, &args.bundle.display().to_string())?;
    let signed = SigningKey::load(&args.key)?.sign(&bytes)?;
    let out = args.out.unwrap_or(args.bundle);
    std::fs::write(&out, &signed).with_context(|| format!("cannot write {}", out.display()))?;
    if args.json {
        let answer = serde_json::json!({
            "name": bundle.manifest.name,
            "version": bundle.manifest.version,
            "bundle": out.display().to_string(),
        });
        writeln!(stdout, "{answer}")?;
        return Ok(0);
    }
    writeln!(
        stdout,
        "signed {} {} → {}",
        bundle.manifest.name,
        bundle.manifest.version,
        out.display()
    )?;
    Ok(0)
}

pub(crate) fn verify(args: VerifyArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.bundle)
        .with_context(|| format!("cannot read {}", args.bundle.display()))?;
    let origin = args.bundle.display().to_string();
    let mut keys = Vec::new();
    for path in &args.key {
        keys.push(TrustedKey { name: path.display().to_string(), key: load_public_key(path)? });
    }
    if let Some(dir) = &args.keyring {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "pub") {
                keys.push(TrustedKey {
                    name: path.display().to_string(),
                    key: load_public_key(&path)?,
                });
            }
        }
    }
    if keys.is_empty() {
        bail!("no key to verify with: pass --key PUBLIC_KEY or --keyring DIR");
    }
    let verified =
        Keyring::new(keys).verify(&bytes).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    let bundle = Bundle::read(&bytes, &origin)?;
    let manifest = &bundle.manifest;
    let requested = manifest.capabilities.describe();
    if args.json {
        let result = json!({
            "bundle": origin,
            "signature": "ok",
            "signer": verified.signer,
            "fingerprint": verified.fingerprint.to_string(),
            "name": manifest.name,
            "version": manifest.version.to_string(),
            "publisher": (!manifest.publisher.is_empty()).then_some(&manifest.publisher),
            "requests": requested,
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&result)?)?;
        return Ok(0);
    }
    writeln!(
        stdout,
        "{origin}: signature ok, signed by {} ({})",
        verified.signer, verified.fingerprint
    )?;
    writeln!(stdout, "pack: {} {}", manifest.name, manifest.version)?;
    if !manifest.publisher.is_empty() {
        writeln!(stdout, "publisher: {}", manifest.publisher)?;
    }
    writeln!(
        stdout,
        "requests: {}",
        if requested.is_empty() { "nothing".to_owned() } else { requested.join(", ") }
    )?;
    Ok(0)
}
