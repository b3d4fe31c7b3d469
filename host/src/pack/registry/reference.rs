//! Pack references: `registry/repository[:tag|@digest]`, or a short
//! `name[@version]` under a default registry; picking the highest semver
//! tag; which registries are on this machine.

use std::fmt;

use super::Reference;

/// Text that is not a pack reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a pack reference: {expected}")]
pub struct ReferenceError {
    /// The text as given.
    pub text: String,
    /// What was expected instead.
    pub expected: String,
}

/// A reference to pull: exact, or a repository whose highest semver tag
/// is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackRef {
    /// A tag or a digest was named.
    Exact(Reference),
    /// No tag: the highest semver tag of the repository.
    Latest {
        /// The registry's `host[:port]`.
        registry: String,
        /// The repository path.
        repository: String,
    },
}

impl PackRef {
    /// Parses `registry/repository[:tag|@digest]`, or a short
    /// `name[@version]` (also `name@sha256:…`) that lives at
    /// `<default_registry>/<name>:<version>`. Text whose first path segment
    /// is not a host (no `.` or `:` in it, not `localhost`) is a short name.
    pub fn parse(text: &str, default_registry: Option<&str>) -> Result<Self, ReferenceError> {
        let err =
            |expected: &str| ReferenceError { text: text.to_owned(), expected: expected.into() };
        let text_trimmed = text.trim();
        if text_trimmed.is_empty() {
            return Err(err("expected registry/repository[:tag] or name[@version]"));
        }
        let first = text_trimmed.split('/').next().unwrap_or_default();
        let has_host = text_trimmed.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        if has_host {
            return Self::parse_full(text_trimmed).map_err(|e| {
                err(&format!(
                    "expected registry/repository[:tag|@sha256:digest] \
                     (lowercase repository, e.g. ghcr.io/acme/pack:1.0.0): {e}"
                ))
            });
        }
        let Some(default) = default_registry.map(|r| r.trim().trim_end_matches('/')) else {
            return Err(err("a short name needs a default registry; give a full reference \
                 (registry/repository[:tag]) or configure a default registry"));
        };
        let (name, version) = match text_trimmed.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (text_trimmed, None),
        };
        if name.contains(':') {
            return Err(err("expected name[@version]: a version follows `@`, not `:`"));
        }
        let full = match version {
            Some(v) if v.starts_with("sha256:") => format!("{default}/{name}@{v}"),
            Some(v) => format!("{default}/{name}:{v}"),
            None => format!("{default}/{name}"),
        };
        Self::parse_full(&full).map_err(|e| {
            err(&format!(
                "expected name[@version] with a lowercase name and a tag-like version \
                 (it would be {full}): {e}"
            ))
        })
    }

    fn parse_full(text: &str) -> Result<Self, oci_client::ParseError> {
        let reference: Reference = text.parse()?;
        let last = text.rsplit('/').next().unwrap_or_default();
        if last.contains(':') || last.contains('@') {
            Ok(Self::Exact(reference))
        } else {
            Ok(Self::Latest {
                registry: reference.registry().to_owned(),
                repository: reference.repository().to_owned(),
            })
        }
    }

    /// The registry's `host[:port]`.
    pub fn registry(&self) -> &str {
        match self {
            Self::Exact(r) => r.registry(),
            Self::Latest { registry, .. } => registry,
        }
    }
}

impl fmt::Display for PackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(r) => write!(f, "{r}"),
            Self::Latest { registry, repository } => write!(f, "{registry}/{repository}"),
        }
    }
}

/// The highest semver tag of `tags` (a leading `v` allowed): the highest
/// release, or the highest pre-release when there is no release.
pub fn highest_version(tags: &[String]) -> Option<&str> {
    tags.iter()
        .filter_map(|t| Some((semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok()?, t)))
        .max_by(|(a, _), (b, _)| (a.pre.is_empty(), a).cmp(&(b.pre.is_empty(), b)))
        .map(|(_, t)| t.as_str())
}

/// Whether `registry` (`host[:port]`) is on this machine.
pub(super) fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Sorts tags highest version first; tags that are not semver follow, in
/// name order.
pub(super) fn sort_tags(tags: &mut [String]) {
    let key = |t: &String| semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok();
    tags.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(text: &str, default: Option<&str>) -> String {
        match PackRef::parse(text, default) {
            Ok(PackRef::Exact(r)) => r.to_string(),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn full_references_and_short_names() {
        assert_eq!(exact("ghcr.io/acme/web:1.2.0", None), "ghcr.io/acme/web:1.2.0");
        assert_eq!(exact("127.0.0.1:5000/core:1.0.0", None), "127.0.0.1:5000/core:1.0.0");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            exact(&format!("localhost/core@{digest}"), None),
            format!("localhost/core@{digest}")
        );
        assert_eq!(exact("core@1.0.0", Some("ghcr.io/acme/")), "ghcr.io/acme/core:1.0.0");
        assert_eq!(exact(&format!("core@{digest}"), Some("r.io")), format!("r.io/core@{digest}"));
        assert_eq!(
            PackRef::parse("core", Some("127.0.0.1:5000")),
            Ok(PackRef::Latest { registry: "127.0.0.1:5000".into(), repository: "core".into() })
        );
        assert_eq!(
            PackRef::parse("ghcr.io/acme/web", None),
            Ok(PackRef::Latest { registry: "ghcr.io".into(), repository: "acme/web".into() })
        );
    }

    #[test]
    fn bad_references_say_what_was_expected() {
        let e = PackRef::parse("core@1.0", None).expect_err("no default registry");
        assert!(e.to_string().contains("needs a default registry"), "{e}");
        let e = PackRef::parse("core:1.0", Some("r.io")).expect_err("colon");
        assert!(e.to_string().contains("a version follows `@`"), "{e}");
        let e = PackRef::parse("ghcr.io/Acme/Web:1", None).expect_err("uppercase");
        assert!(e.to_string().starts_with("\"ghcr.io/Acme/Web:1\" is not a pack reference"), "{e}");
        assert!(e.to_string().contains("lowercase"), "{e}");
        assert!(PackRef::parse("  ", Some("r.io")).is_err());
    }

    #[test]
    fn highest_version_prefers_releases() {
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(highest_version(&tags(&["1.2.0", "1.10.0", "latest", "1.9.9"])), Some("1.10.0"));
        assert_eq!(highest_version(&tags(&["2.0.0-rc.1", "1.0.0"])), Some("1.0.0"));
        assert_eq!(highest_version(&tags(&["2.0.0-rc.1", "2.0.0-rc.2"])), Some("2.0.0-rc.2"));
        assert_eq!(highest_version(&tags(&["v0.3.0", "0.2.0"])), Some("v0.3.0"));
        assert_eq!(highest_version(&tags(&["latest", "dev"])), None);
        let mut sorted = tags(&["latest", "0.2.0", "1.0.0", "beta"]);
        sort_tags(&mut sorted);
        assert_eq!(sorted, tags(&["1.0.0", "0.2.0", "beta", "latest"]));
    }
}
