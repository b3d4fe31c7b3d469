//! Bundles through `POST /packs`: a section of Squall's over its cap is
//! refused naming it even when the bundle is validly signed; a bit flipped
//! in the signature section is a corrupt signature, not a stranger's; an
//! impossible section length is called that, naming where it is; a body
//! over the upload limit is 413, as soon as that is known.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;
use squall::api::InstallLimits;
use squall::pack::{BundleFiles, SigningKey, assemble, generate};
use squall_tests::{CORE_MANIFEST, CORE_PACK};

use super::{Api, FAST, error, timed};

/// The core component as pack `demo`, unsigned.
fn bundle() -> Vec<u8> {
    let manifest = std::fs::read_to_string(CORE_MANIFEST).expect("core manifest").replacen(
        "name = \"core\"",
        "name = \"demo\"",
        1,
    );
    let component = std::fs::read(CORE_PACK).expect("core component");
    let files = BundleFiles { manifest, ..BundleFiles::default() };
    assemble(&component, &files, "demo.wasm").expect("assemble")
}

/// A custom section as a module writes it.
fn section(name: &str, size: usize) -> Vec<u8> {
    let mut payload = leb128(name.len());
    payload.extend_from_slice(name.as_bytes());
    payload.resize(payload.len() + size, b' ');
    let mut out = vec![0];
    out.extend(leb128(payload.len()));
    out.extend(payload);
    out
}

fn leb128(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = u8::try_from(value & 0x7f).expect("7 bits");
        value >>= 7;
        out.push(if value == 0 { byte } else { byte | 0x80 });
        if value == 0 {
            return out;
        }
    }
}

/// An API that installs packs and trusts a new key; answers the key.
async fn api_trusting() -> (Api, SigningKey) {
    let api = Api::start().await;
    api.enable_lifecycle();
    let (key, public) = generate();
    let trust = json!({"name": "ours", "public_key": hex(&public.to_bytes())});
    let (status, body) = api.call(Method::POST, "/api/v1/trust", Some(trust)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (api, key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn install(api: &Api, bundle: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let request = api
        .authed(Method::POST, "/api/v1/packs")
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(bundle))
        .expect("request");
    let (status, body, _) = timed(api, request).await;
    (status, body)
}

#[tokio::test]
async fn a_signed_bundle_with_an_oversized_section_is_refused_naming_it() {
    let (api, key) = api_trusting().await;
    let mut oversized = bundle();
    oversized.extend(section("squall:workflows", 5 << 20));
    let signed = key.sign(&oversized).expect("the signer signs what it is given");
    let (status, body) = install(&api, signed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let size = (5 << 20) + 17;
    assert_eq!(
        error(&body),
        format!(
            "uploaded bundle: section `squall:workflows` is {size} bytes, over its limit of 4194304 bytes"
        )
    );
    // The same bundle without the extra section installs.
    let (status, body) = install(&api, key.sign(&bundle()).expect("sign")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_bit_flipped_in_the_signature_section_is_a_corrupt_signature() {
    let (api, key) = api_trusting().await;
    let signed = key.sign(&bundle()).expect("sign");
    // The signature section comes first: id 0 at byte 8, then its length.
    let mut at = 9;
    let (mut length, mut shift) = (0usize, 0);
    loop {
        let byte = signed[at];
        at += 1;
        length |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let end = at + length;
    // The section ends with the 64 bytes of the Ed25519 signature.
    for flipped in [end - 1, end - 33, end - 64] {
        let mut damaged = signed.clone();
        damaged[flipped] ^= 0x10;
        let (status, body) = install(&api, damaged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "byte {flipped}: {body}");
        let message = error(&body);
        assert!(message.contains("signature section is corrupt"), "byte {flipped}: {message}");
        assert!(!message.contains("not trusted"), "byte {flipped}: {message}");
    }
}

#[tokio::test]
async fn an_impossible_section_length_is_called_that() {
    let (api, _) = api_trusting().await;
    let mut bytes = bundle();
    let offset = bytes.len();
    // A custom section claiming 4 GiB, followed by one byte.
    bytes.extend([0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    let (status, body) = install(&api, bytes).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = error(&body);
    assert!(
        message.contains(&format!("at byte offset {offset} claims 4294967295 bytes, but only 1 follow: the length is impossible")),
        "{message}"
    );
    assert!(!message.contains("I/O"), "{message}");
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_as_soon_as_that_is_known() {
    let api = Api::start().await;
    api.enable_lifecycle();
    api.state
        .limit_installs(InstallLimits { max_bundle_bytes: 1 << 20, ..InstallLimits::default() });
    // Declared too large: refused before a byte is read.
    let request = api
        .authed(Method::POST, "/api/v1/packs")
        .header(header::CONTENT_TYPE, "application/wasm")
        .header(header::CONTENT_LENGTH, (300u64 << 20).to_string())
        .body(Body::empty())
        .expect("request");
    let (status, body, elapsed) = timed(&api, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(elapsed < FAST, "took {elapsed:?}");
    assert_eq!(
        error(&body),
        "the bundle (314572800 bytes) is over this server's upload limit of 1048576 bytes (1.0 MiB; `squall serve --max-bundle-size`)"
    );
    // Not declared: refused once the bytes pass the limit.
    let request = api
        .authed(Method::POST, "/api/v1/packs")
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(vec![0u8; (1 << 20) + 1]))
        .expect("request");
    let (status, body, _) = timed(&api, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["detail"], json!({"limit": 1 << 20}));
}

#[test]
fn the_document_describes_the_new_answers() {
    let doc = serde_json::to_value(squall::api::openapi()).expect("document");
    let install = &doc["paths"]["/api/v1/packs"]["post"]["responses"];
    for status in ["413", "422", "503"] {
        assert!(install.get(status).is_some(), "POST /packs: {status} not documented");
    }
    assert!(install["503"]["headers"].get("retry-after").is_some(), "{}", install["503"]);
    let put_key = &doc["paths"]["/api/v1/keys/{name}"]["put"];
    let scope =
        put_key["parameters"].as_array().expect("parameters").iter().any(|p| p["name"] == "scope");
    assert!(scope, "PUT /keys: the scope query parameter is not documented");
    for status in ["400", "415", "422"] {
        assert!(put_key["responses"].get(status).is_some(), "PUT /keys: {status}");
    }
    // A JSON body nested too deep is a 400 wherever one is taken.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            let json = operation["requestBody"]["content"].get("application/json").is_some();
            if json && path != "/api/v1/webhooks/{name}" {
                let responses = &operation["responses"];
                assert!(responses.get("400").is_some(), "{method} {path}: 400 not documented");
            }
        }
    }
}
