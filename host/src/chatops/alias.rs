//! Action aliases in StackStorm's format (`aliases/*.yaml` in a pack, or a
//! JSON body through the API): the model, and loading it with errors that
//! name the file and field.

use serde::Serialize;
use serde_json::{Map, Value};

use super::format::{Format, FormatError};

/// An alias that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    /// The text is not YAML or JSON.
    #[error("{file}: not valid YAML: {reason}")]
    Syntax {
        /// The file (or `request body`).
        file: String,
        /// What the parser said.
        reason: String,
    },
    /// A field is missing, of the wrong type, or unknown.
    #[error("{file}: {field}: expected {expected}, found {found}")]
    Field {
        /// The file.
        file: String,
        /// The field, e.g. `formats[1].representation[0]`.
        field: String,
        /// What was expected.
        expected: String,
        /// What was there.
        found: String,
    },
    /// A format does not compile.
    #[error("{file}: {field}: {source}")]
    Format {
        /// The file.
        file: String,
        /// The format's field.
        field: String,
        /// Why.
        source: FormatError,
    },
}

/// One entry of `formats`: a plain string (shown as help and matched), or
/// an object with what help shows and the strings that match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AliasFormat {
    /// `"deploy {{app}}"`.
    Plain(String),
    /// `{display, representation, match_multiple}`.
    Detailed {
        /// What help shows; none hides the format from help.
        #[serde(skip_serializing_if = "Option::is_none")]
        display: Option<String>,
        /// The strings that match.
        representation: Vec<String>,
        /// One command may hold several matches, each its own execution.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        match_multiple: bool,
    },
}

impl AliasFormat {
    /// What help shows.
    pub fn display(&self) -> Option<&str> {
        match self {
            Self::Plain(text) => Some(text),
            Self::Detailed { display, .. } => display.as_deref(),
        }
    }

    /// The strings a command is matched against.
    pub fn representations(&self) -> Vec<&str> {
        match self {
            Self::Plain(text) => vec![text.as_str()],
            Self::Detailed { representation, .. } => {
                representation.iter().map(String::as_str).collect()
            }
        }
    }

    /// Whether one command may hold several matches.
    pub fn match_multiple(&self) -> bool {
        matches!(self, Self::Detailed { match_multiple: true, .. })
    }
}

/// `ack` and `result`: whether chat hears of it, and how it is written.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Message {
    /// Missing means on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A Jinja template for the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Adapter-specific extras (Slack attachments and the like).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// `ack` only: append the execution's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_url: Option<bool>,
}

/// An action alias.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionAlias {
    /// Its name, unique in its pack.
    pub name: String,
    /// The pack it belongs to.
    pub pack: String,
    /// What it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Disabled aliases neither match nor show in help.
    pub enabled: bool,
    /// The action it runs, `pack.name`.
    pub action_ref: String,
    /// What it matches.
    pub formats: Vec<AliasFormat>,
    /// The message when an execution starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<Message>,
    /// The message when it ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Message>,
    /// Adapter-specific extras.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
    /// Parameters every execution gets, which a command cannot override
    /// (values may be Jinja templates).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub immutable_parameters: Map<String, Value>,
}

impl ActionAlias {
    /// `pack.name`.
    pub fn reference(&self) -> String {
        format!("{}.{}", self.pack, self.name)
    }

    /// Loads an alias from YAML (or JSON) text; `file` names it in errors.
    /// `pack`, when given, is the pack the file belongs to: a `pack` field
    /// must agree with it and may be left out.
    pub fn from_yaml(text: &str, file: &str, pack: Option<&str>) -> Result<Self, AliasError> {
        let syntax = |reason: String| AliasError::Syntax { file: file.to_owned(), reason };
        crate::limits::check(text, crate::limits::Format::Yaml)
            .map_err(|e| syntax(e.to_string()))?;
        let value: Value = serde_yaml_ng::from_str(text)
            .map_err(|e| syntax(e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))?;
        Self::from_value(&value, file, pack)
    }

    /// Loads an alias already parsed into JSON.
    pub fn from_value(value: &Value, file: &str, pack: Option<&str>) -> Result<Self, AliasError> {
        Loader { file }.alias(value, pack)
    }

    /// Every format string that matches, compiled, with the entry it came
    /// from.
    pub fn compiled_formats(&self) -> Result<Vec<(Format, &AliasFormat)>, FormatError> {
        let mut compiled = Vec::new();
        for entry in &self.formats {
            for representation in entry.representations() {
                compiled.push((Format::new(representation)?, entry));
            }
        }
        Ok(compiled)
    }
}

/// Fields StackStorm's API sends back that mean nothing to the definition.
const IGNORED: &[&str] = &["id", "ref", "uid", "metadata_file"];

struct Loader<'a> {
    file: &'a str,
}

impl Loader<'_> {
    fn field(&self, field: &str, expected: &str, found: &Value) -> AliasError {
        AliasError::Field {
            file: self.file.to_owned(),
            field: field.to_owned(),
            expected: expected.to_owned(),
            found: describe(found),
        }
    }

    fn alias(&self, value: &Value, pack: Option<&str>) -> Result<ActionAlias, AliasError> {
        let map = value.as_object().ok_or_else(|| self.field("(top level)", "a mapping", value))?;
        const KNOWN: &[&str] = &[
            "name",
            "pack",
            "description",
            "enabled",
            "action_ref",
            "formats",
            "ack",
            "result",
            "extra",
            "immutable_parameters",
        ];
        if let Some(unknown) =
            map.keys().find(|k| !KNOWN.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()))
        {
            let expected = format!("one of {}", KNOWN.join(", "));
            return Err(self.field(unknown, &expected, &Value::String(unknown.clone())));
        }
        let name = self.identifier(map, "name")?;
        let pack = match (map.get("pack"), pack) {
            (None | Some(Value::Null), Some(pack)) => pack.to_owned(),
            (Some(_), Some(pack)) => {
                let given = self.identifier(map, "pack")?;
                if given != pack {
                    let expected = format!("the pack the file is in, `{pack}`");
                    return Err(self.field("pack", &expected, &Value::String(given)));
                }
                given
            }
            (_, None) => self.identifier(map, "pack")?,
        };
        let action_ref = self.string(map, "action_ref")?;
        if crate::limits::split_ref(&action_ref).is_none() {
            let found = Value::String(action_ref);
            return Err(self.field("action_ref", "an action reference `pack.name`", &found));
        }
        let formats = match map.get("formats") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.format(item, &format!("formats[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(self.field("formats", "a list", other)),
        };
        let alias = ActionAlias {
            name,
            pack,
            description: self.optional_string(map, "description")?,
            enabled: match map.get("enabled") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(self.field("enabled", "true or false", other)),
            },
            action_ref,
            formats,
            ack: self.message(map, "ack", true)?,
            result: self.message(map, "result", false)?,
            extra: self.object(map, "extra")?,
            immutable_parameters: self.object(map, "immutable_parameters")?.unwrap_or_default(),
        };
        // Compiled once here so that a format that cannot match is refused
        // on load, naming it, rather than at the first command.
        for (i, entry) in alias.formats.iter().enumerate() {
            for (j, representation) in entry.representations().into_iter().enumerate() {
                Format::new(representation).map_err(|source| AliasError::Format {
                    file: self.file.to_owned(),
                    field: match entry {
                        AliasFormat::Plain(_) => format!("formats[{i}]"),
                        AliasFormat::Detailed { .. } => {
                            format!("formats[{i}].representation[{j}]")
                        }
                    },
                    source,
                })?;
            }
        }
        Ok(alias)
    }

    fn format(&self, item: &Value, field: &str) -> Result<AliasFormat, AliasError> {
        match item {
            Value::String(text) => Ok(AliasFormat::Plain(text.clone())),
            Value::Object(map) => {
                if let Some(unknown) = map.keys().find(|k| {
                    !["display", "representation", "match_multiple"].contains(&k.as_str())
                }) {
                    let expected = "display, representation or match_multiple";
                    let found = Value::String(unknown.clone());
                    return Err(self.field(&format!("{field}.{unknown}"), expected, &found));
                }
                let display = self.optional_string(map, "display").map_err(|e| rename(e, field))?;
                let representation = match map.get("representation") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::String(one)) => vec![one.clone()],
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .map(|(j, r)| match r {
                            Value::String(s) => Ok(s.clone()),
                            other => Err(self.field(
                                &format!("{field}.representation[{j}]"),
                                "a string",
                                other,
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(other) => {
                        let field = format!("{field}.representation");
                        return Err(self.field(&field, "a string or a list of strings", other));
                    }
                };
                if display.is_none() && representation.is_empty() {
                    let expected = "a `display` or a `representation`";
                    return Err(self.field(field, expected, item));
                }
                let match_multiple = match map.get("match_multiple") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(other) => {
                        let field = format!("{field}.match_multiple");
                        return Err(self.field(&field, "true or false", other));
                    }
                };
                Ok(AliasFormat::Detailed { display, representation, match_multiple })
            }
            other => Err(self.field(field, "a string or a mapping", other)),
        }
    }

    fn message(
        &self,
        map: &Map<String, Value>,
        key: &str,
        ack: bool,
    ) -> Result<Option<Message>, AliasError> {
        let Some(value) = map.get(key).filter(|v| !v.is_null()) else { return Ok(None) };
        let inner = value.as_object().ok_or_else(|| self.field(key, "a mapping", value))?;
        let mut known = vec!["enabled", "format", "extra"];
        if ack {
            known.push("append_url");
        }
        if let Some(unknown) = inner.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = format!("one of {}", known.join(", "));
            let found = Value::String(unknown.clone());
            return Err(self.field(&format!("{key}.{unknown}"), &expected, &found));
        }
        let flag = |name: &str| match inner.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.field(&format!("{key}.{name}"), "true or false", other)),
        };
        Ok(Some(Message {
            enabled: flag("enabled")?,
            format: self.optional_string(inner, "format").map_err(|e| rename(e, key))?,
            extra: self.object(inner, "extra").map_err(|e| rename(e, key))?,
            append_url: flag("append_url")?,
        }))
    }

    fn string(&self, map: &Map<String, Value>, key: &str) -> Result<String, AliasError> {
        match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(other) => Err(self.field(key, "a non-empty string", other)),
            None => Err(self.field(key, "a non-empty string", &Value::Null)),
        }
    }

    /// A name or pack: printable, without blanks, dots or slashes.
    fn identifier(&self, map: &Map<String, Value>, key: &str) -> Result<String, AliasError> {
        let text = self.string(map, key)?;
        let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '.' | '/' | '\\');
        if text.chars().any(bad) || text.len() > 255 {
            let expected = "at most 255 characters, without blanks, dots or slashes";
            return Err(self.field(key, expected, &Value::String(text)));
        }
        Ok(text)
    }

    fn optional_string(
        &self,
        map: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<String>, AliasError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.field(key, "a string", other)),
        }
    }

    fn object(
        &self,
        map: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<Map<String, Value>>, AliasError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(inner)) => Ok(Some(inner.clone())),
            Some(other) => Err(self.field(key, "a mapping", other)),
        }
    }
}

/// Puts `parent.` in front of a field error's field.
fn rename(error: AliasError, parent: &str) -> AliasError {
    match error {
        AliasError::Field { file, field, expected, found } => {
            AliasError::Field { file, field: format!("{parent}.{field}"), expected, found }
        }
        other => other,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 60 => {
            format!("\"{}…\"", s.chars().take(60).collect::<String>())
        }
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}
