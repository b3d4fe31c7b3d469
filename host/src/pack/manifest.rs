//! `pack.toml`: what a pack declares about itself. Parsing checks every
//! field, so a manifest that loads can be trusted by the engine: names are
//! well formed, schemas compile, policies are in range.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::build::{BuildSpec, RawBuild};
use super::capabilities::{Capabilities, RawCapabilities};
use crate::limits::check_resource_name;

/// A checked `pack.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Pack name: lowercase letters, digits and `_`, starting with a letter.
    pub name: String,
    /// Semantic version text.
    pub version: String,
    /// What the pack is for.
    pub description: String,
    /// Who publishes it.
    pub publisher: String,
    /// JSON Schema of the pack's configuration, when it takes one.
    pub config: Option<Value>,
    /// What it asks the operator to grant.
    pub capabilities: Capabilities,
    /// Actions by name ([`crate::limits::RESOURCE_NAME_RULE`]: StackStorm's
    /// `kv.get` is `[actions."kv.get"]`, its ref `pack.kv.get`).
    pub actions: BTreeMap<String, ActionManifest>,
    /// Trigger types the pack's sensors emit, by name within the pack (the
    /// same rule as actions').
    pub triggers: BTreeMap<String, TriggerManifest>,
    /// Sensors by name (the same rule as actions').
    pub sensors: BTreeMap<String, SensorManifest>,
    /// How `squall pack build` makes the component (`[build]`).
    pub build: BuildSpec,
    /// The TOML text it was read from, kept for the record of what was
    /// installed.
    pub source: String,
    /// The text of each workflow file the actions name, by the path they
    /// give (`workflows/NAME.yaml`); see [`Manifest::attach_workflows`].
    pub workflows: BTreeMap<String, String>,
}

/// A trigger type a pack declares; its full name is `pack.name`.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerManifest {
    /// What it means.
    pub description: String,
    /// JSON Schema of its payloads.
    pub payload: Value,
    /// JSON Schema of the `trigger.parameters` rules give it, if any.
    pub parameters: Option<Value>,
}

/// A sensor a pack exports.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorManifest {
    /// What it watches.
    pub description: String,
    /// How the host drives it.
    pub kind: SensorKind,
    /// Full names (`pack.trigger`) of the trigger types it emits.
    pub emits: Vec<String>,
}

/// How the host drives a sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorKind {
    /// `poll` is called every `interval` with the last cursor.
    Poll {
        /// Time between polls.
        interval: Duration,
    },
    /// `on-webhook` is called for each request to `webhooks/{route}`.
    Webhook {
        /// The route name; default `pack/sensor`.
        route: String,
    },
}

/// One action a pack exports.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionManifest {
    /// What it does.
    pub description: String,
    /// JSON Schema of its parameters (an object schema); defaults of
    /// top-level properties are applied before validation.
    pub parameters: Value,
    /// JSON Schema of its output, when declared.
    pub output: Option<Value>,
    /// How the engine runs it.
    pub policy: Policy,
    /// For a workflow action, its file (`workflows/NAME.yaml`): the engine
    /// conducts it instead of calling the component.
    pub workflow: Option<String>,
}

/// How the engine runs an action (StackStorm's action policies plus the
/// runner timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Wall-clock limit per attempt.
    pub timeout: Duration,
    /// Memory cap of the sandbox, in bytes.
    pub memory_bytes: u64,
    /// Re-run on failure or timeout.
    pub retry: Option<Retry>,
    /// Limit on executions of this action running at once.
    pub concurrency: Option<Concurrency>,
    /// What a restart does with an execution that was running when the
    /// host stopped.
    pub on_crash: CrashPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            memory_bytes: 64 << 20,
            retry: None,
            concurrency: None,
            on_crash: CrashPolicy::Retry { max: 3 },
        }
    }
}

/// StackStorm's `action.retry` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Which endings are retried.
    pub on: Vec<RetryOn>,
    /// Retries after the first attempt.
    pub count: u32,
    /// Wait before each retry.
    pub delay: Duration,
}

/// An ending [`Retry`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// The action returned an error or trapped.
    Failure,
    /// The action hit its deadline.
    Timeout,
}

/// StackStorm's `action.concurrency` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    /// Most executions of the action running at once.
    pub threshold: u32,
    /// What happens to one more.
    pub over_limit: OverLimit,
}

/// What the concurrency policy does with an execution over the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// Keep it scheduled and try again after this long.
    Delay(Duration),
    /// Cancel it.
    Cancel,
}

/// What a restart does with an execution cut short by a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Run it again (at least once delivery), at most `max` times in a row;
    /// then it is abandoned, so an action that brings the host down cannot
    /// do so forever.
    Retry {
        /// Restarts after a crash before giving up.
        max: u32,
    },
    /// Mark it abandoned: for actions that must not run twice.
    Abandon,
}

/// Why a manifest was refused: the file, the field (and its line, when it
/// is written in the file) and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {field}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// The line of the field, when it is written in the file.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `actions.echo.policy.timeout`.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
}

const MAX_RETRIES: u32 = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    publisher: String,
    config: Option<Value>,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    actions: BTreeMap<String, RawAction>,
    #[serde(default)]
    triggers: BTreeMap<String, RawTrigger>,
    #[serde(default)]
    sensors: BTreeMap<String, RawSensor>,
    #[serde(default)]
    build: RawBuild,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    #[serde(default)]
    description: String,
    payload: Value,
    parameters: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSensor {
    #[serde(default)]
    description: String,
    kind: String,
    interval: Option<String>,
    route: Option<String>,
    #[serde(default)]
    emits: Vec<String>,
}

/// Shortest poll interval accepted: a sensor polled faster than this is a
/// busy loop, not a sensor.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(default)]
    description: String,
    parameters: Option<Value>,
    output: Option<Value>,
    #[serde(default)]
    policy: RawPolicy,
    workflow: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    timeout: Option<String>,
    memory: Option<String>,
    retry: Option<RawRetry>,
    concurrency: Option<RawConcurrency>,
    on_crash: Option<String>,
    max_crash_retries: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    on: Vec<RetryOn>,
    count: u32,
    #[serde(default)]
    delay: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConcurrency {
    threshold: u32,
    action: String,
    delay: Option<String>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: path.to_owned(),
            line: None,
            field: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        let mut manifest = Self::from_toml(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        manifest.load_workflows(dir, path)?;
        Ok(manifest)
    }

    /// Parses and checks manifest text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Self, ManifestError> {
        let fail = |field: &str, message: String| ManifestError {
            file: file.to_owned(),
            line: field_line(text, field),
            field: field.to_owned(),
            message,
        };
        crate::limits::check(text, crate::limits::Format::Toml).map_err(|e| {
            let field = e.line().map_or_else(|| "(document)".to_owned(), |l| format!("line {l}"));
            fail(&field, e.reason())
        })?;
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let field = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| format!("line {}", before.matches('\n').count() + 1))
                .unwrap_or_else(|| "(document)".into());
            fail(&field, e.message().to_owned())
        })?;
        check_name(&raw.name).map_err(|m| fail("name", m))?;
        semver::Version::parse(raw.version.trim()).map_err(|e| {
            fail("version", format!("expected a semantic version such as `1.0.0`: {e}"))
        })?;
        if let Some(config) = &raw.config {
            check_schema(config, true).map_err(|m| fail("config", m))?;
        }
        let capabilities = raw.capabilities.check(&fail)?;
        let build = raw.build.check().map_err(|(field, m)| fail(field, m))?;
        let mut actions = BTreeMap::new();
        for (name, action) in raw.actions {
            let at = |field: &str| format!("actions.{name}.{field}");
            check_resource_name(&name).map_err(|m| fail(&format!("actions.{name}"), m))?;
            let parameters = action.parameters.unwrap_or_else(
                || serde_json::json!({"type": "object", "additionalProperties": true}),
            );
            check_schema(&parameters, true).map_err(|m| fail(&at("parameters"), m))?;
            if let Some(output) = &action.output {
                check_schema(output, false).map_err(|m| fail(&at("output"), m))?;
            }
            let policy = policy(action.policy, &capabilities, &|field, m| {
                fail(&at(&format!("policy.{field}")), m)
            })?;
            check_ceilings(&policy, &capabilities).map_err(|(field, m)| fail(&at(field), m))?;
            if let Some(file) = &action.workflow {
                workflow_file_name(file).map_err(|m| fail(&at("workflow"), m))?;
            }
            actions.insert(
                name,
                ActionManifest {
                    description: action.description,
                    parameters,
                    output: action.output,
                    policy,
                    workflow: action.workflow,
                },
            );
        }
        let mut triggers = BTreeMap::new();
        for (name, trigger) in raw.triggers {
            let at = |field: &str| format!("triggers.{name}.{field}");
            check_resource_name(&name).map_err(|m| fail(&format!("triggers.{name}"), m))?;
            check_schema(&trigger.payload, false).map_err(|m| fail(&at("payload"), m))?;
            if let Some(parameters) = &trigger.parameters {
                check_schema(parameters, true).map_err(|m| fail(&at("parameters"), m))?;
            }
            triggers.insert(
                name,
                TriggerManifest {
                    description: trigger.description,
                    payload: trigger.payload,
                    parameters: trigger.parameters,
                },
            );
        }
        let mut sensors = BTreeMap::new();
        for (name, sensor) in raw.sensors {
            let at = |field: &str| format!("sensors.{name}.{field}");
            check_resource_name(&name).map_err(|m| fail(&format!("sensors.{name}"), m))?;
            let kind = match (sensor.kind.as_str(), sensor.interval, sensor.route) {
                ("poll", Some(interval), None) => {
                    let interval = duration(&interval).map_err(|m| fail(&at("interval"), m))?;
                    if interval < MIN_POLL_INTERVAL {
                        return Err(fail(
                            &at("interval"),
                            format!("expected at least {MIN_POLL_INTERVAL:?}, got {interval:?}"),
                        ));
                    }
                    SensorKind::Poll { interval }
                }
                ("poll", None, _) => {
                    return Err(fail(
                        &at("interval"),
                        "a poll sensor needs an interval, e.g. `30s`".into(),
                    ));
                }
                ("poll", _, Some(_)) => {
                    return Err(fail(&at("route"), "only webhook sensors have a route".into()));
                }
                ("webhook", Some(_), _) => {
                    return Err(fail(&at("interval"), "only poll sensors have an interval".into()));
                }
                ("webhook", None, route) => {
                    let route = route.unwrap_or_else(|| format!("{}/{name}", raw.name));
                    let well_formed = !route.is_empty()
                        && route.chars().all(|c| c.is_ascii_alphanumeric() || "._~/-".contains(c));
                    if !well_formed {
                        return Err(fail(
                            &at("route"),
                            format!("expected letters, digits and `._~/-`, got `{route}`"),
                        ));
                    }
                    SensorKind::Webhook { route }
                }
                (other, _, _) => {
                    return Err(fail(
                        &at("kind"),
                        format!("expected `poll` or `webhook`, got `{other}`"),
                    ));
                }
            };
            let mut emits = Vec::with_capacity(sensor.emits.len());
            for trigger in sensor.emits {
                let local = emitted(&raw.name, &trigger, &triggers).ok_or_else(|| {
                    fail(
                        &at("emits"),
                        format!("`{trigger}` is not a trigger type declared under [triggers]"),
                    )
                })?;
                emits.push(format!("{}.{local}", raw.name));
            }
            sensors.insert(name, SensorManifest { description: sensor.description, kind, emits });
        }
        Ok(Self {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            publisher: raw.publisher,
            config: raw.config,
            capabilities,
            actions,
            triggers,
            sensors,
            build,
            source: text.to_owned(),
            workflows: BTreeMap::new(),
        })
    }

    /// Whether any action is run by the component (not a workflow).
    pub fn has_component_actions(&self) -> bool {
        self.actions.values().any(|a| a.workflow.is_none())
    }

    /// Takes the text of every workflow file the actions name from `files`
    /// (workflow files by name, as in the `workflows/` directory or a
    /// bundle); a named file that is missing is an error naming the action.
    pub fn attach_workflows(
        &mut self,
        files: &BTreeMap<String, String>,
        file: &Path,
    ) -> Result<(), ManifestError> {
        for (name, action) in &self.actions {
            let Some(path) = &action.workflow else { continue };
            let base = workflow_file_name(path).unwrap_or_default();
            let text = files.get(base).ok_or_else(|| ManifestError {
                file: file.to_owned(),
                line: None,
                field: format!("actions.{name}.workflow"),
                message: format!("`{path}` is not in the pack's workflows/ directory"),
            })?;
            self.workflows.insert(path.clone(), text.clone());
        }
        Ok(())
    }

    /// Reads the workflow files the actions name from `dir`, the pack's
    /// directory.
    pub fn load_workflows(&mut self, dir: &Path, file: &Path) -> Result<(), ManifestError> {
        let mut files = BTreeMap::new();
        for (name, action) in &self.actions {
            let Some(path) = &action.workflow else { continue };
            let text = std::fs::read_to_string(dir.join(path)).map_err(|e| ManifestError {
                file: file.to_owned(),
                line: None,
                field: format!("actions.{name}.workflow"),
                message: format!("cannot read `{path}`: {e}"),
            })?;
            files.insert(workflow_file_name(path).unwrap_or_default().to_owned(), text);
        }
        self.attach_workflows(&files, file)
    }
}

/// The declared trigger type a sensor's `emits` entry names: its full ref
/// `pack.name` (split at the first `.`), else its name within the pack
/// (which may hold dots itself, `file_watch.line`).
fn emitted<'a>(
    pack: &str,
    text: &'a str,
    triggers: &BTreeMap<String, TriggerManifest>,
) -> Option<&'a str> {
    let full = crate::limits::split_ref(text)
        .filter(|(p, name)| *p == pack && triggers.contains_key(*name))
        .map(|(_, name)| name);
    full.or_else(|| triggers.contains_key(text).then_some(text))
}

/// The file name of a workflow path, which must be `workflows/NAME.yaml`
/// (or `.yml`): workflows travel in the bundle by file name.
fn workflow_file_name(path: &str) -> Result<&str, String> {
    path.strip_prefix("workflows/")
        .filter(|name| {
            !name.contains('/')
                && !name.starts_with('.')
                && (name.ends_with(".yaml") || name.ends_with(".yml"))
        })
        .ok_or_else(|| format!("expected `workflows/NAME.yaml`, found `{path}`"))
}

/// The line of the dotted `field` in the manifest's text: of its deepest
/// part written there (`actions.echo.memory` → the `memory` key, or the
/// `[actions.echo]` header when `memory` is not written). A key may hold
/// dots itself (`[actions."kv.get"]`): at each table the longest run of
/// parts that is one of its keys is taken.
fn field_line(text: &str, field: &str) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut offset = None;
    let parts: Vec<&str> = field.split('.').collect();
    let mut at = 0;
    'walk: while at < parts.len() {
        for end in (at + 1..=parts.len()).rev() {
            let wanted = parts[at..end].join(".");
            let Some((key, value)) = table.iter().find(|(key, _)| *key.get_ref() == wanted) else {
                continue;
            };
            offset = Some(key.span().start);
            at = end;
            match value.get_ref() {
                toml::de::DeValue::Table(inner) => {
                    table = inner;
                    continue 'walk;
                }
                _ => break 'walk,
            }
        }
        break;
    }
    offset.map(|at| text[..at].matches('\n').count() + 1)
}

fn policy(
    raw: RawPolicy,
    capabilities: &Capabilities,
    fail: &dyn Fn(&str, String) -> ManifestError,
) -> Result<Policy, ManifestError> {
    // Defaults never exceed the pack's ceilings; explicit values are checked
    // against them afterwards.
    let mut policy = Policy::default();
    if let Some(ceiling) = capabilities.memory_bytes {
        policy.memory_bytes = policy.memory_bytes.min(ceiling);
    }
    if let Some(ceiling) = capabilities.timeout {
        policy.timeout = policy.timeout.min(ceiling);
    }
    if let Some(timeout) = raw.timeout {
        policy.timeout = positive_duration(&timeout).map_err(|m| fail("timeout", m))?;
    }
    if let Some(memory) = raw.memory {
        // bytesize's own message ("cannot parse float from empty string")
        // says nothing to a pack author; the expectation does.
        let bytes = memory.parse::<bytesize::ByteSize>().map_err(|_| {
            fail("memory", format!("expected a size such as `64MiB` or `512KiB`, got `{memory}`"))
        })?;
        policy.memory_bytes = bytes.as_u64();
    }
    if let Some(retry) = raw.retry {
        if retry.on.is_empty() {
            return Err(fail("retry.on", "expected a list of `failure` and/or `timeout`".into()));
        }
        if retry.count == 0 || retry.count > MAX_RETRIES {
            return Err(fail(
                "retry.count",
                format!("expected 1 to {MAX_RETRIES}, got {}", retry.count),
            ));
        }
        let delay = match retry.delay {
            Some(delay) => duration(&delay).map_err(|m| fail("retry.delay", m))?,
            None => Duration::ZERO,
        };
        policy.retry = Some(Retry { on: retry.on, count: retry.count, delay });
    }
    if let Some(concurrency) = raw.concurrency {
        if concurrency.threshold == 0 {
            return Err(fail("concurrency.threshold", "expected at least 1, got 0".into()));
        }
        let over_limit = match (concurrency.action.as_str(), concurrency.delay) {
            ("delay", delay) => {
                let delay = delay.as_deref().unwrap_or("1s");
                OverLimit::Delay(
                    positive_duration(delay).map_err(|m| fail("concurrency.delay", m))?,
                )
            }
            ("cancel", None) => OverLimit::Cancel,
            ("cancel", Some(_)) => {
                return Err(fail(
                    "concurrency.delay",
                    "only `action = \"delay\"` takes a delay".into(),
                ));
            }
            (other, _) => {
                return Err(fail(
                    "concurrency.action",
                    format!("expected `delay` or `cancel`, got `{other}`"),
                ));
            }
        };
        policy.concurrency = Some(Concurrency { threshold: concurrency.threshold, over_limit });
    }
    policy.on_crash = match raw.on_crash.as_deref() {
        None | Some("retry") => CrashPolicy::Retry { max: raw.max_crash_retries.unwrap_or(3) },
        Some("abandon") if raw.max_crash_retries.is_some() => {
            return Err(fail(
                "max_crash_retries",
                "only applies with `on_crash = \"retry\"`".into(),
            ));
        }
        Some("abandon") => CrashPolicy::Abandon,
        Some(other) => {
            return Err(fail("on_crash", format!("expected `retry` or `abandon`, got `{other}`")));
        }
    };
    Ok(policy)
}

/// A pack name: up to 64 lowercase letters, digits and `_`, starting with
/// a letter. Stricter than the names inside a pack: it has no `.` (a ref
/// splits at its first one, and StackStorm refuses a pack name with one
/// too), and it names the pack's key-value scope and its bundle.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 64;
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "expected up to 64 lowercase letters, digits and `_`, starting with a letter, got `{name}`"
        ))
    }
}

fn check_schema(schema: &Value, object: bool) -> Result<(), String> {
    jsonschema::validator_for(schema).map_err(|e| format!("not a valid JSON Schema: {e}"))?;
    if object && schema.get("type").is_some_and(|t| t != "object") {
        return Err("expected an object schema (`type = \"object\"`)".into());
    }
    Ok(())
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("expected a duration such as `30s` or `5m`, got `{text}`: {e}"))
}

/// An action may not ask for more than the pack's `[capabilities]` ceilings.
fn check_ceilings(
    policy: &Policy,
    capabilities: &Capabilities,
) -> Result<(), (&'static str, String)> {
    if let Some(ceiling) = capabilities.memory_bytes
        && policy.memory_bytes > ceiling
    {
        return Err((
            "policy.memory",
            format!(
                "{} is over the pack's `capabilities.memory` of {}",
                bytesize::ByteSize(policy.memory_bytes),
                bytesize::ByteSize(ceiling)
            ),
        ));
    }
    if let Some(ceiling) = capabilities.timeout
        && policy.timeout > ceiling
    {
        return Err((
            "policy.timeout",
            format!(
                "{} is over the pack's `capabilities.timeout` of {}",
                humantime::format_duration(policy.timeout),
                humantime::format_duration(ceiling)
            ),
        ));
    }
    Ok(())
}

pub(super) fn positive_duration(text: &str) -> Result<Duration, String> {
    match duration(text)? {
        Duration::ZERO => Err(format!("expected a duration above zero, got `{text}`")),
        duration => Ok(duration),
    }
}
