//! `squall pack new NAME --lang rust|python|js`: a pack that builds, signs
//! and installs as it is, with one action, one poll sensor, a rule, a unit
//! test and a README. The templates are built into the binary.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::pack_toolchain::{
    COMPONENTIZE_JS_VERSION, COMPONENTIZE_PY_VERSION, JS_HELPER, PREVIEW2_SHIM_VERSION,
    PYTHON_HELPER,
};
use super::sdk_source::{SDK_VERSION, VENDOR_DIR};
use crate::pack::{Language, Manifest};

#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// The pack's name: lowercase letters, digits and `_`.
    #[arg(value_name = "NAME")]
    name: String,
    /// The language to write it in.
    #[arg(long, default_value = "rust", value_parser = parse_language)]
    lang: Language,
    /// Where to create it [default: ./NAME]; must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Rust: depend on the squall-sdk crate at PATH instead [default:
    /// squall-sdk by version, patched with the copy this squall carries,
    /// written to `vendor/squall-sdk`].
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
    /// Print what was created as one JSON object (`name`, `language`,
    /// `dir`, `files`, `next`) instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_language(name: &str) -> Result<Language, String> {
    Language::parse(name).ok_or_else(|| format!("expected `rust`, `python` or `js`, got `{name}`"))
}

const PACK_TOML: &str = include_str!("templates/common_pack.toml");
const RULE: &str = include_str!("templates/common_rule.yaml");

/// (path in the pack, template) per language.
fn files(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::Rust => &[
            ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
            ("src/lib.rs", include_str!("templates/rust/lib.rs")),
            ("README.md", include_str!("templates/rust/README.md")),
            (".gitignore", include_str!("templates/rust/gitignore")),
        ],
        Language::Python => &[
            ("app.py", include_str!("templates/python/app.py")),
            ("test_app.py", include_str!("templates/python/test_app.py")),
            ("squall.py", PYTHON_HELPER),
            ("README.md", include_str!("templates/python/README.md")),
            (".gitignore", include_str!("templates/python/gitignore")),
        ],
        Language::Js => &[
            ("index.js", include_str!("templates/js/index.js")),
            ("index.test.js", include_str!("templates/js/index.test.js")),
            ("squall.js", JS_HELPER),
            ("package.json", include_str!("templates/js/package.json")),
            ("README.md", include_str!("templates/js/README.md")),
            (".gitignore", include_str!("templates/js/gitignore")),
        ],
    }
}

pub(crate) fn new(args: NewArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let not_empty = std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if not_empty {
        bail!("{}: exists and is not empty; not overwriting it", dir.display());
    }
    let build = match args.lang.default_entry() {
        Some(entry) => format!("\n[build]\nlanguage = \"{}\"\nentry = \"{entry}\"\n", args.lang),
        None => String::new(),
    };
    // An interpreter's heap starts at 9-13 MiB of the sandbox's memory: a
    // higher ceiling leaves the actions' policies room to grow.
    let memory = match args.lang {
        Language::Rust => "memory = \"64MiB\"\n",
        Language::Python | Language::Js => "memory = \"128MiB\"\n",
    };
    let manifest = PACK_TOML.replace("__BUILD__", &build).replace("__MEMORY__", memory);
    let manifest = fill(&manifest, &args.name, &Sdk::default());
    // The name is checked the way the host will check it, before anything
    // is written.
    Manifest::from_toml(&manifest, &dir.join("pack.toml")).map_err(anyhow::Error::from)?;
    let sdk = match args.lang {
        Language::Rust => sdk_dependency(args.sdk.as_deref())?,
        _ => Sdk::default(),
    };
    let mut written = vec![write(&dir, "pack.toml", &manifest)?];
    written.push(write(&dir, "rules/hello.yaml", &fill(RULE, &args.name, &sdk))?);
    for (path, template) in files(args.lang) {
        written.push(write(&dir, path, &fill(template, &args.name, &sdk))?);
    }
    if args.lang == Language::Rust && args.sdk.is_none() {
        super::sdk_source::write_crate(&dir.join(VENDOR_DIR))?;
        written.push(format!("{VENDOR_DIR}/"));
    }
    let test = match args.lang {
        Language::Rust => "cargo test",
        Language::Python => "python3 -m unittest",
        Language::Js => "node --test",
    };
    let next = format!("cd {} && {test} && squall pack build . --sign KEY", dir.display());
    if args.json {
        let created = json!({
            "name": args.name,
            "language": args.lang.to_string(),
            "dir": dir.display().to_string(),
            "files": written,
            "next": next,
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&created)?)?;
        return Ok(0);
    }
    writeln!(stdout, "created {} pack {} in {}", args.lang, args.name, dir.display())?;
    for path in written {
        writeln!(stdout, "  {path}")?;
    }
    writeln!(stdout, "next: {next}")?;
    Ok(0)
}

fn fill(template: &str, name: &str, sdk: &Sdk) -> String {
    template
        .replace("__NAME__", name)
        .replace("__SDKVERSION__", SDK_VERSION)
        .replace("__SDK__", &sdk.dependency)
        .replace("__SDKWORKSPACE__\n", &sdk.workspace)
        .replace("__PYVERSION__", COMPONENTIZE_PY_VERSION)
        .replace("__JSVERSION__", COMPONENTIZE_JS_VERSION)
        .replace("__SHIMVERSION__", PREVIEW2_SHIM_VERSION)
}

/// How a Rust scaffold gets squall-sdk: the dependency's value, and the
/// lines that end its `[workspace]` section.
#[derive(Debug, Default)]
struct Sdk {
    dependency: String,
    workspace: String,
}

/// By default squall-sdk by version (this squall's), with
/// `[patch.crates-io]` pointing at the copy in `vendor/squall-sdk` until the
/// crate is published: nothing in the scaffold names this machine. With
/// `--sdk PATH`, that crate by its absolute path.
fn sdk_dependency(given: Option<&Path>) -> anyhow::Result<Sdk> {
    let Some(path) = given else {
        return Ok(Sdk {
            dependency: format!("\"{SDK_VERSION}\""),
            workspace: format!(
                "# The vendored SDK is a dependency, not a member.\n\
                 exclude = [\"vendor\"]\n\n\
                 # squall-sdk {SDK_VERSION} as squall {SDK_VERSION} carries it, until it is on\n\
                 # crates.io; then delete this section and `vendor/`.\n\
                 [patch.crates-io]\n\
                 squall-sdk = {{ path = \"{VENDOR_DIR}\" }}\n"
            ),
        });
    };
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let canonical = path.canonicalize().unwrap_or(path);
    if !canonical.join("Cargo.toml").is_file() {
        bail!("--sdk: {}: no Cargo.toml; expected the squall-sdk crate", canonical.display());
    }
    let text = canonical.display().to_string();
    Ok(Sdk { dependency: format!("{{ path = {} }}", toml_string(&text)), workspace: String::new() })
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn write(dir: &Path, path: &str, text: &str) -> anyhow::Result<String> {
    let full = dir.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
    Ok(path.to_owned())
}
