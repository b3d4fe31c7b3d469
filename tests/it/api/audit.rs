//! `GET /audit`: oldest first after `after` by default (as `squall audit`
//! reads it), and newest first with `sort_desc=true`, paged by `offset`
//! with `x-next-offset`; filtered by action and by actor (exactly, or a
//! user through any of their keys or tokens).

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use squall::store::{AuditEvent, now_millis};

use super::{Api, json_body};

/// GETs `path` with the admin key: the status, the headers and the body.
async fn get(api: &Api, path: &str) -> (StatusCode, HeaderMap, Value) {
    let request = api.authed(Method::GET, path).body(Body::empty()).expect("request");
    let response = api.send(request).await;
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, json_body(response).await)
}

fn subjects(events: &Value) -> Vec<String> {
    events
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["subject"].as_str().expect("subject").to_owned())
        .collect()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().expect("text").to_owned())
}

#[tokio::test]
async fn audit_reads_newest_first_by_offset_filtered_by_actor_and_oldest_first_without() {
    let api = Api::start().await;
    // Seven events: carol through a key, a token and as herself, alternating
    // with a pack, and one by another user whose name starts like hers.
    let actors = [
        "carol (API key ci)",
        "pack:ops",
        "carol (token)",
        "pack:ops",
        "carol",
        "carolyn (token)",
        "pack:ops",
    ];
    for (n, actor) in actors.iter().enumerate() {
        let event = AuditEvent {
            at: now_millis(),
            actor: (*actor).to_owned(),
            action: if actor.starts_with("pack:") { "capability.denied" } else { "key.set" }
                .to_owned(),
            subject: format!("event {n}"),
            detail: json!({}),
        };
        api.engine.store().write(move |tx| tx.append_audit(&event)).await.expect("audit");
    }
    let stored = subjects(&get(&api, "/api/v1/audit?limit=1000").await.2).len();
    assert!(stored >= actors.len(), "{stored}");

    // Without the new parameters: oldest first, no paging headers.
    let (status, headers, oldest) = get(&api, "/api/v1/audit?action=key.set").await;
    assert_eq!(status, StatusCode::OK, "{oldest}");
    assert_eq!(subjects(&oldest), ["event 0", "event 2", "event 4", "event 5"]);
    assert_eq!(header(&headers, "x-next-offset"), None);
    let seqs: Vec<u64> =
        oldest.as_array().expect("list").iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Newest first, the whole log: counted from the table's length.
    let (status, headers, newest) = get(&api, "/api/v1/audit?sort_desc=true&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{newest}");
    assert_eq!(subjects(&newest), ["event 6", "event 5"]);
    assert_eq!(header(&headers, "x-next-offset").as_deref(), Some("2"));
    assert_eq!(header(&headers, "x-total-count"), Some(stored.to_string()));
    let (_, _, next) = get(&api, "/api/v1/audit?sort_desc=true&limit=2&offset=2").await;
    assert_eq!(subjects(&next), ["event 4", "event 3"]);

    // The actor filter: carol herself and through her keys and tokens, not
    // carolyn; paged by offset to the end.
    let (status, headers, carol) =
        get(&api, "/api/v1/audit?sort_desc=true&actor=carol&limit=2").await;
    assert_eq!(status, StatusCode::OK, "{carol}");
    assert_eq!(subjects(&carol), ["event 4", "event 2"]);
    assert_eq!(header(&headers, "x-next-offset").as_deref(), Some("2"));
    assert_eq!(header(&headers, "x-total-count"), None, "a filter's total is not known yet");
    let (_, headers, rest) =
        get(&api, "/api/v1/audit?sort_desc=true&actor=carol&limit=2&offset=2").await;
    assert_eq!(subjects(&rest), ["event 0"]);
    assert_eq!(header(&headers, "x-next-offset"), None);
    assert_eq!(header(&headers, "x-total-count").as_deref(), Some("3"));
    // Exactly, too; with the action filter; and oldest first.
    let pack =
        get(&api, "/api/v1/audit?sort_desc=true&actor=pack:ops&action=capability.denied").await.2;
    assert_eq!(subjects(&pack), ["event 6", "event 3", "event 1"]);
    let token = get(&api, "/api/v1/audit?sort_desc=true&actor=carol%20(token)").await.2;
    assert_eq!(subjects(&token), ["event 2"]);
    let carol_oldest = get(&api, "/api/v1/audit?actor=carol").await.2;
    assert_eq!(subjects(&carol_oldest), ["event 0", "event 2", "event 4"]);
    // Newest first after a sequence number: only the later events.
    let after = seqs[2]; // event 4's
    let later = get(&api, &format!("/api/v1/audit?sort_desc=true&after={after}")).await.2;
    assert_eq!(subjects(&later), ["event 6", "event 5"]);

    // Paging by offset is for newest first; a bad order is refused.
    for path in [
        "/api/v1/audit?offset=2",
        "/api/v1/audit?sort_desc=false&offset=2",
        "/api/v1/audit?sort_desc=maybe",
        "/api/v1/audit?sort_desc=true&offset=-1",
        "/api/v1/audit?sort_desc=true&limit=0",
    ] {
        let (status, _, body) = get(&api, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
}
