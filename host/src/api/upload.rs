//! Bundle uploads within the server's limits: at most
//! `--max-concurrent-installs` at once — one more is answered 503 at once,
//! before its body is read — and a body no larger than `--max-bundle-size`,
//! counted while it arrives, so that a refused upload never sits whole in
//! memory (a 250 MiB one raised the server's RSS by 548 MB when it was
//! read first and refused after).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// Default upload limit: room for interpreted packs (a Python bundle is
/// about 18 MiB, a JavaScript one about 12 MiB) with margin.
pub const DEFAULT_MAX_BUNDLE_BYTES: usize = 64 << 20;
/// Default number of installs in progress at once. Installs run one after
/// another anyway (`PackManager` serialises them); a second one may wait
/// with its body read, more would only hold memory.
pub const DEFAULT_MAX_CONCURRENT_INSTALLS: usize = 2;

/// The server's limits on `POST /packs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallLimits {
    /// Largest bundle body accepted (`squall serve --max-bundle-size`); at
    /// most [`crate::pack::MAX_BUNDLE_BYTES`], which bounds every bundle.
    pub max_bundle_bytes: usize,
    /// Installs in progress at once, bodies being read included
    /// (`squall serve --max-concurrent-installs`).
    pub max_concurrent_installs: usize,
}

impl Default for InstallLimits {
    fn default() -> Self {
        Self {
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
            max_concurrent_installs: DEFAULT_MAX_CONCURRENT_INSTALLS,
        }
    }
}

/// The limits and the permits that enforce the concurrency bound.
#[derive(Debug)]
pub(crate) struct Uploads {
    limits: InstallLimits,
    permits: Arc<Semaphore>,
}

impl Uploads {
    pub(crate) fn new(limits: InstallLimits) -> Self {
        let limits = InstallLimits {
            max_bundle_bytes: limits.max_bundle_bytes.min(crate::pack::MAX_BUNDLE_BYTES),
            max_concurrent_installs: limits.max_concurrent_installs.max(1),
        };
        Self { limits, permits: Arc::new(Semaphore::new(limits.max_concurrent_installs)) }
    }

    /// A place among the installs in progress, held until the install
    /// ends; none free is a 503 with `Retry-After`, at once.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.permits.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} pack installs are in progress, the most this server takes at once (`squall serve --max-concurrent-installs`); try again shortly",
                    self.limits.max_concurrent_installs
                ),
            )
            .with_retry_after(1)
        })
    }

    /// Refuses a bundle fetched some other way (a registry pull) that is
    /// over the upload limit, as an upload of it would be.
    pub(crate) fn check_size(&self, size: usize) -> Result<(), ApiError> {
        let max = self.limits.max_bundle_bytes;
        if size > max { Err(too_large(max, Some(size as u64))) } else { Ok(()) }
    }

    /// Reads the bundle, refusing it with 413 as soon as it is known to be
    /// over the limit: from `Content-Length` before a byte is read, or as
    /// the bytes arrive.
    pub(crate) async fn read(&self, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
        let max = self.limits.max_bundle_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(size) = declared.filter(|size| *size > max as u64) {
            return Err(too_large(max, Some(size)));
        }
        let capacity = declared.and_then(|size| usize::try_from(size).ok()).unwrap_or(0);
        let mut bundle = Vec::with_capacity(capacity.min(max));
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::bad_request(format!("bundle: the upload broke off: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            if bundle.len() + data.len() > max {
                return Err(too_large(max, None));
            }
            bundle.extend_from_slice(&data);
        }
        Ok(bundle)
    }
}

fn too_large(max: usize, declared: Option<u64>) -> ApiError {
    let size = declared.map(|s| format!(" ({s} bytes)")).unwrap_or_default();
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the bundle{size} is over this server's upload limit of {max} bytes ({}; `squall serve --max-bundle-size`)",
            bytesize::ByteSize::b(max as u64)
        ),
    )
    .with_detail(json!({"limit": max}))
}
