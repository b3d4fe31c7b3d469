//! `squall role list|get|assign|revoke|load`: the server's roles in
//! StackStorm's RBAC model and who holds them. `load` (in `role_load.rs`)
//! applies a directory of StackStorm role and assignment files.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, print_json, text};
use super::users::roles;

#[derive(Debug, clap::Args)]
pub(crate) struct RoleArgs {
    #[command(subcommand)]
    command: RoleCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RoleCommand {
    /// List the roles: the system roles and the custom ones.
    List(ListArgs),
    /// Show a role: its permission grants and who holds it.
    Get(GetArgs),
    /// Give a user a role (creating the user, without a password, if there
    /// is none).
    Assign(AssignArgs),
    /// Take a role from a user.
    Revoke(AssignArgs),
    /// Apply StackStorm's RBAC definitions: DIR/roles/*.yaml, then
    /// DIR/assignments/*.yaml. Every file is checked first; if one does not
    /// load, nothing is sent.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct GetArgs {
    /// The role's name.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct AssignArgs {
    /// The user's name.
    #[arg(value_name = "USER")]
    user: String,
    /// The role's name (`squall role list`).
    #[arg(value_name = "ROLE")]
    role: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
pub(super) struct LoadArgs {
    /// The directory holding `roles/` and `assignments/` (StackStorm's
    /// `/opt/stackstorm/rbac` layout); either may be missing.
    #[arg(value_name = "DIR")]
    pub(super) dir: PathBuf,
    #[command(flatten)]
    pub(super) remote: Remote,
}

pub(crate) fn run(
    args: RoleArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    match args.command {
        RoleCommand::List(args) => {
            let list = Client::new(&args.remote)?.get("/rbac/roles", &[])?.body;
            if args.remote.json {
                print_json(stdout, &list)?;
                return Ok(0);
            }
            let mut table = Table::new(&["NAME", "SYSTEM", "ENABLED", "GRANTS", "DESCRIPTION"]);
            for role in items(&list) {
                table.row(vec![
                    text(role, "name"),
                    if role["system"] == json!(true) { "yes" } else { "no" }.to_owned(),
                    text(role, "enabled"),
                    items(&role["permission_grants"]).len().to_string(),
                    text(role, "description"),
                ]);
            }
            table.print(stdout, "no roles")?;
        }
        RoleCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let role = client.get(&format!("/rbac/roles/{}", segment(&args.name)), &[])?.body;
            if args.remote.json {
                print_json(stdout, &role)?;
                return Ok(0);
            }
            let held = client.get("/rbac/role_assignments", &[("role", args.name.clone())])?.body;
            let mut users: Vec<String> = items(&held).iter().map(|a| text(a, "user")).collect();
            users.sort();
            users.dedup();
            Fields::new()
                .add("name", text(&role, "name"))
                .add("description", text(&role, "description"))
                .add("enabled", text(&role, "enabled"))
                .add("system", text(&role, "system"))
                .add("grants", grants(&role))
                .add("users", if users.is_empty() { "none".to_owned() } else { users.join(", ") })
                .print(stdout)?;
        }
        RoleCommand::Assign(args) => {
            let client = Client::new(&args.remote)?;
            let path = format!("/users/{}/roles/{}", segment(&args.user), segment(&args.role));
            let user = client.put_empty(&path)?.body;
            changed(stdout, &user, args.remote.json)?;
        }
        RoleCommand::Revoke(args) => {
            let client = Client::new(&args.remote)?;
            let path = format!("/users/{}/roles/{}", segment(&args.user), segment(&args.role));
            let user = client.delete(&path, &[])?.body;
            changed(stdout, &user, args.remote.json)?;
        }
        RoleCommand::Load(args) => return super::role_load::run(&args, stdout, stderr),
    }
    Ok(0)
}

/// A role's grants, one a line: `RESOURCE: PERMISSION, …`, `(global)` for
/// those on no resource; `none` (a system role's power is its name).
fn grants(role: &Value) -> String {
    let lines: Vec<String> = items(&role["permission_grants"])
        .iter()
        .map(|grant| {
            let on = grant["resource_uid"].as_str().unwrap_or("(global)");
            let types: Vec<&str> =
                items(&grant["permission_types"]).iter().filter_map(Value::as_str).collect();
            format!("{on}: {}", types.join(", "))
        })
        .collect();
    match lines.len() {
        0 => "none".to_owned(),
        // On its own line even when there is one, so grants read alike.
        _ => format!("{}\n", lines.join("\n")),
    }
}

/// What a user holds after an assignment changed.
fn changed(stdout: &mut dyn Write, user: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(stdout, user);
    }
    writeln!(stdout, "{} now holds: {}", text(user, "name"), roles(user))?;
    Ok(())
}
