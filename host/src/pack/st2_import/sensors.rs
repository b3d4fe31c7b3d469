//! StackStorm sensors: a `PollingSensor` becomes a Squall poll sensor run
//! by the compatibility layer (`setup()` and `poll()` in a fresh sandbox
//! each interval, what it dispatches the poll's events), and the trigger
//! types its metadata declares become the pack's. A `Sensor` with its own
//! `run()` loop is reported, not converted.

use serde_json::{Map, Value, json};

use super::ImportError;
use super::metadata;
use super::python::PythonSensor;
use super::report::{Item, Kind};
use super::scan::{Scan, directly_in};
use super::toml_text::{ManifestSensor, ManifestTrigger};

/// StackStorm's `PollingSensor` default interval, in seconds.
const DEFAULT_POLL_SECONDS: f64 = 5.0;

/// The sensors that converted, for the entry module and the manifest.
#[derive(Debug, Default)]
pub(super) struct Sensors {
    pub(super) python: Vec<PythonSensor>,
    pub(super) manifest: Vec<ManifestSensor>,
    pub(super) triggers: Vec<ManifestTrigger>,
}

impl Scan<'_> {
    pub(super) fn sensors(&mut self, pack: &str) -> Result<Sensors, ImportError> {
        let mut found = Sensors::default();
        for file in self.matching(|f| directly_in(f, "sensors")) {
            self.files.remove(&file);
            let path = self.path(&file);
            let value = metadata::yaml(&self.read(&file)?, &path)?;
            let map = value.as_object().cloned().unwrap_or_default();
            let text = |field: &str| map.get(field).and_then(Value::as_str).map(str::to_owned);
            let class_name = text("class_name").ok_or_else(|| {
                ImportError::new(&path, "class_name", "expected the sensor's Python class".into())
            })?;
            let entry = text("entry_point").filter(|e| e.ends_with(".py")).ok_or_else(|| {
                ImportError::new(&path, "entry_point", "expected the sensor's Python file".into())
            })?;
            let source = format!("sensors/{entry}");
            if !self.all.contains(&source) {
                return Err(ImportError::new(
                    &path,
                    "entry_point",
                    format!("`{entry}` is not a file in sensors/"),
                ));
            }
            self.files.remove(&source);
            let no = |reason: String| Item::not_converted(Kind::Sensor, &class_name, &file, reason);
            if map.get("enabled") == Some(&Value::Bool(false)) {
                self.items.push(no("enabled: false: the sensor is disabled in StackStorm".into()));
                continue;
            }
            let code = self.read(&source)?;
            if !polls(&code, &class_name) {
                self.items.push(no(format!(
                    "{source}: `{class_name}` is not a PollingSensor (no `class {class_name}(…PollingSensor…)`): a sensor with its own run() loop is not converted, as Squall polls sensors"
                )));
                continue;
            }
            // Named by its class, as StackStorm's sensor ref is
            // `pack.ClassName`.
            let name = class_name.clone();
            if let Err(message) = crate::limits::check_resource_name(&name) {
                self.items
                    .push(no(format!("class_name: Squall refuses this sensor name: {message}")));
                continue;
            }
            let seconds = match map.get("poll_interval") {
                None | Some(Value::Null) => DEFAULT_POLL_SECONDS,
                Some(v) => v.as_f64().filter(|s| *s >= 0.1).ok_or_else(|| {
                    ImportError::new(
                        &path,
                        "poll_interval",
                        format!("expected seconds, at least 0.1, got {v}"),
                    )
                })?,
            };
            let triggers = match triggers(&map, &path) {
                Ok(triggers) => triggers,
                Err(reason) => {
                    self.items.push(no(reason));
                    continue;
                }
            };
            let mut item = Item::converted(Kind::Sensor, &name, &file);
            item.notes.push(format!(
                "PollingSensor {class_name} ({source}) is polled every {seconds} s: setup() and poll() in a fresh sandbox each time; cleanup() is not called"
            ));
            let emits: Vec<String> = triggers.iter().map(|t| t.name.clone()).collect();
            for trigger in triggers {
                item.notes.push(format!("trigger type {pack}.{} declared", trigger.name));
                if !found.triggers.iter().any(|t| t.name == trigger.name) {
                    found.triggers.push(trigger);
                }
            }
            let (dir, module) = source
                .rsplit_once('/')
                .map(|(d, m)| (d.to_owned(), m.trim_end_matches(".py").to_owned()))
                .unwrap_or_default();
            // At least 100 ms (checked above) and far below u64::MAX.
            let millis = (seconds * 1000.0).round() as u64;
            found.manifest.push(ManifestSensor {
                name: name.clone(),
                description: text("description").unwrap_or_default(),
                interval: if millis.is_multiple_of(1000) {
                    format!("{}s", millis / 1000)
                } else {
                    format!("{millis}ms")
                },
                emits,
            });
            found.python.push(PythonSensor {
                name,
                dir,
                module,
                class_name,
                interval: seconds.to_string(),
            });
            self.items.push(item);
        }
        let tree: Vec<String> =
            self.all.iter().filter(|f| f.starts_with("sensors/")).cloned().collect();
        for file in tree {
            self.copy(&file, &file);
        }
        Ok(found)
    }
}

/// Whether `code` defines `class_name` with `PollingSensor` among its bases.
fn polls(code: &str, class_name: &str) -> bool {
    let start = format!("class {class_name}(");
    code.lines()
        .map(str::trim_start)
        .find(|line| line.starts_with(&start))
        .is_some_and(|line| line.contains("PollingSensor"))
}

/// The metadata's `trigger_types`, or why they cannot be declared.
fn triggers(
    map: &Map<String, Value>,
    file: &std::path::Path,
) -> Result<Vec<ManifestTrigger>, String> {
    let Some(list) = map.get("trigger_types") else { return Ok(Vec::new()) };
    let Some(list) = list.as_array() else {
        return Err(format!("{}: trigger_types: expected a list", file.display()));
    };
    let mut out = Vec::new();
    for (i, trigger) in list.iter().enumerate() {
        let name = trigger.get("name").and_then(Value::as_str).unwrap_or_default();
        crate::limits::check_resource_name(name).map_err(|m| {
            format!("trigger_types[{i}].name: Squall refuses this trigger name: {m}")
        })?;
        let parameters = trigger.get("parameters_schema").filter(|p| !p.is_null()).cloned();
        if parameters.as_ref().is_some_and(|p| p.get("type").is_some_and(|t| t != "object")) {
            return Err(format!("trigger_types[{i}].parameters_schema: expected an object schema"));
        }
        out.push(ManifestTrigger {
            name: name.to_owned(),
            description: trigger
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            payload: trigger
                .get("payload_schema")
                .filter(|p| !p.is_null())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
            parameters,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_polling_sensors_poll() {
        assert!(polls("class W(PollingSensor):\n    pass", "W"));
        assert!(!polls("class W(Sensor):\n    pass", "W"));
        assert!(!polls("class X(PollingSensor):\n    pass", "W"));
    }
}
