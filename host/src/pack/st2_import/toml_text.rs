//! Writes the imported pack's `pack.toml`. JSON Schemas are written as
//! TOML inline tables, one line per schema as the shipped packs write
//! them; the text is checked by loading it as any manifest is loaded.

use std::fmt::Write as _;

use serde_json::Value;

/// One action of the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestAction {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its parameters' JSON Schema.
    pub parameters: Value,
    /// `workflows/NAME.yaml` for an Orquesta workflow.
    pub workflow: Option<String>,
    /// Its timeout, e.g. `600s`.
    pub timeout: Option<String>,
}

/// A trigger type the pack declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestTrigger {
    /// Its name within the pack.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Its payload's JSON Schema.
    pub payload: Value,
    /// Its parameters' JSON Schema.
    pub parameters: Option<Value>,
}

/// A poll sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestSensor {
    /// Its name.
    pub name: String,
    /// What it watches.
    pub description: String,
    /// Its poll interval, e.g. `30s`.
    pub interval: String,
    /// The trigger types it emits, by name within the pack.
    pub emits: Vec<String>,
}

/// What goes into `pack.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestText {
    /// Comment lines at the top.
    pub header: Vec<String>,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `description`.
    pub description: String,
    /// `publisher`.
    pub publisher: String,
    /// `[build]`'s Python entry, when the pack has Python actions.
    pub python_entry: Option<String>,
    /// Outbound hosts to ask for (`scheme://host[:port]`), with the config
    /// property whose default names each.
    pub outbound_hosts: Vec<(String, String)>,
    /// Whether to ask for the `kv` capability.
    pub kv: bool,
    /// Secrets to ask for by name.
    pub secrets: Vec<String>,
    /// The programs shell commands and scripts run with.
    pub exec: Vec<String>,
    /// `config`'s JSON Schema.
    pub config: Option<Value>,
    /// The actions.
    pub actions: Vec<ManifestAction>,
    /// The trigger types.
    pub triggers: Vec<ManifestTrigger>,
    /// The poll sensors.
    pub sensors: Vec<ManifestSensor>,
}

impl ManifestText {
    /// The TOML text. A `null` in a schema (which TOML cannot hold) is
    /// left out of it; [`nulls`] finds them first so the report says so.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            let _ = writeln!(out, "# {line}");
        }
        let _ = writeln!(out, "name = {}", string(&self.name));
        let _ = writeln!(out, "version = {}", string(&self.version));
        let _ = writeln!(out, "description = {}", string(&self.description));
        let _ = writeln!(out, "publisher = {}", string(&self.publisher));
        if let Some(config) = &self.config {
            let _ = writeln!(out, "config = {}", inline(config));
        }
        if let Some(entry) = &self.python_entry {
            let _ = write!(out, "\n[build]\nlanguage = \"python\"\nentry = {}\n", string(entry));
        }
        if self.python_entry.is_some()
            || self.kv
            || !self.outbound_hosts.is_empty()
            || !self.secrets.is_empty()
            || !self.exec.is_empty()
        {
            out.push_str("\n[capabilities]\n");
            if !self.outbound_hosts.is_empty() {
                let named: Vec<&str> =
                    self.outbound_hosts.iter().map(|(_, p)| p.as_str()).collect();
                let hosts: Vec<String> =
                    self.outbound_hosts.iter().map(|(h, _)| string(h)).collect();
                let _ = writeln!(
                    out,
                    "# the config's defaults ({})\noutbound_hosts = [{}]",
                    named.join(", "),
                    hosts.join(", ")
                );
            }
            if self.kv {
                out.push_str("# the Python code's datastore calls\nkv = true\n");
            }
            if !self.secrets.is_empty() {
                let names: Vec<String> = self.secrets.iter().map(|s| string(s)).collect();
                let _ = writeln!(
                    out,
                    "# read with get_value(NAME, decrypt=True)\nsecrets = [{}]",
                    names.join(", ")
                );
            }
            if !self.exec.is_empty() {
                let programs: Vec<String> = self.exec.iter().map(|p| string(p)).collect();
                let _ = writeln!(
                    out,
                    "# what the shell commands and scripts run with\nexec = [{}]",
                    programs.join(", ")
                );
            }
            if self.python_entry.is_some() {
                out.push_str("# room for the Python interpreter\nmemory = \"128MiB\"\n");
            }
        }
        for trigger in &self.triggers {
            let _ = write!(out, "\n[triggers.{}]\n", key(&trigger.name));
            let _ = writeln!(out, "description = {}", string(&trigger.description));
            let _ = writeln!(out, "payload = {}", inline(&trigger.payload));
            if let Some(parameters) = &trigger.parameters {
                let _ = writeln!(out, "parameters = {}", inline(parameters));
            }
        }
        for sensor in &self.sensors {
            let _ = write!(out, "\n[sensors.{}]\n", key(&sensor.name));
            let _ = writeln!(out, "description = {}", string(&sensor.description));
            let _ = writeln!(out, "kind = \"poll\"\ninterval = {}", string(&sensor.interval));
            let emits: Vec<String> = sensor.emits.iter().map(|e| string(e)).collect();
            let _ = writeln!(out, "emits = [{}]", emits.join(", "));
        }
        for action in &self.actions {
            let _ = write!(out, "\n[actions.{}]\n", key(&action.name));
            let _ = writeln!(out, "description = {}", string(&action.description));
            if let Some(workflow) = &action.workflow {
                let _ = writeln!(out, "workflow = {}", string(workflow));
            }
            let _ = writeln!(out, "parameters = {}", inline(&action.parameters));
            if let Some(timeout) = &action.timeout {
                let _ = writeln!(out, "policy = {{ timeout = {} }}", string(timeout));
            }
        }
        out
    }
}

/// JSON paths (`properties.x.default`) of the `null`s in `value`.
pub fn nulls(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Null => found.push(at.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls(item, &format!("{at}[{i}]"), found);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                nulls(v, &path, found);
            }
        }
        _ => {}
    }
}

/// A TOML inline value for a JSON value (`null`s left out).
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "\"\"".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().filter(|v| !v.is_null()).map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{} = {}", key(k), inline(v)))
                .collect();
            if fields.is_empty() { "{}".to_owned() } else { format!("{{ {} }}", fields.join(", ")) }
        }
    }
}

/// A bare key when TOML allows one, else a quoted one.
fn key(name: &str) -> String {
    let bare =
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { name.to_owned() } else { string(name) }
}

/// A TOML basic string.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inline_tables_round_trip_through_the_toml_parser() {
        let value =
            json!({"type": "object", "a b": "x\"y\n", "n": [1, 2.5, true], "e": {}, "gone": null});
        let text = format!("v = {}\n", inline(&value));
        let parsed: toml::Table = toml::from_str(&text).expect("valid TOML");
        let back = serde_json::to_value(&parsed["v"]).expect("json");
        assert_eq!(back, json!({"type": "object", "a b": "x\"y\n", "n": [1, 2.5, true], "e": {}}));
    }
}
