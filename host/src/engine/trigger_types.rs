//! Trigger types: names, the JSON Schema of their payload (and of the
//! parameters a rule gives them), the built-in ones, and validating an
//! instance against its type before it is committed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::rules::triggers::canonical_trigger_type;

/// A kind of event rules can match.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerType {
    /// Canonical name, `pack.name`.
    pub name: String,
    /// What it means, for people.
    pub description: String,
    /// JSON Schema every payload must satisfy.
    pub payload_schema: Value,
    /// JSON Schema of `trigger.parameters` in rules (timers take their
    /// schedule there); `None` when the type takes none.
    pub parameters_schema: Option<Value>,
}

/// Why a trigger type or an instance of one was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// No trigger type of that name (or StackStorm alias) is registered.
    #[error("unknown trigger type `{0}`")]
    Unknown(String),
    /// The type's own schema is not a valid JSON Schema.
    #[error("trigger type `{trigger}`: {which} schema is not a valid JSON Schema: {message}")]
    InvalidSchema {
        /// Trigger type.
        trigger: String,
        /// `payload` or `parameters`.
        which: &'static str,
        /// The schema checker's message.
        message: String,
    },
    /// A payload or parameters object failed the schema.
    #[error("trigger type `{trigger}`: {which} at `{path}`: {message}")]
    Invalid {
        /// Trigger type.
        trigger: String,
        /// `payload` or `parameters`.
        which: &'static str,
        /// JSON pointer to the failing value (`/` for the whole document).
        path: String,
        /// What was expected there.
        message: String,
    },
}

#[derive(Debug)]
struct Registered {
    declared: TriggerType,
    payload: jsonschema::Validator,
    parameters: Option<jsonschema::Validator>,
}

/// Every known trigger type, by canonical name; StackStorm's names for the
/// built-in ones resolve to them.
#[derive(Debug, Clone, Default)]
pub struct TriggerTypes {
    types: BTreeMap<String, Arc<Registered>>,
}

impl TriggerTypes {
    /// The built-in trigger types.
    pub fn builtin() -> Self {
        let mut types = Self::default();
        for declared in builtin_types() {
            // The built-in schemas are constants checked by the tests.
            if let Err(error) = types.register(declared) {
                tracing::error!(%error, "built-in trigger type refused");
            }
        }
        types
    }

    /// Adds (or replaces) a trigger type after checking its schemas.
    pub fn register(&mut self, declared: TriggerType) -> Result<(), TriggerError> {
        let compile = |which, schema: &Value| {
            jsonschema::validator_for(schema).map_err(|e| TriggerError::InvalidSchema {
                trigger: declared.name.clone(),
                which,
                message: e.to_string(),
            })
        };
        let payload = compile("payload", &declared.payload_schema)?;
        let parameters =
            declared.parameters_schema.as_ref().map(|s| compile("parameters", s)).transpose()?;
        self.types
            .insert(declared.name.clone(), Arc::new(Registered { declared, payload, parameters }));
        Ok(())
    }

    /// Drops every trigger type `pack` declared; the built-in ones stay.
    pub fn remove_pack(&mut self, pack: &str) {
        let builtin: Vec<String> = builtin_types().into_iter().map(|t| t.name).collect();
        self.types.retain(|name, _| {
            crate::limits::ref_pack(name) != Some(pack) || builtin.contains(name)
        });
    }

    /// The trigger type named `name` (canonical or alias).
    pub fn get(&self, name: &str) -> Option<&TriggerType> {
        self.types.get(canonical_trigger_type(name)).map(|r| &r.declared)
    }

    /// Every registered type, by name.
    pub fn iter(&self) -> impl Iterator<Item = &TriggerType> {
        self.types.values().map(|r| &r.declared)
    }

    /// Checks an instance's payload; the error names the first failing path.
    pub fn validate_payload(&self, name: &str, payload: &Value) -> Result<(), TriggerError> {
        let registered = self.lookup(name)?;
        first_error(&registered.declared.name, "payload", &registered.payload, payload)
    }

    /// Checks the `trigger.parameters` a rule gives this type.
    pub fn validate_parameters(&self, name: &str, parameters: &Value) -> Result<(), TriggerError> {
        let registered = self.lookup(name)?;
        match &registered.parameters {
            Some(validator) => {
                first_error(&registered.declared.name, "parameters", validator, parameters)
            }
            None if parameters.as_object().is_none_or(|p| p.is_empty()) => Ok(()),
            None => Err(TriggerError::Invalid {
                trigger: registered.declared.name.clone(),
                which: "parameters",
                path: "/".into(),
                message: "this trigger type takes no parameters".into(),
            }),
        }
    }

    fn lookup(&self, name: &str) -> Result<&Registered, TriggerError> {
        self.types
            .get(canonical_trigger_type(name))
            .map(Arc::as_ref)
            .ok_or_else(|| TriggerError::Unknown(name.to_owned()))
    }
}

fn first_error(
    trigger: &str,
    which: &'static str,
    validator: &jsonschema::Validator,
    value: &Value,
) -> Result<(), TriggerError> {
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(error) => {
            let path = error.instance_path().to_string();
            Err(TriggerError::Invalid {
                trigger: trigger.to_owned(),
                which,
                path: if path.is_empty() { "/".to_owned() } else { path },
                message: error.to_string(),
            })
        }
    }
}

fn timer_payload() -> Value {
    json!({
        "type": "object",
        "required": ["executed_at", "schedule"],
        "properties": {
            "executed_at": {"type": "string", "description": "RFC 3339 time the timer fired"},
            "schedule": {"type": "object"}
        }
    })
}

fn timezone() -> Value {
    json!({"type": "string", "minLength": 1, "description": "IANA time zone, e.g. Europe/Berlin; UTC when absent"})
}

fn builtin_types() -> Vec<TriggerType> {
    let cron_field =
        json!({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "minLength": 1}]});
    vec![
        TriggerType {
            name: "core.webhook".into(),
            description: "An HTTP POST to /api/v1/webhooks/{url}".into(),
            payload_schema: json!({
                "type": "object",
                "required": ["headers", "body"],
                "properties": {"headers": {"type": "object"}, "body": {}}
            }),
            parameters_schema: Some(json!({
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string", "pattern": "^[A-Za-z0-9._~/-]+$"}},
                "additionalProperties": false
            })),
        },
        TriggerType {
            name: "core.interval_timer".into(),
            description: "Fires every `delta` `unit`s".into(),
            payload_schema: timer_payload(),
            parameters_schema: Some(json!({
                "type": "object",
                "required": ["unit", "delta"],
                "properties": {
                    "unit": {"enum": ["weeks", "days", "hours", "minutes", "seconds"]},
                    "delta": {"type": "integer", "minimum": 1},
                    "timezone": timezone()
                },
                "additionalProperties": false
            })),
        },
        TriggerType {
            name: "core.date_timer".into(),
            description: "Fires once at `date`".into(),
            payload_schema: timer_payload(),
            parameters_schema: Some(json!({
                "type": "object",
                "required": ["date"],
                "properties": {"date": {"type": "string", "minLength": 1}, "timezone": timezone()},
                "additionalProperties": false
            })),
        },
        TriggerType {
            name: "core.cron_timer".into(),
            description: "Fires on a cron-like schedule".into(),
            payload_schema: timer_payload(),
            parameters_schema: Some(json!({
                "type": "object",
                "properties": {
                    "timezone": timezone(),
                    "year": cron_field, "month": cron_field, "day": cron_field, "week": cron_field,
                    "day_of_week": cron_field, "hour": cron_field, "minute": cron_field, "second": cron_field
                },
                "additionalProperties": false
            })),
        },
        TriggerType {
            name: "core.execution_finished".into(),
            description: "An execution reached a finished state".into(),
            payload_schema: json!({
                "type": "object",
                "required": ["execution_id", "status", "action_ref"],
                "properties": {
                    "execution_id": {"type": "string"},
                    "status": {"enum": ["succeeded", "failed", "timeout", "canceled", "abandoned"]},
                    "action_ref": {"type": "string"},
                    "action_name": {"type": "string"},
                    "start_timestamp": {"type": "string"},
                    "parameters": {"type": "object"},
                    "result": {}
                }
            }),
            parameters_schema: None,
        },
        TriggerType {
            name: "core.kv_changed".into(),
            description: "A datastore value was created, changed or deleted".into(),
            payload_schema: json!({
                "type": "object",
                "required": ["old_object", "new_object"],
                "properties": {
                    "old_object": {"type": ["object", "null"]},
                    "new_object": {"type": ["object", "null"]}
                }
            }),
            parameters_schema: None,
        },
    ]
}
