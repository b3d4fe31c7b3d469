//! Runs every case of `tests/cases/*.txt`.
//!
//! A file is a list of cases. A case starts with `expr: EXPRESSION` (one
//! YAQL expression) or `render: TEXT` (a text with `<% %>` spans, rendered
//! as Orquesta does), optionally followed by `data: JSON` (the value of `$`
//! and of `ctx()`; a `data:` line before the first case is the file's
//! default), then `want: JSON` (the value) or `error: KIND` /
//! `error: KIND at COLUMN` (see `Error::kind`). `#` starts a comment line.

use std::fs;
use std::path::Path;

use serde_json::Value;
use squall_yaql::{Expression, Limits, MapHost, render};

#[derive(Debug, Default)]
struct Case {
    file: String,
    line: usize,
    expr: Option<String>,
    render: Option<String>,
    data: Option<Value>,
    want: Option<Value>,
    error: Option<String>,
}

fn parse_file(path: &Path) -> (Vec<Case>, Value) {
    let text = fs::read_to_string(path).expect("a readable case file");
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
    let mut cases: Vec<Case> = Vec::new();
    let mut default = Value::Null;
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("{file}:{line_no}: expected `key: value`"));
        let json = |s: &str| -> Value {
            serde_json::from_str(s)
                .unwrap_or_else(|e| panic!("{file}:{line_no}: bad JSON `{s}`: {e}"))
        };
        match key {
            "expr" | "render" => {
                let mut case = Case { file: file.clone(), line: line_no, ..Case::default() };
                if key == "expr" {
                    case.expr = Some(rest.to_owned());
                } else {
                    case.render = Some(rest.to_owned());
                }
                cases.push(case);
            }
            "data" => match cases.last_mut() {
                Some(case) => case.data = Some(json(rest)),
                None => default = json(rest),
            },
            "want" => cases.last_mut().expect("a case").want = Some(json(rest)),
            "error" => cases.last_mut().expect("a case").error = Some(rest.to_owned()),
            other => panic!("{file}:{line_no}: unknown key `{other}`"),
        }
    }
    (cases, default)
}

fn host(data: &Value) -> MapHost {
    let vars = data.as_object().cloned().unwrap_or_default();
    MapHost::new().with_ctx(vars).with("echo", |args, named| {
        let mut out: Vec<Value> = args.to_vec();
        for (k, v) in named {
            out.push(serde_json::json!({ k: v }));
        }
        Ok(Value::Array(out))
    })
}

fn run(case: &Case, default: &Value) -> Result<(), String> {
    let data = case.data.clone().unwrap_or_else(|| default.clone());
    let host = host(&data);
    let limits = Limits { steps: 200_000, collection: 10_000, string: 100_000 };
    let got: Result<Value, (String, usize, String)> = if let Some(expr) = &case.expr {
        Expression::parse(expr)
            .and_then(|e| e.evaluate_with(&data, &host, &limits))
            .map_err(|e| (e.kind().to_owned(), e.column(), e.to_string()))
    } else {
        let text = case.render.as_deref().unwrap_or_default();
        render(text, &data, &host, &limits)
            .map_err(|e| (e.error.kind().to_owned(), e.error.column(), e.to_string()))
    };
    match (&case.want, &case.error, got) {
        (Some(want), None, Ok(got)) if *want == got => Ok(()),
        (Some(want), None, Ok(got)) => Err(format!("want {want}, got {got}")),
        (Some(want), None, Err((_, _, message))) => {
            Err(format!("want {want}, got the error: {message}"))
        }
        (None, Some(error), Err((kind, column, message))) => {
            let (want_kind, want_column) = match error.split_once(" at ") {
                Some((k, c)) => (k, Some(c.parse::<usize>().map_err(|_| "bad column".to_owned())?)),
                None => (error.as_str(), None),
            };
            if want_kind != kind || want_column.is_some_and(|c| c != column) {
                return Err(format!("want the error {error}, got {kind} at {column}: {message}"));
            }
            Ok(())
        }
        (None, Some(error), Ok(got)) => Err(format!("want the error {error}, got {got}")),
        _ => Err("a case needs exactly one of `want:` and `error:`".into()),
    }
}

#[test]
fn cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut paths: Vec<_> =
        fs::read_dir(&dir).expect("tests/cases").filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    let mut failures = Vec::new();
    let mut total = 0;
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "txt")) {
        let (cases, default) = parse_file(path);
        for case in &cases {
            total += 1;
            if let Err(why) = run(case, &default) {
                let source = case.expr.as_deref().or(case.render.as_deref()).unwrap_or_default();
                failures.push(format!("{}:{}: `{}`: {}", case.file, case.line, source, why));
            }
        }
    }
    assert!(total > 0, "no cases found");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        total,
        failures.join("\n")
    );
}
