//! The client's config file (`~/.config/squall/config.toml`, or
//! `$SQUALL_CONFIG`): reading it, and the login fields that `squall login`
//! writes and `squall logout` removes. Only those lines change; every other
//! line, comments included, stays as it was, and the file is kept private
//! (mode 0600) because it holds a secret.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// The config file: where the server is, how to authenticate, the default
/// pack registry; all optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    pub(crate) url: Option<String>,
    pub(crate) api_key: Option<String>,
    pub(crate) registry: Option<String>,
    /// A token from `squall login`, sent as `X-Auth-Token`.
    pub(crate) token: Option<String>,
    /// The token's id, which `squall logout` revokes it by.
    pub(crate) token_id: Option<String>,
    /// Who the token signs in as, to say whom to log in as again.
    pub(crate) token_user: Option<String>,
    /// The server that issued the token: it is sent to no other.
    pub(crate) token_url: Option<String>,
    /// When the server stops accepting it (RFC 3339).
    pub(crate) token_expiry: Option<String>,
}

/// What `squall login` stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) token: String,
    pub(crate) id: String,
    pub(crate) user: String,
    pub(crate) url: String,
    pub(crate) expiry: String,
}

/// The fields a login owns, in the order they are written.
const LOGIN_KEYS: [&str; 5] = ["token", "token_id", "token_user", "token_url", "token_expiry"];

/// The config file at `path`, or `None` if there is none.
pub(crate) fn read_config(path: &Path) -> anyhow::Result<Option<ConfigFile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => bail!("cannot read the config file {}: {error}", path.display()),
    };
    parse(&text, path).map(Some)
}

fn parse(text: &str, path: &Path) -> anyhow::Result<ConfigFile> {
    toml::from_str(text).with_context(|| {
        format!(
            "{}: expected TOML with `url`, `api_key`, `registry` and the `token…` fields `squall \
             login` writes (all optional)",
            path.display()
        )
    })
}

/// Stores `login` in the config file at `path` (creating it), replacing any
/// earlier login.
pub(crate) fn store_login(path: &Path, login: &Login) -> anyhow::Result<()> {
    let (text, before) = current(path)?;
    let mut text = without_login(&text);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let values = [&login.token, &login.id, &login.user, &login.url, &login.expiry];
    for (key, value) in LOGIN_KEYS.iter().zip(values) {
        text.push_str(&format!("{key} = {}\n", toml_string(value)));
    }
    let expected = ConfigFile {
        token: Some(login.token.clone()),
        token_id: Some(login.id.clone()),
        token_user: Some(login.user.clone()),
        token_url: Some(login.url.clone()),
        token_expiry: Some(login.expiry.clone()),
        ..forgotten(before)
    };
    replace(path, &text, &expected)
}

/// Removes the login from the config file at `path`; false when it held
/// none.
pub(crate) fn forget_login(path: &Path) -> anyhow::Result<bool> {
    let (text, before) = current(path)?;
    let after = forgotten(before.clone());
    if after == before {
        return Ok(false);
    }
    replace(path, &without_login(&text), &after)?;
    Ok(true)
}

/// `config` without its login.
fn forgotten(config: ConfigFile) -> ConfigFile {
    ConfigFile {
        url: config.url,
        api_key: config.api_key,
        registry: config.registry,
        ..ConfigFile::default()
    }
}

/// The file's text and what it says (empty when there is no file yet).
fn current(path: &Path) -> anyhow::Result<(String, ConfigFile)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let config = parse(&text, path)?;
            Ok((text, config))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok((String::new(), ConfigFile::default()))
        }
        Err(error) => bail!("cannot read the config file {}: {error}", path.display()),
    }
}

/// `text` without the lines that set a login field. The file has only
/// top-level keys (any other would not load), so a line that starts with
/// one of those keys and `=` sets it.
fn without_login(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| {
            let Some((key, _)) = line.split_once('=') else { return true };
            let key = key.trim().trim_matches(['"', '\'']);
            !LOGIN_KEYS.contains(&key)
        })
        .collect()
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes `text` to `path` in place of what is there (through a private
/// temporary file and a rename, so that a crash leaves the old file or the
/// new one), after checking that it reads back as `expected`: a
/// hand-written file that the line edit would garble is refused instead.
fn replace(path: &Path, text: &str, expected: &ConfigFile) -> anyhow::Result<()> {
    let read_back = parse(text, path).ok();
    if read_back.as_ref() != Some(expected) {
        bail!(
            "cannot update {} safely (a `token…` field over several lines?): remove the `token…` \
             lines from it by hand and try again",
            path.display()
        );
    }
    // The file a symbolic link points to is the one to replace.
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let context = || format!("cannot write the config file {}", path.display());
    // Created with mode 0600 on Unix.
    let mut file = tempfile::NamedTempFile::new_in(&dir).with_context(context)?;
    file.write_all(text.as_bytes()).with_context(context)?;
    file.as_file().sync_all().with_context(context)?;
    file.persist(&path).map_err(|e| e.error).with_context(context)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("cannot create the directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str) -> Login {
        Login {
            token: format!("sqt_{user}"),
            id: "0197".into(),
            user: user.into(),
            url: "http://127.0.0.1:9101".into(),
            expiry: "2030-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_config_file_is_toml_with_known_keys() {
        let dir = tempfile::tempdir().expect("ok");
        let path = dir.path().join("config.toml");
        assert_eq!(read_config(&path).expect("ok"), None);
        std::fs::write(&path, "url = \"http://h:1\"\napi_key = \"k\"\n").expect("ok");
        let config = read_config(&path).expect("ok").expect("ok");
        assert_eq!(config.url.as_deref(), Some("http://h:1"));
        assert_eq!(config.api_key.as_deref(), Some("k"));
        std::fs::write(&path, "server = \"http://h:1\"\n").expect("ok");
        let error = format!("{:#}", read_config(&path).expect_err("an error"));
        assert!(error.contains("config.toml") && error.contains("server"), "{error}");
    }

    #[test]
    fn a_login_replaces_the_last_and_keeps_every_other_line() {
        let dir = tempfile::tempdir().expect("ok");
        let path = dir.path().join("config.toml");
        let mine = "# my server\nurl = \"http://h:1\"\nregistry = \"ghcr.io/acme\"";
        std::fs::write(&path, mine).expect("ok");
        store_login(&path, &login("alice")).expect("stored");
        store_login(&path, &login("bo\"b")).expect("stored again");
        let text = std::fs::read_to_string(&path).expect("ok");
        assert!(text.starts_with(&format!("{mine}\n")), "{text}");
        assert_eq!(text.matches("token = ").count(), 1, "{text}");
        let config = read_config(&path).expect("ok").expect("ok");
        assert_eq!(config.token.as_deref(), Some("sqt_bo\"b"));
        assert_eq!(config.token_user.as_deref(), Some("bo\"b"));
        assert_eq!(config.registry.as_deref(), Some("ghcr.io/acme"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("ok").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        assert!(forget_login(&path).expect("forgotten"));
        assert_eq!(std::fs::read_to_string(&path).expect("ok"), format!("{mine}\n"));
        assert!(!forget_login(&path).expect("nothing to forget"));
    }

    #[test]
    fn a_login_creates_the_file_and_its_directory() {
        let dir = tempfile::tempdir().expect("ok");
        let path = dir.path().join("squall").join("config.toml");
        store_login(&path, &login("alice")).expect("stored");
        let config = read_config(&path).expect("ok").expect("ok");
        assert_eq!(config.token_id.as_deref(), Some("0197"));
    }

    #[test]
    fn a_file_the_edit_would_garble_is_left_alone() {
        let dir = tempfile::tempdir().expect("ok");
        let path = dir.path().join("config.toml");
        let odd = "token = \"\"\"\nsqt_x\n\"\"\"\n";
        std::fs::write(&path, odd).expect("ok");
        let error = format!("{:#}", store_login(&path, &login("a")).expect_err("refused"));
        assert!(error.contains("by hand"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).expect("ok"), odd);
    }
}
