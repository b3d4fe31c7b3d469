//! Python's `==`, `<` and `in` over JSON values: the comparisons StackStorm's
//! operators make on trigger payloads, including where Python raises.

use std::cmp::Ordering;

use serde_json::Value;

/// Python raised (usually `TypeError`) where StackStorm evaluates the
/// criterion; StackStorm then reports the criterion as not matching, even for
/// the negated operators (`ncontains`, `ninside`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raised;

#[derive(Debug, Clone, Copy)]
enum Number {
    Int(i128),
    Float(f64),
}

/// Numbers as Python sees them: `bool` is a subclass of `int`.
fn number(value: &Value) -> Option<Number> {
    match value {
        Value::Bool(flag) => Some(Number::Int(i128::from(*flag))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Number::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Number::Int(i128::from(u)))
            } else {
                n.as_f64().map(Number::Float)
            }
        }
        _ => None,
    }
}

fn compare_numbers(a: Number, b: Number) -> Option<Ordering> {
    match (a, b) {
        (Number::Int(a), Number::Int(b)) => Some(a.cmp(&b)),
        // Precision loss above 2^53 is accepted: payloads rarely carry such
        // integers next to floats.
        #[allow(clippy::cast_precision_loss)]
        (Number::Int(a), Number::Float(b)) => (a as f64).partial_cmp(&b),
        #[allow(clippy::cast_precision_loss)]
        (Number::Float(a), Number::Int(b)) => a.partial_cmp(&(b as f64)),
        (Number::Float(a), Number::Float(b)) => a.partial_cmp(&b),
    }
}

/// Python `a == b`: `1 == 1.0 == True`, `"1" != 1`, containers element-wise.
pub(crate) fn equals(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return compare_numbers(x, y) == Some(Ordering::Equal);
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equals(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w)))
        }
        _ => false,
    }
}

/// Python `a < b`. Numbers (and booleans) compare with each other, strings
/// with strings by code point, lists lexicographically; anything else raises.
pub(crate) fn less_than(a: &Value, b: &Value) -> Result<bool, Raised> {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        // NaN compares false both ways, as in Python.
        return Ok(compare_numbers(x, y) == Some(Ordering::Less));
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x < y),
        (Value::Array(x), Value::Array(y)) => {
            // Python finds the first pair that differs by `==` and compares
            // only that pair; equal prefixes fall back to the lengths.
            match x.iter().zip(y).find(|(x, y)| !equals(x, y)) {
                Some((x, y)) => less_than(x, y),
                None => Ok(x.len() < y.len()),
            }
        }
        _ => Err(Raised),
    }
}

/// Python `needle in container`.
pub(crate) fn contains(container: &Value, needle: &Value) -> Result<bool, Raised> {
    match (container, needle) {
        (Value::String(haystack), Value::String(needle)) => Ok(haystack.contains(needle.as_str())),
        (Value::String(_), _) => Err(Raised),
        (Value::Array(items), _) => Ok(items.iter().any(|item| equals(item, needle))),
        // Membership in a dict tests its keys; lists and dicts are unhashable.
        (Value::Object(map), Value::String(key)) => Ok(map.contains_key(key)),
        (Value::Object(_), Value::Array(_) | Value::Object(_)) => Err(Raised),
        (Value::Object(_), _) => Ok(false),
        _ => Err(Raised),
    }
}

/// Python truthiness: `None`, `False`, `0`, `""`, `[]` and `{}` are false.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// Python `float(value)` for a period in seconds: numbers, booleans and
/// numeric strings.
pub(crate) fn to_float(value: &Value) -> Result<f64, Raised> {
    match (number(value), value) {
        #[allow(clippy::cast_precision_loss)]
        (Some(Number::Int(i)), _) => Ok(i as f64),
        (Some(Number::Float(f)), _) => Ok(f),
        (None, Value::String(text)) => text.trim().parse::<f64>().map_err(|_| Raised),
        _ => Err(Raised),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn booleans_are_integers_and_ints_equal_floats() {
        assert!(equals(&json!(true), &json!(1)));
        assert!(equals(&json!(1), &json!(1.0)));
        assert!(!equals(&json!("1"), &json!(1)));
        assert!(equals(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
    }

    #[test]
    fn ordering_follows_python_and_raises_across_types() {
        assert_eq!(less_than(&json!(1), &json!(1.5)), Ok(true));
        assert_eq!(less_than(&json!("10"), &json!("9")), Ok(true));
        assert_eq!(less_than(&json!([1, 2]), &json!([1, 3])), Ok(true));
        assert_eq!(less_than(&json!([1, 2]), &json!([1, 2, 0])), Ok(true));
        assert_eq!(less_than(&json!(1), &json!("2")), Err(Raised));
        assert_eq!(less_than(&json!(null), &json!(2)), Err(Raised));
        assert_eq!(less_than(&json!({}), &json!({})), Err(Raised));
    }

    #[test]
    fn membership_in_dicts_tests_keys_and_refuses_unhashable_needles() {
        assert_eq!(contains(&json!({"a": 1}), &json!("a")), Ok(true));
        assert_eq!(contains(&json!({"a": 1}), &json!(1)), Ok(false));
        assert_eq!(contains(&json!({"a": 1}), &json!(["a"])), Err(Raised));
        assert_eq!(contains(&json!("abc"), &json!(1)), Err(Raised));
        assert_eq!(contains(&json!(5), &json!(5)), Err(Raised));
    }
}
