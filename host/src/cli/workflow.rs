//! `squall workflow validate FILE` and `squall workflow inspect FILE`: the
//! Orquesta workflow checks and task graph on local files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::workflow;

#[derive(Debug, clap::Args)]
pub(crate) struct WorkflowArgs {
    #[command(subcommand)]
    command: WorkflowCommand,
}

#[derive(Debug, clap::Subcommand)]
enum WorkflowCommand {
    /// Check a workflow file: exit 0 with "FILE: ok, N tasks", or 2 with
    /// every problem, one per line (`FILE:LINE: FIELD: message`).
    Validate(FileArgs),
    /// Show a workflow's task graph: each task, its action, and its
    /// transitions with their conditions and publishes.
    Inspect(FileArgs),
}

#[derive(Debug, clap::Args)]
struct FileArgs {
    /// The workflow, in Orquesta's YAML (`version: 1.0`).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

pub(crate) fn run(
    args: WorkflowArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let (file, inspect) = match args.command {
        WorkflowCommand::Validate(args) => (args.file, false),
        WorkflowCommand::Inspect(args) => (args.file, true),
    };
    let name = file.display().to_string();
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
    match workflow::load(&text, &name) {
        Ok(loaded) if inspect => {
            write!(stdout, "{}", workflow::render(&loaded))?;
            Ok(0)
        }
        Ok(loaded) => {
            // What Orquesta accepts but is likely a mistake: said, not refused.
            for warning in &loaded.warnings {
                writeln!(stderr, "warning: {warning}")?;
            }
            let n = loaded.tasks.len();
            let w = loaded.warnings.len();
            let warnings = match w {
                0 => String::new(),
                1 => ", 1 warning".to_owned(),
                w => format!(", {w} warnings"),
            };
            writeln!(stdout, "{name}: ok, {n} task{}{warnings}", if n == 1 { "" } else { "s" })?;
            Ok(0)
        }
        Err(invalid) => {
            for diagnostic in &invalid.diagnostics {
                writeln!(stderr, "{diagnostic}")?;
            }
            Ok(super::EXIT_USAGE)
        }
    }
}
