//! StackStorm's clients against the router: the paths, query parameters,
//! bodies and shapes `st2` and st2client use (st2client 3.9.0 is the
//! reference; `tests/st2client.sh` drives the real one against a server).

use axum::http::{Method, StatusCode};

use super::{Api, HELLO_RULE};

#[tokio::test]
async fn every_route_answers_with_a_trailing_slash_and_the_root_tells_the_version() {
    let api = Api::start().await;
    api.add_rule(HELLO_RULE).await;
    let root = api.get("/api/v1/").await;
    assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(root, api.get("/api/v1").await);
    // The root needs a key, as StackStorm's does.
    let (status, _) = api.call_as("", Method::GET, "/api/v1/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rules = api.get("/api/v1/rules/?limit=50").await;
    assert_eq!(rules, api.get("/api/v1/rules?limit=50").await);
    assert_eq!(rules[0]["ref"], "tests.hello", "{rules}");
    let packs = api.get("/api/v1/packs/").await;
    assert_eq!(packs[0]["name"], "core", "{packs}");
    assert_eq!(api.get("/api/v1/rules/tests.hello/").await["ref"], "tests.hello");
    // Permissions still apply to the rewritten path.
    let (status, body) = api.call_as("", Method::GET, "/api/v1/rules/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Several slashes are one; a missing route stays missing.
    let (status, body) = api.call(Method::GET, "/api/v1/nothing/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no route for GET /api/v1/nothing", "{body}");
    assert_eq!(api.get("/api/v1/packs//").await, packs);
}
