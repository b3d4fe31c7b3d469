//! What an expression calls, for a host's static checks (unknown
//! functions, the variables `ctx(x)` / `ctx().x` read) without evaluating.

use serde_json::Value;

use crate::ast::{Arg, Expr, Kind};
use crate::stdlib::{self, Form};

/// One call in an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRef {
    /// The function or method name.
    pub name: String,
    /// Whether it is written as a method (`x.name()`).
    pub method: bool,
    /// The 1-based column of the call.
    pub column: usize,
    /// Each positional argument's value when it is a literal or a bare name
    /// (`ctx(x)` gives `Some("x")`), `None` otherwise.
    pub args: Vec<Option<Value>>,
    /// The key read from the call's result right after it: `ctx().x`,
    /// `ctx()['x']` give `Some("x")`.
    pub key: Option<String>,
}

/// Whether yaql's library (as this crate has it) has `name` in that form.
pub fn is_library_function(name: &str, method: bool) -> bool {
    match stdlib::find(name) {
        Some(b) => match b.form {
            Form::Function => !method,
            Form::Method => method,
            Form::Both | Form::Raw => true,
        },
        None => matches!(name, "thenBy" | "thenByDescending") && method,
    }
}

fn literal(expr: &Expr) -> Option<Value> {
    match &expr.kind {
        Kind::Literal(v) => Some(v.clone()),
        Kind::Keyword(name) => Some(Value::String(name.clone())),
        _ => None,
    }
}

fn call_ref(expr: &Expr, key: Option<String>) -> Option<CallRef> {
    let (name, args, method) = match &expr.kind {
        Kind::Call { name, args } => (name, args, false),
        Kind::Method { name, args, .. } => (name, args, true),
        _ => return None,
    };
    let args = args
        .iter()
        .filter_map(|a| match a {
            Arg::Pos(e) => Some(literal(e)),
            Arg::Pair(..) => None,
        })
        .collect();
    Some(CallRef { name: name.clone(), method, column: expr.column, args, key })
}

pub(crate) fn collect(expr: &Expr, out: &mut Vec<CallRef>) {
    // A call read by a key right away: record the key with the call.
    let keyed = match &expr.kind {
        Kind::Attr { receiver, name, .. } => Some((receiver.as_ref(), Some(name.clone()))),
        Kind::Index { receiver, args } => match args.as_slice() {
            [Arg::Pos(Expr { kind: Kind::Literal(Value::String(k)), .. })] => {
                Some((receiver.as_ref(), Some(k.clone())))
            }
            _ => None,
        },
        _ => None,
    };
    if let Some((receiver, key)) = keyed
        && let Some(call) = call_ref(receiver, key)
    {
        out.push(call);
        walk_children(receiver, out);
        if let Kind::Index { args, .. } = &expr.kind {
            walk_args(args, out);
        }
        return;
    }
    if let Some(call) = call_ref(expr, None) {
        out.push(call);
    }
    walk_children(expr, out);
}

fn walk_args(args: &[Arg], out: &mut Vec<CallRef>) {
    for arg in args {
        match arg {
            Arg::Pos(e) => collect(e, out),
            Arg::Pair(k, v) => {
                collect(k, out);
                collect(v, out);
            }
        }
    }
}

fn walk_children(expr: &Expr, out: &mut Vec<CallRef>) {
    match &expr.kind {
        Kind::Literal(_) | Kind::Keyword(_) | Kind::Var(_) | Kind::Skipped => {}
        Kind::List(args) | Kind::Map(args) | Kind::Call { args, .. } => walk_args(args, out),
        Kind::Method { receiver, args, .. } | Kind::Index { receiver, args } => {
            collect(receiver, out);
            walk_args(args, out);
        }
        Kind::Attr { receiver, .. } => collect(receiver, out),
        Kind::Binary { left, right, .. } => {
            collect(left, out);
            collect(right, out);
        }
        Kind::Unary { operand, .. } => collect(operand, out),
    }
}

#[cfg(test)]
mod tests {
    use crate::Expression;
    use serde_json::json;

    #[test]
    fn calls_name_their_literal_arguments_and_keys() {
        let expr =
            Expression::parse("ctx(a) + ctx().b + ctx()['c'] + len(ctx(d).where($ > item(k)))")
                .expect("parses");
        let calls: Vec<_> =
            expr.calls().into_iter().map(|c| (c.name, c.method, c.args, c.key)).collect();
        assert_eq!(
            calls,
            [
                ("ctx".to_owned(), false, vec![Some(json!("a"))], None),
                ("ctx".to_owned(), false, vec![], Some("b".to_owned())),
                ("ctx".to_owned(), false, vec![], Some("c".to_owned())),
                ("len".to_owned(), false, vec![None], None),
                ("where".to_owned(), true, vec![None], None),
                ("ctx".to_owned(), false, vec![Some(json!("d"))], None),
                ("item".to_owned(), false, vec![Some(json!("k"))], None),
            ]
        );
        assert!(super::is_library_function("len", false));
        assert!(super::is_library_function("len", true));
        assert!(!super::is_library_function("select", false));
        assert!(super::is_library_function("thenBy", true));
        assert!(!super::is_library_function("ctx", false));
    }
}
