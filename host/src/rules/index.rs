//! The trigger-type index: enabled rules compiled once and grouped by
//! canonical trigger type, and matching one trigger instance against them.

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
    standard: Vec<Arc<Rule>>,
    backstop: Vec<Arc<Rule>>,
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
            RuleKind::Standard => entry.standard.push(Arc::new(rule)),
            RuleKind::Backstop => entry.backstop.push(Arc::new(rule)),
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
            .flat_map(|entry| entry.standard.iter().chain(&entry.backstop))
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
        let applies = |rule: &&Arc<Rule>| {
            parameters.is_none_or(|wanted| {
                wanted.len() == rule.trigger_parameters.len()
                    && wanted.iter().all(|(key, value)| {
                        rule.trigger_parameters.get(key).is_some_and(|v| python::equals(v, value))
                    })
            }) && rule.matches(payload, context)
        };
        let decide = |rule: &Arc<Rule>| Decision {
            rule: Arc::clone(rule),
            parameters: rule.render_parameters(payload, context),
        };
        let decisions: Vec<Decision> = entry.standard.iter().filter(applies).map(decide).collect();
        if decisions.is_empty() {
            return entry.backstop.iter().filter(applies).map(decide).collect();
        }
        decisions
    }
}
