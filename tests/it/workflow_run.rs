//! Workflows run by the conductor against a simulated runner,
//! data-driven. Each `workflows/run/NAME.yaml` has beside it
//! `NAME.script.json`, the workflow input and canned action outcomes, run
//! by the shared simulated runner (`tests/simulated.rs` says the script's
//! form and the trace's). The trace is compared with `NAME.expected`;
//! `UPDATE_EXPECT=1` rewrites them. Every fixture also runs a second time
//! with the state serialized to JSON and the conductor resumed from it
//! after every step, which must give the same trace.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde_json::{Map, json};
use squall::workflow::{self, Command, Conductor, Outcome, Workflow, WorkflowState};
use squall_tests::simulated::{self, Options, Script};

fn fixtures() -> Vec<PathBuf> {
    squall_tests::yaml_fixtures("it/workflows/run")
}

/// The fixture's trace (`round_trip`: the conductor rebuilt from its
/// state serialized to JSON after every step).
fn run(workflow: &Workflow, path: &Path, round_trip: bool) -> String {
    let script = path.with_extension("script.json");
    let script = Script::load(script.exists().then_some(script.as_path()));
    let options = Options { round_trip, ..Options::default() };
    simulated::trace(workflow, script, &options, &path.display().to_string())
}

#[test]
fn every_run_fixture_matches_its_expected_trace() {
    let files = fixtures();
    assert!(files.len() >= 15, "fixtures missing: {files:?}");
    squall_tests::check_expected(&files, |path| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_owned();
        let text = std::fs::read_to_string(path).expect("a fixture");
        let loaded = workflow::load(&text, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let actual = run(&loaded, path, false);
        let resumed = run(&loaded, path, true);
        assert_eq!(actual, resumed, "{name}: resuming from the serialized state changes the run");
        actual
    });
}

#[test]
fn a_state_serialized_mid_run_resumes_to_the_same_end() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("it/workflows/run/join_all.yaml");
    let text = std::fs::read_to_string(&path).expect("a fixture");
    let loaded = workflow::load(&text, "join_all.yaml").expect("valid");
    let (mut conductor, commands) = Conductor::start(&loaded, Map::new()).expect("started");
    let mut queue: VecDeque<Command> = commands.into();
    // Finish one action, then persist, drop and resume.
    if let Some(Command::RunAction { task, input, .. }) = queue.pop_front() {
        let more = conductor
            .on_action_finished(&task, None, Outcome::Succeeded(json!({"result": input})))
            .expect("accepted");
        queue.extend(more);
    }
    let saved = serde_json::to_value(conductor.state()).expect("serializable");
    drop(conductor);
    let state: WorkflowState = serde_json::from_value(saved).expect("deserializable");
    let mut conductor = Conductor::resume(&loaded, state);
    while let Some(command) = queue.pop_front() {
        let more = match command {
            Command::RunAction { task, input, item, .. } => conductor
                .on_action_finished(&task, item, Outcome::Succeeded(json!({"result": input})))
                .expect("accepted"),
            Command::Wait { task, .. } => conductor.on_timer(&task).expect("accepted"),
        };
        queue.extend(more);
    }
    assert_eq!(conductor.status(), workflow::WorkflowStatus::Succeeded);
    assert!(conductor.output().is_some());
}
