//! Rules: StackStorm rule YAML, criteria operators, parameter templating, the trigger-type index. Pure: no IO.
//!
//! A rule file is loaded with [`Rule::from_yaml`] (text and a file name for
//! errors; reading the file is the caller's business), rules are indexed by
//! canonical trigger type in a [`RuleIndex`], and each trigger instance is
//! matched with [`RuleIndex::matches`], which returns a [`Decision`] per
//! matching rule with its action parameters rendered.
//!
//! Semantics follow StackStorm's `st2common/operators.py` and the rule
//! filter in `st2reactor/rules/filter.py`:
//!
//! - a criteria key is a path into the payload (`trigger.a.b[0]`), anything
//!   from `#` on is ignored, and a missing key or a null value is null;
//! - a comparison Python would raise on (`5 < "6"`, `"a" in 5`,
//!   `startswith` on a number) fails the criterion, negated operators too;
//! - a rule with criteria never matches an empty payload;
//! - a pattern that is exactly one `{{ expression }}` keeps the type of the
//!   value (StackStorm's `to_complex` round trip); templates see the payload
//!   as `trigger` (`item` inside `search`), and the datastore as
//!   `st2kv.system.KEY` or Squall's own `kv.KEY`;
//! - `regex`/`iregex` search anywhere, `matchregex` is anchored at the start
//!   (Python's `re.match`), `matchwildcard` is `fnmatch` on the whole string.
//!
//! Trigger types: see [`triggers`] for Squall's built-in names and the
//! StackStorm names accepted for them.

mod budget;
mod criteria;
mod error;
mod index;
mod model;
mod operators;
mod python;
mod python_regex;
mod st2_functions;
mod suggest;
mod template;
pub mod triggers;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

pub use criteria::{Condition, KeyPath};
pub use error::{LoadError, RenderError};
pub use index::{Decision, RuleIndex};
pub use model::{DEFAULT_PACK, Mismatch, Rule, RuleKind};
pub use operators::{OPERATOR_NAMES, Operator};
pub use template::{TEMPLATE_FUEL, render_message};
pub use triggers::{TRIGGER_ALIASES, canonical_trigger_type};

pub use budget::RENDER_BYTES;
pub(crate) use budget::{Program as BoundedTemplate, charge_json};
pub(crate) use python::truthy;
pub use st2_functions::{NAMES as ST2_FUNCTIONS, NONE_MAGIC_VALUE, call as st2_function};
pub(crate) use suggest::closest;
/// StackStorm's Jinja set-up, shared with workflow expressions.
pub(crate) use template::configure as configure_jinja;

/// The key-value datastore as rules see it: `st2kv.system.KEY` and
/// `kv.KEY` in templates. Values are strings, as in StackStorm.
pub trait Datastore: Send + Sync {
    fn get(&self, key: &str) -> Option<String>;
}

impl Datastore for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

impl Datastore for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

/// What matching needs from outside: the datastore and the current time
/// (for `timediff_lt`/`timediff_gt`), passed in so the module stays pure.
#[derive(Clone)]
pub struct MatchContext {
    pub datastore: Arc<dyn Datastore>,
    pub now: jiff::Timestamp,
}

impl MatchContext {
    pub fn new(datastore: Arc<dyn Datastore>, now: jiff::Timestamp) -> Self {
        MatchContext { datastore, now }
    }

    /// No datastore keys; `now` as given.
    pub fn without_datastore(now: jiff::Timestamp) -> Self {
        MatchContext { datastore: Arc::new(BTreeMap::new()), now }
    }
}

impl fmt::Debug for MatchContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchContext").field("now", &self.now).finish_non_exhaustive()
    }
}
