//! The `rbac` fuzz target: [`squall_fuzz::rbac`] under libFuzzer. Run it with
//! `fuzz/run.sh rbac SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::rbac)
}
