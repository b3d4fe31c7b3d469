//! The CLI side of pack registries: `squall pack push`, pulling a bundle by
//! reference or `name[@version]` (with a progress bar on a terminal, plain
//! lines otherwise), `squall pack search`, and fetching a bundle from an
//! HTTPS URL. Each runs a small current-thread tokio runtime around
//! `pack::registry`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use super::output::{Table, print_json};
use crate::pack::Bundle;
use crate::pack::registry::{
    BasicAuth, BundleMeta, MAX_PULL_BYTES, PackRef, Reference, RegistryClient, RegistryError,
    RegistryOptions, highest_version,
};

/// Where registries are and how to reach them; flatten it into a command.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct RegistryOpts {
    /// Default registry for short names (`name[@version]`) and for search,
    /// e.g. `ghcr.io/acme` [env: SQUALL_REGISTRY].
    #[arg(long, value_name = "REGISTRY")]
    pub(crate) registry: Option<String>,
    /// A registry (`host:port`) to speak plain HTTP to; repeatable.
    /// Loopback registries always are.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub(crate) insecure_registries: Vec<String>,
}

impl RegistryOpts {
    /// `--registry`, else `$SQUALL_REGISTRY`, else `registry` in the
    /// client's config file, else `None`.
    fn default_registry(&self) -> Option<String> {
        self.registry
            .clone()
            .or_else(|| std::env::var("SQUALL_REGISTRY").ok())
            .or_else(|| {
                let inputs = super::client::Inputs::gather().ok()?;
                inputs.config?.1.registry
            })
            .map(|r| r.trim().trim_end_matches('/').to_owned())
            .filter(|r| !r.is_empty())
    }

    /// The default registry, or an error saying how to set one.
    fn require_registry(&self, why: &str) -> anyhow::Result<String> {
        self.default_registry().with_context(|| {
            format!(
                "{why} needs a registry: pass --registry REGISTRY (e.g. --registry ghcr.io/acme), \
                 set SQUALL_REGISTRY, or put `registry = \"…\"` in the client config file"
            )
        })
    }

    /// The client, with basic auth from `SQUALL_REGISTRY_USER` and
    /// `SQUALL_REGISTRY_PASSWORD` when both are set.
    fn client(&self) -> anyhow::Result<RegistryClient> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let auth = match (var("SQUALL_REGISTRY_USER"), var("SQUALL_REGISTRY_PASSWORD")) {
            (Some(username), Some(password)) => Some(BasicAuth { username, password }),
            (None, None) => None,
            (Some(_), None) => {
                bail!("SQUALL_REGISTRY_USER is set but SQUALL_REGISTRY_PASSWORD is not")
            }
            (None, Some(_)) => {
                bail!("SQUALL_REGISTRY_PASSWORD is set but SQUALL_REGISTRY_USER is not")
            }
        };
        Ok(RegistryClient::new(RegistryOptions {
            insecure_hosts: self.insecure_registries.clone(),
            auth,
        }))
    }
}

/// A current-thread runtime for one command.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the registry client's runtime")
}

/// A registry error, with a hint for refusals that credentials may cure.
fn explain(error: RegistryError) -> anyhow::Error {
    let hint = match &error {
        RegistryError::Refused { detail, .. } if detail.contains("not authorised") => {
            "; set SQUALL_REGISTRY_USER and SQUALL_REGISTRY_PASSWORD"
        }
        RegistryError::Unreachable { detail, .. }
            if detail.contains("ssl")
                || detail.contains("tls")
                || detail.contains("certificate") =>
        {
            "; a registry without TLS needs --insecure-registry HOST:PORT"
        }
        RegistryError::Unreachable { detail, .. }
            if detail.contains("onnection refused") || detail.contains("dns error") =>
        {
            "; no registry answers at that address: check --registry (or SQUALL_REGISTRY) and that the registry is running"
        }
        _ => "",
    };
    anyhow::anyhow!("{error}{hint}")
}

/// Pushes the bundle file `bundle` to `reference`. The reference may be a
/// full `registry/repository[:tag]` or a short `name[@version]` under the
/// default registry; without a tag the bundle's own version is used. Name,
/// version and description come from the bundle's manifest.
pub(crate) fn push(
    bundle: &Path,
    reference: &str,
    opts: &RegistryOpts,
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let origin = bundle.display().to_string();
    let bytes = std::fs::read(bundle).with_context(|| format!("reading {origin}"))?;
    let read = Bundle::read(&bytes, &origin)?;
    let manifest = &read.manifest;
    let target = match PackRef::parse(reference, opts.default_registry().as_deref()) {
        Ok(PackRef::Exact(reference)) => reference,
        Ok(PackRef::Latest { registry, repository }) => {
            Reference::with_tag(registry, repository, manifest.version.clone())
        }
        Err(e) if opts.default_registry().is_none() && !reference.contains('/') => {
            return Err(e).context("pass --registry REGISTRY or set SQUALL_REGISTRY");
        }
        Err(e) => return Err(e.into()),
    };
    if !read.signed {
        writeln!(
            stderr,
            "note: {origin} is not signed; hosts that require signatures will refuse it \
             (sign it with `squall pack sign`)"
        )?;
    }
    let meta = BundleMeta {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        description: manifest.description.clone(),
    };
    let client = opts.client()?;
    let pushed = runtime()?.block_on(client.push(&target, &bytes, &meta)).map_err(explain)?;
    if json {
        let answer = serde_json::json!({
            "reference": pushed.reference.to_string(),
            "digest": pushed.digest,
            "size": bytes.len(),
        });
        writeln!(stdout, "{answer}")?;
        return Ok(());
    }
    writeln!(stdout, "pushed {} ({} bytes)", pushed.reference, bytes.len())?;
    writeln!(stdout, "digest {}", pushed.digest)?;
    Ok(())
}

/// Pulls a bundle by full reference or by `name[@version]` under the
/// default registry (the highest semver tag when no version is given).
/// Shows a progress bar on stderr when `terminal`, plain lines to
/// `stderr` otherwise. Returns the bytes and where they came from,
/// `registry/repository:tag@sha256:…`.
pub(crate) fn pull(
    reference_or_name: &str,
    opts: &RegistryOpts,
    stderr: &mut dyn Write,
    terminal: bool,
) -> anyhow::Result<(Vec<u8>, String)> {
    let default = opts.default_registry();
    let pack_ref = match PackRef::parse(reference_or_name, default.as_deref()) {
        Ok(pack_ref) => pack_ref,
        Err(e) if default.is_none() && !reference_or_name.contains('/') => {
            return Err(e).context("pass --registry REGISTRY or set SQUALL_REGISTRY");
        }
        Err(e) => return Err(e.into()),
    };
    let client = opts.client()?;
    let runtime = runtime()?;
    let fetched = if terminal {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let progress = |reference: &Reference, done: u64, total: Option<u64>| {
            if done == 0 {
                bar.set_message(format!("downloading {reference}"));
            }
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        };
        let fetched = runtime.block_on(client.fetch(&pack_ref, &progress));
        bar.finish_and_clear();
        fetched.map_err(explain)?
    } else {
        let announced = std::sync::Mutex::new(None::<String>);
        let progress = |reference: &Reference, _done: u64, total: Option<u64>| {
            let mut announced = announced.lock().unwrap_or_else(|e| e.into_inner());
            if announced.is_none() {
                let size = total.map_or_else(|| "size unknown".to_owned(), human_bytes);
                *announced = Some(format!("downloading {reference} … {size}"));
            }
        };
        let fetched = runtime.block_on(client.fetch(&pack_ref, &progress));
        if let Some(line) = announced.into_inner().unwrap_or_else(|e| e.into_inner()) {
            writeln!(stderr, "{line}")?;
        }
        fetched.map_err(explain)?
    };
    if !terminal {
        writeln!(
            stderr,
            "downloaded {} ({})",
            fetched.origin,
            human_bytes(fetched.bytes.len() as u64)
        )?;
    }
    Ok((fetched.bytes, fetched.origin))
}

/// Lists the repositories of the default registry whose name contains
/// `term`, as a table or (`json`) a JSON array of `{repository, tags,
/// description}`. A default registry with a path (`host/acme`) limits the
/// search to repositories under it.
pub(crate) fn search(
    term: &str,
    opts: &RegistryOpts,
    json: bool,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let default = opts.require_registry("search")?;
    let (host, prefix) = match default.split_once('/') {
        Some((host, path)) => (host.to_owned(), format!("{host}/{path}/")),
        None => (default.clone(), String::new()),
    };
    let client = opts.client()?;
    let hits = runtime()?.block_on(client.search(&host, term)).map_err(explain)?;
    let hits: Vec<_> = hits.into_iter().filter(|h| h.repository.starts_with(&prefix)).collect();
    if json {
        return print_json(stdout, &serde_json::to_value(&hits)?);
    }
    let mut table = Table::new(&["REPOSITORY", "LATEST", "TAGS", "DESCRIPTION"]);
    for hit in &hits {
        table.row(vec![
            hit.repository.clone(),
            highest_version(&hit.tags)
                .or(hit.tags.first().map(String::as_str))
                .unwrap_or_default()
                .to_owned(),
            hit.tags.len().to_string(),
            hit.description.clone().unwrap_or_default(),
        ]);
    }
    table.print(stdout, &format!("no packs matching {term:?} in {default}"))
}

/// Downloads a bundle from an `https://` URL (`http://` only for loopback
/// hosts), at most the registry pull limit. TLS comes from the same
/// reqwest/OpenSSL stack as the registry client; the bundle's signature is
/// still checked at install, so the URL is a transport, not a trust root.
pub(crate) fn fetch_url(url: &str) -> anyhow::Result<Vec<u8>> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => bail!("{url}: plain http:// is accepted only for loopback hosts; use https://"),
        other => bail!("{url}: unsupported scheme {other:?}; expected https://"),
    }
    let client = reqwest::Client::builder()
        .user_agent(concat!("squall/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(60))
        .build()
        .context("building the HTTPS client")?;
    runtime()?.block_on(async {
        let mut response =
            client.get(parsed).send().await.with_context(|| format!("fetching {url}"))?;
        let status = response.status();
        if !status.is_success() {
            bail!("fetching {url}: the server answered {status}");
        }
        if let Some(length) = response.content_length()
            && length > MAX_PULL_BYTES
        {
            bail!("{url}: {length} bytes is over the {MAX_PULL_BYTES}-byte bundle limit");
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.with_context(|| format!("reading {url}"))? {
            if (bytes.len() + chunk.len()) as u64 > MAX_PULL_BYTES {
                bail!("{url}: over the {MAX_PULL_BYTES}-byte bundle limit");
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    })
}

/// A size for people: `812 B`, `3.4 KiB`, `1.2 MiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(3 * 1024 + 400), "3.4 KiB");
        assert_eq!(human_bytes(1_258_291), "1.2 MiB");
    }

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        let e = fetch_url("http://example.com/p.wasm").expect_err("plain http");
        assert!(e.to_string().contains("use https://"), "{e}");
        let e = fetch_url("ftp://example.com/p.wasm").expect_err("ftp");
        assert!(e.to_string().contains("unsupported scheme"), "{e}");
        let e = fetch_url("not a url").expect_err("garbage");
        assert!(e.to_string().contains("is not a URL"), "{e}");
    }

    #[test]
    fn short_names_without_a_registry_say_how_to_set_one() {
        let opts = RegistryOpts { registry: None, insecure_registries: Vec::new() };
        if std::env::var_os("SQUALL_REGISTRY").is_some() {
            return;
        }
        let e = search("x", &opts, false, &mut Vec::new()).expect_err("no registry");
        assert!(e.to_string().contains("--registry") && e.to_string().contains("SQUALL_REGISTRY"));
        let e = pull("core@1.0.0", &opts, &mut Vec::new(), false).expect_err("no registry");
        assert!(format!("{e:#}").contains("SQUALL_REGISTRY"), "{e:#}");
    }
}
