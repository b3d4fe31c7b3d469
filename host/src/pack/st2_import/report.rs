//! The import report: for every part of a StackStorm pack (the pack
//! itself, its config schema, actions, workflows, sensors, rules, aliases
//! and any other file), whether it was converted, and why not.

use std::fmt::Write as _;

use serde::Serialize;

/// What a report item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `pack.yaml`.
    Pack,
    /// `config.schema.yaml`.
    Config,
    /// An action with a Python or other runner.
    Action,
    /// An action run by Orquesta.
    Workflow,
    /// A sensor (its metadata file).
    Sensor,
    /// A rule.
    Rule,
    /// An action alias.
    Alias,
    /// Any other file of the pack.
    File,
    /// A Python package the pack needs (`requirements.txt`, or `requests`
    /// its code imports), fetched into the pack or not.
    Requirement,
}

/// What became of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It works in the Squall pack.
    Converted,
    /// It is kept in the output (under `not_converted/` when Squall would
    /// refuse it where it was) but does not work; `reason` says why.
    NotConverted,
    /// A file carried over unchanged that Squall does not use itself.
    Copied,
}

/// One part of the pack and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// What it is.
    pub kind: Kind,
    /// Its name (an action's, a rule's) or its path for files.
    pub name: String,
    /// The file it came from, relative to the StackStorm pack.
    pub source: String,
    /// What became of it.
    pub status: Status,
    /// Why it was not converted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What changed on the way, or was left out, for items converted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Item {
    /// An item that converted.
    pub fn converted(kind: Kind, name: &str, source: &str) -> Self {
        Self {
            kind,
            name: name.to_owned(),
            source: source.to_owned(),
            status: Status::Converted,
            reason: None,
            notes: Vec::new(),
        }
    }

    /// An item that did not, and why.
    pub fn not_converted(kind: Kind, name: &str, source: &str, reason: impl Into<String>) -> Self {
        Self {
            status: Status::NotConverted,
            reason: Some(reason.into()),
            ..Self::converted(kind, name, source)
        }
    }

    /// A file carried over unchanged, and what it is.
    pub fn copied(source: &str, note: impl Into<String>) -> Self {
        Self {
            status: Status::Copied,
            notes: vec![note.into()],
            ..Self::converted(Kind::File, source, source)
        }
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The Squall pack's name.
    pub pack: String,
    /// Its version.
    pub version: String,
    /// Every item, by kind and then source file.
    pub items: Vec<Item>,
    /// How many items ended in each status.
    pub summary: Summary,
}

/// Counts of items by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items converted.
    pub converted: usize,
    /// Items not converted.
    pub not_converted: usize,
    /// Files copied unchanged.
    pub copied: usize,
}

impl Report {
    /// The report of `items`, sorted so that it reads the same every time.
    pub fn new(pack: &str, version: &str, mut items: Vec<Item>) -> Self {
        items.sort_by(|a, b| (a.kind, &a.source, &a.name).cmp(&(b.kind, &b.source, &b.name)));
        let mut summary = Summary::default();
        for item in &items {
            match item.status {
                Status::Converted => summary.converted += 1,
                Status::NotConverted => summary.not_converted += 1,
                Status::Copied => summary.copied += 1,
            }
        }
        Self { pack: pack.to_owned(), version: version.to_owned(), items, summary }
    }

    /// The report for people: one line per item, its reason or notes
    /// indented below it.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for item in &self.items {
            let status = match item.status {
                Status::Converted => "converted",
                Status::NotConverted => "NOT converted",
                Status::Copied => "copied",
            };
            let kind = serde_json::to_value(item.kind).unwrap_or_default();
            let kind = kind.as_str().unwrap_or("item");
            let _ = write!(text, "{status:<13} {kind:<8} {}", item.name);
            if item.source != item.name {
                let _ = write!(text, " ({})", item.source);
            }
            text.push('\n');
            for line in item.reason.iter().chain(&item.notes) {
                let _ = writeln!(text, "              {line}");
            }
        }
        let Summary { converted, not_converted, copied } = self.summary;
        let _ = writeln!(
            text,
            "{} {}: {converted} converted, {not_converted} not converted, {copied} files copied",
            self.pack, self.version
        );
        text
    }
}
