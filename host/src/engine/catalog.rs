//! What the engine decides with, as stored: pack trigger types on top of
//! the built-in ones, and the rules operators registered. A stored record
//! that no longer loads is reported and left out, never fatal: one bad rule
//! must not keep every other rule from running.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use super::trigger_types::{TriggerType, TriggerTypes};
use crate::rules::{Rule, RuleIndex};
use crate::store::{ReadError, RuleRecord, Store, WriteError, now_millis};

/// The stored catalog, loaded.
#[derive(Debug)]
pub struct Catalog {
    /// Built-in and stored trigger types.
    pub trigger_types: TriggerTypes,
    /// The stored rules, enabled or not as stored.
    pub rules: RuleIndex,
    /// One line per stored record that did not load.
    pub problems: Vec<String>,
}

impl Catalog {
    /// Loads trigger types and rules from `store`.
    pub fn load(store: &Store) -> Result<Self, ReadError> {
        let snapshot = store.read()?;
        let mut trigger_types = TriggerTypes::builtin();
        let mut problems = Vec::new();
        for stored in snapshot.trigger_types()? {
            let declared = TriggerType {
                name: stored.name,
                description: stored.description,
                payload_schema: stored.payload_schema,
                parameters_schema: stored.parameters_schema,
            };
            if let Err(error) = trigger_types.register(declared) {
                problems.push(error.to_string());
            }
        }
        let mut rules = Vec::new();
        for stored in snapshot.rules()? {
            match Rule::from_yaml(&stored.source, &format!("rule {}", stored.reference)) {
                Ok(mut rule) => {
                    rule.enabled = stored.enabled;
                    rules.push(rule);
                }
                Err(error) => problems.push(error.to_string()),
            }
        }
        for problem in &problems {
            tracing::error!(%problem, "stored catalog entry not loaded");
        }
        log_warnings(&rules);
        Ok(Self { trigger_types, rules: RuleIndex::new(rules), problems })
    }
}

/// Logs each warning of `rules` (`tracing::warn!`, naming the rule's ref)
/// once: the catalog loads again after every rule change, and only a rule
/// whose warnings changed since the last load (a new rule, a replaced one)
/// is logged again. What was logged is kept for the rules of the last load
/// only.
fn log_warnings(rules: &[Rule]) {
    static LOGGED: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());
    let mut logged = LOGGED.lock().unwrap_or_else(PoisonError::into_inner);
    let mut now = BTreeMap::new();
    for rule in rules.iter().filter(|rule| !rule.warnings.is_empty()) {
        if logged.get(&rule.reference) != Some(&rule.warnings) {
            for warning in &rule.warnings {
                tracing::warn!(rule = %rule.reference, %warning, "rule loaded with a warning");
            }
        }
        now.insert(rule.reference.clone(), rule.warnings.clone());
    }
    *logged = now;
}

/// Registers every rule file (`*.yaml`, `*.yml`) in `dir` in the store, in
/// name order, replacing rules of the same reference; all or nothing: a file
/// that does not load stores none. Returns the references stored.
pub async fn register_rule_files(store: &Store, dir: &Path) -> Result<Vec<String>, RegisterError> {
    let read_error = |path: &Path, e: std::io::Error| RegisterError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read_error(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let now = now_millis();
    let mut records = Vec::with_capacity(files.len());
    for file in files {
        let source = std::fs::read_to_string(&file).map_err(|e| read_error(&file, e))?;
        let rule = Rule::from_yaml(&source, &file.display().to_string())
            .map_err(|e| RegisterError::Rule(e.to_string()))?;
        records.push(RuleRecord {
            reference: rule.reference.clone(),
            source,
            enabled: rule.enabled,
            created_at: now,
            updated_at: now,
        });
    }
    let references = records.iter().map(|r| r.reference.clone()).collect();
    store
        .write(move |tx| records.iter().try_for_each(|record| tx.put_rule(record)))
        .await
        .map_err(RegisterError::Write)?;
    Ok(references)
}

/// Why rule files were not registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// A file or the directory could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A rule did not load; the message names the file and the field.
    #[error("{0}")]
    Rule(String),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(WriteError),
}
