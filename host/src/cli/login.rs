//! `squall login USER` and `squall logout`: signing in with a password for
//! a token, stored in the client config file so that the commands after it
//! act as that user (on the server that issued it only), and revoking it
//! again.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;

use super::client::{Client, Inputs, KeySource, Remote, ServerError, Target};
use super::config::{Login, forget_login, store_login};
use super::output::{print_json, text};
use super::password::Passwords;

#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {
    /// The user to sign in as.
    #[arg(value_name = "USER")]
    user: String,
    /// Read the password from the first line of standard input instead of
    /// asking for it at the terminal.
    #[arg(long)]
    password_stdin: bool,
    /// How long the token lives, e.g. `8h` or `30m` [default: the
    /// server's, 24h unless `squall serve --token-ttl` says otherwise].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,
    /// The server's URL [default: `$SQUALL_URL`, else `url` in the config
    /// file, else http://127.0.0.1:9101].
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Print what was stored as JSON (never the token itself).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct LogoutArgs {
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn login(
    args: LoginArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<u8> {
    let inputs = Inputs::gather()?;
    let path = inputs.config_path.clone().context(
        "there is no config directory to store the login in: set SQUALL_CONFIG to a file path",
    )?;
    let ttl = match args.ttl {
        Some(ttl) if ttl.as_secs() == 0 => bail!("--ttl: expected at least 1s, got {ttl:?}"),
        ttl => ttl.map(|t| t.as_secs()),
    };
    let remote = Remote { url: args.url.clone(), ..Remote::default() };
    // Signing in sends the password, never a key or token as well.
    let target =
        Target { key: None, key_source: KeySource::None, ..Target::resolve(&remote, &inputs)? };
    let base = target.base.clone();
    let client = Client::for_target(target);
    let password =
        Passwords::new(args.password_stdin)?.read(&format!("password for {}", args.user))?;
    let answer = client.sign_in(&args.user, &password, ttl)?.body;
    let login = Login {
        token: text(&answer, "token"),
        id: text(&answer, "id"),
        user: text(&answer, "user"),
        url: base.clone(),
        expiry: text(&answer, "expiry"),
    };
    if !login.token.starts_with("sqt_") || login.id.is_empty() {
        bail!("{base} answered the sign-in without a token and its id: {answer}");
    }
    store_login(&path, &login)?;
    if args.json {
        print_json(
            stdout,
            &json!({"user": login.user, "id": login.id, "expiry": login.expiry, "url": base,
                    "config": path.display().to_string()}),
        )?;
    } else {
        writeln!(
            stdout,
            "logged in to {base} as {} until {}; the token is stored in {}",
            login.user,
            login.expiry,
            path.display()
        )?;
    }
    // The stored token is sent only to `base`: say so when commands would
    // go elsewhere by default.
    let default = Target::resolve(&Remote::default(), &inputs).map(|t| t.base).ok();
    if default.as_deref() != Some(base.as_str()) {
        writeln!(
            stderr,
            "note: commands go to {} by default; pass --url {base} (or set SQUALL_URL) to use \
             this login",
            default.as_deref().unwrap_or("another server")
        )?;
    }
    Ok(0)
}

pub(crate) fn logout(args: LogoutArgs, stdout: &mut dyn Write) -> anyhow::Result<u8> {
    let inputs = Inputs::gather()?;
    let stored = inputs.config.as_ref().filter(|(_, c)| c.token.is_some() || c.token_id.is_some());
    let Some((path, config)) = stored else {
        let where_ = inputs.config_path.as_ref().map(|p| p.display().to_string());
        if args.json {
            print_json(stdout, &json!({"logged_in": false, "config": where_}))?;
        } else {
            writeln!(stdout, "not logged in (no token in {})", where_.unwrap_or_default())?;
        }
        return Ok(0);
    };
    let user = config.token_user.clone();
    let url = match &config.token_url {
        Some(url) => Remote { url: Some(url.clone()), ..Remote::default() },
        None => Remote::default(),
    };
    let base = Target::resolve(&url, &inputs)?.base;
    let revoked = match (&config.token, &config.token_id) {
        (Some(token), Some(id)) => {
            let key_source = KeySource::TokenConfig { path: path.clone(), user: user.clone() };
            let target = Target { base: base.clone(), key: Some(token.clone()), key_source };
            match Client::for_target(target).revoke_token(id) {
                Ok(_) => true,
                // Expired, revoked or forgotten by the server: nothing to revoke.
                Err(error)
                    if error
                        .downcast_ref::<ServerError>()
                        .is_some_and(|e| matches!(e.status(), 401 | 404)) =>
                {
                    false
                }
                Err(error) => {
                    return Err(error.context(format!(
                        "the token was not revoked and is still stored in {}; run `squall \
                         logout` again once {base} answers",
                        path.display()
                    )));
                }
            }
        }
        _ => false,
    };
    forget_login(path)?;
    let who = user.as_deref().unwrap_or("the stored user");
    if args.json {
        print_json(
            stdout,
            &json!({"logged_in": false, "user": user, "revoked": revoked,
                    "config": path.display().to_string()}),
        )?;
    } else if revoked {
        writeln!(
            stdout,
            "logged out {who} from {base}: the token is revoked and removed from {}",
            path.display()
        )?;
    } else {
        writeln!(
            stdout,
            "logged out {who}: the token had already expired or been revoked (or had no id to \
             revoke it by); removed it from {}",
            path.display()
        )?;
    }
    Ok(0)
}
