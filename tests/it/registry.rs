//! The OCI registry client against a real registry (`docker-registry` on a
//! loopback port): push, pull by tag and digest, version resolution,
//! search, and what it refuses.

use std::sync::Mutex;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use squall::pack::registry::{
    BundleMeta, PackRef, Reference, RegistryClient, RegistryError, RegistryOptions,
};
use squall_tests::{CORE_PACK, RegistryServer};

fn core_bytes() -> Vec<u8> {
    std::fs::read(CORE_PACK).expect("core pack built")
}

fn meta(version: &str, description: &str) -> BundleMeta {
    BundleMeta { name: "core".into(), version: version.into(), description: description.into() }
}

fn reference(text: &str) -> Reference {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default())
}

fn ignore_progress(_: u64, _: Option<u64>) {}

#[tokio::test]
async fn push_then_pull_by_tag_and_by_digest_gives_the_same_bytes() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let client = client();
    let bundle = core_bytes();
    let one = reference(&format!("{registry}/packs/core:1.0.0"));
    let pushed = client.push(&one, &bundle, &meta("1.0.0", "Core actions")).await.expect("push");
    assert_eq!(pushed.reference, format!("{registry}/packs/core:1.0.0"));
    assert!(pushed.digest.starts_with("sha256:") && pushed.digest.len() == 71, "{pushed:?}");

    let seen = Mutex::new(Vec::new());
    let progress = |done: u64, total: Option<u64>| seen.lock().expect("lock").push((done, total));
    let pulled = client.pull(&one, &progress).await.expect("pull by tag");
    assert_eq!(pulled.bytes, bundle);
    assert_eq!(pulled.digest, pushed.digest);
    let seen = seen.into_inner().expect("lock");
    let total = Some(bundle.len() as u64);
    assert_eq!(seen.first(), Some(&(0, total)), "progress starts at zero");
    assert_eq!(seen.last(), Some(&(bundle.len() as u64, total)), "progress ends at the size");

    let pinned = reference(&format!("{registry}/packs/core@{}", pushed.digest));
    let by_digest = client.pull(&pinned, &ignore_progress).await.expect("pull by digest");
    assert_eq!(by_digest.bytes, bundle);
    assert_eq!(by_digest.digest, pushed.digest);
}

#[tokio::test]
async fn the_manifest_is_a_wasm_oci_artefact_with_annotations() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let one = reference(&format!("{registry}/core:0.3.1"));
    client().push(&one, &core_bytes(), &meta("0.3.1", "Core actions")).await.expect("push");

    let raw = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let (manifest, _, config) =
        raw.pull_manifest_and_config(&one, &RegistryAuth::Anonymous).await.expect("manifest");
    assert_eq!(manifest.config.media_type, "application/vnd.wasm.config.v0+json");
    let layers: Vec<&str> = manifest.layers.iter().map(|l| l.media_type.as_str()).collect();
    assert_eq!(layers, ["application/wasm"]);
    let annotations = manifest.annotations.expect("annotations");
    assert_eq!(annotations["org.opencontainers.image.title"], "core");
    assert_eq!(annotations["org.opencontainers.image.version"], "0.3.1");
    assert_eq!(annotations["org.opencontainers.image.description"], "Core actions");
    let created = &annotations["org.opencontainers.image.created"];
    assert!(created.parse::<jiff::Timestamp>().is_ok(), "created {created:?}");

    let config: serde_json::Value = serde_json::from_str(&config).expect("config JSON");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"], serde_json::json!([manifest.layers[0].digest]));
    let exports = config["component"]["exports"].as_array().expect("exports");
    assert!(
        exports.iter().any(|e| e.as_str().is_some_and(|e| e.starts_with("squall:pack/action"))),
        "{exports:?}"
    );
}

#[tokio::test]
async fn a_name_without_version_resolves_to_the_highest_semver_tag() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let client = client();
    let bundle = core_bytes();
    for tag in ["1.2.0", "1.10.0", "latest", "2.0.0-rc.1"] {
        let at = reference(&format!("{registry}/core:{tag}"));
        client.push(&at, &bundle, &meta(tag, "Core actions")).await.expect("push");
    }
    let latest = PackRef::parse("core", Some(&registry)).expect("short name");
    let resolved = client.resolve(&latest).await.expect("resolve");
    assert_eq!(resolved.to_string(), format!("{registry}/core:1.10.0"));

    let pinned = PackRef::parse("core@1.2.0", Some(&registry)).expect("short name");
    let resolved = client.resolve(&pinned).await.expect("resolve");
    assert_eq!(resolved.to_string(), format!("{registry}/core:1.2.0"));

    let missing = PackRef::parse("nothing-here", Some(&registry)).expect("short name");
    let error = client.resolve(&missing).await.expect_err("no such repository");
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn search_matches_repository_names_case_insensitively() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let client = client();
    let bundle = core_bytes();
    for (repository, tag, description) in [
        ("acme/core-tools", "1.0.0", "old"),
        ("acme/core-tools", "1.1.0", "Core actions, newest"),
        ("acme/github", "0.1.0", "GitHub webhooks"),
    ] {
        let at = reference(&format!("{registry}/{repository}:{tag}"));
        client.push(&at, &bundle, &meta(tag, description)).await.expect("push");
    }
    let hits = client.search(&registry, "CORE").await.expect("search");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].repository, format!("{registry}/acme/core-tools"));
    assert_eq!(hits[0].tags, ["1.1.0", "1.0.0"]);
    assert_eq!(hits[0].description.as_deref(), Some("Core actions, newest"));

    assert!(client.search(&registry, "slack").await.expect("search").is_empty());
    let all = client.search(&registry, "").await.expect("search");
    let names: Vec<&str> = all.iter().map(|h| h.repository.as_str()).collect();
    assert_eq!(names, [format!("{registry}/acme/core-tools"), format!("{registry}/acme/github")]);
}

#[tokio::test]
async fn pulling_a_missing_tag_or_repository_is_not_found() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let client = client();
    let at = reference(&format!("{registry}/core:1.0.0"));
    client.push(&at, &core_bytes(), &meta("1.0.0", "")).await.expect("push");
    for missing in [format!("{registry}/core:9.9.9"), format!("{registry}/absent:1.0.0")] {
        let error = client.pull(&reference(&missing), &ignore_progress).await.expect_err("missing");
        match &error {
            RegistryError::NotFound { what } => assert_eq!(what, &missing),
            other => panic!("{missing}: expected not found, got {other:?}"),
        }
        assert_eq!(error.to_string(), format!("{missing}: not found"));
    }
}

#[tokio::test]
async fn an_artefact_whose_layer_is_not_wasm_is_refused() {
    let server = RegistryServer::start();
    let registry = server.host_port();
    let at = reference(&format!("{registry}/image:1.0.0"));
    let raw = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let layer = ImageLayer::new(
        b"not a tarball".to_vec(),
        "application/vnd.oci.image.layer.v1.tar".into(),
        None,
    );
    let config =
        Config::new(b"{}".to_vec(), "application/vnd.oci.image.config.v1+json".into(), None);
    raw.push(&at, &[layer], config, &RegistryAuth::Anonymous, None).await.expect("raw push");

    let error = client().pull(&at, &ignore_progress).await.expect_err("not wasm");
    match &error {
        RegistryError::BadArtefact { reference, detail } => {
            assert_eq!(reference, &at.to_string());
            assert!(detail.contains("application/vnd.oci.image.layer.v1.tar"), "{detail}");
        }
        other => panic!("expected a bad artefact, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wasm_layer_that_is_not_a_component_is_refused() {
    let server = RegistryServer::start();
    let at = reference(&format!("{}/module:1.0.0", server.host_port()));
    let raw = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let module = b"\0asm\x01\0\0\0".to_vec();
    let layer = ImageLayer::new(module.clone(), "application/wasm".into(), None);
    let config = Config::new(b"{}".to_vec(), "application/vnd.wasm.config.v0+json".into(), None);
    raw.push(&at, &[layer], config, &RegistryAuth::Anonymous, None).await.expect("raw push");

    let error = client().pull(&at, &ignore_progress).await.expect_err("a core module");
    assert!(matches!(error, RegistryError::BadArtefact { .. }), "{error:?}");
    // Nor does the client push one.
    let error = client().push(&at, &module, &meta("1.0.0", "")).await.expect_err("push module");
    assert!(matches!(error, RegistryError::BadArtefact { .. }), "{error:?}");
}

#[tokio::test]
async fn a_registry_that_is_not_there_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let at = reference(&format!("127.0.0.1:{port}/core:1.0.0"));
    let error = client().pull(&at, &ignore_progress).await.expect_err("nobody listens");
    match &error {
        RegistryError::Unreachable { registry, .. } => {
            assert_eq!(registry, &format!("127.0.0.1:{port}"))
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
    let error = client().search(&format!("127.0.0.1:{port}"), "x").await.expect_err("search");
    assert!(matches!(error, RegistryError::Unreachable { .. }), "{error:?}");
}

#[tokio::test]
async fn a_push_needs_a_tag() {
    let digest = format!("sha256:{}", "0".repeat(64));
    let at = reference(&format!("127.0.0.1:1/core@{digest}"));
    let error = client().push(&at, &core_bytes(), &meta("1", "")).await.expect_err("digest");
    assert!(matches!(error, RegistryError::Reference(_)), "{error:?}");
}
