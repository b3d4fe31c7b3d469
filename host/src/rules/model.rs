//! The rule model: StackStorm rule YAML loaded, checked and compiled once.
//! A rule that fails to load gets an error naming the file, the field and
//! what was expected there.

use std::cell::OnceCell;
use std::fmt;
use std::sync::atomic::AtomicBool;

use minijinja::Value as Jinja;
use serde_json::{Map, Value};

use super::MatchContext;
use super::criteria::{self, Condition, Criterion, KeyPath, Scope};
use super::error::{LoadError, RenderError};
use super::operators::{OPERATOR_NAMES, Operator};
use super::python;
use super::template::{self, Purpose, Template, Templates};
use super::triggers::canonical_trigger_type;

/// StackStorm's pack for rules that name none.
pub const DEFAULT_PACK: &str = "default";

/// Standard rules match on their own; backstop rules only when no standard
/// rule matched the same trigger instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Standard,
    Backstop,
}

/// A compiled action parameter: templates at the leaves of lists and maps.
#[derive(Debug)]
pub(crate) enum Param {
    Leaf(Template),
    List(Vec<Param>),
    Map(Vec<(String, Param)>),
}

/// A loaded rule. Patterns, parameter templates and regexes are compiled
/// when it loads, never per trigger instance.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub pack: String,
    /// `pack.name`.
    pub reference: String,
    pub description: Option<String>,
    /// StackStorm's default is `false`, and so is Squall's.
    pub enabled: bool,
    pub kind: RuleKind,
    /// The trigger type as written in the file.
    pub trigger_type: String,
    pub trigger_parameters: Map<String, Value>,
    pub action_ref: String,
    pub(crate) criteria: Vec<Criterion>,
    pub(crate) parameters: Vec<(String, Param)>,
    pub(crate) templates: Templates,
    /// What loads, as in StackStorm, but cannot do what it seems to: each
    /// names its field (`criteria.payload.x: ...`). Callers that load a
    /// rule for a person (`squall rule validate`, `rule create`, pack
    /// builds) should show them.
    pub warnings: Vec<String>,
}

/// Why a rule did not match a trigger instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Mismatch {
    /// The rule has criteria and the payload is empty (StackStorm's rule).
    EmptyPayload,
    /// A criterion did not hold.
    Criterion {
        key: String,
        operator: &'static str,
        /// The rendered pattern, or why it failed to render.
        pattern: Result<Value, String>,
        /// The payload value the criterion saw (null when missing).
        value: Value,
    },
}

impl Rule {
    /// Loads a rule from YAML (or JSON) text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, LoadError> {
        crate::limits::check(text, crate::limits::Format::Yaml)
            .map_err(|e| LoadError::Syntax { file: file.to_owned(), reason: e.to_string() })?;
        let value: Value = serde_yaml_ng::from_str(text).map_err(|e| LoadError::Syntax {
            file: file.to_owned(),
            reason: e.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
        })?;
        Self::from_value(&value, file)
    }

    /// Loads a rule already parsed into JSON.
    pub fn from_value(value: &Value, file: &str) -> Result<Self, LoadError> {
        crate::limits::check_value(value)
            .map_err(|e| LoadError::Syntax { file: file.to_owned(), reason: e.to_string() })?;
        Loader {
            file,
            templates: Templates::default(),
            reference: String::new(),
            warnings: Vec::new(),
        }
        .rule(value)
    }

    /// The trigger type rules are indexed under (StackStorm aliases mapped
    /// to Squall's names).
    pub fn canonical_trigger_type(&self) -> &str {
        canonical_trigger_type(&self.trigger_type)
    }

    /// Whether the criteria hold for `payload`. `enabled` is not consulted:
    /// the index leaves disabled rules out, `squall rule test` tests them.
    pub fn matches(&self, payload: &Value, context: &MatchContext) -> bool {
        self.matches_in(payload, context, &OnceCell::new())
    }

    /// [`Self::matches`] with the payload's Jinja context cached in `jinja`,
    /// shared by the rules one trigger instance is matched against.
    pub(crate) fn matches_in(
        &self,
        payload: &Value,
        context: &MatchContext,
        jinja: &OnceCell<Jinja>,
    ) -> bool {
        if !self.criteria.is_empty() && !python::truthy(payload) {
            return false;
        }
        let scope = self.scope(payload, context, jinja);
        criteria::first_failure(&self.criteria, &scope).is_none()
    }

    /// Why the rule does not match `payload`, or `None` when it does.
    pub fn explain(&self, payload: &Value, context: &MatchContext) -> Option<Mismatch> {
        if !self.criteria.is_empty() && !python::truthy(payload) {
            return Some(Mismatch::EmptyPayload);
        }
        let jinja = OnceCell::new();
        let scope = self.scope(payload, context, &jinja);
        let failed = &self.criteria[criteria::first_failure(&self.criteria, &scope)?];
        Some(Mismatch::Criterion {
            key: failed.key.clone(),
            operator: failed.operator.name(),
            pattern: scope.pattern(failed),
            value: scope.value(failed).clone(),
        })
    }

    /// The action parameters rendered for `payload`. A string that is
    /// exactly one `{{ expression }}` keeps the expression's JSON type.
    pub fn render_parameters(
        &self,
        payload: &Value,
        context: &MatchContext,
    ) -> Result<Map<String, Value>, RenderError> {
        self.render_parameters_in(payload, context, &OnceCell::new())
    }

    /// [`Self::render_parameters`] with the payload's Jinja context cached
    /// in `jinja`, as for [`Self::matches_in`].
    pub(crate) fn render_parameters_in(
        &self,
        payload: &Value,
        context: &MatchContext,
        jinja: &OnceCell<Jinja>,
    ) -> Result<Map<String, Value>, RenderError> {
        let scope = self.scope(payload, context, jinja);
        let mut rendered = Map::new();
        for (name, param) in &self.parameters {
            let value = self.render_param(param, &scope, &Field::Name(name))?;
            rendered.insert(name.clone(), value);
        }
        Ok(rendered)
    }

    fn render_param(
        &self,
        param: &Param,
        scope: &Scope<'_>,
        field: &Field<'_>,
    ) -> Result<Value, RenderError> {
        Ok(match param {
            Param::Leaf(Template::Literal(value)) => value.clone(),
            Param::Leaf(template) => match template.direct(scope.root, scope.payload) {
                Some(value) => value.into_owned(),
                None => {
                    self.templates.render(template, scope.jinja()).map_err(|e| RenderError {
                        rule: self.reference.clone(),
                        field: field.to_string(),
                        reason: template::one_line(&e),
                    })?
                }
            },
            Param::List(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.render_param(item, scope, &Field::Index(field, i)))
                    .collect::<Result<_, _>>()?,
            ),
            Param::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, item)| {
                        Ok((key.clone(), self.render_param(item, scope, &Field::Key(field, key))?))
                    })
                    .collect::<Result<_, RenderError>>()?,
            ),
        })
    }

    fn scope<'a>(
        &'a self,
        payload: &'a Value,
        context: &'a MatchContext,
        jinja: &'a OnceCell<Jinja>,
    ) -> Scope<'a> {
        Scope::new("trigger", payload, &context.datastore, context.now, &self.templates, jinja)
    }
}

/// Where an action parameter sits, spelled out only when rendering it
/// fails: `action.parameters.name[0].key`.
enum Field<'a> {
    Name(&'a str),
    Index(&'a Field<'a>, usize),
    Key(&'a Field<'a>, &'a str),
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Name(name) => write!(f, "action.parameters.{name}"),
            Field::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Field::Key(parent, key) => write!(f, "{parent}.{key}"),
        }
    }
}

const RULE_FIELDS: &[&str] = &[
    "name",
    "pack",
    "ref",
    "uid",
    "id",
    "description",
    "enabled",
    "type",
    "trigger",
    "criteria",
    "action",
    "context",
    "tags",
    "metadata_file",
];
const ACTION_FIELDS: &[&str] = &["ref", "description", "parameters"];
const CRITERION_FIELDS: &[&str] = &["type", "pattern", "condition"];
const RULE_TYPE_FIELDS: &[&str] = &["ref", "parameters"];

struct Loader<'f> {
    file: &'f str,
    templates: Templates,
    /// `pack.name`, once read.
    reference: String,
    warnings: Vec<String>,
}

/// How a value is described in an error's "found …".
fn describe(value: Option<&Value>) -> String {
    match value {
        None => "nothing".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Bool(flag)) => format!("the boolean {flag}"),
        Some(Value::Number(n)) => format!("the number {n}"),
        Some(Value::String(s)) => format!("the string {s:?}"),
        Some(Value::Array(_)) => "a list".to_owned(),
        Some(Value::Object(_)) => "a map".to_owned(),
    }
}

impl Loader<'_> {
    fn error(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> LoadError {
        LoadError::Field {
            file: self.file.to_owned(),
            field: field.to_owned(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    fn map<'v>(
        &self,
        value: Option<&'v Value>,
        field: &str,
    ) -> Result<&'v Map<String, Value>, LoadError> {
        match value {
            Some(Value::Object(map)) => Ok(map),
            other => Err(self.error(field, "a map", describe(other))),
        }
    }

    /// A map that may be absent or null (then empty).
    fn optional_map<'v>(
        &self,
        value: Option<&'v Value>,
        field: &str,
    ) -> Result<Option<&'v Map<String, Value>>, LoadError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            other => self.map(other, field).map(Some),
        }
    }

    fn string(&self, value: Option<&Value>, field: &str) -> Result<String, LoadError> {
        match value {
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
            other => Err(self.error(field, "a non-empty string", describe(other))),
        }
    }

    fn optional_string(
        &self,
        value: Option<&Value>,
        field: &str,
    ) -> Result<Option<String>, LoadError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            other => Err(self.error(field, "a string", describe(other))),
        }
    }

    fn known_fields(
        &self,
        map: &Map<String, Value>,
        prefix: &str,
        allowed: &[&str],
    ) -> Result<(), LoadError> {
        match map.keys().find(|key| !allowed.contains(&key.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(self.error(
                &format!("{prefix}{unknown}"),
                format!("one of the fields {}", allowed.join(", ")),
                "an unknown field",
            )),
        }
    }

    fn rule(mut self, value: &Value) -> Result<Rule, LoadError> {
        let top = match value {
            Value::Object(map) => map,
            other => {
                return Err(self.error(
                    "(document)",
                    "a map with the rule's fields",
                    describe(Some(other)),
                ));
            }
        };
        self.known_fields(top, "", RULE_FIELDS)?;
        let name = self.string(top.get("name"), "name")?;
        let pack = self
            .optional_string(top.get("pack"), "pack")?
            .unwrap_or_else(|| DEFAULT_PACK.to_owned());
        self.reference = format!("{pack}.{name}");
        let description = self.optional_string(top.get("description"), "description")?;
        let enabled = match top.get("enabled") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(flag)) => *flag,
            other => return Err(self.error("enabled", "true or false", describe(other))),
        };
        let kind = match self.optional_map(top.get("type"), "type")? {
            None => RuleKind::Standard,
            Some(rule_type) => {
                self.known_fields(rule_type, "type.", RULE_TYPE_FIELDS)?;
                match rule_type.get("ref") {
                    Some(Value::String(r)) if r == "standard" => RuleKind::Standard,
                    Some(Value::String(r)) if r == "backstop" => RuleKind::Backstop,
                    other => {
                        return Err(self.error(
                            "type.ref",
                            "`standard` or `backstop`",
                            describe(other),
                        ));
                    }
                }
            }
        };

        let trigger = self.map(top.get("trigger"), "trigger")?;
        let trigger_type = self.string(trigger.get("type"), "trigger.type")?;
        let trigger_parameters = self
            .optional_map(trigger.get("parameters"), "trigger.parameters")?
            .cloned()
            .unwrap_or_default();

        let mut criteria = Vec::new();
        if let Some(map) = self.optional_map(top.get("criteria"), "criteria")? {
            for (key, spec) in map {
                criteria.push(self.criterion(key, spec, "trigger", &format!("criteria.{key}"))?);
            }
        }

        let action = self.map(top.get("action"), "action")?;
        self.known_fields(action, "action.", ACTION_FIELDS)?;
        let action_ref = self.string(action.get("ref"), "action.ref")?;
        let mut parameters = Vec::new();
        if let Some(map) = self.optional_map(action.get("parameters"), "action.parameters")? {
            for (key, value) in map {
                parameters
                    .push((key.clone(), self.param(value, &format!("action.parameters.{key}"))?));
            }
        }

        Ok(Rule {
            reference: format!("{pack}.{name}"),
            name,
            pack,
            description,
            enabled,
            kind,
            trigger_type,
            trigger_parameters,
            action_ref,
            criteria,
            parameters,
            templates: self.templates,
            warnings: self.warnings,
        })
    }

    fn criterion(
        &mut self,
        key: &str,
        spec: &Value,
        root: &str,
        field: &str,
    ) -> Result<Criterion, LoadError> {
        let path = KeyPath::parse(key)
            .map_err(|expected| self.error(field, expected, format!("the key {key:?}")))?;
        if path.root() != root {
            // StackStorm loads such a key and looks it up in a context that
            // holds only `trigger` (`item` inside `search`): it finds
            // nothing, and the criterion sees null, as for a missing key.
            // `lookup` finds nothing under another root either.
            let (keys, what) = if root == "trigger" {
                ("criteria keys", "payload")
            } else {
                ("keys inside `search`", "list item")
            };
            self.warnings.push(format!(
                "{field}: {keys} start with `{root}.`, so {key:?} never finds a value in the \
                 {what}: the criterion always sees null, as for a missing key, and does not \
                 hold (except for operators that hold on a missing value, such as `nexists`)"
            ));
        }
        let spec = self.map(Some(spec), field)?;
        self.known_fields(spec, &format!("{field}."), CRITERION_FIELDS)?;
        let type_field = format!("{field}.type");
        let operator = match spec.get("type") {
            Some(Value::String(name)) => Operator::from_name(name),
            _ => None,
        }
        .ok_or_else(|| {
            let names: Vec<&str> = OPERATOR_NAMES.iter().map(|(name, _)| *name).collect();
            let hint = spec
                .get("type")
                .and_then(Value::as_str)
                .and_then(|given| super::closest(given, names.iter().copied()))
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default();
            self.error(
                &type_field,
                format!("an operator{hint}: {}", names.join(", ")),
                describe(spec.get("type")),
            )
        })?;
        let pattern_field = format!("{field}.pattern");
        let pattern = spec.get("pattern").filter(|p| !p.is_null());
        if operator.needs_pattern() && pattern.is_none() {
            return Err(self.error(
                &pattern_field,
                format!("a pattern for `{}`", operator.name()),
                "nothing",
            ));
        }

        if operator == Operator::Search {
            let children = self.map(pattern, &pattern_field)?;
            let condition_field = format!("{field}.condition");
            let condition = match spec.get("condition") {
                Some(Value::String(name)) => {
                    Condition::NAMES.iter().find(|(known, _)| known == name).map(|(_, c)| *c)
                }
                _ => None,
            }
            .ok_or_else(|| {
                self.error(
                    &condition_field,
                    "one of any, all, any2any, all2any",
                    describe(spec.get("condition")),
                )
            })?;
            let mut compiled = Vec::new();
            for (child_key, child_spec) in children {
                compiled.push(self.criterion(
                    child_key,
                    child_spec,
                    "item",
                    &format!("{pattern_field}.{child_key}"),
                )?);
            }
            return Ok(Criterion {
                key: key.to_owned(),
                path,
                operator,
                pattern: Template::Literal(Value::Null),
                regex: None,
                search: Some((condition, compiled)),
                origin: format!("{} {field}", self.reference),
                gave_up: AtomicBool::new(false),
            });
        }

        let pattern_value = pattern.cloned().unwrap_or(Value::Null);
        let template =
            self.templates.compile(&pattern_value, Purpose::Pattern, &pattern_field).map_err(
                |e| self.error(&pattern_field, "a valid Jinja template", template::one_line(&e)),
            )?;
        let regex = match (&template, operator.is_regex()) {
            (Template::Literal(Value::String(text)), true) => {
                Some(operator.compile_regex(text).map_err(|e| {
                    let expected = if operator == Operator::MatchWildcard {
                        "a wildcard pattern"
                    } else {
                        "a regular expression (Python `re` syntax)"
                    };
                    self.error(&pattern_field, expected, e)
                })?)
            }
            (Template::Literal(other), true) => {
                return Err(self.error(&pattern_field, "a string", describe(Some(other))));
            }
            _ => None,
        };
        Ok(Criterion {
            key: key.to_owned(),
            path,
            operator,
            pattern: template,
            regex,
            search: None,
            origin: format!("{} {field}", self.reference),
            gave_up: AtomicBool::new(false),
        })
    }

    fn param(&mut self, value: &Value, field: &str) -> Result<Param, LoadError> {
        Ok(match value {
            Value::Array(items) => Param::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.param(item, &format!("{field}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Param::Map(
                map.iter()
                    .map(|(key, item)| {
                        Ok((key.clone(), self.param(item, &format!("{field}.{key}"))?))
                    })
                    .collect::<Result<_, LoadError>>()?,
            ),
            leaf => Param::Leaf(self.templates.compile(leaf, Purpose::Parameter, field).map_err(
                |e| self.error(field, "a valid Jinja template", template::one_line(&e)),
            )?),
        })
    }
}
