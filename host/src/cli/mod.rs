//! The `squall` command line: argument parsing and the commands that work on
//! local files. `anyhow` lives here and in `main`, nowhere else.

mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Event-driven automation with sandboxed WebAssembly packs.
#[derive(Debug, Parser)]
#[command(name = "squall", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one action of a pack component in the sandbox and print its
    /// output JSON.
    Run(run::RunArgs),
}

/// Exit status when the command was used wrongly or its input is unusable
/// (clap uses the same for argument errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status when the action ran and did not succeed.
pub(crate) const EXIT_FAILED: u8 = 1;

/// Parses the arguments, runs the command and turns its outcome into an
/// exit status; errors are printed as one line on stderr.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SQUALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
