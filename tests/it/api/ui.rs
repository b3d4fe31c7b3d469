//! The web UI's files as the router serves them: the page shell at `/` and
//! at every page's address, the assets under `/ui/assets/`, with no
//! credentials, a strict Content-Security-Policy and revalidation by
//! `ETag`; and the execution filters its list offers. (The UI itself is
//! tested in a real browser: tests/ui/run.sh.)

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Api, HELLO_RULE, text_body};

async fn get(api: &Api, path: &str, etag: Option<&str>) -> Response<Body> {
    let mut request = Request::get(path);
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    api.send(request.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn the_shell_and_assets_are_served_without_credentials_under_a_strict_policy() {
    let api = Api::start().await;
    for path in ["/", "/ui/executions", "/ui/executions/01a2-whatever", "/ui/actions/core.echo"] {
        let response = get(&api, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
        assert!(csp.starts_with("default-src 'self'; script-src 'self' 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = text_body(response).await;
        assert!(
            body.contains(r#"<script type="module" src="/ui/assets/app.js"></script>"#),
            "{body}"
        );
        // One inline script and one inline style sheet, early.js and
        // style.css as served, each allowed by its hash alone; the script
        // first (a style sheet before it would hold it up); no style
        // attribute, nothing from elsewhere.
        let hash =
            |text: &str| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text));
        for (open, close, file, directive) in [
            ("<script>", "</script>", "early.js", "script-src"),
            ("<style>", "</style>", "style.css", "style-src"),
        ] {
            assert_eq!(body.matches(open).count(), 1, "{body}");
            let inline = body.split_once(open).expect(open).1.split_once(close).expect(close).0;
            let served = text_body(get(&api, &format!("/ui/assets/{file}"), None).await).await;
            assert_eq!(inline, served, "{file}");
            assert!(
                csp.contains(&format!("{directive} 'self' 'sha256-{}';", hash(inline))),
                "{csp}"
            );
        }
        assert!(body.find("<script>") < body.find("<style>"), "{body}");
        assert!(!body.contains(r#"rel="stylesheet""#) && !body.contains("style="), "{body}");
        assert!(!body.contains("http://") && !body.contains("https://"), "{body}");
    }
    for (path, content_type) in [
        ("/ui/assets/app.js", "text/javascript; charset=utf-8"),
        ("/ui/assets/pages/execution.js", "text/javascript; charset=utf-8"),
        ("/ui/assets/vendor/dagre.min.js", "text/javascript; charset=utf-8"),
        ("/ui/assets/style.css", "text/css; charset=utf-8"),
    ] {
        let response = get(&api, path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], content_type, "{path}");
    }
    let (status, body) = api.call(Method::GET, "/ui/assets/nope.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "no UI asset `nope.js`"}));
}

#[tokio::test]
async fn a_browser_revalidates_by_the_version_and_content_tag() {
    let api = Api::start().await;
    let response = get(&api, "/ui/assets/api.js", None).await;
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    let etag = response.headers()[header::ETAG].to_str().expect("etag").to_owned();
    assert!(etag.starts_with(&format!("\"squall-{}-", env!("CARGO_PKG_VERSION"))), "{etag}");
    let again = get(&api, "/ui/assets/api.js", Some(&etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag.as_str());
    let other = get(&api, "/ui/assets/app.js", Some(&etag)).await;
    assert_eq!(other.status(), StatusCode::OK, "another file's tag does not match");
}

#[tokio::test]
async fn executions_filter_by_rule_and_user_as_stackstorm_s_list_does() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let (status, body) =
        api.call(Method::POST, "/api/v1/webhooks/hello", Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let by_rule = body["executions"][0].as_str().expect("execution").to_owned();
    let (status, body) = api
        .call(
            Method::POST,
            "/api/v1/executions",
            Some(json!({"action": "core.echo", "parameters": {"message": "m"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let by_user = body["id"].as_str().expect("id").to_owned();
    let user = body["context"]["user"].as_str().expect("user").to_owned();
    let ids = |list: serde_json::Value| -> Vec<String> {
        list.as_array()
            .expect("list")
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(ids(api.get("/api/v1/executions?rule_ref=tests.hello").await), [by_rule]);
    assert_eq!(ids(api.get(&format!("/api/v1/executions?user={user}")).await), [by_user]);
    assert!(ids(api.get("/api/v1/executions?rule_ref=tests.other").await).is_empty());
    assert!(ids(api.get("/api/v1/executions?user=nobody").await).is_empty());
}
