//! The OCI registry client for pack bundles: push, pull, version
//! resolution and search, in the CNCF "Wasm OCI artifact" layout the Wasm
//! ecosystem shares (wasm-pkg-tools, Spin, wasmCloud): an image manifest
//! whose config has media type `application/vnd.wasm.config.v0+json` and
//! whose one layer, `application/wasm`, is the bundle itself.
//!
//! References are `registry/repository[:tag|@digest]`, or a short
//! `name[@version]` under a configured default registry. Pulls are checked
//! before they are trusted to anything else: one `application/wasm` layer,
//! at most [`MAX_PULL_BYTES`], its sha256 equal to the manifest's digest.

use std::collections::BTreeMap;
use std::fmt;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, annotations};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use oci_client::Reference;

mod error;
mod reference;

pub use error::{Operation, RegistryError};
pub use reference::{PackRef, ReferenceError, highest_version};

use error::{chain, classify};
use reference::{is_loopback, sort_tags};

/// Media type of the one layer: the component itself.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// Media type of the Wasm OCI artifact's config.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The largest bundle a pull accepts (256 MiB).
pub const MAX_PULL_BYTES: u64 = 256 * 1024 * 1024;

/// How a [`RegistryClient`] connects.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries (`host:port`, as written in references) spoken to over
    /// plain HTTP. Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`)
    /// always are.
    pub insecure_hosts: Vec<String>,
    /// Credentials for HTTP basic auth (or the token exchange that starts
    /// with it); anonymous without.
    pub auth: Option<BasicAuth>,
}

/// A user name and password for a registry.
#[derive(Clone)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth").field("username", &self.username).finish_non_exhaustive()
    }
}

/// What a push records about the bundle, as the manifest's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMeta {
    /// The pack's name (`org.opencontainers.image.title`).
    pub name: String,
    /// The pack's version (`org.opencontainers.image.version`).
    pub version: String,
    /// One line about the pack (`org.opencontainers.image.description`).
    pub description: String,
}

/// Where a push put the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRef {
    /// The manifest's digest, `sha256:…`.
    pub digest: String,
    /// The reference pushed to, `registry/repository:tag`.
    pub reference: String,
}

/// A bundle a pull fetched and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The component's bytes, sha256-checked against the manifest.
    pub bytes: Vec<u8>,
    /// The manifest's digest, `sha256:…`.
    pub digest: String,
    /// The reference pulled, as asked (`registry/repository:tag` or `…@digest`).
    pub reference: String,
}

/// A bundle [`RegistryClient::fetch`] resolved and pulled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The component's bytes, sha256-checked against the manifest.
    pub bytes: Vec<u8>,
    /// The manifest's digest, `sha256:…`.
    pub digest: String,
    /// Where it came from: `registry/repository:tag@sha256:…`.
    pub origin: String,
}

/// A repository a search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchHit {
    /// `registry/repository`, e.g. `ghcr.io/acme/core`.
    pub repository: String,
    /// Its tags, the highest version first (tags that are not semver last).
    pub tags: Vec<String>,
    /// The description annotation of the latest tag's manifest, if any.
    pub description: Option<String>,
}

/// The Wasm OCI artifact config (`application/vnd.wasm.config.v0+json`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    architecture: &'static str,
    os: &'static str,
    layer_digests: Vec<String>,
    component: ComponentInfo,
}

/// A component's top-level import and export names.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ComponentInfo {
    pub(crate) exports: Vec<String>,
    pub(crate) imports: Vec<String>,
}

/// Reads the top-level imports and exports of a component; an error says
/// why `bytes` is not one.
pub(crate) fn component_info(bytes: &[u8]) -> Result<ComponentInfo, String> {
    if !wasmparser::Parser::is_component(bytes) {
        return Err("not a WebAssembly component (bad header)".into());
    }
    let mut info = ComponentInfo::default();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| format!("not a valid component: {e}"))? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) if depth == 0 => break,
            wasmparser::Payload::End(_) => depth -= 1,
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| format!("bad import section: {e}"))?;
                    info.imports.push(import.name.name.to_owned());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| format!("bad export section: {e}"))?;
                    info.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Push, pull, resolve and search against OCI registries.
pub struct RegistryClient {
    /// Speaks HTTPS to every registry.
    tls: Client,
    /// Speaks plain HTTP, for loopback and insecure hosts.
    plain: Client,
    insecure_hosts: Vec<String>,
    auth: RegistryAuth,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("insecure_hosts", &self.insecure_hosts)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client with `options`; it connects only when asked to do something.
    pub fn new(options: RegistryOptions) -> Self {
        let config = |protocol| ClientConfig {
            protocol,
            // Wasm artefacts have one platform; an index is not a bundle.
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("squall/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let auth = match options.auth {
            Some(BasicAuth { username, password }) => RegistryAuth::Basic(username, password),
            None => RegistryAuth::Anonymous,
        };
        Self {
            tls: Client::new(config(ClientProtocol::Https)),
            plain: Client::new(config(ClientProtocol::Http)),
            insecure_hosts: options.insecure_hosts,
            auth,
        }
    }

    /// Whether `registry` is spoken to over plain HTTP.
    pub fn is_plain_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.insecure_hosts.iter().any(|h| h == registry)
    }

    fn client(&self, registry: &str) -> &Client {
        if self.is_plain_http(registry) { &self.plain } else { &self.tls }
    }

    /// The exact reference `pack_ref` stands for: itself when it names a
    /// tag or digest, else the repository's highest semver tag.
    pub async fn resolve(&self, pack_ref: &PackRef) -> Result<Reference, RegistryError> {
        let (registry, repository) = match pack_ref {
            PackRef::Exact(reference) => return Ok(reference.clone()),
            PackRef::Latest { registry, repository } => (registry, repository),
        };
        let tags = self.tags(registry, repository, Operation::Resolve).await?;
        let Some(tag) = highest_version(&tags) else {
            let shown = if tags.is_empty() { "none".to_owned() } else { tags.join(", ") };
            return Err(RegistryError::NotFound {
                what: format!(
                    "a semver tag in {registry}/{repository} (tags: {shown}); \
                     name a tag or digest"
                ),
            });
        };
        Ok(Reference::with_tag(registry.clone(), repository.clone(), tag.to_owned()))
    }

    /// The tags of `registry/repository`, as the registry lists them.
    pub async fn tags(
        &self,
        registry: &str,
        repository: &str,
        operation: Operation,
    ) -> Result<Vec<String>, RegistryError> {
        let reference =
            Reference::with_tag(registry.to_owned(), repository.to_owned(), "latest".into());
        let what = format!("{registry}/{repository}");
        let response = self
            .client(registry)
            .list_tags(&reference, &self.auth, None, None)
            .await
            .map_err(|e| classify(e, operation, registry, &what))?;
        Ok(response.tags)
    }

    /// Pushes `bundle` (a component) to `reference`, which must name a tag,
    /// as a Wasm OCI artifact annotated with `meta`.
    pub async fn push(
        &self,
        reference: &Reference,
        bundle: &[u8],
        meta: &BundleMeta,
    ) -> Result<PushedRef, RegistryError> {
        let registry = reference.registry();
        let what = reference.to_string();
        let Some(tag) = reference.tag().filter(|_| reference.digest().is_none()) else {
            return Err(ReferenceError {
                text: what,
                expected: "a push needs a tag (registry/repository:tag), not a digest".into(),
            }
            .into());
        };
        let bad = |detail: String| RegistryError::BadArtefact {
            reference: format!("the bundle for {what}"),
            detail,
        };
        if bundle.len() as u64 > MAX_PULL_BYTES {
            return Err(bad(format!(
                "{} bytes, over the {MAX_PULL_BYTES}-byte limit pulls enforce",
                bundle.len()
            )));
        }
        let component = component_info(bundle).map_err(bad)?;
        let created = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let layer_digest = sha256_digest(bundle);
        let config = WasmConfig {
            created: &created,
            author: None,
            architecture: "wasm",
            os: "wasip2",
            layer_digests: vec![layer_digest.clone()],
            component,
        };
        let config = serde_json::to_vec(&config).map_err(|e| bad(e.to_string()))?;
        let annotations = BTreeMap::from([
            (annotations::ORG_OPENCONTAINERS_IMAGE_TITLE.to_owned(), meta.name.clone()),
            (annotations::ORG_OPENCONTAINERS_IMAGE_VERSION.to_owned(), meta.version.clone()),
            (
                annotations::ORG_OPENCONTAINERS_IMAGE_DESCRIPTION.to_owned(),
                meta.description.clone(),
            ),
            (annotations::ORG_OPENCONTAINERS_IMAGE_CREATED.to_owned(), created.clone()),
        ]);
        let manifest = OciImageManifest {
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
            config: OciDescriptor {
                media_type: WASM_CONFIG_MEDIA_TYPE.to_owned(),
                digest: sha256_digest(&config),
                size: config.len() as i64,
                ..OciDescriptor::default()
            },
            layers: vec![OciDescriptor {
                media_type: WASM_LAYER_MEDIA_TYPE.to_owned(),
                digest: layer_digest.clone(),
                size: bundle.len() as i64,
                ..OciDescriptor::default()
            }],
            annotations: Some(annotations),
            ..OciImageManifest::default()
        };
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| bad(e.to_string()))?;
        let client = self.client(registry);
        let fail = |e| classify(e, Operation::Push, registry, &what);
        client.store_auth_if_needed(reference.resolve_registry(), &self.auth).await;
        // The registry keeps one copy per digest: a bundle already pushed
        // under another tag is not uploaded again.
        if !client.blob_exists(reference, &layer_digest).await.unwrap_or(false) {
            client.push_blob(reference, bundle.to_vec(), &layer_digest).await.map_err(fail)?;
        }
        let config_digest = manifest.config.digest.clone();
        client.push_blob(reference, config, &config_digest).await.map_err(fail)?;
        let content_type = http::HeaderValue::from_static(OCI_IMAGE_MEDIA_TYPE);
        client
            .push_manifest_raw(reference, manifest_bytes.clone(), content_type)
            .await
            .map_err(fail)?;
        let digest = sha256_digest(&manifest_bytes);
        Ok(PushedRef { digest, reference: format!("{registry}/{}:{tag}", reference.repository()) })
    }

    /// Pulls the bundle at `reference`, calling `progress(done, total)` as
    /// bytes arrive. Refuses anything but one `application/wasm` layer of
    /// at most [`MAX_PULL_BYTES`] whose sha256 matches the manifest.
    pub async fn pull(
        &self,
        reference: &Reference,
        progress: &(dyn Fn(u64, Option<u64>) + Sync),
    ) -> Result<Pulled, RegistryError> {
        let registry = reference.registry();
        let what = reference.to_string();
        let client = self.client(registry);
        let fail = |e| classify(e, Operation::Pull, registry, &what);
        let bad = |detail: String| RegistryError::BadArtefact { reference: what.clone(), detail };
        // Checks the manifest's own digest when the reference names one.
        let (manifest, digest) =
            client.pull_image_manifest(reference, &self.auth).await.map_err(fail)?;
        let [layer] = manifest.layers.as_slice() else {
            return Err(bad(format!(
                "expected one {WASM_LAYER_MEDIA_TYPE} layer, the manifest has {}",
                manifest.layers.len()
            )));
        };
        if layer.media_type != WASM_LAYER_MEDIA_TYPE {
            return Err(bad(format!(
                "its layer has media type {:?}, expected {WASM_LAYER_MEDIA_TYPE:?}",
                layer.media_type
            )));
        }
        if !layer.digest.starts_with("sha256:") {
            return Err(bad(format!("layer digest {:?} is not sha256", layer.digest)));
        }
        let declared = u64::try_from(layer.size)
            .map_err(|_| bad(format!("layer size {} is negative", layer.size)))?;
        if declared > MAX_PULL_BYTES {
            return Err(bad(format!(
                "its layer is {declared} bytes, over the {MAX_PULL_BYTES}-byte limit"
            )));
        }
        let mut stream = client.pull_blob_stream(reference, layer).await.map_err(fail)?;
        let total = Some(declared);
        progress(0, total);
        let mut bytes = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
        let mut hasher = Sha256::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match e.get_ref() {
                Some(inner) if inner.is::<oci_client::errors::DigestError>() => {
                    bad(format!("layer digest check failed: {inner}"))
                }
                _ => RegistryError::Unreachable {
                    operation: Operation::Pull,
                    registry: registry.to_owned(),
                    detail: format!("download of {what} broke off: {}", chain(&e)),
                },
            })?;
            if (bytes.len() + chunk.len()) as u64 > declared {
                return Err(bad(format!(
                    "the registry sent more than the {declared} bytes the manifest declares"
                )));
            }
            hasher.update(&chunk);
            bytes.extend_from_slice(&chunk);
            progress(bytes.len() as u64, total);
        }
        if bytes.len() as u64 != declared {
            return Err(bad(format!(
                "the registry sent {} bytes, the manifest declares {declared}",
                bytes.len()
            )));
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != layer.digest {
            return Err(bad(format!("layer is {actual}, the manifest says {}", layer.digest)));
        }
        if !wasmparser::Parser::is_component(&bytes) {
            return Err(bad("its layer is not a WebAssembly component".into()));
        }
        Ok(Pulled { bytes, digest, reference: what })
    }

    /// Resolves `pack_ref` (the highest semver tag when it names none) and
    /// pulls that bundle, calling `progress(reference, done, total)` as
    /// bytes arrive: what `squall pack install` and the server's
    /// `POST /packs/pull` both do. The answer names where the bytes came
    /// from, `registry/repository:tag@sha256:…`.
    pub async fn fetch(
        &self,
        pack_ref: &PackRef,
        progress: &(dyn Fn(&Reference, u64, Option<u64>) + Sync),
    ) -> Result<Fetched, RegistryError> {
        let reference = self.resolve(pack_ref).await?;
        let pulled =
            self.pull(&reference, &|done, total| progress(&reference, done, total)).await?;
        let repository = format!("{}/{}", reference.registry(), reference.repository());
        let origin = match reference.tag() {
            Some(tag) => format!("{repository}:{tag}@{}", pulled.digest),
            None => format!("{repository}@{}", pulled.digest),
        };
        Ok(Fetched { bytes: pulled.bytes, digest: pulled.digest, origin })
    }

    /// The repositories of `registry` whose name contains `term` (any case;
    /// empty matches all), from the catalog API (`/v2/_catalog`), with their
    /// tags and the latest tag's description.
    pub async fn search(
        &self,
        registry: &str,
        term: &str,
    ) -> Result<Vec<SearchHit>, RegistryError> {
        const PAGE: usize = 100;
        let client = self.client(registry);
        let any = Reference::with_tag(registry.to_owned(), "catalog".into(), "latest".into());
        let term = term.to_lowercase();
        let mut repositories = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = client
                .catalog(&any, &self.auth, Some(PAGE), last.as_deref())
                .await
                .map_err(|e| match classify(e, Operation::Search, registry, registry) {
                    RegistryError::NotFound { .. } => RegistryError::Refused {
                        operation: Operation::Search,
                        registry: registry.to_owned(),
                        detail: "it offers no catalog API (/v2/_catalog); search needs one".into(),
                    },
                    other => other,
                })?;
            let full = page.repositories.len() >= PAGE;
            last = page.repositories.last().cloned();
            repositories.extend(page.repositories);
            if !full || last.is_none() {
                break;
            }
        }
        let mut hits = Vec::new();
        for repository in repositories.into_iter().filter(|r| r.to_lowercase().contains(&term)) {
            let mut tags = match self.tags(registry, &repository, Operation::Search).await {
                Ok(tags) => tags,
                Err(RegistryError::NotFound { .. }) => Vec::new(),
                Err(e) => return Err(e),
            };
            sort_tags(&mut tags);
            let latest = highest_version(&tags).or(tags.first().map(String::as_str));
            let description = match latest {
                Some(tag) => self.description(registry, &repository, tag).await,
                None => None,
            };
            let repository = format!("{registry}/{repository}");
            hits.push(SearchHit { repository, tags, description });
        }
        hits.sort_by(|a, b| a.repository.cmp(&b.repository));
        Ok(hits)
    }

    /// The description annotation of `repository:tag`, if it has one.
    async fn description(&self, registry: &str, repository: &str, tag: &str) -> Option<String> {
        let reference = Reference::with_tag(registry.to_owned(), repository.to_owned(), tag.into());
        let (manifest, _) =
            self.client(registry).pull_image_manifest(&reference, &self.auth).await.ok()?;
        manifest.annotations?.remove(annotations::ORG_OPENCONTAINERS_IMAGE_DESCRIPTION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        let client = RegistryClient::new(RegistryOptions {
            insecure_hosts: vec!["registry.lan:5000".into()],
            auth: None,
        });
        for plain in
            ["127.0.0.1:5000", "localhost:5000", "localhost", "[::1]:5000", "registry.lan:5000"]
        {
            assert!(client.is_plain_http(plain), "{plain}");
        }
        for tls in ["ghcr.io", "registry.lan", "10.0.0.1:5000", "localhost.evil.io"] {
            assert!(!client.is_plain_http(tls), "{tls}");
        }
    }

    #[test]
    fn component_info_lists_top_level_names_and_refuses_modules() {
        let module = b"\0asm\x01\0\0\0";
        assert!(
            component_info(module).expect_err("module").contains("not a WebAssembly component")
        );
        assert!(component_info(b"hello").is_err());
    }
}
