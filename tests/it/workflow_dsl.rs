//! Workflows: the Orquesta DSL read, validated and rendered, data-driven.
//! Each `workflows/NAME.yaml` has a `workflows/NAME.expected` beside it
//! holding what `squall workflow validate` prints followed, for a valid
//! workflow, by what `squall workflow inspect` prints.
//! `UPDATE_EXPECT=1 cargo test` rewrites the `.expected` files.

use std::path::{Path, PathBuf};

use squall::workflow;

fn fixtures() -> Vec<PathBuf> {
    squall_tests::yaml_fixtures("it/workflows")
}

/// The fixture as the CLI shows it, run through `squall::cli::execute`.
fn outcome(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    let dir = path.parent().expect("a directory");
    let run = |command: &str| {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let cwd_relative = dir.join(name);
        let status = squall::cli::execute(
            ["squall", "workflow", command, cwd_relative.to_str().expect("utf-8 path")],
            &mut out,
            &mut err,
        );
        let prefix = format!("{}/", dir.display());
        let text = String::from_utf8_lossy(&out).to_string() + &String::from_utf8_lossy(&err);
        (status, text.replace(&prefix, ""))
    };
    let (status, validated) = run("validate");
    let mut shown = format!("$ squall workflow validate {name}  # exit {status}\n{validated}");
    if status == 0 {
        let (_, inspected) = run("inspect");
        shown.push_str(&format!("\n$ squall workflow inspect {name}\n{inspected}"));
    }
    shown
}

#[test]
fn every_workflow_fixture_matches_its_expected_output() {
    let files = fixtures();
    assert!(files.len() >= 15, "fixtures missing: {files:?}");
    squall_tests::check_expected(&files, outcome);
}

#[test]
fn valid_fixtures_are_named_so_and_invalid_ones_fail() {
    for path in fixtures() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let text = std::fs::read_to_string(&path).expect("a fixture");
        let loaded = workflow::load(&text, &name);
        assert_eq!(loaded.is_err(), name.starts_with("bad_"), "{name}: {loaded:?}");
        if let Err(invalid) = loaded {
            let lines: Vec<usize> = invalid.diagnostics.iter().map(|d| d.line).collect();
            let mut sorted = lines.clone();
            sorted.sort();
            assert_eq!(lines, sorted, "{name}: errors sorted by line");
        }
    }
}

#[test]
fn the_graph_has_start_tasks_and_conditional_edges() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("it/workflows/branching.yaml"),
    )
    .expect("a fixture");
    let loaded = workflow::load(&text, "branching.yaml").expect("valid");
    let graph = workflow::TaskGraph::new(&loaded);
    assert_eq!(graph.start, ["cleanup"]);
    let edges: Vec<(String, String, Option<String>)> = graph
        .edges
        .iter()
        .map(|e| (e.from.clone(), e.to.name().to_owned(), e.when.clone()))
        .collect();
    let when = |s: &str| Some(s.to_owned());
    assert_eq!(
        edges,
        [
            ("cleanup".into(), "notify".into(), when("<% succeeded() %>")),
            ("cleanup".into(), "ticket".into(), when("<% failed() %>")),
            ("cleanup".into(), "page".into(), when("<% failed() %>")),
            ("page".into(), "fail".into(), when("{{ failed() }}")),
        ]
    );
    assert_eq!(graph.inbound("page").into_iter().collect::<Vec<_>>(), ["cleanup"]);
}
