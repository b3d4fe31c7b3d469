//! `squall rule validate FILE`: whether a rule file loads, and what in it
//! cannot do what it seems to (its warnings). `squall rule test RULE_FILE
//! INSTANCE_FILE`: whether a rule matches a trigger instance and the action
//! parameters it would render, the way `st2-rule-tester` answers it, on
//! local files. The other `squall rule` commands work on the server's rules
//! (`rules_remote.rs`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::rules::{MatchContext, Mismatch, Rule, canonical_trigger_type};

#[derive(Debug, clap::Args)]
pub(crate) struct RuleArgs {
    #[command(subcommand)]
    command: RuleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RuleCommand {
    /// Check a rule file: exit 0 with "FILE: ok, REF" and a `warning:` line
    /// on stderr for each thing that loads but cannot do what it seems to,
    /// or 2 with the error (`FILE: FIELD: expected ..., found ...`).
    Validate(ValidateArgs),
    /// Test a rule against a trigger instance: exit 0 when it matches, 1
    /// when it does not, 2 on an error.
    Test(TestArgs),
    /// List the server's rules.
    List(super::rules_remote::ListArgs),
    /// Show one rule.
    Get(super::rules_remote::RefArgs),
    /// Store a rule from a YAML file and put it in force.
    Create(super::rules_remote::CreateArgs),
    /// Delete a rule.
    Delete(super::rules_remote::RefArgs),
    /// Put a rule in force.
    Enable(super::rules_remote::RefArgs),
    /// Take a rule out of force, keeping it stored.
    Disable(super::rules_remote::RefArgs),
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// The rule, in StackStorm's rule YAML (or JSON).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print the result as one JSON object (`file`, `ref`, `warnings`).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    /// The rule, in StackStorm's rule YAML.
    #[arg(value_name = "RULE_FILE")]
    rule: PathBuf,
    /// The trigger instance, `{"trigger": "<type>", "payload": {...}}`
    /// (JSON or YAML).
    #[arg(value_name = "INSTANCE_FILE")]
    instance: PathBuf,
    /// A datastore entry the templates can read as `st2kv.system.KEY` or
    /// `kv.KEY`; repeat for more.
    #[arg(long = "kv", value_name = "KEY=VALUE")]
    kv: Vec<String>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(
    args: RuleArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    match args.command {
        RuleCommand::Validate(args) => validate(&args.file, args.json, stdout, stderr),
        RuleCommand::Test(args) => test(args, stdout, stderr),
        RuleCommand::List(args) => super::rules_remote::list(args, stdout),
        RuleCommand::Get(args) => super::rules_remote::get(args, stdout),
        RuleCommand::Create(args) => super::rules_remote::create(args, stdout),
        RuleCommand::Delete(args) => super::rules_remote::delete(args, stdout),
        RuleCommand::Enable(args) => super::rules_remote::set_enabled(args, true, stdout),
        RuleCommand::Disable(args) => super::rules_remote::set_enabled(args, false, stdout),
    }
}

/// Loads the rule in `path` and says each of its warnings on `stderr`, as
/// `warning: FILE: FIELD: ...`: it loads, as in StackStorm, and still
/// cannot do what it seems to.
fn load(path: &Path, stderr: &mut dyn Write) -> anyhow::Result<Rule> {
    let name = path.display().to_string();
    let rule = Rule::from_yaml(&read(path)?, &name)?;
    for warning in &rule.warnings {
        writeln!(stderr, "warning: {name}: {warning}")?;
    }
    Ok(rule)
}

fn validate(
    path: &Path,
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let rule = load(path, stderr)?;
    if json {
        let warnings: Vec<String> = rule.warnings.iter().map(ToString::to_string).collect();
        let answer = serde_json::json!({
            "file": path.display().to_string(),
            "ref": rule.reference.to_string(),
            "warnings": warnings,
        });
        writeln!(stdout, "{answer}")?;
        return Ok(0);
    }
    let warnings = match rule.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning".to_owned(),
        w => format!(", {w} warnings"),
    };
    writeln!(stdout, "{}: ok, {}{warnings}", path.display(), rule.reference)?;
    Ok(0)
}

fn test(args: TestArgs, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<u8> {
    let datastore = parse_kv(&args.kv)?;
    let rule_name = args.rule.display().to_string();
    let rule = load(&args.rule, stderr)?;
    let (trigger, payload) = read_instance(&args.instance)?;
    let context = MatchContext::new(Arc::new(datastore), jiff::Timestamp::now());
    if !rule.enabled {
        // Like st2-rule-tester: a disabled rule is tested as if enabled.
        writeln!(stderr, "note: {} is disabled; tested as if it were enabled", rule.reference)?;
    }

    let mismatch = if canonical_trigger_type(&trigger) != rule.canonical_trigger_type() {
        Some(format!(
            "it listens to `{}` triggers and the instance is a `{trigger}` trigger",
            rule.trigger_type
        ))
    } else {
        rule.explain(&payload, &context).map(|mismatch| describe(&mismatch))
    };
    if let Some(reason) = mismatch {
        if args.json {
            let out = json!({"matched": false, "rule": rule.reference, "reason": reason});
            writeln!(stdout, "{out}")?;
        } else {
            writeln!(stdout, "{} does not match: {reason}", rule.reference)?;
        }
        return Ok(super::EXIT_FAILED);
    }

    let parameters = match rule.render_parameters(&payload, &context) {
        Ok(parameters) => Value::Object(parameters),
        Err(error) => bail!("{rule_name}: {}: {}", error.field, error.reason),
    };
    if args.json {
        let out = json!({
            "matched": true,
            "rule": rule.reference,
            "action": rule.action_ref,
            "parameters": parameters,
        });
        writeln!(stdout, "{out}")?;
    } else {
        writeln!(stdout, "{} matches", rule.reference)?;
        writeln!(stdout, "action: {}", rule.action_ref)?;
        writeln!(stdout, "parameters: {}", serde_json::to_string_pretty(&parameters)?)?;
    }
    Ok(0)
}

fn describe(mismatch: &Mismatch) -> String {
    match mismatch {
        Mismatch::EmptyPayload => "the payload is empty and the rule has criteria".to_owned(),
        Mismatch::Criterion { key, operator, pattern: Ok(pattern), value } => {
            format!("criterion `{key}` ({operator} {pattern}) does not hold for the value {value}")
        }
        Mismatch::Criterion { key, operator, pattern: Err(reason), .. } => {
            format!("criterion `{key}` ({operator}): the pattern does not render: {reason}")
        }
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The trigger type and payload of an instance file.
fn read_instance(path: &Path) -> anyhow::Result<(String, Value)> {
    let name = path.display();
    let text = read(path)?;
    crate::limits::check(&text, crate::limits::Format::Yaml)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let instance: Value = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{name}: not valid JSON or YAML"))?;
    let Value::Object(mut instance) = instance else {
        bail!("{name}: expected a map with `trigger` and `payload`");
    };
    let trigger = match instance.remove("trigger") {
        Some(Value::String(trigger)) if !trigger.is_empty() => trigger,
        other => bail!(
            "{name}: trigger: expected the trigger type as a string, found {}",
            other.map_or("nothing".to_owned(), |v| v.to_string())
        ),
    };
    let payload = match instance.remove("payload") {
        None | Some(Value::Null) => json!({}),
        Some(payload @ Value::Object(_)) => payload,
        Some(other) => bail!("{name}: payload: expected a map, found {other}"),
    };
    Ok((trigger, payload))
}

fn parse_kv(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut store = BTreeMap::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                store.insert(key.to_owned(), value.to_owned());
            }
            _ => bail!("--kv `{pair}`: expected KEY=VALUE"),
        }
    }
    Ok(store)
}
