//! The `rule_yaml` fuzz target: [`squall_fuzz::rule_yaml`] under libFuzzer. Run it with
//! `fuzz/run.sh rule_yaml SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::rule_yaml)
}
