//! What a pack asks for (`[capabilities]` in `pack.toml`) and what the
//! operator grants at install: outbound hosts, named secrets, key-value,
//! host programs, and ceilings on memory and time.
//!
//! The request is only a request: nothing is linked until it is granted,
//! and an operator may grant less (or, for outbound hosts, other hosts) than
//! was asked for.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::runtime::{Grants, OutboundHost};

/// The capabilities a manifest requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Hosts it wants to reach over HTTP, in `allowed_outbound_hosts` form.
    pub outbound_hosts: Vec<OutboundHost>,
    /// Named secrets it reads.
    pub secrets: BTreeSet<String>,
    /// Whether it uses its key-value scope.
    pub kv: bool,
    /// Absolute paths of host programs it runs.
    pub exec: BTreeSet<PathBuf>,
    /// Ceiling on any of its sandboxes' memory, in bytes.
    pub memory_bytes: Option<u64>,
    /// Ceiling on any of its actions' timeouts.
    pub timeout: Option<Duration>,
}

/// `[capabilities]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapabilities {
    #[serde(default)]
    outbound_hosts: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    kv: bool,
    #[serde(default)]
    exec: Vec<PathBuf>,
    memory: Option<String>,
    timeout: Option<String>,
}

impl RawCapabilities {
    /// Checks every entry; `fail(field, message)` names the offending one.
    pub(super) fn check(
        self,
        fail: &dyn Fn(&str, String) -> super::ManifestError,
    ) -> Result<Capabilities, super::ManifestError> {
        let mut outbound_hosts = Vec::with_capacity(self.outbound_hosts.len());
        for (i, text) in self.outbound_hosts.iter().enumerate() {
            let host = OutboundHost::parse(text)
                .map_err(|e| fail(&format!("capabilities.outbound_hosts[{i}]"), e.to_string()))?;
            outbound_hosts.push(host);
        }
        let mut secrets = BTreeSet::new();
        for (i, name) in self.secrets.into_iter().enumerate() {
            check_secret_name(&name).map_err(|m| fail(&format!("capabilities.secrets[{i}]"), m))?;
            secrets.insert(name);
        }
        let mut exec = BTreeSet::new();
        for (i, program) in self.exec.into_iter().enumerate() {
            if !program.is_absolute() || program.to_str().is_none() {
                return Err(fail(
                    &format!("capabilities.exec[{i}]"),
                    format!(
                        "expected an absolute path such as `/usr/bin/df`, got `{}`",
                        program.display()
                    ),
                ));
            }
            exec.insert(program);
        }
        let memory_bytes = match self.memory {
            Some(text) => Some(
                text.parse::<bytesize::ByteSize>()
                    .map_err(|e| {
                        fail(
                            "capabilities.memory",
                            format!("expected a size such as `64MiB`, got `{text}`: {e}"),
                        )
                    })?
                    .as_u64(),
            ),
            None => None,
        };
        let timeout = match self.timeout {
            Some(text) => Some(
                super::manifest::positive_duration(&text)
                    .map_err(|m| fail("capabilities.timeout", m))?,
            ),
            None => None,
        };
        Ok(Capabilities { outbound_hosts, secrets, kv: self.kv, exec, memory_bytes, timeout })
    }
}

/// The longest secret name, in bytes: a datastore key's limit.
const MAX_SECRET_NAME: usize = 512;

/// Secret names are datastore key names, StackStorm's included: a local
/// key read with `decrypt=True` is `PACK.CLASS:NAME`, and keys may hold
/// `/`, `@` or letters of any script. Refused are what a key may not hold
/// ([`crate::limits::NAME_RULE`]), whitespace (a grant is trimmed) and `,`
/// (which separates the grants of `POST /api/v1/packs?grants=…`).
pub(crate) fn check_secret_name(name: &str) -> Result<(), String> {
    let expected = || {
        format!(
            "expected a datastore key name: 1 to {MAX_SECRET_NAME} bytes of printable characters, no whitespace and no `,`, got `{}`",
            name.escape_debug()
        )
    };
    if name.is_empty() || name.len() > MAX_SECRET_NAME {
        return Err(expected());
    }
    crate::limits::check_name_text(name).map_err(|m| format!("`{}`: {m}", name.escape_debug()))?;
    if name.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(expected());
    }
    Ok(())
}

impl Capabilities {
    /// Everything requested, granted: what `--grant all` means.
    pub fn grant_all(&self) -> Grants {
        Grants {
            outbound_hosts: self.outbound_hosts.clone(),
            secrets: self.secrets.clone(),
            kv: self.kv,
            exec: self.exec.clone(),
        }
    }

    /// One line per requested capability, for install prompts and
    /// `squall pack verify`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for host in &self.outbound_hosts {
            lines.push(format!("http={host}"));
        }
        for secret in &self.secrets {
            lines.push(format!("secret={secret}"));
        }
        if self.kv {
            lines.push("kv".to_owned());
        }
        for program in &self.exec {
            lines.push(format!("exec={}", program.display()));
        }
        lines
    }
}

/// Why a `--grant` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("grant `{text}`: {message}")]
pub struct GrantParseError {
    /// The grant as written.
    pub text: String,
    /// What was expected.
    pub message: String,
}

/// Builds the grants an operator gave with `--grant` (repeatable):
/// `all` (everything requested), `http=URL-PATTERN`, `secret=NAME`, `kv`,
/// `exec=/ABS/PATH`. An empty list grants nothing.
pub fn parse_grants(requested: &Capabilities, texts: &[String]) -> Result<Grants, GrantParseError> {
    let mut grants = Grants::default();
    for text in texts {
        let fail = |message: String| GrantParseError { text: text.clone(), message };
        let (kind, value) = match text.split_once('=') {
            Some((kind, value)) => (kind.trim(), Some(value.trim())),
            None => (text.trim(), None),
        };
        match (kind, value) {
            ("all", None) => {
                let all = requested.grant_all();
                for host in all.outbound_hosts {
                    if !grants.outbound_hosts.contains(&host) {
                        grants.outbound_hosts.push(host);
                    }
                }
                grants.secrets.extend(all.secrets);
                grants.kv |= all.kv;
                grants.exec.extend(all.exec);
            }
            ("kv", None) => grants.kv = true,
            ("http", Some(pattern)) => {
                let host = OutboundHost::parse(pattern).map_err(|e| fail(e.to_string()))?;
                if !grants.outbound_hosts.contains(&host) {
                    grants.outbound_hosts.push(host);
                }
            }
            ("secret", Some(name)) => {
                check_secret_name(name).map_err(fail)?;
                grants.secrets.insert(name.to_owned());
            }
            ("exec", Some(path)) => {
                let path = PathBuf::from(path);
                if !path.is_absolute() {
                    return Err(fail("expected an absolute program path".into()));
                }
                grants.exec.insert(path);
            }
            _ => {
                return Err(fail(
                    "expected `all`, `kv`, `http=URL`, `secret=NAME` or `exec=/ABS/PATH`".into(),
                ));
            }
        }
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested() -> Capabilities {
        Capabilities {
            outbound_hosts: vec![OutboundHost::parse("https://api.example.com").expect("ok")],
            secrets: BTreeSet::from(["token".to_owned()]),
            kv: true,
            exec: BTreeSet::from([PathBuf::from("/usr/bin/df")]),
            ..Capabilities::default()
        }
    }

    #[test]
    fn all_grants_what_was_requested_and_more_can_be_added() {
        let grants =
            parse_grants(&requested(), &["all".into(), "http=http://127.0.0.1:8080".into()])
                .expect("ok");
        assert_eq!(grants.outbound_hosts.len(), 2);
        assert!(grants.kv);
        assert!(grants.secrets.contains("token"));
        assert!(grants.exec.contains(&PathBuf::from("/usr/bin/df")));
    }

    #[test]
    fn no_grant_means_nothing() {
        assert_eq!(parse_grants(&requested(), &[]).expect("ok"), Grants::default());
    }

    #[test]
    fn secret_grants_take_datastore_key_names() {
        for name in ["token", "stdlib_demo.CounterAction:token", "ops/db@prod", "ключ"] {
            let grants = parse_grants(&requested(), &[format!("secret={name}")]).expect(name);
            assert!(grants.secrets.contains(name), "{name}");
        }
        for (name, found) in [
            ("", "expected a datastore key name"),
            ("a,b", "expected a datastore key name"),
            ("a b", "expected a datastore key name"),
            ("a\u{202e}b", "is a bidirectional control"),
        ] {
            let e = parse_grants(&requested(), &[format!("secret={name}")]).expect_err(name);
            assert!(e.to_string().contains(found), "{name}: {e}");
        }
        let long = "k".repeat(MAX_SECRET_NAME + 1);
        assert!(parse_grants(&requested(), &[format!("secret={long}")]).is_err());
    }

    #[test]
    fn bad_grants_name_themselves() {
        let e = parse_grants(&requested(), &["exec=df".into()]).expect_err("refused");
        assert_eq!(e.to_string(), "grant `exec=df`: expected an absolute program path");
        let e = parse_grants(&requested(), &["files=/etc".into()]).expect_err("refused");
        assert!(e.to_string().starts_with("grant `files=/etc`: expected `all`"), "{e}");
    }
}
