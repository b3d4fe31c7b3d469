//! The action catalog: every action the engine can run, with its component,
//! its parameter schema (defaults applied, then validated) and its policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::pack::{Manifest, Policy};
use crate::runtime::{Limits, LoadedComponent};

/// One runnable action.
#[derive(Debug)]
pub struct ActionSpec {
    /// `pack.action`.
    pub reference: String,
    /// The action's name within its pack.
    pub name: String,
    /// The pack's component.
    pub component: Arc<LoadedComponent>,
    /// The parameters' JSON Schema, as declared.
    pub parameters_schema: Value,
    parameters: jsonschema::Validator,
    /// How the engine runs it.
    pub policy: Policy,
}

impl ActionSpec {
    /// Sandbox limits of one attempt.
    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.policy.timeout,
            memory_bytes: self.policy.memory_bytes,
            ..Limits::default()
        }
    }

    /// Applies the schema's top-level defaults to `given`, then validates
    /// it; the error names the first failing parameter and what it expected.
    pub fn prepare_parameters(&self, mut given: Map<String, Value>) -> Result<Value, String> {
        if let Some(properties) =
            self.parameters_schema.get("properties").and_then(Value::as_object)
        {
            for (name, property) in properties {
                if let Some(default) = property.get("default")
                    && !given.contains_key(name)
                {
                    given.insert(name.clone(), default.clone());
                }
            }
        }
        let parameters = Value::Object(given);
        let refusal = self.parameters.iter_errors(&parameters).next().map(|error| {
            let path = error.instance_path().to_string();
            let at = match path.strip_prefix('/') {
                Some(name) if !name.is_empty() => format!("parameter `{name}`"),
                _ => "parameters".to_owned(),
            };
            format!("action {}: {at}: {error}", self.reference)
        });
        match refusal {
            None => Ok(parameters),
            Some(message) => Err(message),
        }
    }
}

/// Why a pack's actions could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The manifest declares actions the component cannot run.
    #[error(
        "pack {pack}: the manifest declares actions but {component} exports no action interface"
    )]
    NoActionExport {
        /// Pack name.
        pack: String,
        /// Component file.
        component: String,
    },
    /// The component was loaded for another pack name.
    #[error("pack {manifest}: the component was loaded as pack `{component}`")]
    PackMismatch {
        /// Name in the manifest.
        manifest: String,
        /// Name the component was loaded under.
        component: String,
    },
    /// A schema did not compile.
    #[error("action {action}: parameters schema: {message}")]
    Schema {
        /// `pack.action`.
        action: String,
        /// The checker's message.
        message: String,
    },
}

/// Actions by reference.
#[derive(Debug, Default, Clone)]
pub struct Actions {
    by_ref: HashMap<String, Arc<ActionSpec>>,
}

impl Actions {
    /// Adds (or replaces) every action `manifest` declares, run by `component`.
    pub fn add_pack(
        &mut self,
        manifest: &Manifest,
        component: Arc<LoadedComponent>,
    ) -> Result<(), CatalogError> {
        if component.pack() != manifest.name {
            return Err(CatalogError::PackMismatch {
                manifest: manifest.name.clone(),
                component: component.pack().to_owned(),
            });
        }
        if !manifest.actions.is_empty() && !component.exports_action() {
            return Err(CatalogError::NoActionExport {
                pack: manifest.name.clone(),
                component: component.path().display().to_string(),
            });
        }
        for (name, declared) in &manifest.actions {
            let reference = format!("{}.{name}", manifest.name);
            let parameters = jsonschema::validator_for(&declared.parameters).map_err(|e| {
                CatalogError::Schema { action: reference.clone(), message: e.to_string() }
            })?;
            let spec = ActionSpec {
                reference: reference.clone(),
                name: name.clone(),
                component: component.clone(),
                parameters_schema: declared.parameters.clone(),
                parameters,
                policy: declared.policy.clone(),
            };
            self.by_ref.insert(reference, Arc::new(spec));
        }
        Ok(())
    }

    /// Drops every action of `pack`.
    pub fn remove_pack(&mut self, pack: &str) {
        let prefix = format!("{pack}.");
        self.by_ref.retain(|reference, _| !reference.starts_with(&prefix));
    }

    /// The action `reference` (`pack.action`).
    pub fn get(&self, reference: &str) -> Option<&Arc<ActionSpec>> {
        self.by_ref.get(reference)
    }

    /// Every action, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ActionSpec>> {
        self.by_ref.values()
    }
}
