//! A byte budget for one template render or expression evaluation, in
//! rules and workflows alike.
//!
//! minijinja's fuel bounds how many instructions a render runs, not how
//! many bytes it builds: `{% set x = x ~ x %}` ten times over a 100 MB
//! string asks for 100 GB. So templates are compiled here rather than by
//! minijinja's `Template`, and the instructions that build text or lists
//! (`~`, `+`, `*`) are rewritten into calls of checked functions; the
//! filters that can grow their input are replaced by checked wrappers, and
//! the formatter counts what is written out. Everything a render builds is
//! charged, before it is built, against [`RENDER_BYTES`]; past it the
//! render fails with an error that says so. The budget lives in a
//! thread-local for the duration of one render (renders are synchronous).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::LazyLock;

use minijinja::machinery::{
    CodeGenerator, Instruction, Instructions, Vm, WhitespaceConfig, make_string_output, parse,
    parse_expr,
};
use minijinja::value::{Kwargs, Rest, StringInput};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, Expression, State, Value};

/// The most bytes one render or evaluation may build in all: strings,
/// list slots and output together.
pub const RENDER_BYTES: usize = 32 << 20;

/// What one list slot costs (a minijinja value).
const SLOT_BYTES: usize = 24;

/// Prefix of the functions the rewritten instructions call; templates may
/// not define names with it.
const RESERVED: &str = "__squall_";

thread_local! {
    /// Bytes left in the render under way on this thread.
    static LEFT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Takes `bytes` from the budget, or fails the render.
pub(crate) fn charge(bytes: usize) -> Result<(), Error> {
    LEFT.with(|left| match left.get() {
        Some(available) if bytes > available => Err(exhausted()),
        Some(available) => {
            left.set(Some(available - bytes));
            Ok(())
        }
        // Outside a budgeted render (never in Squall's own paths): each
        // step is bounded on its own.
        None if bytes > RENDER_BYTES => Err(exhausted()),
        None => Ok(()),
    })
}

/// What is left, for probes that stop early.
fn left() -> usize {
    LEFT.with(|left| left.get().unwrap_or(RENDER_BYTES))
}

fn exhausted() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "the template builds more than {} MiB (the limit on one render)",
            RENDER_BYTES >> 20
        ),
    )
}

/// Runs `f` with a fresh budget, restoring the one it interrupted.
fn with_budget<T>(f: impl FnOnce() -> T) -> T {
    let outer = LEFT.with(|left| left.replace(Some(RENDER_BYTES)));
    let result = f();
    LEFT.with(|left| left.set(outer));
    result
}

/// Counts what a value's text would take, stopping at `limit`.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes += s.len();
        if self.bytes > self.limit { Err(fmt::Error) } else { Ok(()) }
    }
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len();
        if self.bytes > self.limit {
            Err(std::io::ErrorKind::OutOfMemory.into())
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value` as text, or an error past what is left.
fn text_len(value: &Value) -> Result<usize, Error> {
    let mut counter = Counter { bytes: 0, limit: left() };
    write!(counter, "{value}").map_err(|_| exhausted())?;
    Ok(counter.bytes)
}

/// The length of `value` as JSON, or an error past what is left.
pub(crate) fn json_len(value: &Value) -> Result<usize, Error> {
    let mut counter = Counter { bytes: 0, limit: left() };
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => Ok(counter.bytes),
        Err(_) if counter.bytes > counter.limit => Err(exhausted()),
        // Not serializable: whoever serializes it says why.
        Err(_) => Ok(counter.bytes),
    }
}

/// Charges what writing `value` as JSON takes; call before serializing a
/// value a template computed.
pub(crate) fn charge_json(value: &Value) -> Result<(), Error> {
    charge(json_len(value)?)
}

/// Charges text written to the output.
pub(crate) fn charge_output(text: &str) -> Result<(), Error> {
    charge(text.len())
}

fn check_defined(state: &State<'_, '_>, values: &[&Value]) -> Result<(), Error> {
    let strict = !matches!(state.undefined_behavior(), minijinja::UndefinedBehavior::Lenient);
    if strict && values.iter().any(|v| v.is_undefined()) {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(())
}

/// `a ~ b`.
fn concat(state: &State<'_, '_>, a: Value, b: Value) -> Result<Value, Error> {
    check_defined(state, &[&a, &b])?;
    let size = text_len(&a)? + text_len(&b)?;
    charge(size)?;
    let mut text = String::with_capacity(size);
    write!(text, "{a}{b}").map_err(|_| exhausted())?;
    Ok(Value::from(text))
}

/// The plain operators, for everything the checked ones pass on.
static ADD: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| plain("__a + __b"));
static MUL: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| plain("__a * __b"));

static PLAIN: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);

fn plain(source: &'static str) -> Expression<'static, 'static> {
    // A constant expression; it compiles or every test fails.
    #[allow(clippy::expect_used)]
    PLAIN.compile_expression(source).expect("a built-in operator expression compiles")
}

fn apply(op: &Expression<'static, 'static>, a: Value, b: Value) -> Result<Value, Error> {
    op.eval(minijinja::context! { __a => a, __b => b })
}

/// The size of a list-like value in slots, if it is one.
fn slots(value: &Value) -> Option<usize> {
    matches!(value.kind(), minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Iterable)
        .then(|| value.len().unwrap_or(0))
}

/// `a + b`: numbers add; strings and lists join, charged first.
fn add(state: &State<'_, '_>, a: Value, b: Value) -> Result<Value, Error> {
    check_defined(state, &[&a, &b])?;
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        charge(x.len() + y.len())?;
    } else if let (Some(x), Some(y)) = (slots(&a), slots(&b)) {
        charge((x + y) * SLOT_BYTES)?;
    }
    apply(&ADD, a, b)
}

/// `a * b`: numbers multiply; a string or list repeated, charged first.
fn mul(state: &State<'_, '_>, a: Value, b: Value) -> Result<Value, Error> {
    check_defined(state, &[&a, &b])?;
    let (one, times) = if b.as_usize().is_some() { (&a, &b) } else { (&b, &a) };
    if let Some(times) = times.as_usize() {
        if let Some(text) = one.as_str() {
            charge(text.len().saturating_mul(times))?;
        } else if let Some(n) = slots(one) {
            charge(n.saturating_mul(times).saturating_mul(SLOT_BYTES))?;
        }
    }
    apply(&MUL, a, b)
}

/// Registers the checked operators and filters in `env`.
pub(crate) fn install(env: &mut Environment<'static>) {
    env.add_function("__squall_concat", concat);
    env.add_function("__squall_add", add);
    env.add_function("__squall_mul", mul);
    env.add_filter(
        "replace",
        |value: StringInput<'_>, from: StringInput<'_>, to: StringInput<'_>| {
            let (text, from, to) = (value.as_str(), from.as_str(), to.as_str());
            let hits =
                if from.is_empty() { text.chars().count() + 1 } else { text.matches(from).count() };
            charge(text.len().saturating_add(hits.saturating_mul(to.len())))?;
            Ok::<_, Error>(Value::from(text.replace(from, to)))
        },
    );
    env.add_filter("join", |value: &Value, joiner: Option<&str>| {
        let joiner = joiner.unwrap_or("");
        let mut out = String::new();
        for (i, item) in value.try_iter()?.enumerate() {
            let item = if item.is_none() { Value::from("") } else { item };
            let size = text_len(&item)? + if i > 0 { joiner.len() } else { 0 };
            charge(size)?;
            if i > 0 {
                out.push_str(joiner);
            }
            write!(out, "{item}").map_err(|_| exhausted())?;
        }
        Ok::<_, Error>(Value::from(out))
    });
    env.add_filter(
        "indent",
        |value: StringInput<'_>,
         width: Option<usize>,
         first: Option<bool>,
         blank: Option<bool>,
         kwargs: Kwargs| {
            let text = value.as_str();
            let lines = text.lines().count() + 1;
            charge(text.len().saturating_add(lines.saturating_mul(width.unwrap_or(4))))?;
            minijinja::filters::indent(value, width, first, blank, kwargs)
        },
    );
    env.add_filter("format", |state: &State<'_, '_>, format: &Value, args: Rest<Value>| {
        // Widths in the format (`%20s`) can ask for any size: count them.
        let text = format.to_string();
        let widths: usize = text
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|digits| digits.parse::<usize>().ok())
            .fold(0, usize::saturating_add);
        let mut size = text.len().saturating_add(widths);
        for arg in args.iter() {
            size = size.saturating_add(text_len(arg)?);
        }
        charge(size)?;
        minijinja::filters::format(state, format, args)
    });
    env.add_filter("tojson", |value: &Value, indent: Option<Value>, kwargs: Kwargs| {
        charge(json_len(value)?.saturating_mul(2))?;
        minijinja::filters::tojson(value, indent, kwargs)
    });
    env.add_filter("pprint", |value: &Value| {
        charge(json_len(value)?.saturating_mul(2))?;
        Ok::<_, Error>(minijinja::filters::pprint(value))
    });
    env.add_filter("string", |state: &State<'_, '_>, value: &Value| {
        charge(text_len(value)?)?;
        minijinja::filters::string(state, value)
    });
    env.add_filter("list", |state: &State<'_, '_>, value: Value| {
        let n = match value.as_str() {
            Some(text) => text.chars().count(),
            None => value.len().unwrap_or(0),
        };
        charge(n.saturating_mul(SLOT_BYTES))?;
        minijinja::filters::list(state, value)
    });
}

/// Source text and name a program borrows from.
#[derive(Debug)]
struct Source {
    name: String,
    text: String,
}

/// Instructions compiled from a [`Source`], with `~`, `+` and `*`
/// rewritten into the checked functions.
struct Compiled<'a> {
    instructions: Instructions<'a>,
    blocks: BTreeMap<&'a str, Instructions<'a>>,
}

self_cell::self_cell!(
    /// A template or expression compiled under the budget.
    pub(crate) struct Program {
        owner: Source,
        #[not_covariant]
        dependent: Compiled,
    }
);

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program").field("name", &self.borrow_owner().name).finish()
    }
}

impl Program {
    /// Compiles a template as StackStorm's Jinja environment reads it
    /// (block tags trim their newline and leading blanks).
    pub(crate) fn template(name: &str, text: String) -> Result<Self, Error> {
        Self::try_new(Source { name: name.to_owned(), text }, |source| {
            let whitespace =
                WhitespaceConfig { trim_blocks: true, lstrip_blocks: true, ..Default::default() };
            let ast = parse(&source.text, &source.name, Default::default(), whitespace)?;
            check_folding(&serde_json::to_value(&ast).unwrap_or_default())?;
            let mut generator = CodeGenerator::new(&source.name, &source.text);
            generator.compile_stmt(&ast);
            let (mut instructions, mut blocks) = generator.finish();
            rewrite(&mut instructions)?;
            for block in blocks.values_mut() {
                rewrite(block)?;
            }
            Ok(Compiled { instructions, blocks })
        })
    }

    /// Compiles a bare expression (`trigger.body.x | int`).
    pub(crate) fn expression(text: String) -> Result<Self, Error> {
        Self::try_new(Source { name: "<expression>".to_owned(), text }, |source| {
            let ast = parse_expr(&source.text)?;
            check_folding(&serde_json::to_value(&ast).unwrap_or_default())?;
            let mut generator = CodeGenerator::new(&source.name, &source.text);
            generator.compile_expr(&ast);
            let (mut instructions, blocks) = generator.finish();
            rewrite(&mut instructions)?;
            Ok(Compiled { instructions, blocks })
        })
    }

    /// Renders the template in `env` with `context`.
    pub(crate) fn render(&self, env: &Environment<'_>, context: Value) -> Result<String, Error> {
        with_budget(|| {
            self.with_dependent(|_, compiled| {
                let mut text = String::new();
                let mut out = make_string_output(&mut text);
                Vm::new(env).eval(
                    &compiled.instructions,
                    context,
                    &compiled.blocks,
                    &mut out,
                    AutoEscape::None,
                )?;
                Ok(text)
            })
        })
    }

    /// Evaluates the expression in `env` with `context`; `check` sees the
    /// value while the budget still holds (to charge its serialization).
    pub(crate) fn eval<T>(
        &self,
        env: &Environment<'_>,
        context: Value,
        check: impl FnOnce(Value) -> Result<T, Error>,
    ) -> Result<T, Error> {
        with_budget(|| {
            self.with_dependent(|_, compiled| {
                // An expression writes nothing; the output is a formality.
                let mut nothing = String::new();
                let (value, _) = Vm::new(env).eval(
                    &compiled.instructions,
                    context,
                    &compiled.blocks,
                    &mut make_string_output(&mut nothing),
                    AutoEscape::None,
                )?;
                check(value.unwrap_or(Value::UNDEFINED))
            })
        })
    }
}

/// Rewrites the growing operators into calls of the checked functions,
/// and refuses templates that name those functions themselves.
fn rewrite(instructions: &mut Instructions<'_>) -> Result<(), Error> {
    // Checked before anything is rewritten: the names an instruction
    // references are read back through the ones before it.
    for index in 0..instructions.len() as u32 {
        if instructions.get_referenced_names(index).iter().any(|name| name.starts_with(RESERVED)) {
            return Err(Error::new(
                ErrorKind::SyntaxError,
                format!("names starting with `{RESERVED}` are reserved"),
            ));
        }
    }
    for index in 0..instructions.len() as u32 {
        let Some(instruction) = instructions.get_mut(index) else { break };
        let call = match instruction {
            Instruction::StringConcat => "__squall_concat",
            Instruction::Add => "__squall_add",
            Instruction::Mul => "__squall_mul",
            _ => continue,
        };
        *instruction = Instruction::CallFunction(call, Some(2));
    }
    Ok(())
}

/// What the compiler's constant folding would build, in outline: how long
/// a text, which integer, how many list items holding how many bytes.
#[derive(Debug, Clone, Copy)]
enum Folded {
    Text(usize),
    Int(i128),
    Items { count: usize, bytes: usize },
    Other,
}

impl Folded {
    /// Bytes it takes as text (`~`, output).
    fn text_len(self) -> usize {
        match self {
            Self::Text(n) => n,
            Self::Int(_) | Self::Other => 40,
            Self::Items { count, bytes } => bytes.saturating_add(count.saturating_mul(4)),
        }
    }

    /// Bytes it holds.
    fn bytes(self) -> usize {
        match self {
            Self::Text(n) => n,
            Self::Items { count, bytes } => bytes.saturating_add(count.saturating_mul(SLOT_BYTES)),
            Self::Int(_) | Self::Other => 0,
        }
    }
}

/// minijinja folds operators on constants while compiling (`"a" * 9999 *
/// 9999` is a 100 MB constant before any render), where the checked
/// operators cannot see it: this reads the parsed template (as JSON) and
/// refuses one whose folded constants would pass the budget.
fn check_folding(ast: &serde_json::Value) -> Result<(), Error> {
    let too_big = || {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "a constant in the template is larger than {} MiB (the limit on one render)",
                RENDER_BYTES >> 20
            ),
        )
    };
    fn walk(
        node: &serde_json::Value,
        too_big: &dyn Fn() -> Error,
    ) -> Result<Option<Folded>, Error> {
        use serde_json::Value as J;
        let folded = match node {
            J::Array(items) => {
                for item in items {
                    walk(item, too_big)?;
                }
                return Ok(None);
            }
            J::Object(map) => match (map.get("expr"), map.get("inner").and_then(|i| i.get(0))) {
                (Some(J::String(kind)), Some(payload)) => fold(kind, payload, too_big)?,
                _ => {
                    for child in map.values() {
                        walk(child, too_big)?;
                    }
                    return Ok(None);
                }
            },
            _ => return Ok(None),
        };
        if folded.is_some_and(|f| f.bytes() > RENDER_BYTES || f.text_len() > RENDER_BYTES) {
            return Err(too_big());
        }
        Ok(folded)
    }
    fn fold(
        kind: &str,
        payload: &serde_json::Value,
        too_big: &dyn Fn() -> Error,
    ) -> Result<Option<Folded>, Error> {
        use serde_json::Value as J;
        let child = |key: &str| walk(payload.get(key).unwrap_or(&J::Null), too_big);
        let all = |key: &str| -> Result<Option<Vec<Folded>>, Error> {
            let items = payload.get(key).and_then(J::as_array).map(Vec::as_slice).unwrap_or(&[]);
            let mut folded = Vec::with_capacity(items.len());
            let mut constant = true;
            for item in items {
                match walk(item, too_big)? {
                    Some(f) => folded.push(f),
                    None => constant = false,
                }
            }
            Ok(constant.then_some(folded))
        };
        let items = |parts: &[Folded]| Folded::Items {
            count: parts.len(),
            bytes: parts.iter().map(|p| p.bytes()).fold(0, usize::saturating_add),
        };
        Ok(match kind {
            "Const" => Some(match payload.get("value") {
                Some(J::String(text)) => Folded::Text(text.len()),
                Some(J::Number(n)) => n.as_i64().map_or(Folded::Other, |i| Folded::Int(i.into())),
                Some(J::Array(list)) => Folded::Items { count: list.len(), bytes: 0 },
                _ => Folded::Other,
            }),
            "List" => all("items")?.map(|parts| items(&parts)),
            "Map" => match (all("keys")?, all("values")?) {
                (Some(keys), Some(values)) => Some(items(&[keys, values].concat())),
                _ => None,
            },
            "UnaryOp" => child("expr")?.map(|inner| match (payload.get("op"), inner) {
                (Some(J::String(op)), Folded::Int(i)) if op == "Neg" => Folded::Int(-i),
                _ => Folded::Other,
            }),
            "Compare" => {
                let first = child("expr")?;
                let rest = payload
                    .get("ops")
                    .and_then(J::as_array)
                    .map(|ops| {
                        ops.iter().map(|op| walk(op.get("expr").unwrap_or(&J::Null), too_big))
                    })
                    .into_iter()
                    .flatten()
                    .collect::<Result<Vec<_>, _>>()?;
                (first.is_some() && rest.iter().all(Option::is_some)).then_some(Folded::Other)
            }
            "BinOp" => {
                let (left, right) = (child("left")?, child("right")?);
                let (Some(left), Some(right)) = (left, right) else { return Ok(None) };
                let op = payload.get("op").and_then(J::as_str).unwrap_or("");
                Some(binop(op, left, right))
            }
            _ => {
                // Not a constant; its parts may hold constants of their own.
                for value in payload.as_object().into_iter().flat_map(|m| m.values()) {
                    walk(value, too_big)?;
                }
                None
            }
        })
    }
    fn binop(op: &str, left: Folded, right: Folded) -> Folded {
        use Folded::{Int, Items, Other, Text};
        let times = |n: i128| usize::try_from(n).unwrap_or(0);
        match (op, left, right) {
            ("Mul", Text(l), Int(n)) | ("Mul", Int(n), Text(l)) => Text(l.saturating_mul(times(n))),
            ("Mul", Items { count, bytes }, Int(n)) | ("Mul", Int(n), Items { count, bytes }) => {
                Items {
                    count: count.saturating_mul(times(n)),
                    bytes: bytes.saturating_mul(times(n)),
                }
            }
            ("Mul", Int(a), Int(b)) => Int(a.saturating_mul(b)),
            ("Add", Int(a), Int(b)) => Int(a.saturating_add(b)),
            ("Sub", Int(a), Int(b)) => Int(a.saturating_sub(b)),
            ("Pow", Int(a), Int(b)) => {
                Int(u32::try_from(b).ok().and_then(|b| a.checked_pow(b)).unwrap_or(i128::MAX))
            }
            ("Add", Text(a), Text(b)) => Text(a.saturating_add(b)),
            ("Add", Items { count: c1, bytes: b1 }, Items { count: c2, bytes: b2 }) => {
                Items { count: c1.saturating_add(c2), bytes: b1.saturating_add(b2) }
            }
            ("Concat", l, r) => Text(l.text_len().saturating_add(r.text_len())),
            _ => Other,
        }
    }
    walk(ast, &too_big).map(drop)
}
