//! yaql's operators on values: comparisons, `in`, arithmetic with
//! Python's semantics, string and list `+` and `*`, `=~`/`!~`, the set
//! operators and the unary ones.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::eval::{Ev, Val};
use crate::stdlib;
use crate::value::{Num, compare, equal, truthy, type_name};

impl Ev<'_> {
    /// yaql's binary operator `op` on two values.
    pub fn binary_pub(
        &mut self,
        op: &'static str,
        left: Value,
        right: Value,
        column: usize,
    ) -> Result<Val> {
        self.binary(op, Val::Data(left), Val::Data(right), column)
    }

    pub(crate) fn binary(
        &mut self,
        op: &'static str,
        left: Val,
        right: Val,
        column: usize,
    ) -> Result<Val> {
        if let Some(result) = stdlib::dates::binary(op, &left, &right, column) {
            return result;
        }
        // `in` reads datetimes and timespans as their data forms.
        let as_data = |v: Val| match v {
            Val::DateTime(_) | Val::TimeSpan(_) => v.into_value().map_or_else(|v| v, Val::Data),
            other => other,
        };
        let (left, right) = (as_data(left), as_data(right));
        let (left, right) = match (left, right) {
            (Val::Set(a), Val::Set(b)) => return set_operator(op, a, b, column),
            (l, Val::Set(b)) if op == "in" => {
                let Val::Data(l) = l.into_data() else {
                    return Err(operand_error(op, column, "a non-value", "a set"));
                };
                return Ok(Val::Data(Value::Bool(b.iter().any(|v| equal(v, &l)))));
            }
            // A set never equals a list, as in Python.
            (Val::Set(_), _) | (_, Val::Set(_)) if matches!(op, "=" | "!=") => {
                return Ok(Val::Data(Value::Bool(op == "!=")));
            }
            (l @ Val::Set(_), r) | (l, r @ Val::Set(_)) => (l.into_data(), r.into_data()),
            (l, r) => (l, r),
        };
        let (left, right) = match (left, right) {
            (Val::Data(l), Val::Data(r)) => (l, r),
            (l, Val::Regex(rx)) if matches!(op, "=~" | "!~") => {
                let Val::Data(Value::String(text)) = l else {
                    return Err(operand_error(op, column, l.describe(), "a regular expression"));
                };
                let found = stdlib::regex::search(&rx, &text, column)?.is_some();
                return Ok(Val::Data(Value::Bool(found == (op == "=~"))));
            }
            (l, r) => return Err(operand_error(op, column, l.describe(), r.describe())),
        };
        let result = match op {
            "=" => Value::Bool(equal(&left, &right)),
            "!=" => Value::Bool(!equal(&left, &right)),
            "<" | "<=" | ">" | ">=" => {
                let Some(order) = compare(&left, &right) else {
                    return Err(operand_error(op, column, type_name(&left), type_name(&right)));
                };
                Value::Bool(match op {
                    "<" => order.is_lt(),
                    "<=" => order.is_le(),
                    ">" => order.is_gt(),
                    _ => order.is_ge(),
                })
            }
            "in" => match (&left, &right) {
                (_, Value::Array(items)) => Value::Bool(items.iter().any(|i| equal(&left, i))),
                (Value::String(needle), Value::String(hay)) => {
                    Value::Bool(hay.contains(needle.as_str()))
                }
                _ => return Err(operand_error(op, column, type_name(&left), type_name(&right))),
            },
            "=~" | "!~" => {
                let (Value::String(text), Value::String(pattern)) = (&left, &right) else {
                    return Err(operand_error(op, column, type_name(&left), type_name(&right)));
                };
                let rx = stdlib::regex::compile(pattern, "", column)?;
                let found = stdlib::regex::search(&rx, text, column)?.is_some();
                Value::Bool(found == (op == "=~"))
            }
            _ => self.arithmetic(op, left, right, column)?,
        };
        Ok(Val::Data(result))
    }

    fn arithmetic(
        &mut self,
        op: &'static str,
        left: Value,
        right: Value,
        column: usize,
    ) -> Result<Value> {
        if let (Some(a), Some(b)) = (Num::of(&left), Num::of(&right)) {
            return number_op(op, a, b, column);
        }
        match (op, left, right) {
            ("+", Value::String(mut a), Value::String(b)) => {
                self.grow_str(a.len() + b.len(), column)?;
                a.push_str(&b);
                Ok(Value::String(a))
            }
            ("+", Value::Array(mut a), Value::Array(b)) => {
                self.grow(a.len() + b.len(), column)?;
                a.extend(b);
                Ok(Value::Array(a))
            }
            ("+", Value::Object(mut a), Value::Object(b)) => {
                self.grow(a.len() + b.len(), column)?;
                a.extend(b);
                Ok(Value::Object(a))
            }
            ("*", Value::String(s), n @ Value::Number(_))
            | ("*", n @ Value::Number(_), Value::String(s)) => {
                let times = repeat_count(&n, column)?;
                self.grow_str(s.len().saturating_mul(times), column)?;
                Ok(Value::String(s.repeat(times)))
            }
            ("*", Value::Array(items), n @ Value::Number(_))
            | ("*", n @ Value::Number(_), Value::Array(items)) => {
                let times = repeat_count(&n, column)?;
                self.grow(items.len().saturating_mul(times), column)?;
                let mut out = Vec::with_capacity(items.len() * times);
                for _ in 0..times {
                    out.extend(items.iter().cloned());
                }
                Ok(Value::Array(out))
            }
            (op, left, right) => {
                Err(operand_error(op, column, type_name(&left), type_name(&right)))
            }
        }
    }
}

fn repeat_count(n: &Value, column: usize) -> Result<usize> {
    match Num::of(n) {
        Some(Num::Int(i)) => Ok(usize::try_from(i).unwrap_or(0)),
        _ => Err(operand_error("*", column, "a sequence", type_name(n))),
    }
}

fn operand_error(op: &str, column: usize, left: &str, right: &str) -> Error {
    Error::Argument {
        column,
        function: format!("operator {op}"),
        message: format!("not defined for {left} and {right}"),
    }
}

/// Operators between two sets: equality regardless of order, `+` union,
/// `-` difference, `<` `<=` `>` `>=` subset relations, `in` membership.
fn set_operator(op: &'static str, a: Vec<Value>, b: Vec<Value>, column: usize) -> Result<Val> {
    let within = |x: &[Value], y: &[Value]| x.iter().all(|v| y.iter().any(|w| equal(v, w)));
    let same = a.len() == b.len() && within(&a, &b);
    Ok(match op {
        "=" => Val::Data(Value::Bool(same)),
        "!=" => Val::Data(Value::Bool(!same)),
        "<=" => Val::Data(Value::Bool(within(&a, &b))),
        "<" => Val::Data(Value::Bool(within(&a, &b) && !same)),
        ">=" => Val::Data(Value::Bool(within(&b, &a))),
        ">" => Val::Data(Value::Bool(within(&b, &a) && !same)),
        "in" => {
            let a = Value::Array(a);
            Val::Data(Value::Bool(b.iter().any(|v| equal(v, &a))))
        }
        "+" => Val::set(a.into_iter().chain(b)),
        "-" => Val::Set(a.into_iter().filter(|v| !b.iter().any(|w| equal(v, w))).collect()),
        _ => return Err(operand_error(op, column, "a set", "a set")),
    })
}

fn float(f: f64, column: usize) -> Result<Value> {
    Num::Float(f).to_value().ok_or(Error::Overflow { column })
}

/// Python's arithmetic on ints and floats (`/` of two ints is floor
/// division, as yaql defines it; `mod` takes the divisor's sign).
pub(crate) fn number_op(op: &str, a: Num, b: Num, column: usize) -> Result<Value> {
    let overflow = Error::Overflow { column };
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => {
            let r = match op {
                "+" => x.checked_add(y),
                "-" => x.checked_sub(y),
                "*" => x.checked_mul(y),
                "/" | "mod" => {
                    if y == 0 {
                        return Err(Error::DivisionByZero { column });
                    }
                    let q = x.checked_div(y).ok_or(Error::Overflow { column })?;
                    let r = x % y;
                    if op == "/" {
                        Some(if r != 0 && ((r < 0) != (y < 0)) { q - 1 } else { q })
                    } else {
                        Some(if r != 0 && ((r < 0) != (y < 0)) { r + y } else { r })
                    }
                }
                _ => return Err(operand_error(op, column, "an integer", "an integer")),
            };
            r.map(|v| Value::Number(v.into())).ok_or(overflow)
        }
        _ => {
            let (x, y) = (a.as_f64(), b.as_f64());
            match op {
                "+" => float(x + y, column),
                "-" => float(x - y, column),
                "*" => float(x * y, column),
                "/" | "mod" if y == 0.0 => Err(Error::DivisionByZero { column }),
                "/" => float(x / y, column),
                "mod" => {
                    let r = x % y;
                    float(if r != 0.0 && ((r < 0.0) != (y < 0.0)) { r + y } else { r }, column)
                }
                _ => Err(operand_error(op, column, "a float", "a float")),
            }
        }
    }
}

pub(crate) fn unary(op: &str, operand: Value, column: usize) -> Result<Value> {
    if op == "not" {
        return Ok(Value::Bool(!truthy(&operand)));
    }
    match Num::of(&operand) {
        Some(n) if op == "+" => n.to_value().ok_or(Error::Overflow { column }),
        Some(Num::Int(i)) => {
            i.checked_neg().map(|v| Value::Number(v.into())).ok_or(Error::Overflow { column })
        }
        Some(Num::Float(f)) => float(-f, column),
        None => Err(Error::Argument {
            column,
            function: format!("unary operator {op}"),
            message: format!("not defined for {}", type_name(&operand)),
        }),
    }
}
