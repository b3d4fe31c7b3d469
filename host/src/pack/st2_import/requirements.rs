//! A StackStorm pack's Python dependencies: what `requirements.txt` lists
//! (and `requests`, when the pack's code imports it without listing it,
//! as StackStorm's virtualenvs commonly have it), and what became of each
//! once the command line tried to fetch it (`Dependencies`, made at the
//! edge in `cli/pack_import.rs`, which runs pip). Pure: the plan bundles
//! what was fetched under `vendor/` and marks not converted the actions
//! whose module imports what was not.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// Where fetched packages go in the imported pack, on `sys.path`.
pub const VENDOR: &str = "vendor";

/// The Python `componentize-py` 0.25.1 builds for (its CPython), which
/// the wheels must suit.
pub const PYTHON_VERSION: &str = "3.14";

/// One package a pack needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Its distribution name as written (`PyYAML`).
    pub name: String,
    /// The requirement as pip reads it (`requests>=2.20`).
    pub spec: String,
    /// Whether `requirements.txt` lists it (else the code imports it).
    pub listed: bool,
}

/// What a pack needs: its requirements, and the lines of
/// `requirements.txt` pip options or references that are not packages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needed {
    /// The packages, in the file's order (an implicit `requests` last).
    pub requirements: Vec<Requirement>,
    /// Lines not read as a package, and why.
    pub skipped: Vec<(String, String)>,
}

/// What became of one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Downloaded and unpacked: the distributions it brought (itself and
    /// its dependencies), by name.
    Bundled(Vec<String>),
    /// Not in the pack, and why (no pure-Python wheel, the index not
    /// reachable, `--offline`).
    Missing(String),
}

/// The requirements once fetched: where the packages were unpacked (a
/// `site-packages`-like directory, copied whole to `vendor/`), how, and
/// each requirement's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// The unpacked packages, when any were fetched.
    pub site: Option<PathBuf>,
    /// Where they came from (`PyPI`, `the wheels in DIR`), or why
    /// nothing was fetched.
    pub source: String,
    /// Each requirement and what became of it.
    pub outcomes: Vec<(Requirement, Fetched)>,
    /// Lines of `requirements.txt` not read as a package, and why.
    pub skipped: Vec<(String, String)>,
}

/// The requirements of `requirements.txt`'s text; `code_imports_requests`
/// adds `requests` when the file does not list it.
pub fn needed(text: Option<&str>, code_imports_requests: bool) -> Needed {
    let mut found = Needed::default();
    for line in text.unwrap_or_default().lines() {
        // A comment starts at `#` at the line's start or after a blank.
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        }
        .trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('-') {
            found.skipped.push((
                line.to_owned(),
                "a pip option or a reference to another file: not followed; list the packages themselves".into(),
            ));
            continue;
        }
        let name: String =
            line.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        if name.is_empty() || line.contains("://") || line.starts_with('.') {
            found.skipped.push((
                line.to_owned(),
                "not a package name with a version: URLs and paths are not fetched".into(),
            ));
            continue;
        }
        found.requirements.push(Requirement { name, spec: line.to_owned(), listed: true });
    }
    if code_imports_requests
        && !found.requirements.iter().any(|r| normalized(&r.name) == "requests")
    {
        found.requirements.push(Requirement {
            name: "requests".into(),
            spec: "requests".into(),
            listed: false,
        });
    }
    found
}

/// PEP 503's normal form of a distribution name, with `_` for `-` as
/// module names have it.
pub fn normalized(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if "-.".contains(c) { '_' } else { c.to_ascii_lowercase() };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// The top-level modules a distribution is imported as: its name, or
/// the known ones whose module is named otherwise.
pub fn modules(name: &str) -> Vec<String> {
    let name = normalized(name);
    let known: &[(&str, &[&str])] = &[
        ("pyyaml", &["yaml"]),
        ("python_dateutil", &["dateutil"]),
        ("beautifulsoup4", &["bs4"]),
        ("pillow", &["PIL"]),
        ("pycryptodome", &["Crypto"]),
        ("pycryptodomex", &["Cryptodome"]),
        ("scikit_learn", &["sklearn"]),
        ("mysqlclient", &["MySQLdb"]),
        ("psycopg2_binary", &["psycopg2"]),
        ("python_ldap", &["ldap"]),
        ("pyopenssl", &["OpenSSL"]),
        ("pynacl", &["nacl"]),
        ("pyjwt", &["jwt"]),
        ("dnspython", &["dns"]),
        ("protobuf", &["google"]),
    ];
    match known.iter().find(|(n, _)| *n == name) {
        Some((_, modules)) => modules.iter().map(|m| (*m).to_owned()).collect(),
        None => vec![name],
    }
}

/// The top-level modules Python code imports (`import a.b, c`, `from a
/// import b`; relative imports left out).
pub fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("import ") {
            let rest = rest.split('#').next().unwrap_or_default();
            for part in rest.split(',') {
                let module = part.split_whitespace().next().unwrap_or_default();
                if let Some(top) = module.split('.').next().filter(|t| !t.is_empty()) {
                    found.insert(top.to_owned());
                }
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let module = rest.split_whitespace().next().unwrap_or_default();
            if let Some(top) = module.split('.').next().filter(|t| !t.is_empty()) {
                found.insert(top.to_owned());
            }
        }
    }
    found
}

/// Outbound hosts (`scheme://host[:port]`) from the string defaults of a
/// config schema that are http(s) URLs, each with the property that has
/// it, for `[capabilities] outbound_hosts`.
pub fn default_hosts(schema: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(value: &serde_json::Value, at: &str, out: &mut Vec<(String, String)>) {
        let Some(map) = value.as_object() else { return };
        if let Some(host) = map.get("default").and_then(|d| d.as_str()).and_then(origin)
            && !out.iter().any(|(h, _)| *h == host)
        {
            out.push((host, at.to_owned()));
        }
        if let Some(properties) = map.get("properties").and_then(|p| p.as_object()) {
            for (name, property) in properties {
                let path = if at.is_empty() { name.clone() } else { format!("{at}.{name}") };
                walk(property, &path, out);
            }
        }
        if let Some(items) = map.get("items") {
            walk(items, &format!("{at}[]"), out);
        }
    }
    let mut out = Vec::new();
    walk(schema, "", &mut out);
    out
}

/// `scheme://host[:port]` of an http(s) URL, when it is one a grant can
/// name.
fn origin(text: &str) -> Option<String> {
    let (scheme, rest) = text.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?.to_ascii_lowercase();
    let host = format!("{scheme}://{authority}");
    crate::runtime::OutboundHost::parse(&host).ok().map(|_| host)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requirements_are_read_as_pip_reads_them() {
        let text = "# comment\nrequests>=2.20  # http\n\nPyYAML==6.0\n-r other.txt\n\
                    git+https://x/y.git\ncryptography ; python_version >= '3'\n";
        let needed = needed(Some(text), true);
        let names: Vec<&str> = needed.requirements.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["requests", "PyYAML", "cryptography"]);
        assert_eq!(needed.requirements[0].spec, "requests>=2.20");
        assert_eq!(needed.skipped.len(), 2);
        let implicit = super::needed(None, true);
        assert!(!implicit.requirements[0].listed);
    }

    #[test]
    fn imports_and_module_names() {
        let code = "import os, requests.adapters as a\nfrom cryptography.fernet import X\n\
                    from . import lib\n    import yaml  # late\n";
        let found: Vec<String> = imports(code).into_iter().collect();
        assert_eq!(found, ["cryptography", "os", "requests", "yaml"]);
        assert_eq!(modules("PyYAML"), ["yaml"]);
        assert_eq!(modules("charset-normalizer"), ["charset_normalizer"]);
    }

    #[test]
    fn url_defaults_become_outbound_hosts() {
        let schema = json!({"type": "object", "properties": {
            "base_url": {"type": "string", "default": "https://API.example.com/v1?x=1"},
            "other": {"type": "string", "default": "https://api.example.com/v2"},
            "nested": {"type": "object", "properties": {
                "hook": {"type": "string", "default": "http://user@hooks.example.org:8080/h"}}},
            "name": {"type": "string", "default": "not a url"},
            "ftp": {"type": "string", "default": "ftp://files.example.com"}}});
        assert_eq!(
            default_hosts(&schema),
            [
                ("https://api.example.com".to_owned(), "base_url".to_owned()),
                ("http://hooks.example.org:8080".to_owned(), "nested.hook".to_owned()),
            ]
        );
    }
}
