//! Which attributes the records of a list carry: StackStorm's
//! `include_attributes` (only these, and `id`) and `exclude_attributes`
//! (all but these); without either, every attribute but the heavy ones
//! (parameters, results, payloads), which the single-record GET returns.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::error::ApiError;

/// The attributes a list's records carry.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    chosen: Vec<&'static str>,
}

impl Fields {
    /// Reads the two parameters against `all` (every attribute of the
    /// record); `heavy` are left out when neither is given.
    pub(crate) fn parse(
        include: Option<&str>,
        exclude: Option<&str>,
        all: &'static [&'static str],
        heavy: &[&str],
    ) -> Result<Self, ApiError> {
        let chosen = match (include, exclude) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request(
                    "include_attributes, exclude_attributes: give one or the other",
                ));
            }
            (Some(include), None) => {
                let named = names("include_attributes", include, all)?;
                all.iter().copied().filter(|a| *a == "id" || named.contains(a)).collect()
            }
            (None, Some(exclude)) => {
                let named = names("exclude_attributes", exclude, all)?;
                if named.contains(&"id") {
                    return Err(ApiError::bad_request(
                        "exclude_attributes: `id` is always included",
                    ));
                }
                all.iter().copied().filter(|a| !named.contains(a)).collect()
            }
            (None, None) => all.iter().copied().filter(|a| !heavy.contains(a)).collect(),
        };
        Ok(Self { chosen })
    }

    /// Whether `attribute` is among them.
    pub(crate) fn wants(&self, attribute: &str) -> bool {
        self.chosen.contains(&attribute)
    }

    /// `view`'s chosen attributes.
    pub(crate) fn select(&self, view: &impl Serialize) -> Map<String, Value> {
        // The views are plain structs of JSON-able fields: serialising one
        // into a value does not fail.
        let Ok(Value::Object(mut map)) = serde_json::to_value(view) else { return Map::new() };
        map.retain(|name, _| self.wants(name));
        map
    }
}

/// The attribute names in `text` (separated by commas), each one of `all`.
/// A dotted name (`action.ref`, as StackStorm's clients ask) chooses the
/// attribute it starts with, whole.
fn names(
    parameter: &str,
    text: &str,
    all: &'static [&'static str],
) -> Result<Vec<&'static str>, ApiError> {
    text.split(',')
        .map(|name| {
            let name = name.trim();
            let name = name.split_once('.').map_or(name, |(head, _)| head);
            all.iter().copied().find(|a| *a == name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{parameter}: unknown attribute `{name}`; expected names among {}, separated by commas",
                    all.join(", ")
                ))
            })
        })
        .collect()
}
