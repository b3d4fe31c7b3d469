//! `squall user create|list|get|delete|passwd`: the server's users. Roles
//! are assigned at creation or with `squall role assign`; passwords are
//! read at the terminal or from standard input, never from flags.

use std::io::Write;

use serde_json::{Value, json};

use super::client::{Client, Remote, segment};
use super::output::{Fields, Table, items, print_json, text, time};
use super::password::Passwords;

#[derive(Debug, clap::Args)]
pub(crate) struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Create a user, with a password (asked for, or read with
    /// --password-stdin) unless --no-password.
    Create(CreateArgs),
    /// List the users and their roles.
    List(ListArgs),
    /// Show a user.
    Get(NameArgs),
    /// Delete a user; their tokens and API keys stop working.
    Delete(NameArgs),
    /// Set a user's password. Changing your own asks for the current one
    /// too; the server requires it unless you may modify users.
    Passwd(PasswdArgs),
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// The user's name: 1 to 200 characters, without `/` or `:`.
    #[arg(value_name = "NAME")]
    name: String,
    /// A role to assign, e.g. `observer` or one from `squall role list`.
    /// Repeatable.
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    /// Read the password from the first line of standard input instead of
    /// asking for it (twice) at the terminal.
    #[arg(long, conflicts_with = "no_password")]
    password_stdin: bool,
    /// Create the user without a password: they cannot log in, and act
    /// only through API keys made for them (`squall apikey create NAME
    /// --user USER`).
    #[arg(long)]
    no_password: bool,
    /// What the user is for.
    #[arg(long, value_name = "TEXT", default_value = "")]
    description: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    /// The user's name.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Debug, clap::Args)]
struct PasswdArgs {
    /// Whose password to set.
    #[arg(value_name = "NAME")]
    name: String,
    /// Read from standard input instead of the terminal: the new password
    /// on the first line; when changing your own, the current password on
    /// the first line and the new one on the second.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    remote: Remote,
}

pub(crate) fn run(args: UserArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    match args.command {
        UserCommand::Create(args) => {
            // Read before anything is sent, so a mistyped password sends nothing.
            let password = if args.no_password {
                None
            } else {
                let mut passwords = Passwords::new(args.password_stdin)?;
                Some(passwords.new_password(&format!("the password for {}", args.name))?)
            };
            let client = Client::new(&args.remote)?;
            let mut body = json!({"name": args.name, "roles": args.roles,
                                  "description": args.description});
            if let Some(password) = password {
                body["password"] = json!(password);
            }
            let user = client.post_json("/users", &body)?.body;
            show(stdout, &user, args.remote.json)?;
        }
        UserCommand::List(args) => {
            let users = Client::new(&args.remote)?.get("/users", &[])?.body;
            if args.remote.json {
                print_json(stdout, &users)?;
                return Ok(0);
            }
            let mut table = Table::new(&["NAME", "ROLES", "ENABLED", "PASSWORD", "DESCRIPTION"]);
            for user in items(&users) {
                table.row(vec![
                    text(user, "name"),
                    roles(user),
                    text(user, "enabled"),
                    yes_no(user, "has_password"),
                    text(user, "description"),
                ]);
            }
            table.print(stdout, "no users")?;
        }
        UserCommand::Get(args) => {
            let client = Client::new(&args.remote)?;
            let user = client.get(&format!("/users/{}", segment(&args.name)), &[])?.body;
            show(stdout, &user, args.remote.json)?;
        }
        UserCommand::Delete(args) => {
            let client = Client::new(&args.remote)?;
            client.delete(&format!("/users/{}", segment(&args.name)), &[])?;
            if args.remote.json {
                print_json(stdout, &json!({"name": args.name, "deleted": true}))?;
            } else {
                writeln!(stdout, "user {} deleted", args.name)?;
            }
        }
        UserCommand::Passwd(args) => passwd(args, stdout)?,
    }
    Ok(0)
}

fn passwd(args: PasswdArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let client = Client::new(&args.remote)?;
    let me = client.get("/user", &[])?.body;
    let own = text(&me, "username") == args.name;
    let mut passwords = Passwords::new(args.password_stdin)?;
    let mut body = json!({});
    if own {
        body["current_password"] = json!(passwords.read("your current password")?);
    }
    body["password"] =
        json!(passwords.new_password(&format!("the new password for {}", args.name))?);
    client.put_json(&format!("/users/{}/password", segment(&args.name)), &body)?;
    if args.remote.json {
        print_json(stdout, &json!({"name": args.name, "password_changed": true}))?;
    } else {
        writeln!(stdout, "password of {} changed", args.name)?;
    }
    Ok(())
}

/// A user for people, or the server's JSON.
pub(super) fn show(stdout: &mut dyn Write, user: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(stdout, user);
    }
    Fields::new()
        .add("name", text(user, "name"))
        .add("roles", roles(user))
        .add("enabled", text(user, "enabled"))
        .add("password", yes_no(user, "has_password"))
        .add("description", text(user, "description"))
        .add("created", time(user, "created_at"))
        .add("updated", time(user, "updated_at"))
        .print(stdout)
}

/// A user's roles, comma-separated, or `none`.
pub(super) fn roles(user: &Value) -> String {
    let names: Vec<&str> = items(&user["roles"]).iter().filter_map(Value::as_str).collect();
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

fn yes_no(value: &Value, field: &str) -> String {
    if value[field].as_bool() == Some(true) { "yes" } else { "no" }.to_owned()
}
