//! Pack configuration: what the `config` import serves ([`PackConfigs`]),
//! the check of a configuration against its pack's config schema (every
//! problem with its JSON path, a secret's value never quoted), and the
//! masking of secret values (`secret: true` in the schema) for answers,
//! as StackStorm masks them.

use serde_json::{Map, Value};

use crate::store::MASKED_SECRET;

/// The installed packs' configurations, as the `config` import serves
/// them: give the same `Arc` to the runtime's [`HostServices`] and to
/// [`PackManager::with_configs`](super::PackManager::with_configs), which
/// keeps it current as packs are installed, configured and removed.
///
/// [`HostServices`]: crate::runtime::HostServices
#[derive(Debug, Default)]
pub struct PackConfigs {
    by_pack: std::sync::RwLock<std::collections::HashMap<String, String>>,
}

impl PackConfigs {
    pub(super) fn set(&self, pack: &str, config: &Value) {
        let mut by_pack = self.by_pack.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if config.is_null() {
            by_pack.remove(pack);
        } else {
            by_pack.insert(pack.to_owned(), config.to_string());
        }
    }
}

impl crate::runtime::ConfigSource for PackConfigs {
    fn config(&self, pack: &str) -> Option<String> {
        self.by_pack.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(pack).cloned()
    }
}

/// One way a configuration does not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigProblem {
    /// JSON pointer to the value concerned (`/auth/token`); for a missing
    /// or unexpected key, the key's own path. `/` is the whole object.
    pub path: String,
    /// What was expected. A secret's value is never quoted.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem of `config` (null counts as `{}`) against `schema`;
/// `Err` when the schema itself does not compile.
pub fn config_problems(schema: &Value, config: &Value) -> Result<Vec<ConfigProblem>, String> {
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let empty = Value::Object(Map::new());
    let config = if config.is_null() { &empty } else { config };
    Ok(validator
        .iter_errors(config)
        .map(|error| {
            use jsonschema::error::ValidationErrorKind as Kind;
            let mut path = error.instance_path().to_string();
            let key = match error.kind() {
                Kind::Required { property } => property.as_str().map(str::to_owned),
                Kind::AdditionalProperties { unexpected } => unexpected.first().cloned(),
                _ => None,
            };
            if let Some(key) = key {
                path = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
            }
            let message = if may_hold_secret(schema, &path) {
                error.masked().to_string()
            } else {
                error.to_string()
            };
            ConfigProblem { path: if path.is_empty() { "/".to_owned() } else { path }, message }
        })
        .collect())
}

/// Whether the value at JSON pointer `path` is, is inside or may contain
/// a property the schema marks `secret: true`: an error about it must not
/// quote it (an `anyOf` at the top would quote the whole config).
fn may_hold_secret(schema: &Value, path: &str) -> bool {
    let mut node = schema;
    for segment in path.split('/').skip(1) {
        if is_secret(node) {
            return true;
        }
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let next = node
            .get("properties")
            .and_then(|p| p.get(&segment))
            .or_else(|| segment.parse::<usize>().ok().and_then(|_| node.get("items")));
        match next {
            Some(next) => node = next,
            // Not declared: not a secret property.
            None => return false,
        }
    }
    contains_secret(node)
}

fn is_secret(node: &Value) -> bool {
    node.get("secret").and_then(Value::as_bool) == Some(true)
}

/// Whether `node` or any schema inside it marks a value secret.
fn contains_secret(node: &Value) -> bool {
    match node {
        Value::Object(map) => is_secret(node) || map.values().any(contains_secret),
        Value::Array(items) => items.iter().any(contains_secret),
        _ => false,
    }
}

/// `config` with every value its schema marks `secret: true` shown as
/// `********`: in nested objects by their `properties`, in arrays by their
/// `items`, a secret object or array masked whole (StackStorm's
/// `mask_secret_parameters`).
pub fn mask_config_secrets(schema: Option<&Value>, config: &Value) -> Value {
    match schema {
        Some(schema) => mask(schema, config),
        None => config.clone(),
    }
}

fn mask(schema: &Value, value: &Value) -> Value {
    if is_secret(schema) {
        return Value::from(MASKED_SECRET);
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties");
            Value::Object(
                map.iter()
                    .map(|(key, value)| {
                        let masked = match properties.and_then(|p| p.get(key)) {
                            Some(property) => mask(property, value),
                            None => value.clone(),
                        };
                        (key.clone(), masked)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => match schema.get("items") {
            Some(item) => Value::Array(items.iter().map(|value| mask(item, value)).collect()),
            None => value.clone(),
        },
        other => other.clone(),
    }
}

/// JSON's name for the type of `value`, for errors.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The config a poll sensor is handed: `{}` when none is set, as the
/// `config` import answers, so that a sensor names the key it misses.
pub(super) fn sensor_config(config: Value) -> Value {
    if config.is_null() { Value::Object(Map::new()) } else { config }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["token"],
            "additionalProperties": false,
            "properties": {
                "token": {"type": "string", "secret": true},
                "region": {"type": "string"},
                "auth": {"type": "object", "properties": {"password": {"type": "string", "secret": true}, "user": {"type": "string"}}},
                "hosts": {"type": "array", "items": {"type": "object", "properties": {"key": {"type": "string", "secret": true}}}},
                "keys": {"type": "array", "secret": true}
            }
        })
    }

    #[test]
    fn secrets_are_masked_at_every_depth() {
        let config = json!({
            "token": "t0p", "region": "eu",
            "auth": {"password": "pw", "user": "u"},
            "hosts": [{"key": "k1", "name": "a"}, {"key": "k2"}],
            "keys": ["a", "b"], "other": 1
        });
        assert_eq!(
            mask_config_secrets(Some(&schema()), &config),
            json!({
                "token": "********", "region": "eu",
                "auth": {"password": "********", "user": "u"},
                "hosts": [{"key": "********", "name": "a"}, {"key": "********"}],
                "keys": "********", "other": 1
            })
        );
    }

    #[test]
    fn problems_name_the_path_and_never_quote_a_secret() {
        let problems =
            config_problems(&schema(), &json!({"token": 12345, "region": 7, "extra": true}))
                .expect("schema compiles");
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(shown.iter().any(|p| p.starts_with("/region: 7 ")), "{shown:?}");
        assert!(shown.iter().any(|p| p.starts_with("/extra: ")), "{shown:?}");
        let token = shown.iter().find(|p| p.starts_with("/token: ")).expect("token");
        assert!(!token.contains("12345"), "{token}");
        let missing = config_problems(&schema(), &Value::Null).expect("compiles");
        assert_eq!(missing[0].path, "/token", "{missing:?}");
        // An error about an object that holds a secret quotes none of it.
        let nested = config_problems(
            &schema(),
            &json!({"token": "t", "auth": {"password": "pw", "user": 1}}),
        )
        .expect("compiles");
        assert_eq!(nested.len(), 1, "{nested:?}");
        assert_eq!(nested[0].path, "/auth/user");
        assert!(nested[0].message.starts_with("1 "), "{nested:?}");
        let whole = json!({"anyOf": [{"required": ["a"]}], "properties": {"k": {"secret": true}}});
        let problems = config_problems(&whole, &json!({"k": "hidden"})).expect("compiles");
        assert_eq!(problems[0].path, "/");
        assert!(!problems[0].message.contains("hidden"), "{problems:?}");
    }
}
