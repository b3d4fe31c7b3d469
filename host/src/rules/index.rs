//! The trigger-type index: enabled rules compiled once and grouped by
//! canonical trigger type (and, within a type, by trigger parameters that
//! are all strings, such as a webhook's `url`), and matching one trigger
//! instance against them.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::MatchContext;
use super::error::RenderError;
use super::model::{Rule, RuleKind};
use super::python;
use super::triggers::canonical_trigger_type;

/// A rule that matched a trigger instance, with its action parameters
/// rendered for that instance.
#[derive(Debug, Clone)]
pub struct Decision {
    pub rule: Arc<Rule>,
    /// The rendered parameters, or the template that failed: the rule
    /// matched, so the caller records the failure rather than dropping it.
    pub parameters: Result<Map<String, Value>, RenderError>,
}

impl Decision {
    /// The action to run, `pack.action`.
    pub fn action_ref(&self) -> &str {
        &self.rule.action_ref
    }
}

#[derive(Debug, Default)]
struct ByType {
    standard: Rules,
    backstop: Rules,
}

/// The rules of one kind for one trigger type.
#[derive(Debug, Default)]
struct Rules {
    /// In load order.
    all: Vec<Arc<Rule>>,
    /// Positions in `all`, in order, of the rules whose trigger parameters
    /// are all strings (a webhook's `url`), by [`string_parameters_key`].
    /// A string equals only the same string, so a trigger whose parameters
    /// are all strings can apply only to the rules under its own key.
    by_parameters: HashMap<String, Vec<usize>>,
}

impl Rules {
    fn push(&mut self, rule: Rule) {
        if let Some(key) = string_parameters_key(&rule.trigger_parameters) {
            self.by_parameters.entry(key).or_default().push(self.all.len());
        }
        self.all.push(Arc::new(rule));
    }

    /// The rules a trigger with `parameters` (and `key`, its
    /// [`string_parameters_key`]) may apply to, in load order.
    fn candidates<'r>(
        &'r self,
        parameters: Option<&Map<String, Value>>,
        key: Option<&str>,
    ) -> Candidates<'r> {
        match (parameters, key) {
            (Some(_), Some(key)) => Candidates::Keyed {
                all: &self.all,
                positions: self.by_parameters.get(key).map_or(&[][..], Vec::as_slice).iter(),
            },
            _ => Candidates::All(self.all.iter()),
        }
    }
}

/// [`Rules::candidates`]: every rule, or those under one parameters key.
enum Candidates<'r> {
    All(std::slice::Iter<'r, Arc<Rule>>),
    Keyed { all: &'r [Arc<Rule>], positions: std::slice::Iter<'r, usize> },
}

impl<'r> Iterator for Candidates<'r> {
    type Item = &'r Arc<Rule>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Candidates::All(rules) => rules.next(),
            Candidates::Keyed { all, positions } => {
                let all: &'r [Arc<Rule>] = all;
                positions.next().map(|&i| &all[i])
            }
        }
    }
}

/// A key for trigger parameters that are all strings (sorted pairs as
/// JSON), or `None` when any is not a string.
fn string_parameters_key(parameters: &Map<String, Value>) -> Option<String> {
    let mut pairs: Vec<(&str, &str)> = parameters
        .iter()
        .map(|(key, value)| value.as_str().map(|text| (key.as_str(), text)))
        .collect::<Option<_>>()?;
    pairs.sort_unstable();
    serde_json::to_string(&pairs).ok()
}

/// Enabled rules by canonical trigger type. Build it once per rule set.
#[derive(Debug, Default)]
pub struct RuleIndex {
    by_type: HashMap<String, ByType>,
    len: usize,
}

impl RuleIndex {
    /// Indexes the enabled rules among `rules`; disabled rules never match.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Self {
        let mut index = RuleIndex::default();
        for rule in rules {
            index.insert(rule);
        }
        index
    }

    /// Adds one rule (ignored when disabled).
    pub fn insert(&mut self, rule: Rule) {
        if !rule.enabled {
            return;
        }
        let entry = self.by_type.entry(rule.canonical_trigger_type().to_owned()).or_default();
        match rule.kind {
            RuleKind::Standard => entry.standard.push(rule),
            RuleKind::Backstop => entry.backstop.push(rule),
        }
        self.len += 1;
    }

    /// How many rules are indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The rules listening to a trigger type (StackStorm names accepted).
    pub fn rules_for(&self, trigger_type: &str) -> impl Iterator<Item = &Arc<Rule>> {
        self.by_type
            .get(canonical_trigger_type(trigger_type))
            .into_iter()
            .flat_map(|entry| entry.standard.all.iter().chain(&entry.backstop.all))
    }

    /// The rules a trigger instance of `trigger_type` matches, in load
    /// order. Backstop rules are tried only when no standard rule matched.
    /// Trigger parameters are not compared: see [`Self::matches_trigger`].
    pub fn matches(
        &self,
        trigger_type: &str,
        payload: &Value,
        context: &MatchContext,
    ) -> Vec<Decision> {
        self.select(trigger_type, None, payload, context)
    }

    /// Like [`Self::matches`], for a parameterised trigger (a webhook's
    /// `url`, a timer's schedule): only rules whose `trigger.parameters`
    /// equal `parameters` are considered.
    pub fn matches_trigger(
        &self,
        trigger_type: &str,
        parameters: &Map<String, Value>,
        payload: &Value,
        context: &MatchContext,
    ) -> Vec<Decision> {
        self.select(trigger_type, Some(parameters), payload, context)
    }

    fn select(
        &self,
        trigger_type: &str,
        parameters: Option<&Map<String, Value>>,
        payload: &Value,
        context: &MatchContext,
    ) -> Vec<Decision> {
        let Some(entry) = self.by_type.get(canonical_trigger_type(trigger_type)) else {
            return Vec::new();
        };
        // The payload's Jinja context, built at most once for all the rules.
        let jinja = OnceCell::new();
        let applies = |rule: &&Arc<Rule>| {
            parameters.is_none_or(|wanted| {
                wanted.len() == rule.trigger_parameters.len()
                    && wanted.iter().all(|(key, value)| {
                        rule.trigger_parameters.get(key).is_some_and(|v| python::equals(v, value))
                    })
            }) && rule.matches_in(payload, context, &jinja)
        };
        let decide = |rule: &Arc<Rule>| Decision {
            rule: Arc::clone(rule),
            parameters: rule.render_parameters_in(payload, context, &jinja),
        };
        let key = parameters.and_then(string_parameters_key);
        let key = key.as_deref();
        let decisions: Vec<Decision> =
            entry.standard.candidates(parameters, key).filter(applies).map(decide).collect();
        if decisions.is_empty() {
            return entry
                .backstop
                .candidates(parameters, key)
                .filter(applies)
                .map(decide)
                .collect();
        }
        decisions
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(name: &str, parameters: Value) -> Rule {
        let text = json!({
            "name": name,
            "enabled": true,
            "trigger": {"type": "core.webhook", "parameters": parameters},
            "action": {"ref": "core.noop"},
        });
        Rule::from_value(&text, "test.yaml").expect("rule")
    }

    fn matched(index: &RuleIndex, parameters: Value) -> Vec<String> {
        let Value::Object(parameters) = parameters else { panic!("parameters are a map") };
        let context = MatchContext::without_datastore(jiff::Timestamp::UNIX_EPOCH);
        index
            .matches_trigger("core.st2.webhook", &parameters, &json!({"a": 1}), &context)
            .iter()
            .map(|decision| decision.rule.name.clone())
            .collect()
    }

    #[test]
    fn trigger_parameters_pick_rules_in_load_order_with_python_equality() {
        let index = RuleIndex::new([
            rule("a1", json!({"url": "a"})),
            rule("b", json!({"url": "b"})),
            rule("n1", json!({"url": "a", "n": 1})),
            rule("a2", json!({"url": "a"})),
            rule("n2", json!({"n": 1.0, "url": "a"})),
            rule("none", json!({})),
        ]);
        assert_eq!(matched(&index, json!({"url": "a"})), ["a1", "a2"]);
        assert_eq!(matched(&index, json!({"url": "b"})), ["b"]);
        assert_eq!(matched(&index, json!({"url": "c"})), Vec::<String>::new());
        assert_eq!(matched(&index, json!({})), ["none"]);
        // Parameters that are not all strings are compared rule by rule,
        // with Python's `1 == 1.0 == True`.
        assert_eq!(matched(&index, json!({"url": "a", "n": true})), ["n1", "n2"]);
        assert_eq!(string_parameters_key(&Map::new()), Some("[]".to_owned()));
    }
}
