//! `wasi:http/outgoing-handler`: linked so that packs using HTTP load, but
//! every request is answered with `HTTP-request-denied` (an error code the
//! guest sees, not a trap) until outbound hosts can be granted.

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

pub(crate) struct DenyOutboundHttp;

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for DenyOutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        tracing::info!(uri = %request.uri(), "denied outbound HTTP request");
        Box::new(std::future::ready(Err(Error::HttpRequestDenied)))
    }
}
