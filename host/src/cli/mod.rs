//! The `squall` command line: argument parsing, the commands that work on
//! local files, and the client commands that talk to a running `squall
//! serve` over HTTP (`client.rs`). `anyhow` lives here and in `main`,
//! nowhere else.

mod apikeys;
mod audit;
mod client;
mod cluster;
mod completion;
mod config;
mod engine;
mod executions;
mod inquiry;
mod keys;
mod log_sink;
mod login;
mod output;
mod pack_build;
mod pack_config;
mod pack_dev;
mod pack_fetch;
mod pack_import;
mod pack_new;
mod pack_params;
mod pack_registry;
mod pack_toolchain;
mod packs;
mod password;
mod role_load;
mod roles;
mod rule;
mod rules_remote;
mod run;
mod sdk_source;
mod sensors;
mod serve;
mod triggers;
mod trust;
mod users;
mod workflow;

use std::ffi::OsString;
use std::io::{IsTerminal as _, Write};
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
    /// Run an action on the server and wait for it (`squall run core.echo
    /// message=hi`), or, with `--component FILE`, run one action of a pack
    /// component in a sandbox of this process and print its output JSON.
    Run(run::RunArgs),
    /// The server's executions: list, get, tail, cancel, pause, resume,
    /// re-run.
    Execution(executions::ExecutionArgs),
    /// The server's rules (list, get, create, delete, enable, disable), and
    /// `squall rule test RULE_FILE INSTANCE_FILE` on local files.
    Rule(rule::RuleArgs),
    /// What the rules did with the trigger instances they matched: list
    /// (`--failed` for those that started nothing, with the reason).
    #[command(name = "rule-enforcement")]
    RuleEnforcement(rules_remote::EnforcementArgs),
    /// The server's trigger types.
    Trigger(triggers::TriggerArgs),
    /// The server's trigger instances: list, get, re-emit.
    #[command(name = "trigger-instance")]
    TriggerInstance(triggers::InstanceArgs),
    /// The server's key-value datastore: list, get, set, delete.
    Key(keys::KeyArgs),
    /// The packs the server runs.
    Pack(packs::PackArgs),
    /// Manage the keys pack bundles may be signed with.
    Trust(trust::TrustArgs),
    /// The server's audit log: pack lifecycle, trust changes, denied capabilities.
    Audit(audit::AuditArgs),
    /// Questions workflows ask people (`core.ask`): list, get, respond.
    Inquiry(inquiry::InquiryArgs),
    /// The actions the server can run.
    Action(packs::ActionArgs),
    /// The server's API keys: create, list, revoke.
    Apikey(apikeys::ApiKeyArgs),
    /// Sign in with a password; the token is stored in the client config
    /// file and used by the commands after it.
    Login(login::LoginArgs),
    /// Revoke the stored token and remove it from the config file.
    Logout(login::LogoutArgs),
    /// The server's users: create, list, get, delete, passwd.
    User(users::UserArgs),
    /// The server's roles (StackStorm RBAC): list, get, assign, revoke, and
    /// load StackStorm role and assignment files.
    Role(roles::RoleArgs),
    /// The server's poll sensors.
    Sensor(sensors::SensorArgs),
    /// Check Orquesta workflow files and show their task graph.
    Workflow(workflow::WorkflowArgs),
    /// Run the engine in the foreground on trigger instances read as JSON
    /// lines from standard input, acknowledging each once committed.
    Engine(engine::EngineArgs),
    /// Run the engine with the HTTP API in front of it, until Ctrl-C or
    /// SIGTERM.
    Serve(serve::ServeArgs),
    /// A cluster's nodes, their heartbeats and work, and its log's health
    /// on NATS JetStream.
    Cluster(cluster::ClusterArgs),
    /// Print a shell completion script (bash, zsh or fish) for `squall`.
    Completion(completion::CompletionArgs),
}

/// Exit status when the command was used wrongly or its input is unusable
/// (clap uses the same for argument errors).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status when the action ran and did not succeed.
pub(crate) const EXIT_FAILED: u8 = 1;

/// The binary's entry point: [`execute`] on the process's arguments and
/// standard streams.
pub fn main() -> ExitCode {
    // Held to the end, so that the last log lines reach stderr.
    let _logs = init_tracing();
    // Unlocked handles: each write takes the lock for itself. Holding the
    // locks for the whole command would block every other thread that logs
    // to stderr (tracing) for as long as `squall serve` runs.
    let code = execute(std::env::args_os(), &mut std::io::stdout(), &mut std::io::stderr());
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
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // Scripts that asked for JSON read stdout: a failure is JSON there too
    // (and the usual line on stderr, for people).
    let json = args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--json");
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
        Command::Execution(args) => executions::run(args, stdout, stderr),
        Command::Rule(args) => rule::run(args, stdout, stderr),
        Command::RuleEnforcement(args) => rules_remote::run_enforcement(args, stdout, stderr),
        Command::Trigger(args) => triggers::run(args, stdout),
        Command::TriggerInstance(args) => triggers::run_instance(args, stdout, stderr),
        Command::Key(args) => keys::run(args, stdout),
        Command::Pack(args) => packs::run(args, stdout, stderr),
        Command::Trust(args) => trust::run(args, stdout),
        Command::Audit(args) => audit::run(args, stdout),
        Command::Inquiry(args) => inquiry::run(args, stdout),
        Command::Action(args) => packs::run_action(args, stdout),
        Command::Apikey(args) => apikeys::run(args, stdout, stderr),
        Command::Login(args) => login::login(args, stdout, stderr),
        Command::Logout(args) => login::logout(args, stdout),
        Command::User(args) => users::run(args, stdout),
        Command::Role(args) => roles::run(args, stdout, stderr),
        Command::Sensor(args) => sensors::run(args, stdout),
        Command::Workflow(args) => workflow::run(args, stdout, stderr),
        Command::Engine(args) => engine::run(args, stdout, stderr),
        Command::Serve(args) => serve::run(args, stdout, stderr),
        Command::Completion(args) => completion::run(args, stdout),
        Command::Cluster(args) => cluster::run(args, stdout),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            let message = one_line(&error);
            if json {
                let _ = writeln!(stdout, "{}", serde_json::json!({ "error": message }));
            }
            let _ = writeln!(stderr, "error: {message}");
            EXIT_USAGE
        }
    }
}

fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Logs to stderr through [`log_sink`], so that a full, failing or blocked
/// stderr costs log lines, never a request.
fn init_tracing() -> log_sink::Flush {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SQUALL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let (sink, flush) = log_sink::LogSink::start(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .with_writer(sink)
        .init();
    flush
}

/// Whether output to a stream may carry ANSI colours: only on a terminal,
/// and never when `NO_COLOR` is set to anything but the empty string
/// (<https://no-color.org>).
pub(crate) fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        // Conflicting flags, duplicate names and the like, which clap would
        // otherwise only report when that command is run (or completed).
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
