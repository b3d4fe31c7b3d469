//! The evaluator: walks the syntax tree over JSON values inside scopes of
//! `$` variables, charging every step to a budget.

use std::rc::Rc;

use serde_json::{Map, Value};

use crate::Limits;
use crate::ast::{Arg, Expr, Kind};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::operators::unary;
use crate::stdlib::dates::{self, DateTime};
use crate::stdlib::{self, Form};
use crate::value::{self, Num, truthy, type_name};

/// A compiled regular expression, `regex()`'s value.
#[derive(Debug)]
pub(crate) struct Rx {
    pub re: fancy_regex::Regex,
}

/// A value during evaluation: JSON data, a set (elements without
/// repeats; a list wherever data is needed), or one of the two non-data
/// values yaql has (a regular expression, a context made by `let()`).
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Data(Value),
    Set(Vec<Value>),
    Regex(Rc<Rx>),
    Scope(Rc<Scope>),
    /// A function made by `def(name, body)`.
    Func(Rc<UserFn>),
    /// A datetime (see `stdlib::dates`).
    DateTime(DateTime),
    /// A timespan, in microseconds.
    TimeSpan(i64),
}

/// A function made by `def(name, body)`: its body and the scope it was
/// defined in.
#[derive(Debug)]
pub(crate) struct UserFn {
    pub body: Expr,
    pub scope: Rc<Scope>,
}

/// The deepest nesting of calls of functions made by `def()` (they may
/// call themselves).
pub const MAX_CALL_DEPTH: usize = 32;

/// The deepest nesting of evaluation (syntax tree levels, through calls of
/// `def()` functions too), so the stack stays small.
pub const MAX_EVAL_DEPTH: usize = 120;

impl Val {
    pub fn describe(&self) -> &'static str {
        match self {
            Val::Data(v) => type_name(v),
            Val::Set(_) => "a set",
            Val::Regex(_) => "a regular expression",
            Val::Scope(_) => "a context",
            Val::Func(_) => "a function",
            Val::DateTime(_) => "a datetime",
            Val::TimeSpan(_) => "a timespan",
        }
    }

    /// The value as data: a set as a list, a datetime as its ISO 8601
    /// string, a timespan as Python prints it; `Err` for the values that
    /// have no data form (a regular expression, a context, a function).
    pub fn into_value(self) -> std::result::Result<Value, Val> {
        match self.into_data() {
            Val::Data(v) => Ok(v),
            Val::DateTime(dt) => Ok(Value::String(dt.text('T'))),
            Val::TimeSpan(us) => Ok(Value::String(dates::timespan_text(us))),
            other => Err(other),
        }
    }

    /// How the value prints inside rendered text, when that is not how
    /// its data form prints: Python's `str()` of a datetime or timespan.
    pub fn text_form(&self) -> Option<String> {
        match self {
            Val::DateTime(dt) => Some(dt.text(' ')),
            Val::TimeSpan(us) => Some(dates::timespan_text(*us)),
            _ => None,
        }
    }

    /// A set as the list it is wherever data is needed.
    pub fn into_data(self) -> Val {
        match self {
            Val::Set(items) => Val::Data(Value::Array(items)),
            other => other,
        }
    }

    /// A set of `items` (repeats dropped, first occurrence kept).
    pub fn set(items: impl IntoIterator<Item = Value>) -> Val {
        let mut seen = value::Seen::default();
        let mut out: Vec<Value> = Vec::new();
        for item in items {
            if seen.find_or_insert(&item, out.len()).0.is_none() {
                out.push(item);
            }
        }
        Val::Set(out)
    }
}

/// The `$` variables visible at a point: `$` is `$1`.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    vars: Vec<(String, Val)>,
    parent: Option<Rc<Scope>>,
}

impl Scope {
    pub fn child(parent: &Rc<Scope>, vars: Vec<(String, Val)>) -> Rc<Scope> {
        Rc::new(Scope { vars, parent: Some(Rc::clone(parent)) })
    }

    pub fn root(data: Value) -> Rc<Scope> {
        Rc::new(Scope { vars: vec![("1".into(), Val::Data(data))], parent: None })
    }

    fn get(&self, name: &str) -> Option<&Val> {
        let mut scope = self;
        loop {
            if let Some((_, v)) = scope.vars.iter().rev().find(|(n, _)| n == name) {
                return Some(v);
            }
            scope = scope.parent.as_deref()?;
        }
    }
}

/// One evaluation: the host, the limits and the budget spent so far.
pub(crate) struct Ev<'a> {
    pub host: &'a dyn Host,
    pub limits: &'a Limits,
    pub steps: u64,
    /// How deep calls of `def()` functions are nested now.
    pub calls: usize,
    /// How deep evaluation is nested now.
    pub depth: usize,
}

/// A call being made: the receiver (method form, or an extension method's
/// first argument), the unevaluated arguments and where they evaluate.
pub(crate) struct Call<'a> {
    pub name: &'a str,
    pub column: usize,
    pub receiver: Option<Val>,
    pub args: &'a [Arg],
    pub scope: &'a Rc<Scope>,
}

impl Call<'_> {
    pub fn fail(&self, message: impl Into<String>) -> Error {
        Error::Argument {
            column: self.column,
            function: self.name.to_owned(),
            message: message.into(),
        }
    }

    /// The receiver as data.
    pub fn data(&self) -> Result<&Value> {
        match &self.receiver {
            Some(Val::Data(v)) => Ok(v),
            Some(other) => Err(self.fail(format!("expected data, got {}", other.describe()))),
            None => Err(self.fail("missing the first argument")),
        }
    }

    /// Matches the arguments to `params` (positional in order, then
    /// `name => value` by name).
    pub fn bind(&self, params: &[&str]) -> Result<Vec<Option<&Expr>>> {
        let mut out: Vec<Option<&Expr>> = vec![None; params.len()];
        let mut position = 0;
        for arg in self.args {
            match arg {
                Arg::Pos(Expr { kind: Kind::Skipped, .. }) => position += 1,
                Arg::Pos(expr) => {
                    if position >= params.len() {
                        return Err(self.fail(format!(
                            "takes at most {} argument{}",
                            params.len(),
                            if params.len() == 1 { "" } else { "s" }
                        )));
                    }
                    out[position] = Some(expr);
                    position += 1;
                }
                Arg::Pair(key, expr) => {
                    let Kind::Keyword(name) = &key.kind else {
                        return Err(self.fail("a `=>` argument needs a name before `=>`"));
                    };
                    let Some(at) = params.iter().position(|p| p == name) else {
                        return Err(self.fail(format!("no argument named `{name}`")));
                    };
                    if out[at].is_some() {
                        return Err(self.fail(format!("argument `{name}` given twice")));
                    }
                    out[at] = Some(expr);
                }
            }
        }
        Ok(out)
    }

    /// All arguments, which must be positional.
    pub fn positional(&self) -> Result<Vec<&Expr>> {
        self.args
            .iter()
            .map(|arg| match arg {
                Arg::Pos(expr) => Ok(expr),
                Arg::Pair(..) => Err(self.fail("takes no `=>` arguments")),
            })
            .collect()
    }

    /// Exactly `params.len()` required arguments (no optional ones).
    pub fn require<'b>(&'b self, params: &[&str]) -> Result<Vec<&'b Expr>> {
        let bound = self.bind(params)?;
        bound
            .into_iter()
            .zip(params)
            .map(|(expr, name)| {
                expr.ok_or_else(|| self.fail(format!("missing the argument `{name}`")))
            })
            .collect()
    }
}

impl Ev<'_> {
    /// Charges `n` steps to the budget.
    pub fn tick(&mut self, n: u64, column: usize) -> Result<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limits.steps {
            return Err(Error::StepLimit { column, limit: self.limits.steps });
        }
        Ok(())
    }

    /// Checks a collection's length against the limit (costs nothing: the
    /// elements were charged as they were made).
    pub fn check_len(&mut self, len: usize, column: usize) -> Result<()> {
        if len > self.limits.collection {
            return Err(Error::SizeLimit {
                column,
                what: format!("a collection of {len} elements"),
                limit: self.limits.collection,
            });
        }
        Ok(())
    }

    /// Checks a string's length (in bytes) against the limit.
    pub fn check_str(&mut self, len: usize, column: usize) -> Result<()> {
        if len > self.limits.string {
            return Err(Error::SizeLimit {
                column,
                what: format!("a string of {len} bytes"),
                limit: self.limits.string,
            });
        }
        Ok(())
    }

    /// Checks and charges a collection about to be made at once (`range`,
    /// `repeat`, `list * n`, …): one step per element.
    pub fn grow(&mut self, len: usize, column: usize) -> Result<()> {
        self.check_len(len, column)?;
        self.tick(len as u64, column)
    }

    /// Checks and charges a string about to be made at once: one step per
    /// 16 bytes.
    pub fn grow_str(&mut self, len: usize, column: usize) -> Result<()> {
        self.check_str(len, column)?;
        self.tick(len as u64 / 16, column)
    }

    pub fn eval(&mut self, expr: &Expr, scope: &Rc<Scope>) -> Result<Val> {
        if self.depth >= MAX_EVAL_DEPTH {
            return Err(Error::SizeLimit {
                column: expr.column,
                what: "the nesting of evaluation".into(),
                limit: MAX_EVAL_DEPTH,
            });
        }
        self.depth += 1;
        let result = self.eval_node(expr, scope);
        self.depth -= 1;
        result
    }

    fn eval_node(&mut self, expr: &Expr, scope: &Rc<Scope>) -> Result<Val> {
        self.tick(1, expr.column)?;
        let column = expr.column;
        Ok(match &expr.kind {
            Kind::Literal(v) => Val::Data(v.clone()),
            Kind::Skipped => {
                return Err(Error::Syntax {
                    column,
                    message: "an argument left out where it has no default".into(),
                });
            }
            Kind::Keyword(name) => Val::Data(Value::String(name.clone())),
            Kind::Var(name) => {
                let name = if name.is_empty() { "1" } else { name.as_str() };
                match scope.get(name) {
                    Some(Val::Data(v)) => {
                        self.tick(value::weight(v), column)?;
                        Val::Data(v.clone())
                    }
                    Some(other) => other.clone(),
                    None => Val::Data(Value::Null),
                }
            }
            Kind::List(args) => {
                let mut items = Vec::with_capacity(args.len());
                for arg in args {
                    let Arg::Pos(item) = arg else {
                        return Err(Error::Syntax {
                            column,
                            message: "a `=>` pair inside a list".into(),
                        });
                    };
                    items.push(self.value(item, scope)?);
                }
                Val::Data(Value::Array(items))
            }
            Kind::Map(args) => {
                let mut map = Map::new();
                for arg in args {
                    let Arg::Pair(key, item) = arg else {
                        return Err(Error::Syntax {
                            column,
                            message: "a dictionary entry needs `key => value`".into(),
                        });
                    };
                    let key = self.value(key, scope)?;
                    let item = self.value(item, scope)?;
                    map.insert(key_string(&key), item);
                }
                Val::Data(Value::Object(map))
            }
            Kind::Call { name, args } => self.call(name, column, None, args, scope)?,
            Kind::Method { name, .. } if name == "thenBy" || name == "thenByDescending" => {
                stdlib::ordered(self, expr, scope)?
            }
            Kind::Method { receiver, name, args, .. }
                if matches!(name.as_str(), "take" | "limit") && stdlib::is_endless(receiver) =>
            {
                stdlib::take_endless(self, receiver, args, scope, column)?
            }
            Kind::Method { receiver, name, args, safe } => {
                let receiver = self.eval(receiver, scope)?;
                if *safe && matches!(receiver, Val::Data(Value::Null)) {
                    return Ok(Val::Data(Value::Null));
                }
                self.call(name, column, Some(receiver), args, scope)?
            }
            Kind::Attr { receiver, name, safe } => {
                if let Kind::Var(var) = &receiver.kind
                    && let Some(Val::Data(Value::Object(map))) =
                        scope.get(if var.is_empty() { "1" } else { var })
                {
                    // Reads one key without copying the whole dictionary.
                    let Some(v) = map.get(name) else {
                        return Err(Error::KeyNotFound { column, key: name.clone() });
                    };
                    self.tick(value::weight(v), column)?;
                    return Ok(Val::Data(v.clone()));
                }
                let receiver = match self.eval(receiver, scope)?.into_data() {
                    v @ (Val::DateTime(_) | Val::TimeSpan(_)) => {
                        return dates::property(&v, name, column);
                    }
                    v => self.data_of(v, receiver.column)?,
                };
                if *safe && receiver.is_null() {
                    return Ok(Val::Data(Value::Null));
                }
                Val::Data(self.attribute(receiver, name, column)?)
            }
            Kind::Index { receiver, args } => {
                let receiver = self.value(receiver, scope)?;
                Val::Data(self.index(receiver, args, scope, column)?)
            }
            Kind::Binary { op: "and", left, right } => {
                let left = self.eval(left, scope)?;
                if !val_truthy(&left) { left } else { self.eval(right, scope)? }
            }
            Kind::Binary { op: "or", left, right } => {
                let left = self.eval(left, scope)?;
                if val_truthy(&left) { left } else { self.eval(right, scope)? }
            }
            Kind::Binary { op: "->", left, right } => match self.eval(left, scope)? {
                Val::Scope(inner) => self.eval(right, &inner)?,
                other => {
                    return Err(Error::Argument {
                        column,
                        function: "operator ->".into(),
                        message: format!(
                            "expected a context (from let()) on the left, got {}",
                            other.describe()
                        ),
                    });
                }
            },
            Kind::Binary { op, left, right } => {
                let left = self.eval(left, scope)?;
                let right = self.eval(right, scope)?;
                self.binary(op, left, right, column)?
            }
            Kind::Unary { op, operand } => {
                let at = operand.column;
                let operand = self.eval(operand, scope)?.into_data();
                if let Some(result) = dates::unary(op, &operand, column) {
                    return result;
                }
                Val::Data(unary(op, self.data_of(operand, at)?, column)?)
            }
        })
    }

    /// Evaluates to data (a regular expression or context is an error
    /// here; a datetime or timespan becomes its data form).
    pub fn value(&mut self, expr: &Expr, scope: &Rc<Scope>) -> Result<Value> {
        let v = self.eval(expr, scope)?;
        self.data_of(v, expr.column)
    }

    /// A value as data (see [`Val::into_value`]).
    pub fn data_of(&mut self, v: Val, column: usize) -> Result<Value> {
        v.into_value().map_err(|other| Error::Argument {
            column,
            function: "expression".into(),
            message: format!("{} is not a value here", other.describe()),
        })
    }

    /// Evaluates `expr` as a lambda: with `$1`, `$2`, … (and `$`) set to `args`.
    pub fn lambda(&mut self, expr: &Expr, scope: &Rc<Scope>, args: &[Value]) -> Result<Value> {
        let vars = args
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1).to_string(), Val::Data(v.clone())))
            .collect();
        let inner = Scope::child(scope, vars);
        self.value(expr, &inner)
    }

    /// `$.name`: a dictionary's key, or that key of every element of a list.
    pub fn attribute(&mut self, receiver: Value, name: &str, column: usize) -> Result<Value> {
        match receiver {
            Value::Object(mut map) => match map.remove(name) {
                Some(v) => Ok(v),
                None => Err(Error::KeyNotFound { column, key: name.to_owned() }),
            },
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    self.tick(1, column)?;
                    out.push(self.attribute(item, name, column)?);
                }
                Ok(Value::Array(out))
            }
            other => Err(Error::NoMethod {
                column,
                name: name.to_owned(),
                receiver: format!("{} (no attribute)", type_name(&other)),
            }),
        }
    }

    fn index(
        &mut self,
        receiver: Value,
        args: &[Arg],
        scope: &Rc<Scope>,
        column: usize,
    ) -> Result<Value> {
        let mut keys = Vec::with_capacity(args.len());
        for arg in args {
            let Arg::Pos(expr) = arg else {
                return Err(Error::Syntax { column, message: "a `=>` pair inside `[]`".into() });
            };
            keys.push(self.value(expr, scope)?);
        }
        let fail =
            |message: String| Error::Argument { column, function: "indexer".into(), message };
        match (receiver, keys.as_slice()) {
            (Value::Array(mut items), [key]) => {
                let Some(Num::Int(i)) = Num::of(key) else {
                    return Err(fail(format!(
                        "a list index must be an integer, not {}",
                        type_name(key)
                    )));
                };
                let len = items.len() as i64;
                let at = if i < 0 { i + len } else { i };
                if at < 0 || at >= len {
                    return Err(Error::IndexOutOfRange { column, index: i });
                }
                Ok(items.swap_remove(at as usize))
            }
            (Value::Object(mut map), [key]) => {
                let key = key_string(key);
                map.remove(&key).ok_or(Error::KeyNotFound { column, key })
            }
            (Value::Object(mut map), [key, default]) => {
                Ok(map.remove(&key_string(key)).unwrap_or_else(|| default.clone()))
            }
            (receiver, keys) => Err(fail(format!(
                "cannot index {} with {} argument{}",
                type_name(&receiver),
                keys.len(),
                if keys.len() == 1 { "" } else { "s" }
            ))),
        }
    }

    fn call(
        &mut self,
        name: &str,
        column: usize,
        receiver: Option<Val>,
        args: &[Arg],
        scope: &Rc<Scope>,
    ) -> Result<Val> {
        if receiver.is_none()
            && let Some(Val::Func(function)) = scope.get(&format!("#def:{name}"))
        {
            let function = Rc::clone(function);
            return self.user_call(name, function, column, args, scope);
        }
        if receiver.is_none() && stdlib::find(name).is_none_or(|b| b.form == Form::Method) {
            return self.host_call(name, column, args, scope);
        }
        let as_method = receiver.is_some();
        // A set is a list for everything but the set functions.
        let receiver = if stdlib::SET_METHODS.contains(&name) {
            receiver
        } else {
            receiver.map(Val::into_data)
        };
        let Some(builtin) = stdlib::find(name) else {
            return Err(no_method(name, column, receiver.as_ref()));
        };
        let mut call = Call { name, column, receiver, args, scope };
        match (builtin.form, as_method) {
            (Form::Function, true) => return Err(no_method(name, column, call.receiver.as_ref())),
            (Form::Both, false) => {
                let Some((Arg::Pos(first), rest)) = args.split_first() else {
                    return Err(call.fail("missing the first argument"));
                };
                let first = self.eval(first, scope)?;
                call.receiver = Some(if stdlib::SET_METHODS.contains(&name) {
                    first
                } else {
                    first.into_data()
                });
                call.args = rest;
            }
            _ => {}
        }
        (builtin.run)(self, &call)
    }

    /// Calls a function made by `def()`: its arguments (evaluated here) are
    /// `$1`, `$2`, … and its `name => value` arguments `$name`.
    fn user_call(
        &mut self,
        name: &str,
        function: Rc<UserFn>,
        column: usize,
        args: &[Arg],
        scope: &Rc<Scope>,
    ) -> Result<Val> {
        let mut vars = Vec::new();
        let mut position = 0;
        for arg in args {
            match arg {
                Arg::Pos(expr) => {
                    position += 1;
                    vars.push((position.to_string(), self.eval(expr, scope)?));
                }
                Arg::Pair(Expr { kind: Kind::Keyword(key), .. }, expr) => {
                    vars.push((key.clone(), self.eval(expr, scope)?));
                }
                Arg::Pair(..) => {
                    return Err(Error::Argument {
                        column,
                        function: name.to_owned(),
                        message: "a `=>` argument needs a name before `=>`".into(),
                    });
                }
            }
        }
        if self.calls >= MAX_CALL_DEPTH {
            return Err(Error::SizeLimit {
                column,
                what: format!("the nesting of calls of `{name}`"),
                limit: MAX_CALL_DEPTH,
            });
        }
        self.calls += 1;
        let defined = Rc::clone(&function.scope);
        vars.push((format!("#def:{name}"), Val::Func(Rc::clone(&function))));
        let inner = Scope::child(&defined, vars);
        let result = self.eval(&function.body, &inner);
        self.calls -= 1;
        result
    }

    fn host_call(
        &mut self,
        name: &str,
        column: usize,
        args: &[Arg],
        scope: &Rc<Scope>,
    ) -> Result<Val> {
        if !self.host.has_function(name) {
            return Err(Error::UnknownFunction { column, name: name.to_owned() });
        }
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for arg in args {
            match arg {
                Arg::Pos(expr) => positional.push(self.value(expr, scope)?),
                Arg::Pair(key, expr) => {
                    let Kind::Keyword(key) = &key.kind else {
                        return Err(Error::Argument {
                            column,
                            function: name.to_owned(),
                            message: "a `=>` argument needs a name before `=>`".into(),
                        });
                    };
                    named.push((key.clone(), self.value(expr, scope)?));
                }
            }
        }
        match self.host.call(name, &positional, &named) {
            None => Err(Error::UnknownFunction { column, name: name.to_owned() }),
            Some(Ok(v)) => {
                self.tick(value::weight(&v), column)?;
                Ok(Val::Data(v))
            }
            Some(Err(message)) => Err(Error::Host { column, function: name.to_owned(), message }),
        }
    }
}

fn no_method(name: &str, column: usize, receiver: Option<&Val>) -> Error {
    Error::NoMethod {
        column,
        name: name.to_owned(),
        receiver: receiver.map_or("a function call", Val::describe).to_owned(),
    }
}

pub(crate) fn val_truthy(v: &Val) -> bool {
    match v {
        Val::Data(d) => truthy(d),
        Val::Set(items) => !items.is_empty(),
        Val::TimeSpan(us) => *us != 0,
        _ => true,
    }
}

/// A dictionary key: strings as they are, other keys as yaql's `str()`
/// prints them (JSON keys are strings).
pub(crate) fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => value::yaql_str(other),
    }
}
