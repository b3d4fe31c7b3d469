//! `squall run`, driven in-process through `squall::cli::execute`.

use expect_test::{Expect, expect};
use squall_tests::{CORE_PACK, HOSTILE_GUEST, NO_ACTION_GUEST, run_cli};

/// Runs the CLI with `args` after `squall run --cache-dir <tmp>` and renders
/// exit status, stdout and stderr, with paths replaced by names.
fn check(args: &[&str], expected: Expect) {
    let cache = tempfile::tempdir().expect("cache dir");
    let mut argv = vec!["run", "--cache-dir", cache.path().to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    let rendered = run_cli(&argv)
        .replace(CORE_PACK, "CORE")
        .replace(HOSTILE_GUEST, "HOSTILE")
        .replace(NO_ACTION_GUEST, "NO_ACTION");
    expected.assert_eq(&rendered);
}

#[test]
fn echo_prints_its_message_as_json() {
    check(
        &["--component", CORE_PACK, "echo", "message=hi"],
        expect![[r#"
            exit 0
            stdout: {"message":"hi"}
            stderr: "#]],
    );
}

#[test]
fn values_are_json_where_they_parse() {
    check(
        &["--component", CORE_PACK, "core.sleep", "seconds=0.01"],
        expect![[r#"
            exit 0
            stdout: {"slept_seconds":0.01}
            stderr: "#]],
    );
}

#[test]
fn an_action_error_exits_1_with_one_line() {
    check(
        &["--component", CORE_PACK, "core.fail", "message=disk full"],
        expect![[r#"
            exit 1
            stdout: stderr: error: core.fail: failed: disk full
        "#]],
    );
}

#[test]
fn logs_go_to_stderr() {
    check(
        &["--component", HOSTILE_GUEST, "chatter", "lines=2", "bytes=8"],
        expect![[r#"
            exit 0
            stdout: {"written":2}
            stderr: [info] line 0 .
            [info] line 1 .
        "#]],
    );
}

#[test]
fn the_deadline_and_memory_flags_apply() {
    check(
        &["--component", HOSTILE_GUEST, "--timeout", "200ms", "spin"],
        expect![[r#"
            exit 1
            stdout: stderr: error: guest_hostile.spin: timed out after 200ms
        "#]],
    );
    check(
        &["--component", HOSTILE_GUEST, "--memory", "8MiB", "bomb"],
        expect![[r#"
            exit 1
            stdout: stderr: error: guest_hostile.bomb: memory limit exceeded: the pack asked for 8454144 bytes, the cap is 8388608 bytes
        "#]],
    );
}

#[test]
fn unusable_input_exits_2_with_one_line() {
    check(
        &["--component", "Cargo.toml", "echo"],
        expect![[r#"
            exit 2
            stdout: stderr: error: Cargo.toml: not a WebAssembly file (it does not start with the `\0asm` magic bytes)
        "#]],
    );
    check(
        &["--component", CORE_PACK, "echo", "message"],
        expect![[r#"
            exit 2
            stdout: stderr: error: parameter `message`: expected KEY=VALUE
        "#]],
    );
    check(
        &["--component", CORE_PACK, "--timeout", "soon", "echo"],
        expect![[r#"
            exit 2
            stdout: stderr: error: invalid value 'soon' for '--timeout <TIMEOUT>': expected number at 0

            For more information, try '--help'.
        "#]],
    );
}

#[test]
fn a_component_without_actions_says_so() {
    check(
        &["--component", NO_ACTION_GUEST, "echo"],
        expect![[r#"
            exit 2
            stdout: stderr: error: guest_no_action.wasm: does not export `squall:pack/action@0.1.0`, so it has no actions to run
        "#]],
    );
}

#[test]
fn completion_scripts_name_the_subcommands() {
    let bash = run_cli(&["completion", "bash"]);
    assert!(bash.starts_with("exit 0\n"), "{bash}");
    for command in ["serve", "rule", "execution", "workflow"] {
        assert!(bash.contains(command), "bash completion lacks `{command}`");
    }
    for shell in ["zsh", "fish"] {
        let script = run_cli(&["completion", shell]);
        assert!(script.starts_with("exit 0\n"), "{script}");
        assert!(script.contains("execution"), "{shell} completion lacks `execution`");
    }
    let unknown = run_cli(&["completion", "tcsh"]);
    assert!(unknown.starts_with("exit 2\n"), "{unknown}");
}
