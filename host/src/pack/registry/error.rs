//! What can go wrong talking to a registry, sorted into the kinds callers
//! match on, and the mapping from oci-client's errors.

use std::fmt;

use oci_client::errors::OciDistributionError;

use super::ReferenceError;

/// What a registry operation is doing, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Uploading a bundle.
    Push,
    /// Downloading a bundle.
    Pull,
    /// Listing a repository's tags to pick a version.
    Resolve,
    /// Listing the catalog.
    Search,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Push => "push",
            Self::Pull => "pull",
            Self::Resolve => "tag list",
            Self::Search => "search",
        })
    }
}

/// Why a registry operation failed; callers match on the kind.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference text could not be parsed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The repository, tag, digest or version does not exist.
    #[error("{what}: not found")]
    NotFound {
        /// What was looked for, e.g. `127.0.0.1:5000/core:1.0.0`.
        what: String,
    },
    /// The registry could not be reached (connection, TLS, timeout).
    #[error("{operation}: cannot reach registry {registry}: {detail}")]
    Unreachable {
        /// The operation.
        operation: Operation,
        /// The registry's `host[:port]`.
        registry: String,
        /// The cause.
        detail: String,
    },
    /// The registry answered but would not do it: credentials missing or
    /// wrong, permission denied, an API it does not offer, a server error.
    #[error("{operation}: registry {registry} refused: {detail}")]
    Refused {
        /// The operation.
        operation: Operation,
        /// The registry's `host[:port]`.
        registry: String,
        /// The registry's reason.
        detail: String,
    },
    /// What is stored (or was offered for a push) is not a pack bundle:
    /// wrong media type, several layers, too large, digest mismatch, not a
    /// component.
    #[error("{reference} is not a pack bundle: {detail}")]
    BadArtefact {
        /// The reference (or, for a push, the bundle) concerned.
        reference: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// An error and its sources on one line.
pub(super) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Sorts an oci-client error into the kinds callers match on.
pub(super) fn classify(
    error: OciDistributionError,
    operation: Operation,
    registry: &str,
    what: &str,
) -> RegistryError {
    use OciDistributionError as E;
    let refused = |detail: String| RegistryError::Refused {
        operation,
        registry: registry.to_owned(),
        detail,
    };
    let bad = |detail: String| RegistryError::BadArtefact { reference: what.to_owned(), detail };
    match error {
        E::RequestError(e) => RegistryError::Unreachable {
            operation,
            registry: registry.to_owned(),
            detail: chain(&e),
        },
        E::IoError(e) => RegistryError::Unreachable {
            operation,
            registry: registry.to_owned(),
            detail: chain(&e),
        },
        E::RegistryError { envelope, .. } => {
            let not_found = envelope.errors.iter().any(|e| {
                use oci_client::errors::OciErrorCode as C;
                matches!(e.code, C::ManifestUnknown | C::NameUnknown | C::BlobUnknown)
            });
            if not_found {
                RegistryError::NotFound { what: what.to_owned() }
            } else {
                let messages: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}: {}", e.code, e.message))
                    .collect();
                refused(messages.join("; "))
            }
        }
        E::ServerError { code: 404, .. } | E::ImageManifestNotFoundError(_) => {
            RegistryError::NotFound { what: what.to_owned() }
        }
        E::ServerError { code, message, .. } => {
            let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
            refused(format!("HTTP {code}: {}", message.chars().take(200).collect::<String>()))
        }
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            refused("not authorised: credentials missing or wrong".into())
        }
        e @ (E::DigestError(_)
        | E::ManifestParsingError(_)
        | E::VersionedParsingError(_)
        | E::UnsupportedMediaTypeError(_)
        | E::UnsupportedSchemaVersionError(_)
        | E::IncompatibleLayerMediaTypeError(_)
        | E::ImageIndexParsingNoPlatformResolverError
        | E::ManifestEncodingError(_)
        | E::PullNoLayersError) => bad(chain(&e)),
        other => refused(chain(&other)),
    }
}
