//! The web UI (issue 17): plain HTML, CSS and JavaScript ES modules in
//! `ui/assets/`, embedded in the binary with `include_bytes!` and served on
//! the API's port. The browser does everything through the public API, with
//! the same routes and permissions as any client, so these two routes serve
//! only static files and need no credentials (`Need::Open` in the table).
//!
//! `GET /` and every `GET /ui/PAGE…` that is not an asset answer the page
//! shell (`index.html`); the modules' router reads the URL, so a page has
//! its own address (`/ui/executions/ID`) and the back button works. Assets
//! live under `/ui/assets/`. Every answer carries a strict
//! Content-Security-Policy (only this origin; nothing inline but
//! `early.js` and `style.css`, which the shell carries inline and the
//! policy allows by their sha256), and an `ETag` made of Squall's version and
//! the file's sha256, with
//! `Cache-Control: no-cache`, so a browser revalidates (a 304 on loopback)
//! and never runs the modules of another build.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ErrorBody, Path};

/// An embedded file and how it is served.
struct Asset {
    /// Its path under `/ui/assets/`.
    path: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            body: include_bytes!(concat!("ui/assets/", $path)),
            content_type: $type,
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// The page shell as written, answered for `/` and every page's address
/// once [`INLINE_SHELL`] has put `early.js` and the stylesheet in it.
const SHELL: Asset = asset!("index.html", HTML);

/// The elements of `index.html` that [`INLINE_SHELL`] replaces with the
/// file they load.
const EARLY_ELEMENT: &str = r#"<script async src="/ui/assets/early.js"></script>"#;
const STYLE_ELEMENT: &str = r#"<link rel="stylesheet" href="/ui/assets/style.css">"#;

/// The shell with `early.js` and `style.css` inline. On a first visit
/// chromium takes tens of milliseconds to fetch even a small asset on
/// loopback: inline, `early.js` asks for the first page's data while the
/// HTML is parsed, and the first paint waits for no stylesheet. Both files
/// stay assets of their own, served as before, for a shell cached from an
/// earlier build.
static INLINE_SHELL: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let shell = std::str::from_utf8(SHELL.body).expect("index.html is UTF-8");
    for element in [EARLY_ELEMENT, STYLE_ELEMENT] {
        assert!(shell.contains(element), "index.html has {element}");
    }
    shell
        .replace(EARLY_ELEMENT, &format!("<script>{}</script>", asset_text("early.js")))
        .replace(STYLE_ELEMENT, &format!("<style>{}</style>", asset_text("style.css")))
        .into_bytes()
});

fn asset_text(path: &str) -> &'static str {
    let asset = ASSETS.iter().find(|asset| asset.path == path).expect("a listed asset");
    std::str::from_utf8(asset.body).expect("UI text assets are UTF-8")
}

/// Every asset; a module added to `ui/assets/` must be listed here.
const ASSETS: &[Asset] = &[
    asset!("style.css", CSS),
    asset!("early.js", JS),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("live.js", JS),
    asset!("schema_form.js", JS),
    asset!("graph.js", JS),
    asset!("pack_install.js", JS),
    asset!("pages/sign_in.js", JS),
    asset!("pages/executions.js", JS),
    asset!("pages/execution.js", JS),
    asset!("pages/actions.js", JS),
    asset!("pages/action.js", JS),
    asset!("pages/inquiries.js", JS),
    asset!("pages/rules.js", JS),
    asset!("pages/rule.js", JS),
    asset!("pages/rule_edit.js", JS),
    asset!("pages/packs.js", JS),
    asset!("pages/pack.js", JS),
    asset!("pages/datastore.js", JS),
    asset!("pages/audit.js", JS),
    asset!("vendor/dagre.min.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Only this origin, nothing inline but the shell's copies of `early.js`
/// and `style.css` (each by its hash), no framing, no plugins.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    use base64::Engine as _;
    let hash =
        |path| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(asset_text(path)));
    let (script, style) = (hash("early.js"), hash("style.css"));
    let policy = format!(
        "default-src 'self'; script-src 'self' 'sha256-{script}'; style-src 'self' 'sha256-{style}'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy).expect("a header value")
});

/// Each file's entity tag: Squall's version and the start of its sha256,
/// in the order of [`SHELL`] then [`ASSETS`].
static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::once(INLINE_SHELL.as_slice())
        .chain(ASSETS.iter().map(|asset| asset.body))
        .map(|body| {
            let digest = hex::encode(Sha256::digest(body));
            format!("\"squall-{}-{}\"", env!("CARGO_PKG_VERSION"), &digest[..16])
        })
        .collect()
});

fn serve(
    index: usize,
    body: &'static [u8],
    content_type: &'static str,
    request: &HeaderMap,
) -> Response {
    let tag = &TAGS[index];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = body.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The web UI's home: the page shell, which shows the executions.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "ui_home",
    tag = "ui",
    security(()),
    responses(
        (status = 200, description = "The web UI's page shell", body = String, content_type = "text/html"),
        (status = 304, description = "Unchanged since the `ETag` the browser holds"),
    ),
)]
pub(crate) async fn home(headers: HeaderMap) -> Response {
    shell(&headers)
}

fn shell(headers: &HeaderMap) -> Response {
    serve(0, INLINE_SHELL.as_slice(), SHELL.content_type, headers)
}

/// The web UI: an asset under `assets/`, or the page shell for a page's
/// address (`executions/ID`, `actions/REF`, …).
#[utoipa::path(
    get,
    path = "/ui/{*path}",
    operation_id = "ui_page_or_asset",
    tag = "ui",
    security(()),
    params(("path" = String, Path, description = "`assets/FILE`, or a page such as `executions/ID`")),
    responses(
        (status = 200, description = "The asset, or the page shell (HTML)", content(
            (String = "text/html"), (String = "text/javascript"), (String = "text/css"),
            (String = "image/svg+xml"),
        )),
        (status = 304, description = "Unchanged since the `ETag` the browser holds"),
        (status = 400, description = "The path is not UTF-8 once percent-decoded", body = ErrorBody),
        (status = 404, description = "No such asset", body = ErrorBody),
    ),
)]
pub(crate) async fn page_or_asset(headers: HeaderMap, Path(path): Path<String>) -> Response {
    let Some(name) = path.strip_prefix("assets/") else {
        return shell(&headers);
    };
    match ASSETS.iter().position(|asset| asset.path == name) {
        Some(index) => {
            let asset = &ASSETS[index];
            serve(index + 1, asset.body, asset.content_type, &headers)
        }
        None => ApiError::not_found(format!("no UI asset `{name}`")).into_response(),
    }
}
