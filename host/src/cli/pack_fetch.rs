//! Where `squall pack install` gets a bundle from — a file, an http(s) URL
//! or a registry — and the progress line shown while the server verifies
//! and compiles it (a spinner on a terminal, plain lines otherwise).

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::pack::MAX_BUNDLE_BYTES;

/// The bundle at `source` and a name for it: a file if one exists there,
/// else an `http://` or `https://` URL, else a registry reference or
/// `name[@version]` in the default registry.
pub(crate) fn fetch_bundle(
    source: &str,
    registry: &super::pack_registry::RegistryOpts,
    stderr: &mut dyn Write,
) -> anyhow::Result<(Vec<u8>, String)> {
    let path = Path::new(source);
    if path.is_file() {
        let size = path.metadata().map(|m| m.len()).unwrap_or_default();
        if size > MAX_BUNDLE_BYTES as u64 {
            anyhow::bail!("{source}: {size} bytes is over the bundle limit of {MAX_BUNDLE_BYTES}");
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
        return Ok((bytes, source.to_owned()));
    }
    if source.starts_with("http://") || source.starts_with("https://") {
        let bytes = super::pack_registry::fetch_url(source)?;
        return Ok((bytes, source.to_owned()));
    }
    super::pack_registry::pull(source, registry, stderr, std::io::stderr().is_terminal())
}

/// A step the user waits on: a spinner on a terminal, a start line and an
/// end line with the time taken otherwise.
pub(crate) struct Phase {
    spinner: Option<indicatif::ProgressBar>,
    started: Instant,
    what: String,
}

impl Phase {
    pub(crate) fn start(stderr: &mut dyn Write, what: &str) -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner().with_message(what.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        if spinner.is_none() {
            let _ = writeln!(stderr, "{what} …");
        }
        Self { spinner, started: Instant::now(), what: what.to_owned() }
    }

    /// A spinner and then the time taken on a terminal; nothing at all
    /// when stderr is not one (a build's output stays what it was).
    pub(crate) fn on_terminal(what: &str) -> Option<Self> {
        std::io::stderr().is_terminal().then(|| Self::start(&mut std::io::stderr(), what))
    }

    /// Ends the step without a line: the caller says how it went.
    pub(crate) fn clear(self) {
        if let Some(bar) = self.spinner {
            bar.finish_and_clear();
        }
    }

    /// Ends the step on a line of its own: done, or failed (`ok` false)
    /// so that a refusal is never announced as done first.
    pub(crate) fn finish(self, stderr: &mut dyn Write, ok: bool) {
        let took = self.started.elapsed();
        if let Some(bar) = self.spinner {
            bar.finish_and_clear();
        }
        let outcome = if ok { "done in" } else { "failed after" };
        let _ = writeln!(stderr, "{}: {outcome} {}", self.what, human(took));
    }
}

/// A duration as people read it: `420µs`, `850ms`, `1.3s`, `2m 05s`.
/// What every build, install and upgrade line says.
pub(crate) fn human(took: Duration) -> String {
    match took.as_micros() {
        us @ 0..1_000 => format!("{us}µs"),
        us @ 1_000..1_000_000 => format!("{}ms", us / 1_000),
        1_000_000..60_000_000 => format!("{:.1}s", took.as_secs_f64()),
        _ => format!("{}m {:02}s", took.as_secs() / 60, took.as_secs() % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        let shown = [1, 999, 1_000, 850_000, 1_340_000, 59_940_000, 125_000_000]
            .map(|us| human(Duration::from_micros(us)));
        assert_eq!(shown, ["1µs", "999µs", "1ms", "850ms", "1.3s", "59.9s", "2m 05s"]);
    }
}
