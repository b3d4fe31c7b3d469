//! The toolchains `squall pack build` drives to turn a pack's source into a
//! component, chosen by `[build].language` in `pack.toml`: cargo for Rust,
//! componentize-py for Python, componentize-js (on Node) for JavaScript.
//! The WIT contract (`sdk/wit`, from `sdk_source.rs`) and the Python and
//! JavaScript helper modules are built into the binary, so a pack builds
//! against the contract of the host that builds it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use crate::pack::{Language, Manifest};

/// The componentize-py release the helper module and docs are tested with.
pub(crate) const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The componentize-js release the helper module and docs are tested with.
pub(crate) const COMPONENTIZE_JS_VERSION: &str = "0.23.0";
/// componentize-js 0.23.0 imports this package without depending on it.
pub(crate) const PREVIEW2_SHIM_VERSION: &str = "0.17.5";

/// The Python helper module (`import squall`).
pub(crate) const PYTHON_HELPER: &str = include_str!("../../../sdk/python/squall.py");
/// The JavaScript helper module (`./squall.js`).
pub(crate) const JS_HELPER: &str = include_str!("../../../sdk/js/squall.js");

/// Runs componentize-js's API: the package's own command line does not
/// start in the released version (it imports a package it does not depend
/// on).
const JS_DRIVER: &str = r#"const [module, source, wit, world, out] = process.argv.slice(2);
const { componentize } = await import(module);
const { writeFile } = await import("node:fs/promises");
const { component } = await componentize({ sourcePath: source, witPath: wit, worldName: world });
await writeFile(out, component);
"#;

/// The world every pack component targets.
const WORLD: &str = "pack";

/// Builds the pack in `dir` with the toolchain its manifest names and
/// returns the path of the component.
pub(crate) fn build_component(dir: &Path, manifest: &Manifest) -> anyhow::Result<PathBuf> {
    let entry = manifest.build.entry.as_deref();
    // The toolchains run in `dir`: paths handed to them must not be
    // relative to ours.
    let dir = &std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    match (manifest.build.language, entry) {
        (Language::Rust, _) => cargo_build(dir),
        (Language::Python, Some(entry)) => python_build(dir, entry),
        (Language::Js, Some(entry)) => js_build(dir, entry),
        (language, None) => bail!("{}: build.entry: a {language} pack needs one", dir.display()),
    }
}

/// Builds the crate in `dir` for wasm32-wasip2 and returns the component.
fn cargo_build(dir: &Path) -> anyhow::Result<PathBuf> {
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "{}: no Cargo.toml; a Rust pack is a cdylib crate (or set build.language in pack.toml, or pass the component with --component FILE)",
            dir.display()
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--message-format=json"])
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo build failed in {}", dir.display());
    }
    let mut found = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        for file in message["filenames"].as_array().into_iter().flatten() {
            if let Some(path) = file.as_str().filter(|p| p.ends_with(".wasm")) {
                found = Some(PathBuf::from(path));
            }
        }
    }
    found.with_context(|| format!("cargo built no .wasm in {}; is it a cdylib?", dir.display()))
}

/// `DIR/target/LANG`, emptied of a previous build's generated files, with
/// the WIT contract in `wit/`.
fn work_dir(dir: &Path, language: Language) -> anyhow::Result<PathBuf> {
    let work = dir.join("target").join(language.name());
    for (name, text) in super::sdk_source::wit() {
        let path = work.join("wit").join(name);
        let parent = path.parent().unwrap_or(&work);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(work)
}

fn checked_entry(dir: &Path, entry: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(entry);
    if !path.is_file() {
        bail!(
            "{}: build.entry: `{entry}` does not exist in {}",
            dir.join("pack.toml").display(),
            dir.display()
        );
    }
    Ok(path)
}

/// componentize-py on a generated main module that imports the entry (so
/// that its `@action`/`@sensor` functions register) and exports the
/// helper's `Action` and `Sensor`.
fn python_build(dir: &Path, entry: &str) -> anyhow::Result<PathBuf> {
    let entry_path = checked_entry(dir, entry)?;
    let tool = find_program("componentize-py").with_context(|| {
        format!(
            "{}: build.language is `python`, which needs componentize-py on PATH: pip install componentize-py=={COMPONENTIZE_PY_VERSION}",
            dir.join("pack.toml").display()
        )
    })?;
    let work = work_dir(dir, Language::Python)?;
    let entry_dir = entry_path.parent().unwrap_or(dir).to_owned();
    let module = entry_path.file_stem().and_then(|s| s.to_str()).unwrap_or("app").to_owned();
    let main = format!(
        "# Generated by `squall pack build`: registers the pack's functions, exports the helper's classes.\nimport {module}  # noqa: F401\nfrom squall import Action, Sensor  # noqa: F401\n"
    );
    write(&work.join("squall_main.py"), &main)?;
    // The pack's own copy of the helper wins: it is what its tests ran with.
    let helper_dir = work.join("helper");
    write(&helper_dir.join("squall.py"), PYTHON_HELPER)?;
    let out = work.join("component.wasm");
    let mut command = Command::new(tool);
    command.arg("-d").arg(work.join("wit")).args(["-w", WORLD, "componentize", "squall_main"]);
    for path in [&entry_dir, &dir.to_owned(), &work, &helper_dir] {
        command.arg("-p").arg(path);
    }
    command.arg("-o").arg(&out);
    run_tool(command, dir, "componentize-py")?;
    Ok(out)
}

/// componentize-js on a generated main module that imports the entry,
/// hands the helper the component's imports, and exports the helper's
/// `action` and `sensor` interfaces.
fn js_build(dir: &Path, entry: &str) -> anyhow::Result<PathBuf> {
    let entry_path = checked_entry(dir, entry)?;
    let manifest_file = dir.join("pack.toml");
    let helper = entry_path.parent().unwrap_or(dir).join("squall.js");
    if !helper.is_file() {
        bail!(
            "{}: missing: the entry imports the helper from `./squall.js` (`squall pack new --lang js` writes it)",
            helper.display()
        );
    }
    let node = find_program("node").with_context(|| {
        format!("{}: build.language is `js`, which needs Node.js on PATH", manifest_file.display())
    })?;
    let module = componentize_js(dir).with_context(|| {
        format!(
            "{}: build.language is `js`, which needs componentize-js: npm install -g @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION} @bytecodealliance/preview2-shim@{PREVIEW2_SHIM_VERSION}",
            manifest_file.display()
        )
    })?;
    let work = work_dir(dir, Language::Js)?;
    // componentize-js maps the working directory into the build sandbox, so
    // the main module imports the pack's files relative to it.
    let up = "../../";
    let helper_rel = relative(dir, &helper)?;
    let entry_rel = relative(dir, &entry_path)?;
    let main = format!(
        r#"// Generated by `squall pack build`: binds the helper to the component's imports.
import * as log from "squall:pack/log@0.1.0";
import * as kv from "squall:pack/kv@0.1.0";
import * as secrets from "squall:pack/secrets@0.1.0";
import * as config from "squall:pack/config@0.1.0";
import * as exec from "squall:pack/exec@0.1.0";
import * as outgoingHandler from "wasi:http/outgoing-handler@0.2.12";
import * as httpTypes from "wasi:http/types@0.2.12";
import {{ __setHost, action as registeredActions, sensor as registeredSensors }} from "{up}{helper_rel}";
import "{up}{entry_rel}";
__setHost({{ log, kv, secrets, config, exec, outgoingHandler, httpTypes }});
export const action = {{ run: registeredActions.run }};
export const sensor = {{ poll: registeredSensors.poll, onWebhook: registeredSensors.onWebhook }};
"#
    );
    write(&work.join("squall_main.js"), &main)?;
    write(&work.join("componentize.mjs"), JS_DRIVER)?;
    let out = work.join("component.wasm");
    let mut command = Command::new(node);
    command
        .arg(work.join("componentize.mjs"))
        .arg(module)
        .arg(Path::new("target").join("js").join("squall_main.js"))
        .arg(work.join("wit"))
        .arg(WORLD)
        .arg(&out);
    run_tool(command, dir, "componentize-js")?;
    Ok(out)
}

/// `path` relative to `dir`, with `/` separators, as an import specifier.
fn relative(dir: &Path, path: &Path) -> anyhow::Result<String> {
    let rel = path.strip_prefix(dir).with_context(|| {
        format!("{}: not inside the pack directory {}", path.display(), dir.display())
    })?;
    let parts: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    Ok(parts.join("/"))
}

/// The componentize-js module to import: the pack's own `node_modules`
/// first, then the global one.
fn componentize_js(dir: &Path) -> anyhow::Result<String> {
    let package = Path::new("@bytecodealliance").join("componentize-js");
    let mut roots = vec![dir.join("node_modules")];
    if let Some(npm) = find_program("npm") {
        let out = Command::new(npm).args(["root", "-g"]).stderr(Stdio::null()).output();
        if let Ok(out) = out
            && out.status.success()
        {
            roots.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    for root in &roots {
        let module = root.join(&package).join("src").join("componentize.js");
        if module.is_file() {
            let absolute = std::path::absolute(&module).unwrap_or(module);
            return Ok(format!("file://{}", absolute.display()));
        }
    }
    let looked: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    bail!("@bytecodealliance/componentize-js is in none of {}", looked.join(", "))
}

/// `name` on PATH.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs a toolchain in `dir`; its output goes to stderr, since it is the
/// author's to read, and a failure says which tool failed where.
fn run_tool(mut command: Command, dir: &Path, tool: &str) -> anyhow::Result<()> {
    let output = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {tool}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().filter(|l| !l.trim().is_empty()).take(12).collect::<Vec<_>>();
        bail!("{tool} failed in {} ({}): {}", dir.display(), output.status, said.join(" | "));
    }
    Ok(())
}
