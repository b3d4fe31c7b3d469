//! What the operator granted a pack: outbound hosts, named secrets, its
//! key-value scope and host programs. [`Grants::default`] grants none of
//! them; logging, config, clocks and randomness need no grant.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The capabilities one pack was granted. Checked by the host on every call
/// into `wasi:http`, `secrets`, `kv` and `exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// Where `wasi:http/outgoing-handler` may send requests.
    pub outbound_hosts: Vec<OutboundHost>,
    /// Names of the secrets the pack may read.
    pub secrets: BTreeSet<String>,
    /// Whether the pack may use its own key-value scope.
    pub kv: bool,
    /// Absolute paths of the programs the pack may run.
    pub exec: BTreeSet<PathBuf>,
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether everything granted here is also granted by `other`.
    pub fn within(&self, other: &Self) -> bool {
        self.outbound_hosts.iter().all(|h| other.outbound_hosts.contains(h))
            && self.secrets.is_subset(&other.secrets)
            && (!self.kv || other.kv)
            && self.exec.is_subset(&other.exec)
    }

    /// Whether a request to `uri` is allowed by any granted outbound host.
    pub fn allows_uri(&self, uri: &http::Uri) -> bool {
        self.outbound_hosts.iter().any(|host| host.allows(uri))
    }

    /// Whether the secret `name` was granted.
    pub fn allows_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }

    /// Whether `program` is an absolute path granted exactly.
    pub fn allows_exec(&self, program: &str) -> bool {
        let program = Path::new(program);
        program.is_absolute() && self.exec.contains(program)
    }
}

/// Why a grant's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// An outbound host pattern that does not parse.
    #[error("outbound host `{text}`: expected {expected}")]
    OutboundHost {
        /// The text as given.
        text: String,
        /// What was expected instead.
        expected: String,
    },
}

/// One entry of the outbound HTTP allow-list, in the syntax of Spin's
/// `allowed_outbound_hosts`: `scheme://host[:port]`.
///
/// - scheme: `http`, `https` or `*` (either);
/// - host: a name, an IP address (IPv6 in brackets), `*` (any host) or
///   `*.example.com` (any subdomain of `example.com`, not `example.com`
///   itself);
/// - port: a number or `*`; without one, the scheme's default (80 for
///   `http`, 443 for `https`, and for `*` the default of the request's
///   scheme).
///
/// Names compare case-insensitively; the canonical text ([`Display`],
/// and what serde writes) is lower case without a redundant default port.
///
/// [`Display`]: fmt::Display
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboundHost {
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SchemePattern {
    Http,
    Https,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HostPattern {
    /// `*`
    Any,
    /// `*.suffix`: a dot and at least one label before `suffix`.
    Subdomains(String),
    /// A name or an IP address (IPv6 with its brackets), lower case.
    Exact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PortPattern {
    /// The default port of the request's scheme.
    SchemeDefault,
    Any,
    Exact(u16),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl OutboundHost {
    /// Parses `scheme://host[:port]`; errors name the text and what was
    /// expected.
    pub fn parse(text: &str) -> Result<Self, GrantError> {
        let error = |expected: &str| GrantError::OutboundHost {
            text: text.to_owned(),
            expected: expected.to_owned(),
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(error("`scheme://host[:port]`, e.g. `https://api.example.com`"));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => SchemePattern::Http,
            "https" => SchemePattern::Https,
            "*" => SchemePattern::Any,
            _ => return Err(error("the scheme `http`, `https` or `*`")),
        };
        // One trailing slash is harmless; anything after it is a path.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(error("no user information (`user@`) before the host"));
        }
        if authority.contains('?') {
            return Err(error("no query (`?…`) after the host"));
        }
        if authority.contains('#') {
            return Err(error("no fragment (`#…`) after the host"));
        }
        if authority.contains('/') {
            return Err(error("no path after the host and port"));
        }
        let (host, port) = split_port(authority).map_err(&error)?;
        let host = parse_host(host).map_err(&error)?;
        let port = match port {
            None => PortPattern::SchemeDefault,
            Some("*") => PortPattern::Any,
            Some(digits) => {
                let port = digits
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0 && digits.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| error("a port from 1 to 65535 or `*` after the `:`"))?;
                let default = match scheme {
                    SchemePattern::Http => Some(80),
                    SchemePattern::Https => Some(443),
                    SchemePattern::Any => None,
                };
                if default == Some(port) {
                    PortPattern::SchemeDefault
                } else {
                    PortPattern::Exact(port)
                }
            }
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `uri` may be sent under this pattern. A URI
    /// without a scheme or host, or with a scheme other than `http` and
    /// `https`, never is.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(scheme) = uri.scheme_str().map(str::to_ascii_lowercase) else { return false };
        let Some(default) = default_port(&scheme) else { return false };
        let scheme_ok = match self.scheme {
            SchemePattern::Http => scheme == "http",
            SchemePattern::Https => scheme == "https",
            SchemePattern::Any => true,
        };
        let Some(host) = uri.host() else { return false };
        let host = canonical_uri_host(host);
        let host = host.as_str();
        let host_ok = match &self.host {
            HostPattern::Any => !host.is_empty(),
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .and_then(|label| label.strip_suffix('.'))
                .is_some_and(|label| !label.is_empty()),
        };
        let port = uri.port_u16().unwrap_or(default);
        let port_ok = match self.port {
            PortPattern::SchemeDefault => port == default,
            PortPattern::Any => true,
            PortPattern::Exact(allowed) => port == allowed,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// A request's host as patterns spell it: lower case, without a trailing
/// dot, an IPv6 address in its shortest form.
fn canonical_uri_host(host: &str) -> String {
    if let Some(ip) = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
    {
        return format!("[{ip}]");
    }
    let host = host.to_ascii_lowercase();
    // `example.com.` is `example.com`.
    match host.strip_suffix('.') {
        Some(stripped) => stripped.to_owned(),
        None => host,
    }
}

/// Splits `host[:port]`, minding IPv6 brackets.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let Some(end) = authority.find(']') else {
            return Err("an IPv6 address closed by `]`");
        };
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("`:port` or nothing after the IPv6 address"),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn parse_host(host: &str) -> Result<HostPattern, &'static str> {
    const NAME: &str = "a host name, an IP address, `*` or `*.domain`";
    if host.is_empty() {
        return Err(NAME);
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip =
            inner.parse::<std::net::Ipv6Addr>().map_err(|_| "a valid IPv6 address in `[…]`")?;
        return Ok(HostPattern::Exact(format!("[{ip}]")));
    }
    if let Some(suffix) = host.strip_prefix("*.") {
        if !is_name(suffix) || suffix.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err("a domain name after `*.`");
        }
        return Ok(HostPattern::Subdomains(suffix.to_ascii_lowercase()));
    }
    if host.contains('*') {
        return Err("`*` only as the whole host or as the first label (`*.example.com`)");
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok(HostPattern::Exact(ip.to_string()));
    }
    if !is_name(host) {
        return Err(NAME);
    }
    Ok(HostPattern::Exact(host.to_ascii_lowercase()))
}

/// Dot-separated labels of letters, digits, `-` and `_`, none empty.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl fmt::Display for OutboundHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            SchemePattern::Http => "http",
            SchemePattern::Https => "https",
            SchemePattern::Any => "*",
        };
        write!(f, "{scheme}://")?;
        match &self.host {
            HostPattern::Any => f.write_str("*")?,
            HostPattern::Subdomains(suffix) => write!(f, "*.{suffix}")?,
            HostPattern::Exact(name) => f.write_str(name)?,
        }
        match self.port {
            PortPattern::SchemeDefault => Ok(()),
            PortPattern::Any => f.write_str(":*"),
            PortPattern::Exact(port) => write!(f, ":{port}"),
        }
    }
}

impl FromStr for OutboundHost {
    type Err = GrantError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for OutboundHost {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OutboundHost {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, uri, allowed)
    const MATCHES: &[(&str, &str, bool)] = &[
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/x", true),
        ("http://127.0.0.1:8080", "http://127.0.0.2:8080/x", false),
        ("http://127.0.0.1:8080", "http://localhost:8080/x", false),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/x", false),
        ("http://127.0.0.1:8080", "https://127.0.0.1:8080/x", false),
        ("https://api.example.com", "https://api.example.com/v1?q=1", true),
        ("https://api.example.com", "https://api.example.com:443/", true),
        ("https://api.example.com", "https://API.Example.COM/", true),
        ("https://api.example.com", "https://api.example.com./", true),
        ("https://api.example.com", "https://api.example.com:8443/", false),
        ("https://api.example.com", "http://api.example.com/", false),
        ("https://api.example.com", "https://evil.api.example.com/", false),
        ("https://api.example.com", "https://api.example.com.evil.net/", false),
        ("http://example.com", "http://example.com:80/", true),
        ("http://example.com", "http://example.com:443/", false),
        ("http://example.com:80", "http://example.com/", true),
        ("https://*.example.com", "https://a.example.com/", true),
        ("https://*.example.com", "https://a.b.example.com/", true),
        ("https://*.example.com", "https://example.com/", false),
        ("https://*.example.com", "https://badexample.com/", false),
        ("https://*.example.com", "https://a.example.com.evil.net/", false),
        ("*://example.com", "http://example.com/", true),
        ("*://example.com", "https://example.com/", true),
        ("*://example.com", "http://example.com:443/", false),
        ("*://example.com:8000", "http://example.com:8000/", true),
        ("*://example.com:8000", "https://example.com:8000/", true),
        ("*://example.com:8000", "https://example.com/", false),
        ("https://example.com:*", "https://example.com:1234/", true),
        ("https://example.com:*", "http://example.com:1234/", false),
        ("http://*:*", "http://anything.at.all:9/", true),
        ("http://*:*", "https://anything.at.all:9/", false),
        ("*://*:*", "https://10.0.0.1:9/", true),
        ("*://*", "https://10.0.0.1/", true),
        ("*://*", "https://10.0.0.1:8443/", false),
        ("http://[::1]:8080", "http://[::1]:8080/", true),
        ("http://[::1]:8080", "http://[0:0:0:0:0:0:0:1]:8080/", true),
        ("http://[0:0::1]:8080", "http://[::1]:8080/", true),
        ("http://[::1]:8080", "http://127.0.0.1:8080/", false),
        ("http://example.com", "/relative/only", false),
        ("*://*:*", "ftp://example.com/", false),
    ];

    #[test]
    fn patterns_allow_exactly_what_they_name() {
        for (pattern, uri, expected) in MATCHES {
            let host = OutboundHost::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let uri: http::Uri = uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(host.allows(&uri), *expected, "{pattern} against {uri}");
        }
    }

    /// (text, canonical text)
    const CANONICAL: &[(&str, &str)] = &[
        ("https://api.example.com", "https://api.example.com"),
        ("HTTPS://API.Example.com/", "https://api.example.com"),
        ("https://api.example.com:443", "https://api.example.com"),
        ("http://api.example.com:443", "http://api.example.com:443"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("*://*.Example.com:*", "*://*.example.com:*"),
        ("*://example.com:80", "*://example.com:80"),
        ("http://[0:0::1]:8080", "http://[::1]:8080"),
        ("http://example.com.", "http://example.com"),
    ];

    #[test]
    fn display_and_serde_use_the_canonical_text() {
        for (text, canonical) in CANONICAL {
            let host = OutboundHost::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(host.to_string(), *canonical, "{text}");
            let json = serde_json::to_string(&host).expect("serialise");
            assert_eq!(json, format!("\"{canonical}\""));
            let back: OutboundHost = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, host);
        }
    }

    /// (text, the error's message)
    const REFUSED: &[(&str, &str)] = &[
        (
            "api.example.com",
            "outbound host `api.example.com`: expected `scheme://host[:port]`, e.g. `https://api.example.com`",
        ),
        (
            "ftp://example.com",
            "outbound host `ftp://example.com`: expected the scheme `http`, `https` or `*`",
        ),
        (
            "https://example.com/api",
            "outbound host `https://example.com/api`: expected no path after the host and port",
        ),
        (
            "https://example.com?x=1",
            "outbound host `https://example.com?x=1`: expected no query (`?…`) after the host",
        ),
        (
            "https://example.com#top",
            "outbound host `https://example.com#top`: expected no fragment (`#…`) after the host",
        ),
        (
            "https://user:pw@example.com",
            "outbound host `https://user:pw@example.com`: expected no user information (`user@`) before the host",
        ),
        (
            "https://example.com:http",
            "outbound host `https://example.com:http`: expected a port from 1 to 65535 or `*` after the `:`",
        ),
        (
            "https://example.com:70000",
            "outbound host `https://example.com:70000`: expected a port from 1 to 65535 or `*` after the `:`",
        ),
        (
            "https://example.com:0",
            "outbound host `https://example.com:0`: expected a port from 1 to 65535 or `*` after the `:`",
        ),
        (
            "https://example.com:",
            "outbound host `https://example.com:`: expected a port from 1 to 65535 or `*` after the `:`",
        ),
        (
            "https://",
            "outbound host `https://`: expected a host name, an IP address, `*` or `*.domain`",
        ),
        (
            "https://exa mple.com",
            "outbound host `https://exa mple.com`: expected a host name, an IP address, `*` or `*.domain`",
        ),
        (
            "https://api.*.com",
            "outbound host `https://api.*.com`: expected `*` only as the whole host or as the first label (`*.example.com`)",
        ),
        (
            "https://*example.com",
            "outbound host `https://*example.com`: expected `*` only as the whole host or as the first label (`*.example.com`)",
        ),
        ("https://*.", "outbound host `https://*.`: expected a domain name after `*.`"),
        ("http://[::1", "outbound host `http://[::1`: expected an IPv6 address closed by `]`"),
        ("http://[nope]", "outbound host `http://[nope]`: expected a valid IPv6 address in `[…]`"),
        (
            "http://[::1]x",
            "outbound host `http://[::1]x`: expected `:port` or nothing after the IPv6 address",
        ),
    ];

    #[test]
    fn refused_patterns_name_the_text_and_the_expectation() {
        for (text, message) in REFUSED {
            let error = OutboundHost::parse(text).expect_err(text);
            assert_eq!(error.to_string(), *message);
        }
    }

    #[test]
    fn grants_default_to_nothing_and_read_partial_documents() {
        let none = Grants::default();
        let uri: http::Uri = "https://example.com/".parse().expect("uri");
        assert!(!none.allows_uri(&uri) && !none.kv);
        assert!(!none.allows_secret("token") && !none.allows_exec("/bin/echo"));

        let grants: Grants = serde_json::from_str(
            r#"{"outbound_hosts": ["https://*.example.com"], "exec": ["/bin/echo"], "secrets": ["token"]}"#,
        )
        .expect("grants");
        assert!(grants.allows_uri(&"https://api.example.com/".parse().expect("uri")));
        assert!(!grants.allows_uri(&uri));
        assert!(grants.allows_secret("token") && !grants.allows_secret("other"));
        assert!(grants.allows_exec("/bin/echo"));
        assert!(!grants.allows_exec("echo") && !grants.allows_exec("/bin/ls"));
        assert!(!grants.kv);

        let bad = serde_json::from_str::<Grants>(r#"{"outbound_hosts": ["example.com"]}"#)
            .expect_err("no scheme");
        assert!(bad.to_string().contains("outbound host `example.com`"), "{bad}");
    }
}
