//! [`ApiError`]: every error the API answers with, as one JSON shape
//! (`{"error": "...", "detail": ...}`), and the extractors whose rejections
//! take that shape too (axum's own answer in plain text otherwise).

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
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

/// An error answer: a status and an [`ErrorBody`]. Internal errors are
/// logged in full and answered with a generic message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error: message.into(), detail: None } }
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
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        Self::internal(error)
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
/// bad JSON or wrong types, 413 over the size limit, 415 without a JSON
/// content type).
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
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
