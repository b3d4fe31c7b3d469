//! The core pack's actions, case by case: parameters in, result out.

use std::time::Duration;

use expect_test::{Expect, expect};
use squall::runtime::LoadedComponent;
use squall_tests::{call, shared};

/// Runs each `(action, params)` and renders one line per case.
async fn check(component: &LoadedComponent, cases: &[(&str, &str)], expected: Expect) {
    let mut rendered = String::new();
    for (action, params) in cases {
        let invocation = call(component, action, params).await;
        let outcome = match invocation.result {
            Ok(output) => format!("ok {output}"),
            Err(error) => format!("error {error}"),
        };
        rendered.push_str(&format!("{action} {params} => {outcome}\n"));
    }
    expected.assert_eq(&rendered);
}

#[tokio::test]
async fn core_actions_return_their_documented_results() {
    let (_, core, _) = shared();
    check(
        core,
        &[
            ("echo", r#"{"message":"hi"}"#),
            ("echo", r#"{"message":"multi\nline ✓"}"#),
            ("noop", "{}"),
            ("noop", r#"{"ignored":[1,2]}"#),
            ("fail", r#"{"message":"disk still full"}"#),
            ("fail", "{}"),
            ("sleep", r#"{"seconds":0.01}"#),
        ],
        expect![[r#"
            echo {"message":"hi"} => ok {"message":"hi"}
            echo {"message":"multi\nline ✓"} => ok {"message":"multi\nline ✓"}
            noop {} => ok null
            noop {"ignored":[1,2]} => ok null
            fail {"message":"disk still full"} => error failed: disk still full
            fail {} => error failed: core.fail was asked to fail
            sleep {"seconds":0.01} => ok {"slept_seconds":0.01}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn bad_parameters_are_refused_by_the_pack_with_the_field_named() {
    let (_, core, _) = shared();
    check(
        core,
        &[
            ("echo", "{}"),
            ("echo", r#"{"message":5}"#),
            ("echo", r#"{"message":"hi","extra":true}"#),
            ("sleep", r#"{"seconds":-1}"#),
            ("echo", "not json"),
            ("teleport", "{}"),
        ],
        expect![[r#"
            echo {} => error invalid-input: parameters: missing field `message` at line 1 column 2
            echo {"message":5} => error invalid-input: parameters: invalid type: integer `5`, expected a string at line 1 column 12
            echo {"message":"hi","extra":true} => error invalid-input: parameters: unknown field `extra`, expected `message` at line 1 column 23
            sleep {"seconds":-1} => error invalid-input: parameter `seconds`: expected a non-negative number, got -1
            echo not json => error invalid-input: parameters: expected ident at line 1 column 2
            teleport {} => error invalid-input: this pack has no action named `teleport`
        "#]],
    )
    .await;
}

#[tokio::test]
async fn fail_is_a_recorded_pack_error_not_a_crash() {
    let (_, core, _) = shared();
    let invocation = call(core, "fail", r#"{"message":"boom"}"#).await;
    let Err(squall::runtime::InvokeError::Pack(error)) = invocation.result else {
        panic!("expected a pack error, got {:?}", invocation.result);
    };
    assert_eq!(error.kind, squall::runtime::PackErrorKind::Failed);
    assert_eq!(error.message, "boom");
    // The sandbox is still usable afterwards.
    assert_eq!(call(core, "noop", "{}").await.result, Ok("null".to_owned()));
}

#[tokio::test]
async fn sleep_sleeps_at_least_as_long_as_asked() {
    let (_, core, _) = shared();
    let invocation = call(core, "sleep", r#"{"seconds":0.2}"#).await;
    assert_eq!(invocation.result, Ok(r#"{"slept_seconds":0.2}"#.to_owned()));
    assert!(
        invocation.elapsed >= Duration::from_millis(200),
        "slept only {:?}",
        invocation.elapsed
    );
}
