//! Random token soup must give a value or an error, never a panic, a hang
//! or a stack overflow.

use serde_json::json;
use squall_yaql::{Expression, Limits, MapHost, render};

const PIECES: &[&str] = &[
    "$",
    "$.a",
    "$.b",
    ".",
    "?.",
    "[",
    "]",
    "(",
    ")",
    "{",
    "}",
    ",",
    "=>",
    "->",
    "+",
    "-",
    "*",
    "/",
    "mod",
    "=",
    "!=",
    "<",
    ">=",
    "and",
    "or",
    "not",
    "in",
    "=~",
    "1",
    "0",
    "-1",
    "2.5",
    "'x'",
    "'a b'",
    "`\\d`",
    "null",
    "true",
    "name",
    "select(",
    "where(",
    "len(",
    "let(",
    "range(",
    "str(",
    "join(",
    "split(",
    "orderBy(",
    "thenBy(",
    "groupBy(",
    "sum(",
    "max(",
    "dict(",
    "list(",
    "regex(",
    "format(",
    "replace(",
    "switch(",
    "coalesce(",
    "flatten(",
    "aggregate(",
    "$1",
    "$2",
    "zip(",
    "ctx(",
    "repeat(",
    "mergeWith(",
    "toDict(",
    "[1, 2, 3]",
    "{a => [1, {b => 2}]}",
    "'{0}'",
    "$x",
    "searchAll(",
    "substring(",
];

fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn random_expressions_never_panic() {
    let data = json!({"a": [1, 2, {"c": "d"}], "b": {"k": [true, null]}});
    let host = MapHost::new().with_ctx(data.as_object().cloned().unwrap_or_default());
    let limits = Limits { steps: 20_000, collection: 1_000, string: 10_000 };
    let mut seed = 7u64;
    let mut evaluated = 0;
    for _ in 0..20_000 {
        let len = 1 + next(&mut seed) % 12;
        let mut text = String::new();
        for _ in 0..len {
            let piece = PIECES[(next(&mut seed) % PIECES.len() as u64) as usize];
            text.push_str(piece);
            if next(&mut seed).is_multiple_of(3) {
                text.push(' ');
            }
        }
        if let Ok(expr) = Expression::parse(&text) {
            evaluated += 1;
            let _ = expr.evaluate_with(&data, &host, &limits);
        }
        let _ = render(&format!("x <% {text} %> <% {text} %>"), &data, &host, &limits);
    }
    assert!(evaluated > 500, "only {evaluated} random expressions parsed");
}

#[test]
fn deep_values_stay_bounded() {
    let limits = Limits::default();
    let host = MapHost::new();
    // Each step nests the list deeper; the budget stops it long before the
    // stack would.
    let got = Expression::parse("range(100000).aggregate([$1], [])")
        .and_then(|e| e.evaluate_with(&json!(null), &host, &limits));
    assert!(got.is_err(), "{got:?}");
    let got = Expression::parse("range(3).aggregate([$1], [])")
        .and_then(|e| e.evaluate_with(&json!(null), &host, &limits));
    assert_eq!(got, Ok(json!([[[[]]]])));
}

#[test]
fn recursion_through_def_stays_on_a_small_stack() {
    // A body 90 levels deep that calls itself: evaluation nesting is
    // bounded in all, so a 2 MiB thread (a tokio worker's) is enough.
    let body = format!("{}f($){}", "[".repeat(90), "]".repeat(90));
    let source = format!("def(f, {body}) -> f(1)");
    let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(move || {
        Expression::parse(&source)
            .and_then(|e| e.evaluate(&json!(null), &MapHost::new()))
            .map_err(|e| e.kind())
    });
    let got = worker.expect("a thread").join().expect("no stack overflow");
    assert_eq!(got, Err("size_limit"));
}
