//! The HTTP pack: `request` sends one HTTP request through the host, which
//! lets it out only to the hosts the operator granted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use squall_sdk::http::{self, Request};
use squall_sdk::{Context, Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_seconds: f64,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_timeout() -> f64 {
    30.0
}

#[derive(Debug, Serialize)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    json: Option<Value>,
}

/// Sends the request; a host that was not granted comes back as `denied`.
fn request(params: Params, _ctx: &Context) -> Result<Answer> {
    let method = params.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Error::invalid_input(format!(
            "parameter `method`: expected an HTTP method such as GET, got `{}`",
            params.method
        )));
    }
    if !(params.url.starts_with("http://") || params.url.starts_with("https://")) {
        return Err(Error::invalid_input(format!(
            "parameter `url`: expected an http:// or https:// URL, got `{}`",
            params.url
        )));
    }
    let request = Request {
        method,
        url: params.url,
        headers: params.headers.into_iter().collect(),
        body: params.body.map(String::into_bytes).unwrap_or_default(),
        timeout: Some(timeout(params.timeout_seconds)?),
    };
    let response = http::send(&request)?;
    Ok(answer(response.status, &response.headers, response.body))
}

/// `timeout_seconds` as a duration: positive and finite.
fn timeout(seconds: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(seconds).ok().filter(|t| !t.is_zero()).ok_or_else(|| {
        Error::invalid_input(format!(
            "parameter `timeout_seconds`: expected a positive number, got {seconds}"
        ))
    })
}

/// The output: headers by lower-case name (repeats joined with `, `), the
/// body as text, and `json` when the content type says JSON and it parses.
fn answer(status: u16, headers: &[(String, String)], body: Vec<u8>) -> Answer {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        joined
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let is_json = joined.get("content-type").is_some_and(|t| is_json_type(t));
    let json = if is_json { serde_json::from_slice(&body).ok() } else { None };
    let body = match String::from_utf8(body) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    Answer { status, headers: joined, body, json }
}

/// `application/json`, `application/problem+json`, `text/json`... with or
/// without parameters.
fn is_json_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else { return false };
    matches!(kind, "application" | "text") && (subtype == "json" || subtype.ends_with("+json"))
}

squall_sdk::export_pack! {
    actions: {
        "request" => request,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_answers_are_parsed_and_headers_joined() {
        let headers = [
            ("Content-Type".to_owned(), "application/problem+json; charset=utf-8".to_owned()),
            ("Set-Cookie".to_owned(), "a=1".to_owned()),
            ("set-cookie".to_owned(), "b=2".to_owned()),
        ];
        let out = answer(404, &headers, br#"{"title": "nope"}"#.to_vec());
        assert_eq!(out.json, Some(serde_json::json!({"title": "nope"})));
        assert_eq!(out.headers["set-cookie"], "a=1, b=2");
        assert_eq!(out.body, r#"{"title": "nope"}"#);
    }

    #[test]
    fn other_answers_are_text_only() {
        let html = [("content-type".to_owned(), "text/html".to_owned())];
        assert_eq!(answer(200, &html, b"{}".to_vec()).json, None);
        let broken = [("content-type".to_owned(), "application/json".to_owned())];
        let out = answer(200, &broken, b"{not json".to_vec());
        assert_eq!((out.json, out.body.as_str()), (None, "{not json"));
        assert_eq!(answer(200, &[], vec![0xff, b'a']).body, "\u{fffd}a");
    }
}
