//! The action catalog: every action the engine can run, with what runs it
//! (a component, a workflow, or a built-in: `core.ask`,
//! `chatops.post_message`), its
//! parameter schema (defaults applied, then validated) and its policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::pack::{Manifest, Policy};
use crate::runtime::{Limits, LoadedComponent};
use crate::workflow::{self, Workflow};

/// The built-in action that asks a person (StackStorm's `core.ask`).
pub const ASK_ACTION: &str = "core.ask";
/// The built-in action that posts a message to chat (StackStorm's
/// `chatops.post_message`, an `announcement` runner action).
pub const POST_MESSAGE_ACTION: &str = "chatops.post_message";
/// The built-in action that lists pending inquiries, for chat.
pub const LIST_INQUIRIES_ACTION: &str = "chatops.list_inquiries";
/// The built-in action that answers an inquiry, for chat.
pub const RESPOND_INQUIRY_ACTION: &str = "chatops.respond_inquiry";
/// The built-in action that looks up an execution, for chat.
pub const GET_EXECUTION_ACTION: &str = "chatops.get_execution";

/// What runs an action.
#[derive(Debug, Clone)]
pub enum Runner {
    /// The pack component's `action` export, in a fresh sandbox.
    Wasm(Arc<LoadedComponent>),
    /// A workflow the engine conducts.
    Workflow(Arc<WorkflowDefinition>),
    /// `core.ask`: an inquiry that waits for a response.
    Inquiry,
    /// `chatops.post_message`: its parameters announced on the event
    /// stream, for chat bots.
    Announcement,
    /// `chatops.list_inquiries`, `chatops.respond_inquiry` and
    /// `chatops.get_execution`: what chat asks of the engine.
    ChatTool,
}

impl Runner {
    /// Whether it is one of the host's own actions, which belong to no
    /// installed pack.
    pub fn is_builtin(&self) -> bool {
        matches!(self, Self::Inquiry | Self::Announcement | Self::ChatTool)
    }
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
    pub fn prepare_parameters(&self, given: Map<String, Value>) -> Result<Value, String> {
        prepare_parameters(&self.reference, &self.parameters_schema, &self.parameters, given)
    }
}

/// Compiles an action's parameter schema as the catalog does.
pub fn compile_parameters(
    reference: &str,
    schema: &Value,
) -> Result<jsonschema::Validator, CatalogError> {
    jsonschema::validator_for(schema)
        .map_err(|e| CatalogError::Schema { action: reference.to_owned(), message: e.to_string() })
}

/// Adds the schema's top-level `default`s for the parameters not given.
pub fn fill_defaults(schema: &Value, given: &mut Map<String, Value>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
    for (name, property) in properties {
        if let Some(default) = property.get("default")
            && !given.contains_key(name)
        {
            given.insert(name.clone(), default.clone());
        }
    }
}

/// What an action is given, from the parameters asked for: the schema's
/// top-level defaults applied, then the whole validated against it. The one
/// implementation behind every execution request, `squall run --component`
/// and `squall pack params` (the Python and JavaScript test helpers); the
/// error names the first failing parameter and what it expected.
pub fn prepare_parameters(
    reference: &str,
    schema: &Value,
    validator: &jsonschema::Validator,
    mut given: Map<String, Value>,
) -> Result<Value, String> {
    fill_defaults(schema, &mut given);
    let parameters = Value::Object(given);
    let refusal = validator.iter_errors(&parameters).next().map(|error| {
        let path = error.instance_path().to_string();
        let at = match path.strip_prefix('/') {
            Some(name) if !name.is_empty() => format!("parameter `{name}`"),
            _ => "parameters".to_owned(),
        };
        format!("action {reference}: {at}: {error}")
    });
    match refusal {
        None => Ok(parameters),
        Some(message) => Err(message),
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
        let ask = builtin(ASK_ACTION, Runner::Inquiry, schema);
        let post = builtin(POST_MESSAGE_ACTION, Runner::Announcement, post_message_schema());
        let list = builtin(
            LIST_INQUIRIES_ACTION,
            Runner::ChatTool,
            serde_json::json!({"type": "object", "additionalProperties": false}),
        );
        let get_execution = builtin(
            GET_EXECUTION_ACTION,
            Runner::ChatTool,
            serde_json::json!({
                "type": "object",
                "properties": {"id": {"type": "string", "description": "The execution's id"}},
                "required": ["id"],
                "additionalProperties": false
            }),
        );
        let respond = builtin(
            RESPOND_INQUIRY_ACTION,
            Runner::ChatTool,
            serde_json::json!({
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "The inquiry's id"},
                    "response": {"type": "object",
                        "description": "The answer; it must fit the inquiry's schema"}
                },
                "required": ["id", "response"],
                "additionalProperties": false
            }),
        );
        Self {
            by_ref: HashMap::from([
                (ASK_ACTION.to_owned(), Arc::new(ask)),
                (POST_MESSAGE_ACTION.to_owned(), Arc::new(post)),
                (LIST_INQUIRIES_ACTION.to_owned(), Arc::new(list)),
                (RESPOND_INQUIRY_ACTION.to_owned(), Arc::new(respond)),
                (GET_EXECUTION_ACTION.to_owned(), Arc::new(get_execution)),
            ]),
        }
    }
}

/// A built-in action, `pack.name`, with its parameters' schema.
fn builtin(reference: &str, runner: Runner, schema: Value) -> ActionSpec {
    let parameters = jsonschema::validator_for(&schema).expect("a built-in schema compiles");
    let (pack, name) =
        crate::limits::split_ref(reference).expect("a built-in reference has a pack");
    ActionSpec {
        reference: reference.to_owned(),
        name: name.to_owned(),
        pack: pack.to_owned(),
        runner,
        parameters_schema: schema,
        parameters,
        policy: Policy::default(),
    }
}

/// `chatops.post_message`'s parameters, StackStorm's (less its
/// `experimental` flag, which only gated the runner).
fn post_message_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "message": {"type": "string", "description": "Message to send"},
            "channel": {"type": "string", "description": "Channel to post to"},
            "route": {"type": "string", "default": "chatops",
                "description": "The stream route the chat bot listens on"},
            "user": {"type": "string", "description": "Explicitly notify a user"},
            "whisper": {"type": "boolean", "default": false,
                "description": "Send a private message to the user"},
            "context": {"type": "object",
                "description": "Context for the channel (its type, user and so on)"},
            "extra": {"type": "object", "description": "Extra adapter-specific parameters"}
        },
        "required": ["message", "channel"],
        "additionalProperties": false
    })
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
            let parameters = compile_parameters(&reference, &declared.parameters)?;
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
        self.by_ref.retain(|_, spec| spec.pack != pack || spec.runner.is_builtin());
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
