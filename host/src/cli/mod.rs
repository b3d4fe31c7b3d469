//! The `squall` command line: argument parsing and the commands that work on
//! local files. `anyhow` lives here and in `main`, nowhere else.

mod engine;
mod rule;
mod run;
mod serve;

use std::ffi::OsString;
use std::io::Write;
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
    /// Work with rule files: `squall rule test RULE_FILE INSTANCE_FILE`.
    Rule(rule::RuleArgs),
    /// Run the engine in the foreground on trigger instances read as JSON
    /// lines from standard input, acknowledging each once committed.
    Engine(engine::EngineArgs),
    /// Run the engine with the HTTP API in front of it, until Ctrl-C or
    /// SIGTERM.
    Serve(serve::ServeArgs),
}

/// Exit status when the command was used wrongly or its input is unusable
/// (clap uses the same for argument errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status when the action ran and did not succeed.
pub(crate) const EXIT_FAILED: u8 = 1;

/// The binary's entry point: [`execute`] on the process's arguments and
/// standard streams.
pub fn main() -> ExitCode {
    init_tracing();
    let code =
        execute(std::env::args_os(), &mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    ExitCode::from(code)
}

/// Parses `args` (the first is the program name), runs the command and
/// returns its exit status. Output goes to `stdout`; logs and errors, each
/// error on one line, go to `stderr`. Tests drive the CLI through this.
pub fn execute(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let rendered = error.render().to_string();
            let stream: &mut dyn Write = if error.use_stderr() { stderr } else { stdout };
            let _ = stream.write_all(rendered.as_bytes());
            return u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE);
        }
    };
    let outcome = match cli.command {
        Command::Run(args) => run::run(args, stdout, stderr),
        Command::Rule(args) => rule::run(args, stdout, stderr),
        Command::Engine(args) => engine::run(args, stdout, stderr),
        Command::Serve(args) => serve::run(args, stdout, stderr),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(stderr, "error: {}", one_line(&error));
            EXIT_USAGE
        }
    }
}

fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SQUALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
