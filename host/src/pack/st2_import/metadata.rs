//! StackStorm's metadata files read and turned into Squall's terms:
//! `pack.yaml`, `config.schema.yaml`, and an action's YAML with its
//! parameters as one JSON Schema (StackStorm's own construction: each
//! parameter a property, `required: true` gathered into `required`, no
//! other properties allowed).

use std::path::Path;

use serde_json::{Map, Value, json};

use super::ImportError;

/// `pack.yaml`, as far as Squall has a place for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackMeta {
    /// `ref`, else `name`.
    pub name: String,
    /// A semantic version (`X.Y` is read as `X.Y.0`).
    pub version: String,
    /// `description`.
    pub description: String,
    /// `author` (with `email` when given).
    pub publisher: String,
    /// What changed or was left out.
    pub notes: Vec<String>,
}

/// One action's metadata file.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionMeta {
    /// `name`.
    pub name: String,
    /// `runner_type`.
    pub runner: String,
    /// `entry_point`, relative to `actions/`.
    pub entry_point: Option<String>,
    /// `description`.
    pub description: String,
    /// `enabled` (true when absent).
    pub enabled: bool,
    /// The parameters as StackStorm declares them, by name.
    pub parameters: Map<String, Value>,
}

/// The runner parameters of the Python runner: StackStorm lets an action
/// set their defaults among its parameters, and never passes them to
/// `run()`.
pub const PYTHON_RUNNER_PARAMETERS: &[&str] =
    &["debug", "content_version", "env", "log_level", "timeout"];

/// StackStorm's parameter attributes that are not JSON Schema and are
/// dropped (`position` orders shell arguments).
const DROPPED_ATTRIBUTES: &[&str] = &["position"];

/// The JSON Schema types StackStorm's parameters may have.
const TYPES: &[&str] = &["string", "integer", "number", "boolean", "object", "array", "null"];

/// Reads YAML text into a JSON value; `file` names it in the error.
pub fn yaml(text: &str, file: &Path) -> Result<Value, ImportError> {
    crate::limits::check(text, crate::limits::Format::Yaml)
        .map_err(|e| ImportError::new(file, "(document)", e.to_string()))?;
    serde_yaml_ng::from_str(text)
        .map_err(|e| ImportError::new(file, "(document)", format!("not YAML: {e}")))
}

fn mapping<'a>(value: &'a Value, file: &Path) -> Result<&'a Map<String, Value>, ImportError> {
    value
        .as_object()
        .ok_or_else(|| ImportError::new(file, "(document)", "expected a mapping of fields".into()))
}

fn string(
    map: &Map<String, Value>,
    field: &str,
    file: &Path,
) -> Result<Option<String>, ImportError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // YAML reads `version: 1.0` as a number: StackStorm takes it as text.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => {
            Err(ImportError::new(file, field, format!("expected text, got {}", kind(other))))
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Reads `pack.yaml`.
pub fn pack(text: &str, file: &Path) -> Result<PackMeta, ImportError> {
    let value = yaml(text, file)?;
    let map = mapping(&value, file)?;
    let name = match (string(map, "ref", file)?, string(map, "name", file)?) {
        (Some(r), _) => r,
        (None, Some(n)) => n,
        (None, None) => {
            return Err(ImportError::new(file, "ref", "expected the pack's ref (or name)".into()));
        }
    };
    let field = if map.contains_key("ref") { "ref" } else { "name" };
    crate::pack::check_pack_name(&name).map_err(|m| ImportError::new(file, field, m))?;
    let mut notes = Vec::new();
    let written = string(map, "version", file)?.ok_or_else(|| {
        ImportError::new(file, "version", "expected a version such as `1.0.0`".into())
    })?;
    let version = if semver::Version::parse(&written).is_ok() {
        written
    } else if semver::Version::parse(&format!("{written}.0")).is_ok() {
        notes.push(format!("version `{written}` read as `{written}.0`"));
        format!("{written}.0")
    } else {
        return Err(ImportError::new(
            file,
            "version",
            format!("expected a semantic version such as `1.0.0`, got `{written}`"),
        ));
    };
    let author = string(map, "author", file)?.unwrap_or_default();
    let publisher = match string(map, "email", file)? {
        Some(email) if !author.is_empty() => format!("{author} <{email}>"),
        Some(email) => email,
        None => author,
    };
    let used = ["ref", "name", "version", "description", "author", "email"];
    let mut ignored: Vec<&str> =
        map.keys().map(String::as_str).filter(|k| !used.contains(k)).collect();
    ignored.sort_unstable();
    if !ignored.is_empty() {
        notes.push(format!("not carried over (no place in pack.toml): {}", ignored.join(", ")));
    }
    Ok(PackMeta {
        name,
        version,
        description: string(map, "description", file)?.unwrap_or_default(),
        publisher,
        notes,
    })
}

/// Reads an action's metadata file.
pub fn action(text: &str, file: &Path) -> Result<ActionMeta, ImportError> {
    let value = yaml(text, file)?;
    let map = mapping(&value, file)?;
    let name = string(map, "name", file)?
        .ok_or_else(|| ImportError::new(file, "name", "expected the action's name".into()))?;
    let runner = string(map, "runner_type", file)?.ok_or_else(|| {
        ImportError::new(file, "runner_type", "expected a runner, e.g. `python-script`".into())
    })?;
    let enabled = match map.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ImportError::new(
                file,
                "enabled",
                format!("expected true or false, got {}", kind(other)),
            ));
        }
    };
    let parameters = match map.get("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            return Err(ImportError::new(
                file,
                "parameters",
                format!(
                    "expected a mapping of parameter names to their attributes, got {}",
                    kind(other)
                ),
            ));
        }
    };
    Ok(ActionMeta {
        name,
        runner,
        entry_point: string(map, "entry_point", file)?.filter(|e| !e.is_empty()),
        description: string(map, "description", file)?.unwrap_or_default(),
        enabled,
        parameters,
    })
}

/// StackStorm parameters (name → attributes) as one object JSON Schema;
/// `skip` names runner parameters to leave out. `field` is where they are
/// written (`parameters`), for errors; `extra` is `additionalProperties`.
/// Returns the schema and notes on what changed.
pub fn schema(
    parameters: &Map<String, Value>,
    skip: &[&str],
    extra: bool,
    file: &Path,
    field: &str,
) -> Result<(Value, Vec<String>), ImportError> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut notes = Vec::new();
    for (name, attributes) in parameters {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let at = format!("{field}.{name}");
        let attributes = match attributes {
            Value::Null => Map::new(),
            Value::Object(a) => a.clone(),
            other => {
                return Err(ImportError::new(
                    file,
                    &at,
                    format!("expected a mapping of attributes, got {}", kind(other)),
                ));
            }
        };
        let mut property = Map::new();
        for (key, value) in attributes {
            match key.as_str() {
                "required" => match value {
                    Value::Bool(true) => required.push(Value::from(name.clone())),
                    Value::Bool(false) | Value::Null => {}
                    other => {
                        return Err(ImportError::new(
                            file,
                            &format!("{at}.required"),
                            format!("expected true or false, got {}", kind(&other)),
                        ));
                    }
                },
                "type" => {
                    check_type(&value)
                        .map_err(|m| ImportError::new(file, &format!("{at}.type"), m))?;
                    property.insert(key, value);
                }
                "secret" => match value {
                    // Kept as StackStorm's attribute (which masks it in
                    // executions) and as JSON Schema's `writeOnly`.
                    Value::Bool(true) => {
                        property.insert("secret".into(), Value::Bool(true));
                        property.insert("writeOnly".into(), Value::Bool(true));
                    }
                    Value::Bool(false) | Value::Null => {}
                    other => {
                        return Err(ImportError::new(
                            file,
                            &format!("{at}.secret"),
                            format!("expected true or false, got {}", kind(&other)),
                        ));
                    }
                },
                "immutable" => match value {
                    Value::Bool(true) => {
                        property.insert("immutable".into(), Value::Bool(true));
                    }
                    Value::Bool(false) | Value::Null => {}
                    other => {
                        return Err(ImportError::new(
                            file,
                            &format!("{at}.immutable"),
                            format!("expected true or false, got {}", kind(&other)),
                        ));
                    }
                },
                // JSON has no place for "no default"; TOML has no null.
                "default" if value.is_null() => {}
                key if DROPPED_ATTRIBUTES.contains(&key) => {}
                _ => {
                    property.insert(key, value);
                }
            }
        }
        if property.remove("immutable").is_some() {
            // StackStorm refuses a value for an immutable parameter: only
            // its default may be given.
            match property.get("default") {
                Some(default) => {
                    property.insert("const".into(), default.clone());
                }
                None => notes.push(format!("parameter `{name}` is immutable without a default: kept as an ordinary parameter")),
            }
        }
        let mut property = Value::Object(property);
        nested(&mut property);
        properties.insert(name.clone(), property);
    }
    let mut schema =
        json!({ "type": "object", "properties": properties, "additionalProperties": extra });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    jsonschema::validator_for(&schema).map_err(|e| {
        ImportError::new(
            file,
            field,
            format!("what it declares does not make a valid JSON Schema: {e}"),
        )
    })?;
    Ok((schema, notes))
}

/// StackStorm's attributes inside an object's `properties` (and in
/// `items`), recursively: `required: true` gathered into the object's
/// `required` list (the older JSON Schema StackStorm reads), `secret`
/// kept and marked `writeOnly`, `position` dropped.
fn nested(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    let mut required = Vec::new();
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if let Value::Object(attributes) = property {
                if attributes.get("required").is_some_and(Value::is_boolean)
                    && attributes.remove("required") == Some(Value::Bool(true))
                {
                    required.push(Value::from(name.as_str()));
                }
                if attributes.get("secret") == Some(&Value::Bool(true)) {
                    attributes.insert("writeOnly".into(), Value::Bool(true));
                }
                for dropped in DROPPED_ATTRIBUTES {
                    attributes.remove(*dropped);
                }
            }
            nested(property);
        }
    }
    if !required.is_empty() {
        match map.get_mut("required") {
            Some(Value::Array(names)) => names.extend(required),
            _ => {
                map.insert("required".into(), Value::Array(required));
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        match map.get_mut(key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(nested),
            Some(inner @ Value::Object(_)) => nested(inner),
            _ => {}
        }
    }
}

fn check_type(value: &Value) -> Result<(), String> {
    let ok = |t: &Value| t.as_str().is_some_and(|t| TYPES.contains(&t));
    let fine = match value {
        Value::Array(types) => !types.is_empty() && types.iter().all(ok),
        other => ok(other),
    };
    if fine { Ok(()) } else { Err(format!("expected one of {}, got {value}", TYPES.join(", "))) }
}

/// `config.schema.yaml` (property name → attributes) as the JSON Schema of
/// `[config]`; StackStorm allows keys the schema does not name.
pub fn config(text: &str, file: &Path) -> Result<(Value, Vec<String>), ImportError> {
    let value = yaml(text, file)?;
    let properties = match value {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(ImportError::new(
                file,
                "(document)",
                format!("expected a mapping of config keys to their schemas, got {}", kind(&other)),
            ));
        }
    };
    schema(&properties, &[], true, file, "(document)")
}
