//! API keys: generating them, storing only their sha256, and the middleware
//! that admits a request only with a live key (`Authorization: Bearer KEY`
//! or StackStorm's `St2-Api-Key: KEY`; webhooks also take `?st2-api-key=`
//! or `?api_key=`). The key is looked up in the store on every request, so
//! a revoked key stops working at once.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use super::state::ApiState;
use crate::store::{ApiKeyRecord, Store, WriteError, new_id, now_millis};

/// What every key Squall issues starts with, so a leaked one is easy to
/// recognise (secret scanners, logs).
pub const KEY_PREFIX: &str = "sq_";

/// StackStorm's API key header.
pub const ST2_API_KEY_HEADER: &str = "st2-api-key";

/// Query parameters a webhook sender may carry its key in, as StackStorm
/// accepts.
pub const QUERY_KEY_PARAMS: [&str; 2] = ["st2-api-key", "api_key"];

/// A new key: [`KEY_PREFIX`] and 32 random bytes from the OS, in hex.
pub fn generate_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{KEY_PREFIX}{}", hex::encode(bytes)))
}

/// The hex sha256 of a key: what the store keeps and looks keys up by.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates and stores a key named `name`; returns the record and the key,
/// which exists nowhere else from now on.
pub async fn create_api_key(
    store: &Store,
    name: &str,
) -> Result<(ApiKeyRecord, String), WriteError> {
    let key = generate_key().map_err(|e| WriteError::Storage(format!("no randomness: {e}")))?;
    let record = ApiKeyRecord {
        id: new_id(),
        name: name.to_owned(),
        hash: hash_key(&key),
        created_at: now_millis(),
        revoked_at: None,
    };
    let stored = record.clone();
    store.write(move |tx| tx.insert_api_key(&stored)).await?;
    Ok((record, key))
}

/// Who made a request: the key it presented. Handlers may take it as an
/// `Extension<Caller>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's id.
    pub id: Uuid,
    /// The key's name.
    pub name: String,
}

/// Where the key came from, so it can be taken out of the request before a
/// handler (a webhook) passes headers on.
enum Presented {
    Bearer(String),
    Header(String),
    Query(String),
}

/// Admits the request only with a live API key; the credential header is
/// removed before the handler sees the request.
pub(crate) async fn require_key(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let webhook = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| path.as_str().starts_with(super::WEBHOOKS_PREFIX));
    let presented = presented(request.headers(), webhook.then(|| request.uri().query()).flatten())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing API key: send `Authorization: Bearer KEY` or `St2-Api-Key: KEY`",
            )
        })?;
    let key = match &presented {
        Presented::Bearer(key) | Presented::Header(key) | Presented::Query(key) => key,
    };
    let record = state.engine().store().read()?.api_key_by_hash(&hash_key(key))?;
    let caller = match record {
        Some(record) if record.revoked_at.is_none() => Caller { id: record.id, name: record.name },
        _ => return Err(ApiError::unauthorized("unknown or revoked API key")),
    };
    match presented {
        Presented::Bearer(_) => drop(request.headers_mut().remove(header::AUTHORIZATION)),
        Presented::Header(_) => drop(request.headers_mut().remove(ST2_API_KEY_HEADER)),
        Presented::Query(_) => {} // the webhook handler leaves it out of the query
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

fn presented(headers: &HeaderMap, query: Option<&str>) -> Option<Presented> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim().to_owned());
    if let Some(key) = bearer.filter(|k| !k.is_empty()) {
        return Some(Presented::Bearer(key));
    }
    let header = headers.get(ST2_API_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(key) = header.filter(|k| !k.is_empty()) {
        return Some(Presented::Header(key.to_owned()));
    }
    query_pairs(query?)
        .find(|(name, value)| QUERY_KEY_PARAMS.contains(&name.as_str()) && !value.is_empty())
        .map(|(_, value)| Presented::Query(value))
}

/// The pairs of a query string, percent-decoded.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|hex| bytes[i] == b'%' && hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
