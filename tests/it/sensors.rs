//! Sensors: polls resume from the cursor the host hands back, webhooks turn
//! requests into events and an answer, malformed output is refused.

use expect_test::expect;
use squall::runtime::{InvokeError, Limits, WebhookRequest};
use squall_tests::{CORE_PACK, NO_ACTION_GUEST, TestRuntime, shared};

#[tokio::test]
async fn a_poll_resumes_from_the_cursor_it_returned() {
    let (_, _, hostile) = shared();
    let limits = Limits::default();
    let first = hostile
        .poll_sensor("ticks", r#"{"batch":2}"#, None, &limits)
        .await
        .result
        .expect("first poll");
    let second = hostile
        .poll_sensor("ticks", r#"{"batch":3}"#, first.cursor.as_deref(), &limits)
        .await
        .result
        .expect("second poll");
    let rendered: Vec<String> = [&first, &second]
        .iter()
        .map(|p| {
            let events: Vec<_> =
                p.events.iter().map(|e| format!("{} {}", e.trigger, e.payload)).collect();
            format!("{} -> cursor {:?}", events.join(", "), p.cursor)
        })
        .collect();
    expect![[r#"
        [
            "hostile.tick {\"n\":1}, hostile.tick {\"n\":2} -> cursor Some(\"2\")",
            "hostile.tick {\"n\":3}, hostile.tick {\"n\":4}, hostile.tick {\"n\":5} -> cursor Some(\"5\")",
        ]
    "#]]
    .assert_debug_eq(&rendered);
}

#[tokio::test]
async fn sensor_errors_name_what_is_wrong() {
    let (_, _, hostile) = shared();
    let limits = Limits::default();
    let bad_cursor =
        hostile.poll_sensor("ticks", r#"{"batch":1}"#, Some("yesterday"), &limits).await;
    assert_eq!(
        bad_cursor.result.expect_err("bad cursor").to_string(),
        "invalid-input: cursor `yesterday` is not a number"
    );
    let bad_config = hostile.poll_sensor("ticks", r#"{"size":1}"#, None, &limits).await;
    assert_eq!(
        bad_config.result.expect_err("bad config").to_string(),
        "invalid-input: sensor config: missing field `batch` at line 1 column 10"
    );
    let unknown = hostile.poll_sensor("nope", "{}", None, &limits).await;
    assert_eq!(
        unknown.result.expect_err("unknown").to_string(),
        "invalid-input: this pack has no sensor named `nope`"
    );
    let junk = hostile.poll_sensor("junk", "{}", None, &limits).await;
    assert_eq!(
        junk.result.expect_err("junk").to_string(),
        "invalid sensor output: event 0 (`hostile.junk`): payload is not valid JSON: key must be a string at line 1 column 2"
    );
}

#[tokio::test]
async fn a_webhook_becomes_events_and_an_answer() {
    let (_, _, hostile) = shared();
    let request = WebhookRequest {
        method: "POST".into(),
        path: "/deploy".into(),
        query: "env=prod".into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-signature".into(), "sha256=abc".into()),
        ],
        body: br#"{"ref":"main"}"#.to_vec(),
    };
    let outcome =
        hostile.on_webhook("hook", &request, &Limits::default()).await.result.expect("webhook");
    assert_eq!(outcome.response.status, 202);
    assert_eq!(outcome.response.headers, [("x-events".to_owned(), "1".to_owned())]);
    assert_eq!(outcome.response.body, b"queued");
    assert_eq!(outcome.events.len(), 1);
    expect![[r#"{"method":"POST","path":"/deploy","query":"env=prod","signature":"sha256=abc","body":"{\"ref\":\"main\"}"}"#]]
        .assert_eq(&outcome.events[0].payload);
}

#[tokio::test]
async fn components_without_the_export_are_refused_per_interface() {
    let runtime = TestRuntime::new();
    let core = runtime.load(CORE_PACK, "core");
    // The SDK exports both interfaces; a pack with no sensors says so.
    let polled = core.poll_sensor("ticks", "{}", None, &Limits::default()).await;
    assert_eq!(
        polled.result.expect_err("no sensors").to_string(),
        "invalid-input: this pack has no sensor named `ticks`"
    );

    let sensors_only = runtime.load(NO_ACTION_GUEST, "sensors-only");
    let polled = sensors_only.poll_sensor("any", "{}", Some("c-1"), &Limits::default()).await;
    assert_eq!(polled.result.map(|p| (p.events.len(), p.cursor)), Ok((0, Some("c-1".to_owned()))));
    assert!(matches!(
        sensors_only
            .run_action(&squall_tests::request("echo", "{}"), &Limits::default())
            .await
            .result,
        Err(InvokeError::NoActionExport { .. })
    ));
}
