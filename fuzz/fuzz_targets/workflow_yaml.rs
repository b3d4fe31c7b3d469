//! The `workflow_yaml` fuzz target: [`squall_fuzz::workflow_yaml`] under libFuzzer. Run it with
//! `fuzz/run.sh workflow_yaml SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::workflow_yaml)
}
