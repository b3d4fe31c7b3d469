//! The `bundle` fuzz target: [`squall_fuzz::bundle`] under libFuzzer. Run it with
//! `fuzz/run.sh bundle SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::bundle)
}
