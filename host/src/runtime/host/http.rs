//! `wasi:http/outgoing-handler`: a request whose URI the pack's granted
//! outbound hosts allow is sent with wasmtime-wasi-http's default sender;
//! any other is audited and answered with `HTTP-request-denied` (an error
//! code the guest sees, not a trap).

use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::super::grants::Grants;
use super::super::services::{AuditSink, Capability, Denial};

/// The `wasi:http` hooks of one sandbox: its pack's grant and where
/// denials are reported.
pub(crate) struct GrantedOutboundHttp {
    pack: Arc<str>,
    grants: Arc<Grants>,
    audit: Arc<dyn AuditSink>,
}

impl GrantedOutboundHttp {
    pub(crate) fn new(pack: Arc<str>, grants: Arc<Grants>, audit: Arc<dyn AuditSink>) -> Self {
        Self { pack, grants, audit }
    }
}

type DoneFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, DoneFuture), Error>> + Send>;

impl WasiHttpHooks for GrantedOutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: DoneFuture,
    ) -> SendFuture {
        if self.grants.allows_uri(request.uri()) {
            return Box::new(async move {
                let (response, io) =
                    wasmtime_wasi_http::default_send_request(request, options).await?;
                Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as DoneFuture))
            });
        }
        let denial = Denial {
            pack: self.pack.to_string(),
            capability: Capability::Http,
            target: audited_url(request.uri()),
        };
        let audit = self.audit.clone();
        Box::new(async move {
            audit.denied(denial).await;
            Err(Error::HttpRequestDenied)
        })
    }
}

/// `scheme://host[:port]/path` of `uri`: user information and the query are
/// left out of the audit trail, since either may carry a credential.
fn audited_url(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("https");
    let host = uri.host().unwrap_or("");
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", uri.path())
}

#[cfg(test)]
mod tests {
    #[test]
    fn audited_urls_keep_no_credentials() {
        for (uri, audited) in [
            ("https://api.example.com/v1/items?token=abc", "https://api.example.com/v1/items"),
            ("http://user:pw@127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
            ("http://[::1]:9/", "http://[::1]:9/"),
        ] {
            let uri: http::Uri = uri.parse().expect("uri");
            assert_eq!(super::audited_url(&uri), audited);
        }
    }
}
