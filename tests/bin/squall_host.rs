//! The `squall` binary's entry point, built inside the test crate so that
//! tests can start the host as a real process (`CARGO_BIN_EXE_squall-host`)
//! and kill it.

fn main() -> std::process::ExitCode {
    squall::cli::main()
}
