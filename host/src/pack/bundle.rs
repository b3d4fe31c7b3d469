//! The bundle format: one `.wasm` component whose custom sections carry the
//! pack's `pack.toml`, rule, workflow and action alias files. The signature, when
//! there is one, is the tool-conventions `signature` section in front
//! (see [`super::signing`]); it covers these sections too, so a manifest
//! cannot be swapped under a signed component.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use wasmsign2::{CustomSection, Module, Section, SectionLike};

use super::layout::{self, LayoutError};
use super::manifest::{Manifest, ManifestError};

/// Custom section holding the `pack.toml` text.
pub const MANIFEST_SECTION: &str = "squall:manifest";
/// Custom section holding the rule files, as a JSON object of file name to
/// text.
pub const RULES_SECTION: &str = "squall:rules";
/// Custom section holding the workflow files, like [`RULES_SECTION`].
pub const WORKFLOWS_SECTION: &str = "squall:workflows";
/// Custom section holding the action alias files, like [`RULES_SECTION`].
pub const ALIASES_SECTION: &str = "squall:aliases";
/// Largest bundle accepted from anywhere.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;

/// The files a bundle carries beside its code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleFiles {
    /// `pack.toml` as written.
    pub manifest: String,
    /// Rule files by name (e.g. `log_push.yaml`).
    pub rules: BTreeMap<String, String>,
    /// Workflow files by name.
    pub workflows: BTreeMap<String, String>,
    /// Action alias files by name.
    pub aliases: BTreeMap<String, String>,
}

/// A bundle read back: its files, its checked manifest and its digest.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The checked manifest.
    pub manifest: Manifest,
    /// What it carries.
    pub files: BundleFiles,
    /// Hex sha256 of the whole bundle as received.
    pub sha256: String,
    /// Whether a signature section is present (not whether it verifies).
    pub signed: bool,
}

/// Why bytes are not a bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Over [`MAX_BUNDLE_BYTES`].
    #[error("{origin}: {size} bytes is over the bundle limit of {MAX_BUNDLE_BYTES}")]
    TooLarge {
        /// Where the bytes came from.
        origin: String,
        /// Their size.
        size: usize,
    },
    /// Not a WebAssembly component at all, or its sections do not parse.
    #[error("{origin}: not a WebAssembly component: {message}")]
    NotComponent {
        /// Where the bytes came from.
        origin: String,
        /// What the parser said.
        message: String,
    },
    /// A component without the `squall:manifest` section.
    #[error(
        "{origin}: no `{MANIFEST_SECTION}` section; this is a bare component, not a pack bundle (make one with `squall pack build`)"
    )]
    NoManifest {
        /// Where the bytes came from.
        origin: String,
    },
    /// A section is there but its content is not what it should be.
    #[error("{origin}: section `{section}`: {message}")]
    BadSection {
        /// Where the bytes came from.
        origin: String,
        /// Which section.
        section: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The embedded manifest does not check.
    #[error("{0}")]
    Manifest(ManifestError),
    /// A section's length is impossible, or one of Squall's sections is
    /// over its cap.
    #[error("{origin}: {error}")]
    Layout {
        /// Where the bytes came from.
        origin: String,
        /// What is wrong, with the section and its offset.
        error: LayoutError,
    },
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks the size, the component header and the section layout (lengths
/// that fit, Squall's sections within their caps), nothing more: cheap
/// enough to run before the signature, so that bytes that are not a bundle
/// at all are called that rather than "unsigned".
pub fn check_header(bytes: &[u8], origin: &str) -> Result<(), BundleError> {
    const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge { origin: origin.to_owned(), size: bytes.len() });
    }
    if !bytes.starts_with(&COMPONENT_HEADER) {
        let message = if bytes.starts_with(b"\0asm") {
            "this is a core module; build a component (target wasm32-wasip2)"
        } else {
            "it does not start with the component header (`\\0asm` 0d 00 01 00)"
        };
        return Err(BundleError::NotComponent {
            origin: origin.to_owned(),
            message: message.into(),
        });
    }
    walk(bytes, origin)
}

/// The section layout of bytes that start like WebAssembly (anything else
/// is for wasmsign2 to call not a module).
fn walk(bytes: &[u8], origin: &str) -> Result<(), BundleError> {
    if bytes.starts_with(b"\0asm") && bytes.len() >= 8 {
        layout::sections(bytes)
            .map_err(|error| BundleError::Layout { origin: origin.to_owned(), error })?;
    }
    Ok(())
}

fn parse_module(bytes: &[u8], origin: &str) -> Result<Module, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge { origin: origin.to_owned(), size: bytes.len() });
    }
    // wasmsign2 trusts section lengths; walk them first.
    walk(bytes, origin)?;
    let module = Module::deserialize(&mut &bytes[..]).map_err(|e| BundleError::NotComponent {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    // wasmsign2 accepts core modules as well; a pack must be a component.
    if module.header[4..] != [0x0d, 0x00, 0x01, 0x00] {
        return Err(BundleError::NotComponent {
            origin: origin.to_owned(),
            message: "this is a core module; build a component (target wasm32-wasip2)".into(),
        });
    }
    Ok(module)
}

fn is_ours(section: &Section) -> bool {
    matches!(section, Section::Custom(c)
        if [MANIFEST_SECTION, RULES_SECTION, WORKFLOWS_SECTION, ALIASES_SECTION].contains(&c.name())
            || c.is_signature_header())
}

/// Writes a bundle: `component` without any earlier bundle sections or
/// signature, followed by `files` in custom sections. The result is
/// unsigned.
pub fn assemble(
    component: &[u8],
    files: &BundleFiles,
    origin: &str,
) -> Result<Vec<u8>, BundleError> {
    let mut module = parse_module(component, origin)?;
    module.sections.retain(|s| !is_ours(s));
    let json = |map: &BTreeMap<String, String>| {
        serde_json::to_vec(map).expect("a map of strings always serialises")
    };
    module.sections.push(Section::Custom(CustomSection::new(
        MANIFEST_SECTION.to_owned(),
        files.manifest.as_bytes().to_vec(),
    )));
    if !files.rules.is_empty() {
        module.sections.push(Section::Custom(CustomSection::new(
            RULES_SECTION.to_owned(),
            json(&files.rules),
        )));
    }
    if !files.workflows.is_empty() {
        module.sections.push(Section::Custom(CustomSection::new(
            WORKFLOWS_SECTION.to_owned(),
            json(&files.workflows),
        )));
    }
    if !files.aliases.is_empty() {
        module.sections.push(Section::Custom(CustomSection::new(
            ALIASES_SECTION.to_owned(),
            json(&files.aliases),
        )));
    }
    let mut out = Vec::with_capacity(component.len() + files.manifest.len() + 64);
    module.serialize(&mut out).map_err(|e| BundleError::NotComponent {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    // A section over its cap would be refused at install: say so now.
    walk(&out, origin)?;
    Ok(out)
}

impl Bundle {
    /// Reads the files out of `bytes` and checks the manifest; `origin`
    /// (a file name or reference) names the bundle in errors. Nothing is
    /// verified or compiled here.
    pub fn read(bytes: &[u8], origin: &str) -> Result<Self, BundleError> {
        let module = parse_module(bytes, origin)?;
        let mut files = BundleFiles::default();
        let mut manifest = None;
        let mut signed = false;
        for section in &module.sections {
            let Section::Custom(custom) = section else { continue };
            if custom.is_signature_header() {
                signed = true;
                continue;
            }
            let bad = |section: &'static str, message: String| BundleError::BadSection {
                origin: origin.to_owned(),
                section,
                message,
            };
            match custom.name() {
                MANIFEST_SECTION => {
                    let text = std::str::from_utf8(custom.payload())
                        .map_err(|e| bad(MANIFEST_SECTION, format!("not UTF-8: {e}")))?;
                    manifest = Some(text.to_owned());
                }
                RULES_SECTION => {
                    files.rules = serde_json::from_slice(custom.payload()).map_err(|e| {
                        bad(RULES_SECTION, format!("expected a JSON object of file texts: {e}"))
                    })?;
                }
                WORKFLOWS_SECTION => {
                    files.workflows = serde_json::from_slice(custom.payload()).map_err(|e| {
                        bad(WORKFLOWS_SECTION, format!("expected a JSON object of file texts: {e}"))
                    })?;
                }
                ALIASES_SECTION => {
                    files.aliases = serde_json::from_slice(custom.payload()).map_err(|e| {
                        bad(ALIASES_SECTION, format!("expected a JSON object of file texts: {e}"))
                    })?;
                }
                _ => {}
            }
        }
        files.manifest =
            manifest.ok_or_else(|| BundleError::NoManifest { origin: origin.to_owned() })?;
        let manifest_path = Path::new(origin).join("pack.toml");
        let mut manifest =
            Manifest::from_toml(&files.manifest, &manifest_path).map_err(BundleError::Manifest)?;
        manifest
            .attach_workflows(&files.workflows, &manifest_path)
            .map_err(BundleError::Manifest)?;
        Ok(Self { manifest, files, sha256: sha256_hex(bytes), signed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the header alone.
    const EMPTY_COMPONENT: &[u8] = &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn files() -> BundleFiles {
        BundleFiles {
            manifest: "name = \"demo\"\nversion = \"1.2.3\"\n".into(),
            rules: BTreeMap::from([("a.yaml".into(), "name: a\n".into())]),
            workflows: BTreeMap::new(),
            aliases: BTreeMap::from([("say.yaml".into(), "name: say\n".into())]),
        }
    }

    #[test]
    fn files_round_trip_and_reassembly_replaces_them() {
        let bundle = assemble(EMPTY_COMPONENT, &files(), "demo.wasm").expect("ok");
        let read = Bundle::read(&bundle, "demo.wasm").expect("ok");
        assert_eq!(read.files, files());
        assert_eq!(read.manifest.version, "1.2.3");
        assert!(!read.signed);

        let mut changed = files();
        changed.manifest = changed.manifest.replace("1.2.3", "1.2.4");
        let again = assemble(&bundle, &changed, "demo.wasm").expect("ok");
        let read = Bundle::read(&again, "demo.wasm").expect("ok");
        assert_eq!(read.manifest.version, "1.2.4");
        assert_eq!(again.len(), bundle.len(), "old sections were not left behind");
    }

    #[test]
    fn refusals_say_what_the_bytes_are() {
        let e = Bundle::read(EMPTY_COMPONENT, "bare.wasm").expect_err("refused");
        assert!(matches!(e, BundleError::NoManifest { .. }), "{e}");
        let core = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        let e = Bundle::read(&core, "core.wasm").expect_err("refused");
        assert!(e.to_string().contains("core module"), "{e}");
        let e = Bundle::read(b"PK\x03\x04 not wasm", "x.zip").expect_err("refused");
        assert!(matches!(e, BundleError::NotComponent { .. }), "{e}");
        let mut bad = files();
        bad.manifest = "name = \"Demo\"\nversion = \"1\"\n".into();
        let bundle = assemble(EMPTY_COMPONENT, &bad, "demo.wasm").expect("ok");
        let e = Bundle::read(&bundle, "demo.wasm").expect_err("refused");
        assert!(e.to_string().contains("demo.wasm/pack.toml:1: name:"), "{e}");
    }
}
