//! Request bodies that hold one YAML or JSON document (rules, roles,
//! action aliases): the content type, charset and UTF-8 checks they share,
//! and JSON read with the fields the API answers but does not take removed.

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::error::{ApiError, check_charset, content_type};

/// A document body, as its content type says.
pub(crate) enum Document<'a> {
    /// YAML (or no content type): the text, for the resource's own loader,
    /// which checks the document limits before parsing.
    Yaml(&'a str),
    /// JSON, parsed within the document limits, with the read-only fields
    /// taken out; `source` is the text to store (re-written only when a
    /// field was taken out).
    Json {
        /// The document.
        value: Value,
        /// What to store.
        source: String,
    },
}

/// The text of a document body: a YAML or JSON content type (or none), a
/// UTF-8 charset, UTF-8 bytes; `what` (`rule`, `role`) names the resource in
/// errors. Answers the text and whether it is JSON.
pub(crate) fn document_text<'a>(
    what: &str,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<(&'a str, bool), ApiError> {
    let content_type = content_type(headers);
    check_charset(&content_type)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request(format!("{what}: the body is not UTF-8")))?;
    let json = content_type.contains("json");
    if !(json || content_type.is_empty() || content_type.contains("yaml")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{what}: expected Content-Type application/yaml or application/json, got `{content_type}`"
            ),
        ));
    }
    Ok((text, json))
}

/// A document body; JSON loses the top-level fields in `read_only` (what
/// the API's answer carries, sent back as StackStorm's clients do).
pub(crate) fn read_document<'a>(
    what: &str,
    headers: &HeaderMap,
    body: &'a [u8],
    read_only: &[&str],
) -> Result<Document<'a>, ApiError> {
    let (text, json) = document_text(what, headers, body)?;
    if !json {
        return Ok(Document::Yaml(text));
    }
    crate::limits::check(text, crate::limits::Format::Json)
        .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))?;
    let mut value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("{what}: not valid JSON: {e}")))?;
    let mut source = text.to_owned();
    if let Value::Object(fields) = &mut value {
        let before = fields.len();
        fields.retain(|name, _| !read_only.contains(&name.as_str()));
        if fields.len() != before {
            source = value.to_string();
        }
    }
    Ok(Document::Json { value, source })
}
