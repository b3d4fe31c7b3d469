//! `squall serve`'s limits on pack uploads (`POST /api/v1/packs`): the
//! largest bundle body and how many installs run at once.

use crate::api::InstallLimits;

#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    /// Largest bundle an install accepts, counted while the upload
    /// arrives; a larger one is refused (413) without being read whole. At
    /// most 256MiB, the limit on any bundle.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = bundle_size)]
    max_bundle_size: usize,
    /// Installs in progress at once (their uploads included); one more is
    /// refused at once with 503 and `Retry-After`.
    #[arg(long, value_name = "N", default_value_t = crate::api::DEFAULT_MAX_CONCURRENT_INSTALLS, value_parser = install_count)]
    max_concurrent_installs: usize,
}

impl InstallArgs {
    /// The limits these flags give.
    pub(crate) fn limits(&self) -> InstallLimits {
        InstallLimits {
            max_bundle_bytes: self.max_bundle_size,
            max_concurrent_installs: self.max_concurrent_installs,
        }
    }
}

/// A count of installs, from 1.
fn install_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(format!("expected a whole number from 1, got {text}")),
    }
}

/// A size such as `64MiB`, from 1 KiB to the limit on any bundle.
fn bundle_size(text: &str) -> Result<usize, String> {
    let bytes = text
        .parse::<bytesize::ByteSize>()
        .map_err(|e| format!("expected a size such as 64MiB: {e}"))?
        .as_u64();
    let max = crate::pack::MAX_BUNDLE_BYTES;
    match usize::try_from(bytes) {
        Ok(bytes) if (1024..=max).contains(&bytes) => Ok(bytes),
        _ => Err(format!(
            "expected 1KiB to {} ({max} bytes), got {text}",
            bytesize::ByteSize::b(max as u64)
        )),
    }
}
