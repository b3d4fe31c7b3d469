//! Python's semantics over JSON values, as yaql has them: truthiness,
//! equality (`1 = 1.0`, `true = 1`), ordering, numbers (int or float) and
//! the two ways a value prints: yaql's `str()` and Orquesta's rendering of
//! a value inside text.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// A number as Python has it: an int or a float. Booleans are not numbers
/// for yaql's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub fn of(value: &Value) -> Option<Num> {
        let Value::Number(n) = value else { return None };
        match n.as_i64() {
            Some(i) => Some(Num::Int(i)),
            None => n.as_f64().map(Num::Float),
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// The JSON number, or `None` for NaN and infinities.
    pub fn to_value(self) -> Option<Value> {
        match self {
            Num::Int(i) => Some(Value::Number(i.into())),
            Num::Float(f) => Number::from_f64(f).map(Value::Number),
        }
    }
}

/// A number as Python compares it: booleans count as 0 and 1.
fn numeric(value: &Value) -> Option<Num> {
    match value {
        Value::Bool(b) => Some(Num::Int(i64::from(*b))),
        _ => Num::of(value),
    }
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => a.as_f64().partial_cmp(&b.as_f64()),
    }
}

/// Python's `bool(value)`.
pub(crate) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(_) => Num::of(value).is_some_and(|n| n.as_f64() != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `==`.
pub(crate) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Null, Value::Null) => true,
        _ => match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => num_cmp(x, y) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

/// yaql's ordering for `<`, `<=`, `>`, `>=`, `orderBy`, `min`, `max`:
/// numbers with numbers, strings with strings, and `null` below anything.
/// `None` when yaql has no comparison for the pair.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) => Some(Ordering::Less),
        (_, Value::Null) => Some(Ordering::Greater),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => num_cmp(Num::of(a)?, Num::of(b)?),
    }
}

/// A value's type in messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dictionary",
    }
}

/// Python's `repr()` of a float.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let magnitude = f.abs();
    if magnitude != 0.0 && !(1e-4..1e16).contains(&magnitude) {
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let text = format!("{f}");
    if text.contains('.') { text } else { format!("{text}.0") }
}

/// Python's `repr()` of a string.
pub(crate) fn string_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn number_text(n: &Number) -> String {
    match n.as_i64() {
        Some(i) => i.to_string(),
        None => match n.as_u64() {
            Some(u) => u.to_string(),
            None => float_repr(n.as_f64().unwrap_or(f64::NAN)),
        },
    }
}

/// How a list prints: a yaql value is a tuple inside yaql, a list once
/// Orquesta has the result.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Style {
    Tuple,
    List,
}

/// Python's `repr()` of a value.
pub(crate) fn repr(value: &Value, style: Style, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => out.push_str(&string_repr(s)),
        Value::Array(items) => {
            out.push(if style == Style::Tuple { '(' } else { '[' });
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(item, style, out);
            }
            if style == Style::Tuple {
                if items.len() == 1 {
                    out.push(',');
                }
                out.push(')');
            } else {
                out.push(']');
            }
        }
        Value::Object(map) => repr_map(map, style, out),
    }
}

fn repr_map(map: &Map<String, Value>, style: Style, out: &mut String) {
    out.push('{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&string_repr(key));
        out.push_str(": ");
        repr(item, style, out);
    }
    out.push('}');
}

/// Python's `str()` of a value: strings as they are, the rest as `repr()`.
pub(crate) fn python_str(value: &Value, style: Style) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            repr(other, style, &mut out);
            out
        }
    }
}

/// yaql's `str()`: `null`, `true` and `false` in YAQL's spelling, other
/// values as Python prints them (lists as the tuples yaql holds them in).
pub fn yaql_str(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        other => python_str(other, Style::Tuple),
    }
}

/// How Orquesta prints a result inside text: Python's `str()` of the
/// plain value (`None`, `True`, `['a', 1]`, `{'k': 'v'}`).
pub fn render_str(value: &Value) -> String {
    python_str(value, Style::List)
}

/// The number of nodes in a value, the unit of the evaluation budget for
/// copying values.
pub(crate) fn weight(value: &Value) -> u64 {
    match value {
        Value::Array(items) => 1 + items.iter().map(weight).sum::<u64>(),
        Value::Object(map) => 1 + map.values().map(weight).sum::<u64>(),
        _ => 1,
    }
}

/// Values seen so far, to find one equal (Python's `==`) to a new one:
/// scalars through a hash of a canonical form (`1`, `1.0` and `true` share
/// one), lists and dictionaries by comparison.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    scalars: std::collections::HashMap<String, usize>,
    others: Vec<(Value, usize)>,
}

fn scalar_key(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null => "z".into(),
        Value::Bool(b) => format!("n{}", i64::from(*b)),
        Value::String(s) => format!("s{s}"),
        Value::Number(_) => match Num::of(value)? {
            Num::Int(i) => format!("n{i}"),
            Num::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => format!("n{}", f as i64),
            Num::Float(f) => format!("f{}", f.to_bits()),
        },
        Value::Array(_) | Value::Object(_) => return None,
    })
}

impl Seen {
    /// The index recorded for a value equal to `value`, or `None` after
    /// recording `value` with `index`. Also returns the comparisons made,
    /// for the budget.
    pub fn find_or_insert(&mut self, value: &Value, index: usize) -> (Option<usize>, u64) {
        match scalar_key(value) {
            Some(key) => match self.scalars.get(&key) {
                Some(found) => (Some(*found), 1),
                None => {
                    self.scalars.insert(key, index);
                    (None, 1)
                }
            },
            None => {
                let cost = self.others.len() as u64 + 1;
                match self.others.iter().find(|(v, _)| equal(v, value)) {
                    Some((_, found)) => (Some(*found), cost),
                    None => {
                        self.others.push((value.clone(), index));
                        (None, cost)
                    }
                }
            }
        }
    }
}
