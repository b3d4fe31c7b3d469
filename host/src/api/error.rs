//! [`ApiError`]: every error the API answers with, as one JSON shape
//! (`{"error": "...", "detail": ...}`), and the extractors whose rejections
//! take that shape too (axum's own answer in plain text otherwise); the
//! content-type rules for bodies, and [`off_thread`] for parsing that may
//! take a while.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::store::{ReadError, WriteError};

/// What every error answer carries.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ErrorBody {
    /// One line saying what is wrong, naming the field, parameter or
    /// record concerned.
    #[schema(example = "unknown action `core.ech`")]
    pub error: String,
    /// Structured detail when there is some, e.g. `{"field": "action"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// An [`ErrorBody`] with `error` again as StackStorm's `faultstring`, on
/// the routes whose clients read only that (chat bots).
#[derive(Serialize)]
struct WithFaultstring<'a> {
    #[serde(flatten)]
    body: &'a ErrorBody,
    faultstring: &'a str,
}

/// An error answer: a status and an [`ErrorBody`]. Internal errors are
/// logged in full and answered with a generic message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// Whether the answer repeats the message as StackStorm's
    /// `faultstring` (kept as a flag, not a second copy, so that the error
    /// stays small).
    faultstring: bool,
    /// Seconds for a `Retry-After` header, on a refusal that passes.
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody { error: message.into(), detail: None },
            faultstring: false,
            retry_after: None,
        }
    }

    /// 400: the request is malformed (syntax, types, unknown fields).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no API key, or one that is unknown or revoked.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 404: no such record.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the request conflicts with the record's state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 422: well formed, but semantically refused; `field` names what.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message).with_detail(json!({"field": field}))
    }

    /// 500: logs `error` and answers without it.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error answering an API request");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
    }

    /// Adds structured detail.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.body.detail = Some(detail);
        self
    }

    /// Adds `Retry-After: seconds`, for a refusal that will pass.
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Also answers the message as StackStorm's `faultstring`, which is
    /// all a chat bot shows of an error.
    pub fn with_faultstring(mut self) -> Self {
        self.faultstring = true;
        self
    }

    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message it answers with.
    pub fn message(&self) -> &str {
        &self.body.error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = if self.faultstring {
            let body = WithFaultstring { body: &self.body, faultstring: &self.body.error };
            (self.status, axum::Json(body)).into_response()
        } else {
            (self.status, axum::Json(self.body)).into_response()
        };
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Unavailable(message) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, message).with_retry_after(1)
            }
            other => Self::internal(other),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::NotFound(_) => Self::not_found(error.to_string()),
            WriteError::AlreadyExists(_) => Self::conflict(error.to_string()),
            WriteError::Invalid { field, .. } => Self::invalid(field, error.to_string()),
            WriteError::Closed => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "the store is closing; try again")
            }
            // 507 Insufficient Storage: the message says the disk is full
            // and that writes come back by themselves.
            WriteError::DiskFull { .. } => {
                Self::new(StatusCode::INSUFFICIENT_STORAGE, error.to_string()).with_retry_after(5)
            }
            WriteError::Unavailable(message) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, message).with_retry_after(1)
            }
            WriteError::Corrupt(_) | WriteError::Storage(_) => Self::internal(error),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match &rejection {
            // axum says 422 for a body of the wrong shape; to us that is
            // malformed input, like a syntax error.
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                StatusCode::BAD_REQUEST
            }
            other => other.status(),
        };
        Self::new(status, one_line(&rejection.body_text()))
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        Self::new(rejection.status(), one_line(&rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(one_line(&rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(rejection.status(), one_line(&rejection.body_text()))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A JSON request body; a rejection answers as an [`ApiError`] (400 for
/// bad JSON, wrong types or nesting past [`crate::limits::MAX_DEPTH`], 413
/// over the size limit, 415 without a JSON content type or with a charset
/// other than UTF-8).
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = content_type(request.headers());
        if !is_json(&content_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        check_charset(&content_type)?;
        let bytes = axum::body::Bytes::from_request(request, state).await?;
        // serde_json would stop at 128 levels on its own; this says why,
        // and at the same depth as every other document.
        crate::limits::check_within(
            &bytes,
            crate::limits::Format::Json,
            usize::MAX,
            crate::limits::MAX_DEPTH,
        )
        .map_err(|e| ApiError::bad_request(format!("request body: {e}")))?;
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

/// The request's `Content-Type`, lower-cased; empty when absent.
pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("").to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a (lower-cased) content type is JSON: `application/json` or
/// `application/*+json`, parameters aside.
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence == "application/json"
        || essence.strip_prefix("application/").is_some_and(|s| s.ends_with("+json"))
}

/// Text bodies are read as UTF-8 (JSON has no other encoding, RFC 8259),
/// so a content type naming another charset is refused with 415 rather
/// than read as the wrong text.
pub(crate) fn check_charset(content_type: &str) -> Result<(), ApiError> {
    for parameter in content_type.split(';').skip(1) {
        let Some((name, value)) = parameter.split_once('=') else { continue };
        if name.trim() != "charset" {
            continue;
        }
        let charset = value.trim().trim_matches('"');
        if !["utf-8", "utf8"].contains(&charset) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("charset `{charset}` is not supported; send the body as UTF-8 (`charset=utf-8`, or no charset)"),
            )
            .with_detail(json!({"charset": charset})));
        }
    }
    Ok(())
}

/// Runs `work` on tokio's blocking threads: parsing, hashing or verifying
/// what a client sent can take a while, and the API's threads must stay
/// free to answer everyone else.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("a blocking task failed: {e}")))?
}

/// A request body as bytes; over the size limit it answers 413 as an
/// [`ApiError`].
#[derive(Debug, Clone)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::body::Bytes::from_request(request, state).await?))
    }
}

/// Query parameters; a rejection answers as a 400 [`ApiError`].
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters; a rejection answers as an [`ApiError`].
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The id of a `what` in a path, as a UUID; anything else is a 400.
pub(crate) fn parse_id(what: &str, text: &str) -> Result<uuid::Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::bad_request(format!("{what} id `{text}` is not a UUID")))
}
