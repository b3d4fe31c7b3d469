//! The `webhook_body` fuzz target: [`squall_fuzz::webhook_body`] under libFuzzer. Run it with
//! `fuzz/run.sh webhook_body SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::webhook_body)
}
