//! The GitHub pack: a webhook sensor that checks each delivery's
//! `X-Hub-Signature-256` inside the sandbox and turns `push` and
//! `pull_request` events into `github.push` and `github.pull_request`.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use squall_sdk::{Event, Result, WebhookRequest, WebhookResponse, WebhookResult, secrets};

/// The secret GitHub signs deliveries with, granted by the operator.
const SECRET: &str = "github_webhook_secret";

/// Handles one delivery: signature first, then the event.
fn webhook(request: WebhookRequest) -> Result<WebhookResult> {
    if request.method != "POST" {
        return Ok(answer(405, "GitHub delivers webhooks with POST"));
    }
    let Some(signature) = request.header("x-hub-signature-256") else {
        return Ok(answer(401, "missing X-Hub-Signature-256 header"));
    };
    // The host's message already names the secret and says it was not
    // granted.
    let secret = secrets::get(SECRET)?;
    if let Err(reason) = verify(secret.as_bytes(), &request.body, signature) {
        return Ok(answer(401, reason));
    }
    let Some(event) = request.header("x-github-event") else {
        return Ok(answer(400, "missing X-GitHub-Event header"));
    };
    if event == "ping" {
        return Ok(WebhookResult { events: Vec::new(), response: WebhookResponse::status(204) });
    }
    let trigger = match event {
        "push" => "github.push",
        "pull_request" => "github.pull_request",
        _ => return Ok(answer(202, format!("event `{event}` accepted, nothing emitted"))),
    };
    let body = match payload_json(&request) {
        Ok(body) => body,
        Err(reason) => return Ok(answer(400, reason)),
    };
    let delivery = request.header("x-github-delivery");
    let payload = match trigger {
        "github.push" => push(&body, delivery),
        _ => pull_request(&body, delivery),
    };
    match payload {
        Ok(payload) => Ok(WebhookResult {
            events: vec![Event::new(trigger, &payload)?],
            response: text(202, format!("{trigger} accepted")),
        }),
        Err(reason) => Ok(answer(400, format!("`{event}` payload: {reason}"))),
    }
}

/// A plain-text answer with `status` and `reason`, emitting nothing.
fn answer(status: u16, reason: impl Into<String>) -> WebhookResult {
    WebhookResult { events: Vec::new(), response: text(status, reason) }
}

fn text(status: u16, body: impl Into<String>) -> WebhookResponse {
    WebhookResponse {
        status,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: body.into().into_bytes(),
    }
}

/// Checks `header` (`sha256=<hex>`) against the HMAC-SHA256 of `body` under
/// `secret`, in constant time. The error is the reason for the sender.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> Result<(), &'static str> {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return Err("X-Hub-Signature-256 must start with `sha256=`");
    };
    let Some(expected) = decode_hex(hex.trim()) else {
        return Err("X-Hub-Signature-256 is not 64 hexadecimal digits");
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "unusable secret")?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).map_err(|_| "X-Hub-Signature-256 does not match the body")
}

/// 32 bytes from 64 hex digits of either case.
fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *byte = u8::try_from(high << 4 | low).ok()?;
    }
    Some(bytes)
}

/// The delivery's JSON: the body itself (`application/json`) or its
/// `payload` field (`application/x-www-form-urlencoded`), the two content
/// types GitHub offers.
fn payload_json(request: &WebhookRequest) -> Result<Value, String> {
    let form = request
        .header("content-type")
        .is_some_and(|t| t.trim_start().starts_with("application/x-www-form-urlencoded"));
    let text = if form {
        let body = std::str::from_utf8(&request.body).map_err(|_| "body is not UTF-8")?;
        let field = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("payload="))
            .ok_or("form body has no `payload` field")?;
        percent_decode(field).ok_or("form field `payload` is not valid percent-encoded UTF-8")?
    } else {
        String::from_utf8(request.body.clone()).map_err(|_| "body is not UTF-8")?
    };
    serde_json::from_str(&text).map_err(|e| format!("body is not JSON: {e}"))
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(b) = input.next() {
        bytes.push(match b {
            b'+' => b' ',
            b'%' => {
                let high = (input.next()? as char).to_digit(16)?;
                let low = (input.next()? as char).to_digit(16)?;
                u8::try_from(high << 4 | low).ok()?
            }
            other => other,
        });
    }
    String::from_utf8(bytes).ok()
}

/// The `github.push` payload of a `push` delivery.
pub fn push(body: &Value, delivery: Option<&str>) -> Result<Value, String> {
    let mut payload = json!({
        "repository": string(body, "/repository/full_name")?,
        "ref": string(body, "/ref")?,
        "before": string(body, "/before")?,
        "after": string(body, "/after")?,
        "pusher": string(body, "/pusher/name")?,
        "commits": body.pointer("/commits").and_then(Value::as_array).map_or(0, Vec::len),
        // Null when the push deleted the ref.
        "head_commit_message": body.pointer("/head_commit/message").and_then(Value::as_str),
    });
    with_delivery(&mut payload, delivery);
    Ok(payload)
}

/// The `github.pull_request` payload of a `pull_request` delivery.
pub fn pull_request(body: &Value, delivery: Option<&str>) -> Result<Value, String> {
    let number = body
        .pointer("/number")
        .or_else(|| body.pointer("/pull_request/number"))
        .and_then(Value::as_u64)
        .ok_or("`number` is missing or not a number")?;
    let mut payload = json!({
        "action": string(body, "/action")?,
        "number": number,
        "title": string(body, "/pull_request/title")?,
        "repository": string(body, "/repository/full_name")?,
        "sender": string(body, "/sender/login")?,
        "merged": body.pointer("/pull_request/merged").and_then(Value::as_bool).unwrap_or(false),
        "base_ref": string(body, "/pull_request/base/ref")?,
        "head_ref": string(body, "/pull_request/head/ref")?,
    });
    with_delivery(&mut payload, delivery);
    Ok(payload)
}

fn with_delivery(payload: &mut Value, delivery: Option<&str>) {
    if let (Some(delivery), Some(object)) = (delivery, payload.as_object_mut()) {
        object.insert("delivery".into(), Value::String(delivery.to_owned()));
    }
}

/// The string at JSON `pointer`, or why not (naming it the way GitHub's
/// documentation does, with dots).
fn string<'a>(body: &'a Value, pointer: &str) -> Result<&'a str, String> {
    body.pointer(pointer).and_then(Value::as_str).ok_or_else(|| {
        format!(
            "`{}` is missing or not a string",
            pointer.trim_start_matches('/').replace('/', ".")
        )
    })
}

squall_sdk::export_pack! {
    webhooks: {
        "webhook" => webhook,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    // From GitHub's documentation ("Validating webhook deliveries").
    const DOC_SECRET: &[u8] = b"It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_example_verifies() {
        assert_eq!(verify(DOC_SECRET, DOC_BODY, DOC_SIGNATURE), Ok(()));
        let upper = format!("sha256={}", DOC_SIGNATURE["sha256=".len()..].to_uppercase());
        assert_eq!(verify(DOC_SECRET, DOC_BODY, &upper), Ok(()));
    }

    #[test]
    fn a_changed_body_secret_or_malformed_header_is_refused() {
        let mismatch = Err("X-Hub-Signature-256 does not match the body");
        assert_eq!(verify(DOC_SECRET, b"Hello, World?", DOC_SIGNATURE), mismatch);
        assert_eq!(verify(b"guess", DOC_BODY, DOC_SIGNATURE), mismatch);
        assert_eq!(
            verify(DOC_SECRET, DOC_BODY, "sha1=757107ea"),
            Err("X-Hub-Signature-256 must start with `sha256=`")
        );
        assert_eq!(
            verify(DOC_SECRET, DOC_BODY, &DOC_SIGNATURE[..70]),
            Err("X-Hub-Signature-256 is not 64 hexadecimal digits")
        );
        assert_eq!(
            verify(DOC_SECRET, DOC_BODY, &DOC_SIGNATURE.replace('e', "g")),
            Err("X-Hub-Signature-256 is not 64 hexadecimal digits")
        );
    }

    #[test]
    fn form_encoded_payloads_decode() {
        assert_eq!(percent_decode("%7B%22a%22%3A+1%7D").as_deref(), Some(r#"{"a": 1}"#));
        assert_eq!(percent_decode("%7"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn a_push_without_head_commit_has_a_null_message() {
        let body = json!({
            "ref": "refs/heads/gone", "before": "abc", "after": "000",
            "repository": {"full_name": "o/r"}, "pusher": {"name": "me"}, "commits": [],
            "head_commit": null
        });
        assert_eq!(
            push(&body, None),
            Ok(json!({
                "repository": "o/r", "ref": "refs/heads/gone", "before": "abc", "after": "000",
                "pusher": "me", "commits": 0, "head_commit_message": null
            }))
        );
        assert_eq!(
            push(&json!({"ref": "x"}), None),
            Err("`repository.full_name` is missing or not a string".to_owned())
        );
    }
}
