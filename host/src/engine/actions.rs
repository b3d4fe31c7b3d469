//! The action catalog: every action the engine can run, with what runs it
//! (a component, a workflow, or the built-in inquiry `core.ask`), its
//! parameter schema (defaults applied, then validated) and its policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::pack::{Manifest, Policy};
use crate::runtime::{Limits, LoadedComponent};
use crate::workflow::{self, Workflow};

/// The built-in action that asks a person (StackStorm's `core.ask`).
pub const ASK_ACTION: &str = "core.ask";

/// What runs an action.
#[derive(Debug, Clone)]
pub enum Runner {
    /// The pack component's `action` export, in a fresh sandbox.
    Wasm(Arc<LoadedComponent>),
    /// A workflow the engine conducts.
    Workflow(Arc<WorkflowDefinition>),
    /// `core.ask`: an inquiry that waits for a response.
    Inquiry,
}

/// A workflow action's definition, read and checked once.
#[derive(Debug)]
pub struct WorkflowDefinition {
    /// The file, as the manifest names it (`workflows/NAME.yaml`).
    pub file: String,
    /// Its text, which a run pins.
    pub text: String,
    /// Hex sha256 of the text: how a run finds its parsed model again.
    pub digest: String,
    /// The checked model.
    pub model: Workflow,
}

/// One runnable action.
#[derive(Debug)]
pub struct ActionSpec {
    /// `pack.action`.
    pub reference: String,
    /// The action's name within its pack.
    pub name: String,
    /// The pack it belongs to.
    pub pack: String,
    /// What runs it.
    pub runner: Runner,
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
    /// A workflow action's file did not load or validate.
    #[error("action {action}: {message}")]
    Workflow {
        /// `pack.action`.
        action: String,
        /// Every problem, one per line, naming file, line and field.
        message: String,
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

/// Hex sha256 of a workflow's text.
pub(super) fn digest(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Actions by reference.
#[derive(Debug, Clone)]
pub struct Actions {
    by_ref: HashMap<String, Arc<ActionSpec>>,
}

impl Default for Actions {
    /// The built-in actions only.
    fn default() -> Self {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "schema": {
                    "type": "object",
                    "description": "JSON Schema the response must satisfy",
                    "default": {
                        "type": "object",
                        "properties": {"continue": {"type": "boolean"}},
                        "required": ["continue"]
                    }
                },
                "ttl": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "description": "minutes to wait for a response",
                    "default": 1440
                },
                "route": {"type": "string", "default": ""}
            },
            "additionalProperties": false
        });
        let parameters = jsonschema::validator_for(&schema).expect("the core.ask schema compiles");
        let ask = ActionSpec {
            reference: ASK_ACTION.to_owned(),
            name: "ask".to_owned(),
            pack: "core".to_owned(),
            runner: Runner::Inquiry,
            parameters_schema: schema,
            parameters,
            policy: Policy::default(),
        };
        Self { by_ref: HashMap::from([(ASK_ACTION.to_owned(), Arc::new(ask))]) }
    }
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
        if manifest.has_component_actions() && !component.exports_action() {
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
            let runner = match &declared.workflow {
                None => Runner::Wasm(component.clone()),
                Some(file) => {
                    let text =
                        manifest.workflows.get(file).ok_or_else(|| CatalogError::Workflow {
                            action: reference.clone(),
                            message: format!("{file}: not found in the pack"),
                        })?;
                    let model = workflow::load(text, file).map_err(|e| CatalogError::Workflow {
                        action: reference.clone(),
                        message: e.to_string(),
                    })?;
                    let definition = WorkflowDefinition {
                        file: file.clone(),
                        text: text.clone(),
                        digest: digest(text),
                        model,
                    };
                    Runner::Workflow(Arc::new(definition))
                }
            };
            let spec = ActionSpec {
                reference: reference.clone(),
                name: name.clone(),
                pack: manifest.name.clone(),
                runner,
                parameters_schema: declared.parameters.clone(),
                parameters,
                policy: declared.policy.clone(),
            };
            self.by_ref.insert(reference, Arc::new(spec));
        }
        Ok(())
    }

    /// Drops every action of `pack` (never the built-in ones).
    pub fn remove_pack(&mut self, pack: &str) {
        self.by_ref.retain(|_, spec| spec.pack != pack || matches!(spec.runner, Runner::Inquiry));
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
