//! The `cron` fuzz target: [`squall_fuzz::cron`] under libFuzzer. Run it with
//! `fuzz/run.sh cron SECONDS`.

fn main() {
    squall_fuzz::driver::run(squall_fuzz::cron)
}
