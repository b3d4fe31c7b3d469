//! Outbound HTTP through `wasi:http/outgoing-handler`.
//!
//! The host sends a request only when its URL matches one of the outbound
//! hosts the operator granted the pack (`scheme://host[:port]` patterns);
//! anything else fails with [`Error::Denied`] before a connection is made.
//!
//! ```no_run
//! use squall_sdk::http::{Request, send};
//!
//! # fn main() -> squall_sdk::Result<()> {
//! let response = send(
//!     &Request::post("https://api.example.com/v1/items", r#"{"name":"x"}"#)
//!         .header("content-type", "application/json"),
//! )?;
//! if response.status == 201 {
//!     let created: serde_json::Value = response.json()?;
//!     squall_sdk::log::info(&format!("created {created}"));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A response with any status (404 and 500 included) is an `Ok`: check
//! [`Response::status`]. Errors are for requests that got no response:
//! a malformed request ([`Error::InvalidInput`]), a host not granted
//! ([`Error::Denied`]), a timeout ([`Error::Timeout`]) or a failed
//! connection ([`Error::Failed`]).

use serde::de::DeserializeOwned;

use crate::__bindings::wasi::http::outgoing_handler::handle;
use crate::__bindings::wasi::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use crate::__bindings::wasi::io::streams::StreamError;
use crate::{Error, Result};

/// An HTTP request to send with [`send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, e.g. `GET`; compared case-insensitively for the
    /// standard ones.
    pub method: String,
    /// An absolute `http://` or `https://` URL, query included.
    pub url: String,
    /// Header names and values, in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// How long to wait for the connection, for the first byte of the
    /// answer, and between its bytes, each; the host's defaults when
    /// `None`. Going over it is [`Error::Timeout`].
    pub timeout: Option<std::time::Duration>,
}

impl Request {
    /// A request with `method` to `url`, no headers and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// A `GET` of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` of `body` to `url`. Set its content type with
    /// [`Request::header`].
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self { body: body.into(), ..Self::new("POST", url) }
    }

    /// Sets [`Request::timeout`].
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds the header `name: value` (after any already there).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as UTF-8 text; [`Error::Failed`] when it is not UTF-8.
    pub fn text(&self) -> Result<String> {
        String::from_utf8(self.body.clone())
            .map_err(|e| Error::Failed(format!("response body is not UTF-8: {e}")))
    }

    /// The body deserialised from JSON into `T`; [`Error::Failed`] when it
    /// does not parse as one.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Failed(format!("response body is not the JSON expected: {e}")))
    }

    /// The first value of header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `request` and waits for the whole response.
pub fn send(request: &Request) -> Result<Response> {
    let url = Url::parse(&request.url)?;
    let what = || format!("{} {}", request.method, request.url);

    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_bytes().to_vec()))
        .collect();
    let headers = Fields::from_list(&entries).map_err(|e| header_error(&request.headers, e))?;
    let outgoing = OutgoingRequest::new(headers);
    let invalid = |part: &str| Error::InvalidInput(format!("{}: invalid {part}", what()));
    outgoing.set_method(&method(&request.method)).map_err(|()| invalid("method"))?;
    outgoing.set_scheme(Some(&url.scheme)).map_err(|()| invalid("scheme"))?;
    outgoing.set_authority(Some(url.authority)).map_err(|()| invalid("host"))?;
    outgoing.set_path_with_query(Some(&url.path_with_query)).map_err(|()| invalid("path"))?;
    let body = outgoing.body().map_err(|()| invalid("body"))?;

    // The host reads the body while the request is sent, so the request
    // goes first; a refused request surfaces through the response.
    let options = request.timeout.map(|timeout| {
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        let options = RequestOptions::new();
        // A host that does not support one of these keeps its default.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        options
    });
    let pending = handle(outgoing, options).map_err(|code| error_code(&what(), code))?;
    let written = write_body(body, &request.body);
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(error_code(&what(), code)),
        Some(Err(())) | None => {
            return Err(Error::Failed(format!("{}: the response was lost", what())));
        }
    };
    written.map_err(|e| Error::Failed(format!("{}: sending the body: {e}", what())))?;
    read_response(response).map_err(|e| match e {
        ReadError::Code(code) => error_code(&what(), code),
        ReadError::Other(message) => Error::Failed(format!("{}: {message}", what())),
    })
}

/// The parts of an absolute URL that `wasi:http` takes separately.
struct Url<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_with_query: String,
}

impl<'a> Url<'a> {
    fn parse(url: &'a str) -> Result<Self> {
        let invalid =
            |expected: &str| Error::InvalidInput(format!("URL `{url}`: expected {expected}"));
        let (scheme, rest) =
            url.split_once("://").ok_or_else(|| invalid("`http://` or `https://` and a host"))?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            Scheme::Https
        } else if scheme.eq_ignore_ascii_case("http") {
            Scheme::Http
        } else {
            return Err(invalid("the scheme `http` or `https`"));
        };
        // The fragment stays with the client.
        let rest = rest.split('#').next().unwrap_or(rest);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("a host after the scheme"));
        }
        // `http://host` and `http://host?q` mean `/` and `/?q`.
        let path_with_query = match path_with_query.starts_with('/') {
            true => path_with_query.to_owned(),
            false => format!("/{path_with_query}"),
        };
        Ok(Self { scheme, authority, path_with_query })
    }
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        _ => Method::Other(name.to_owned()),
    }
}

fn header_error(headers: &[(String, String)], error: HeaderError) -> Error {
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let why = match error {
        HeaderError::InvalidSyntax => "a header name or value is not valid HTTP",
        HeaderError::Forbidden => {
            "a header is one the host sets itself (e.g. `host`, `connection`)"
        }
        HeaderError::Immutable => "the headers cannot be changed",
    };
    Error::InvalidInput(format!("request headers {names:?}: {why}"))
}

fn error_code(what: &str, code: ErrorCode) -> Error {
    match code {
        ErrorCode::HttpRequestDenied => {
            Error::Denied(format!("outbound HTTP for {what} was not granted to this pack"))
        }
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Error::Timeout(format!("{what}: {code:?}")),
        ErrorCode::HttpRequestMethodInvalid | ErrorCode::HttpRequestUriInvalid => {
            Error::InvalidInput(format!("{what}: {code:?}"))
        }
        code => Error::Failed(format!("{what}: {code:?}")),
    }
}

/// Largest write `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 << 10;

fn write_body(body: OutgoingBody, bytes: &[u8]) -> std::result::Result<(), String> {
    let written = {
        let stream = body.write().map_err(|()| "the body stream is unavailable".to_owned())?;
        bytes.chunks(WRITE_CHUNK).try_for_each(|chunk| {
            stream.blocking_write_and_flush(chunk).map_err(|e| stream_error(&e))
        })
        // The stream is dropped here, before the body is finished.
    };
    let finished = OutgoingBody::finish(body, None).map_err(|code| format!("{code:?}"));
    written.and(finished)
}

enum ReadError {
    Code(ErrorCode),
    Other(String),
}

fn read_response(response: IncomingResponse) -> std::result::Result<Response, ReadError> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let incoming =
        response.consume().map_err(|()| ReadError::Other("the body was already read".into()))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| ReadError::Other("the body stream is unavailable".into()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(error)) => {
                    let code = crate::__bindings::wasi::http::types::http_error_code(&error);
                    return Err(match code {
                        Some(code) => ReadError::Code(code),
                        None => ReadError::Other(format!(
                            "reading the body: {}",
                            error.to_debug_string()
                        )),
                    });
                }
            }
        }
    }
    drop(IncomingBody::finish(incoming));
    Ok(Response { status, headers, body })
}

fn stream_error(error: &StreamError) -> String {
    match error {
        StreamError::Closed => "the connection closed".to_owned(),
        StreamError::LastOperationFailed(error) => error.to_debug_string(),
    }
}
