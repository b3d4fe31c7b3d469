//! The `signature` fuzz target: [`squall_fuzz::signature`] under libFuzzer. Run it with
//! `fuzz/run.sh signature SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::signature)
}
