//! `squall pack import`: a StackStorm pack directory read into a plan for
//! a Squall pack source directory (every file's destination and the
//! `pack.toml` text) and a report of what converted and why not; then one
//! writer puts the plan on disk. Reading never writes, and every file of
//! the StackStorm pack is in the plan, so nothing is dropped silently.

mod actions;
mod chain;
mod metadata;
mod others;
mod python;
mod report;
mod requirements;
mod scan;
mod sensors;
mod shell;
mod toml_text;

use std::path::{Path, PathBuf};

pub use report::{Item, Kind, Report, Status, Summary};
pub use requirements::{Dependencies, Fetched, Needed, PYTHON_VERSION, Requirement, VENDOR};
pub use scan::{needs, plan};

/// What Squall already knows outside the pack, which decides whether a
/// rule or alias of the pack can be carried over: trigger types (the
/// built-in ones) and actions of other packs (`core`, the host's own).
pub struct Known<'a> {
    /// Whether a trigger type of that name exists outside the pack.
    pub trigger: &'a dyn Fn(&str) -> bool,
    /// Whether an action of that reference exists outside the pack.
    pub action: &'a dyn Fn(&str) -> bool,
}

impl std::fmt::Debug for Known<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Known").finish_non_exhaustive()
    }
}

/// Why a StackStorm pack could not be read: the file, the field and what
/// was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {field}: {message}", file.display())]
pub struct ImportError {
    /// The file.
    pub file: PathBuf,
    /// The field, dotted (`parameters.url.type`), or `(file)`/`(document)`.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl ImportError {
    fn new(file: &Path, field: &str, message: String) -> Self {
        Self { file: file.to_owned(), field: field.to_owned(), message }
    }
}

/// What one output file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// A file of the StackStorm pack, copied byte for byte.
    Copy(PathBuf),
    /// Text the importer wrote (the manifest, the Python layer, a rule
    /// given its pack).
    Text(String),
}

/// The Squall pack to write: each file by its path relative to the output
/// directory, and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Output files, in the order they are written.
    pub files: Vec<(String, Contents)>,
    /// What converted and what did not.
    pub report: Report,
}

/// Writes `plan` into `out`, which must not exist or be empty, so that an
/// import never mixes with other files.
pub fn write(plan: &Plan, out: &Path) -> Result<(), ImportError> {
    let io = |path: &Path, e: std::io::Error| ImportError::new(path, "(file)", e.to_string());
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ImportError::new(
                    out,
                    "(directory)",
                    "exists and is not empty; choose another with -o DIR".into(),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(out, e)),
    }
    for (relative, contents) in &plan.files {
        let path = out.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        match contents {
            Contents::Copy(from) => {
                std::fs::copy(from, &path).map(drop).map_err(|e| io(from, e))?
            }
            Contents::Text(text) => std::fs::write(&path, text).map_err(|e| io(&path, e))?,
        }
    }
    Ok(())
}
