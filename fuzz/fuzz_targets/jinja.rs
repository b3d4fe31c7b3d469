//! The `jinja` fuzz target: [`squall_fuzz::jinja`] under libFuzzer. Run it with
//! `fuzz/run.sh jinja SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::jinja)
}
