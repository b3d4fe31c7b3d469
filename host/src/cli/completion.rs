//! `squall completion bash|zsh|fish`: a shell completion script for the
//! whole command table, printed to standard output.

use std::io::Write;

use clap::CommandFactory as _;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionArgs {
    /// The shell to complete for. Load it with e.g. `source <(squall
    /// completion bash)`, or save it where the shell looks for completions.
    #[arg(value_name = "SHELL")]
    shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

pub(crate) fn run(args: CompletionArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut command = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "squall", &mut script);
    stdout.write_all(&script)?;
    Ok(0)
}
