//! Hostile guests: the sandbox stops, caps and isolates them.

use std::time::{Duration, Instant};

use expect_test::expect;
use squall::runtime::{InvokeError, Limits, PackErrorKind};
use squall_tests::{call, request, shared};

fn limits(timeout_ms: u64, memory_mib: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(timeout_ms),
        memory_bytes: memory_mib << 20,
        ..Limits::default()
    }
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let (_, _, hostile) = shared();
    let deadline = Duration::from_millis(500);
    let started = Instant::now();
    let invocation = hostile.run_action(&request("spin", "{}"), &limits(500, 64)).await;
    let elapsed = started.elapsed();
    assert_eq!(invocation.result, Err(InvokeError::Timeout { limit: deadline }));
    assert!(elapsed >= deadline, "stopped early, after {elapsed:?}");
    // Generous: the epoch ticks every 10 ms, but a loaded, shared machine
    // can delay the thread that notices.
    assert!(elapsed <= deadline + Duration::from_millis(400), "stopped late, after {elapsed:?}");
}

#[tokio::test]
async fn a_guest_parked_in_a_host_call_is_stopped_at_its_deadline() {
    let (_, core, _) = shared();
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let invocation =
        core.run_action(&request("sleep", r#"{"seconds":30}"#), &limits(300, 64)).await;
    let elapsed = started.elapsed();
    assert_eq!(invocation.result, Err(InvokeError::Timeout { limit: deadline }));
    assert!(elapsed <= deadline + Duration::from_millis(400), "stopped late, after {elapsed:?}");
}

#[tokio::test]
async fn a_memory_bomb_is_refused_at_the_cap() {
    let (_, _, hostile) = shared();
    let invocation = hostile.run_action(&request("bomb", "{}"), &limits(10_000, 32)).await;
    match invocation.result {
        Err(InvokeError::MemoryLimit { limit, requested }) => {
            assert_eq!(limit, 32 << 20);
            assert!(requested > limit, "refused a growth to {requested} bytes, within the cap");
        }
        other => panic!("expected the memory cap to stop the bomb, got {other:?}"),
    }
    let message = hostile
        .run_action(&request("bomb", "{}"), &limits(10_000, 16))
        .await
        .result
        .expect_err("capped");
    assert!(
        message.to_string().starts_with("memory limit exceeded: the pack asked for "),
        "{message}"
    );
}

#[tokio::test]
async fn a_100_mib_output_is_refused_with_a_clear_error() {
    let (_, _, hostile) = shared();
    let invocation =
        hostile.run_action(&request("flood", r#"{"mebibytes":100}"#), &limits(30_000, 512)).await;
    let error = invocation.result.expect_err("the output is over the limit");
    assert_eq!(error, InvokeError::OutputTooLarge { size: (100 << 20) + 2, limit: 16 << 20 });
    expect!["output of 104857602 bytes is over the limit of 16777216 bytes"]
        .assert_eq(&error.to_string());

    // Below the limit the same action succeeds.
    let small =
        hostile.run_action(&request("flood", r#"{"mebibytes":1}"#), &limits(30_000, 512)).await;
    assert_eq!(small.result.map(|o| o.len()), Ok((1 << 20) + 2));
}

#[tokio::test]
async fn an_invocation_never_sees_state_left_by_the_previous_one() {
    let (_, _, hostile) = shared();
    for _ in 0..3 {
        assert_eq!(call(hostile, "counter", "{}").await.result, Ok(r#"{"calls":1}"#.to_owned()));
    }
    let mut concurrent = tokio::task::JoinSet::new();
    for _ in 0..8 {
        concurrent.spawn(async move { call(hostile, "counter", "{}").await.result });
    }
    for result in concurrent.join_all().await {
        assert_eq!(result, Ok(r#"{"calls":1}"#.to_owned()));
    }
}

#[tokio::test]
async fn a_panic_is_reported_as_a_crash_and_the_next_call_works() {
    let (_, _, hostile) = shared();
    let error = call(hostile, "panic", "{}").await.result.expect_err("panics");
    assert!(matches!(error, InvokeError::Trap(_)), "{error:?}");
    assert!(error.to_string().starts_with("the pack crashed: "), "{error}");
    assert!(!error.to_string().contains('\n'));
    assert_eq!(call(hostile, "counter", "{}").await.result, Ok(r#"{"calls":1}"#.to_owned()));
}

#[tokio::test]
async fn denied_capabilities_answer_with_errors_not_traps() {
    let (_, _, hostile) = shared();
    let output =
        call(hostile, "reach", "{}").await.result.expect("reach returns what each call answered");
    let pretty = serde_json::to_string_pretty(
        &serde_json::from_str::<serde_json::Value>(&output).expect("json"),
    )
    .expect("pretty");
    expect![[r#"
        {
          "secret": {
            "Err": "denied: secret `db-password` was not granted to this pack"
          },
          "exec": {
            "Err": "denied: host command `rm` was not granted to this pack"
          },
          "file": {
            "Err": "entity not found"
          },
          "env": [],
          "socket": {
            "Err": "permission denied"
          },
          "http": {
            "Err": "ErrorCode::HttpRequestDenied"
          }
        }"#]]
    .assert_eq(&pretty);
}

#[tokio::test]
async fn a_pack_reporting_its_own_timeout_is_a_pack_error() {
    let (_, _, hostile) = shared();
    let Err(InvokeError::Pack(error)) = call(hostile, "give-up", "{}").await.result else {
        panic!("expected a pack error");
    };
    assert_eq!(
        (error.kind, error.message.as_str()),
        (PackErrorKind::Timeout, "upstream did not answer in 3s")
    );
}

#[tokio::test]
async fn logs_are_captured_and_bounded() {
    let (_, _, hostile) = shared();
    let few = call(hostile, "chatter", r#"{"lines":3,"bytes":10}"#).await;
    let lines: Vec<_> =
        few.logs.records.iter().map(|r| format!("{} {}", r.level, r.message)).collect();
    assert_eq!(lines, ["info line 0 ...", "info line 1 ...", "info line 2 ..."]);
    assert_eq!(few.logs.dropped, 0);

    let many = call(hostile, "chatter", r#"{"lines":1500,"bytes":10}"#).await;
    assert_eq!(many.result, Ok(r#"{"written":1500}"#.to_owned()));
    assert_eq!((many.logs.records.len(), many.logs.dropped), (1000, 500));

    let wide = call(hostile, "chatter", r#"{"lines":20,"bytes":100000}"#).await;
    assert_eq!((wide.logs.records.len(), wide.logs.dropped), (10, 10));
}

#[tokio::test]
async fn logs_survive_a_failed_invocation() {
    let (_, _, hostile) = shared();
    let invocation = call(hostile, "chatter", r#"{"lines":2,"fail":true}"#).await;
    assert!(matches!(invocation.result, Err(InvokeError::Pack(_))), "{:?}", invocation.result);
    assert_eq!(invocation.logs.records.len(), 2);
}

#[tokio::test]
async fn a_huge_error_message_is_cut_not_stored_whole() {
    let (_, _, hostile) = shared();
    let Err(InvokeError::Pack(error)) = call(hostile, "rant", r#"{"kibibytes":1024}"#).await.result
    else {
        panic!("expected a pack error");
    };
    assert!(error.message.len() < 65 << 10, "kept {} bytes", error.message.len());
    assert!(
        error.message.ends_with("more bytes cut)"),
        "{}",
        &error.message[error.message.len() - 40..]
    );
    let short = call(hostile, "rant", r#"{"kibibytes":1}"#).await.result.expect_err("fails");
    assert_eq!(short.to_string().len(), "failed: ".len() + 1024);
}

#[tokio::test]
async fn more_sandboxes_than_the_pool_holds_are_refused_clearly() {
    let runtime = std::sync::Arc::new(squall_tests::TestRuntime::with_pool(2));
    let core = std::sync::Arc::new(runtime.load(squall_tests::CORE_PACK, "core"));
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let core = core.clone();
        running.spawn(async move { call(&core, "sleep", r#"{"seconds":0.5}"#).await.result });
    }
    let results = running.join_all().await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2, "{results:?}");
    assert_eq!(refused.len(), 1, "{results:?}");
    assert!(matches!(refused[0], InvokeError::Instantiate(_)), "{:?}", refused[0]);
    assert!(refused[0].to_string().starts_with("cannot start the sandbox: "), "{}", refused[0]);
    // Once the others finish, their slots are free again.
    assert_eq!(call(&core, "noop", "{}").await.result, Ok("null".to_owned()));
}

#[tokio::test]
async fn a_cap_above_the_pool_slot_is_reported_at_the_slot_size() {
    let cache = tempfile::tempdir().expect("cache dir");
    let config = squall::runtime::RuntimeConfig {
        max_concurrent_instances: 2,
        max_memory_bytes: 32 << 20,
        ..squall::runtime::RuntimeConfig::with_cache_dir(cache.path())
    };
    let runtime = squall::runtime::Runtime::new(config, Default::default()).expect("runtime");
    let hostile =
        runtime.load(std::path::Path::new(squall_tests::HOSTILE_GUEST), "hostile").expect("load");
    let result = hostile.run_action(&request("bomb", "{}"), &limits(10_000, 1024)).await.result;
    assert!(
        matches!(result, Err(InvokeError::MemoryLimit { limit, .. }) if limit == 32 << 20),
        "{result:?}"
    );
}
