#!/usr/bin/env bash
# RUSTC_WORKSPACE_WRAPPER for fuzz/run.sh. Cargo runs it for the
# workspace's own crates only, as `rustc-wrapper.sh RUSTC ARGS...`, and
# hashes it into their artifact names, so instrumented builds sit beside
# the normal ones in target/ instead of replacing them; the dependencies
# (wasmtime among them) are the normal dev build's, reused as they are.
#
# It adds SanitizerCoverage, the instrumentation libFuzzer's coverage
# guidance reads, with stable rustc flags (no -Z): edge counters, the PC
# table and comparison tracing. Build scripts, what only build scripts use
# (squall-build-support) and proc macros are left alone: they run at build
# time, without libFuzzer's runtime. Binaries are linked with libFuzzer from $SQUALL_LIBFUZZER_DIR.
set -euo pipefail
rustc=$1
shift
crate= kind=
prev=
for arg in "$@"; do
    case $prev in
        --crate-name) crate=$arg ;;
        --crate-type) kind=$arg ;;
    esac
    prev=$arg
done
case $crate:$kind in
    build_script_*:* | squall_build_support:* | *:proc-macro | :*) exec "$rustc" "$@" ;;
esac
sancov=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
)
link=()
if [ "$kind" = bin ]; then
    link=(-L "native=${SQUALL_LIBFUZZER_DIR:?set by fuzz/run.sh}" -l static=Fuzzer -l stdc++)
fi
exec "$rustc" "$@" "${sancov[@]}" "${link[@]}"
