//! yaql's math functions: `abs`, `round`, `pow`, `sign`, `max(a, b)`,
//! `min(a, b)` (as methods, `max`/`min` of a collection), `sum`, and the
//! bitwise functions.

use std::cmp::Ordering;

use serde_json::Value;

use super::{Form, Run, data, int, opt_int, receiver_list};
use crate::error::{Error, Result};
use crate::eval::{Call, Ev, Val};
use crate::operators::number_op;
use crate::value::{Num, compare, type_name};

pub(super) fn find(name: &str) -> Option<(Form, Run)> {
    Some(match name {
        "abs" => (Form::Function, abs),
        "round" => (Form::Function, round),
        "pow" => (Form::Function, pow),
        "sign" => (Form::Function, sign),
        "max" => (Form::Raw, |ev, c| extreme(ev, c, Ordering::Greater)),
        "min" => (Form::Raw, |ev, c| extreme(ev, c, Ordering::Less)),
        "sum" => (Form::Method, sum),
        "random" => (Form::Function, random),
        "bitwiseAnd" => (Form::Function, |ev, c| bits(ev, c, |a, b| Some(a & b))),
        "bitwiseOr" => (Form::Function, |ev, c| bits(ev, c, |a, b| Some(a | b))),
        "bitwiseXor" => (Form::Function, |ev, c| bits(ev, c, |a, b| Some(a ^ b))),
        "shiftBitsLeft" => (Form::Function, |ev, c| {
            bits(ev, c, |a, b| {
                u32::try_from(b).ok().and_then(|b| a.checked_shl(b)).filter(|r| r >> b == a)
            })
        }),
        "shiftBitsRight" => (Form::Function, |ev, c| {
            bits(ev, c, |a, b| {
                u32::try_from(b)
                    .ok()
                    .map(|b| a.checked_shr(b).unwrap_or(if a < 0 { -1 } else { 0 }))
            })
        }),
        "bitwiseNot" => (Form::Function, |ev, c| {
            let [arg] = c.require(&["arg"])?[..] else { return Err(c.fail("bad arguments")) };
            data(Value::from(!int(ev, c, arg)?))
        }),
        _ => return None,
    })
}

fn number(ev: &mut Ev<'_>, c: &Call<'_>, expr: &crate::ast::Expr) -> Result<Num> {
    let v = ev.value(expr, c.scope)?;
    Num::of(&v).ok_or_else(|| c.fail(format!("expected a number, got {}", type_name(&v))))
}

fn finite(c: &Call<'_>, n: Num) -> Result<Val> {
    n.to_value().map(Val::Data).ok_or(Error::Overflow { column: c.column })
}

fn abs(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [op] = c.require(&["op"])?[..] else { return Err(c.fail("bad arguments")) };
    match number(ev, c, op)? {
        Num::Int(i) => {
            i.checked_abs().map(|v| Val::Data(v.into())).ok_or(Error::Overflow { column: c.column })
        }
        Num::Float(f) => finite(c, Num::Float(f.abs())),
    }
}

fn sign(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [num] = c.require(&["num"])?[..] else { return Err(c.fail("bad arguments")) };
    let f = number(ev, c, num)?.as_f64();
    data(Value::from(if f > 0.0 {
        1
    } else if f < 0.0 {
        -1
    } else {
        0
    }))
}

/// Python's `round(number, ndigits)`: halves to even; an int stays an int,
/// a float stays a float (`round(12.52)` is `13.0` in yaql, which always
/// passes `ndigits`).
fn round(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [num, ndigits] = c.bind(&["number", "ndigits"])?[..] else {
        return Err(c.fail("bad arguments"));
    };
    let Some(num) = num else { return Err(c.fail("missing the argument `number`")) };
    let n = number(ev, c, num)?;
    let digits = opt_int(ev, c, ndigits, 0)?;
    match n {
        Num::Int(i) if digits >= 0 => data(Value::from(i)),
        Num::Int(i) => {
            let Some(scale) = u32::try_from(-digits).ok().and_then(|e| 10i64.checked_pow(e)) else {
                return data(Value::from(0));
            };
            let (q, r) = (i.div_euclid(scale), i.rem_euclid(scale));
            let up = 2 * r > scale || (2 * r == scale && q % 2 != 0);
            let q = if up { q + 1 } else { q };
            q.checked_mul(scale)
                .map(|v| Val::Data(v.into()))
                .ok_or(Error::Overflow { column: c.column })
        }
        Num::Float(f) if digits >= 0 => {
            let digits = usize::try_from(digits.min(300)).unwrap_or(300);
            let text = format!("{f:.digits$}");
            finite(c, Num::Float(text.parse::<f64>().unwrap_or(f)))
        }
        Num::Float(f) => {
            let scale = 10f64.powi(i32::try_from(-digits).unwrap_or(400));
            let scaled = f / scale;
            let rounded = format!("{scaled:.0}").parse::<f64>().unwrap_or(scaled);
            finite(c, Num::Float(rounded * scale))
        }
    }
}

fn pow(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let [a, b, m] = c.bind(&["a", "b", "c"])?[..] else { return Err(c.fail("bad arguments")) };
    let (Some(a), Some(b)) = (a, b) else { return Err(c.fail("takes two numbers")) };
    let (a, b) = (number(ev, c, a)?, number(ev, c, b)?);
    let modulus = match m {
        Some(m) => match ev.value(m, c.scope)? {
            Value::Null => None,
            v => Some(super::as_int(c, &v)?),
        },
        None => None,
    };
    match (a, b, modulus) {
        (Num::Int(x), Num::Int(y), Some(m)) if y >= 0 => {
            if m == 0 {
                return Err(Error::DivisionByZero { column: c.column });
            }
            let (mut base, mut exp, m128) =
                (i128::from(x).rem_euclid(i128::from(m)), y, i128::from(m));
            let mut acc: i128 = 1;
            while exp > 0 {
                if exp & 1 == 1 {
                    acc = (acc * base).rem_euclid(m128);
                }
                base = (base * base).rem_euclid(m128);
                exp >>= 1;
            }
            let acc = if m < 0 && acc > 0 { acc + m128 } else { acc };
            data(Value::from(i64::try_from(acc).unwrap_or(0)))
        }
        (_, _, Some(_)) => Err(c.fail("pow() 3rd argument needs non-negative integers")),
        (Num::Int(x), Num::Int(y), None) if y >= 0 => u32::try_from(y)
            .ok()
            .and_then(|y| x.checked_pow(y))
            .map(|v| Val::Data(v.into()))
            .ok_or(Error::Overflow { column: c.column }),
        (a, b, None) => finite(c, Num::Float(a.as_f64().powf(b.as_f64()))),
    }
}

fn bits(ev: &mut Ev<'_>, c: &Call<'_>, op: fn(i64, i64) -> Option<i64>) -> Result<Val> {
    let [a, b] = c.require(&["left", "right"])?[..] else { return Err(c.fail("bad arguments")) };
    let (a, b) = (int(ev, c, a)?, int(ev, c, b)?);
    op(a, b).map(|v| Val::Data(v.into())).ok_or(Error::Overflow { column: c.column })
}

/// The larger (or smaller) of two values by yaql's `>`; the first wins a tie.
pub(super) fn pick(c: &Call<'_>, a: Value, b: Value, want: Ordering) -> Result<Value> {
    match compare(&b, &a) {
        Some(order) if order == want => Ok(b),
        Some(_) => Ok(a),
        None => Err(c.fail(format!("cannot compare {} with {}", type_name(&a), type_name(&b)))),
    }
}

/// `max(a, b)`, `min(a, b)`; as methods `collection.max(initial)`.
fn extreme(ev: &mut Ev<'_>, c: &Call<'_>, want: Ordering) -> Result<Val> {
    if c.receiver.is_none() {
        let [a, b] = c.require(&["a", "b"])?[..] else { return Err(c.fail("bad arguments")) };
        let (a, b) = (ev.value(a, c.scope)?, ev.value(b, c.scope)?);
        return data(pick(c, a, b, want)?);
    }
    fold(ev, c, |_, a, item| pick(c, a, item, want))
}

/// `collection.sum(initial)`: folds with `+` (numbers, strings, lists).
fn sum(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    fold(ev, c, |ev, a, item| plus(ev, c, a, item))
}

/// Folds the receiver collection with `step`, from the `initial` argument
/// when given, else from its first item; empty with no initial is an error.
fn fold(
    ev: &mut Ev<'_>,
    c: &Call<'_>,
    mut step: impl FnMut(&mut Ev<'_>, Value, Value) -> Result<Value>,
) -> Result<Val> {
    let items = receiver_list(c)?;
    let [initial] = c.bind(&["initial"])?[..] else { return Err(c.fail("bad arguments")) };
    let mut acc = match initial {
        Some(e) => Some(ev.value(e, c.scope)?),
        None => None,
    };
    for item in items {
        ev.tick(1, c.column)?;
        acc = Some(match acc {
            None => item,
            Some(a) => step(ev, a, item)?,
        });
    }
    acc.map(Val::Data).ok_or_else(|| c.fail("an empty collection and no initial value"))
}

/// yaql's `+` on two values.
pub(super) fn plus(ev: &mut Ev<'_>, c: &Call<'_>, a: Value, b: Value) -> Result<Value> {
    if let (Some(x), Some(y)) = (Num::of(&a), Num::of(&b)) {
        return number_op("+", x, y, c.column);
    }
    match ev.binary_pub("+", a, b, c.column)? {
        Val::Data(v) => Ok(v),
        other => Err(c.fail(format!("unexpected {}", other.describe()))),
    }
}

/// 64 random bits from the standard library's per-process hash keys.
fn random_bits() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    hasher.finish()
}

/// `random()`: a float in [0, 1); `random(from, to)`: an integer in
/// [from, to].
fn random(ev: &mut Ev<'_>, c: &Call<'_>) -> Result<Val> {
    let bound = c.bind(&["from", "to"])?;
    match bound[..] {
        [None, None] => {
            let f = (random_bits() >> 11) as f64 / (1u64 << 53) as f64;
            finite(c, Num::Float(f))
        }
        [Some(from), Some(to)] => {
            let (from, to) = (int(ev, c, from)?, int(ev, c, to)?);
            if from > to {
                return Err(c.fail(format!("empty range ({from}, {to})")));
            }
            let span = (i128::from(to) - i128::from(from) + 1) as u128;
            let pick = u128::from(random_bits()) % span;
            data(Value::from((i128::from(from) + pick as i128) as i64))
        }
        _ => Err(c.fail("takes no arguments, or from and to")),
    }
}
