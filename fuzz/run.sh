#!/usr/bin/env bash
# Builds the fuzz targets and runs them under libFuzzer for a bounded time.
#
#   fuzz/run.sh TARGET|all SECONDS [LIBFUZZER_FLAG...]
#
# `all` runs every target, as many at once as there are cores (or
# $SQUALL_FUZZ_JOBS); flags after SECONDS go to libFuzzer. Exits 1 if
# any target found something (a panic, a stack overflow, an input slower
# than -timeout, memory over -rss_limit_mb); the input is saved under
# target/fuzz/artifacts/TARGET/ and printed. The corpus a run grows is kept
# in target/fuzz/corpus/TARGET/ (the seeds in fuzz/corpus/TARGET/ are only
# read), so repeated local runs go on where the last stopped.
#
# libFuzzer comes from Debian's libfuzzer-22-dev (LLVM 22, as rustc 1.95),
# fetched with `apt-get download` into target/fuzz/libfuzzer/ unless
# SQUALL_LIBFUZZER_DIR names a directory holding a libFuzzer.a.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: fuzz/run.sh TARGET|all SECONDS [LIBFUZZER_FLAG...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
which=$1 seconds=$2
shift 2
case $seconds in '' | *[!0-9]*) usage ;; esac

targets=(rule_yaml workflow_yaml pack_manifest bundle signature webhook_body jinja cron rbac)
if [ "$which" != all ]; then
    printf '%s\n' "${targets[@]}" | grep -qx "$which" || {
        echo "unknown target $which; the targets: ${targets[*]}" >&2
        exit 2
    }
    targets=("$which")
fi

out=target/fuzz
mkdir -p "$out"

# libFuzzer's static library, once.
if [ -z "${SQUALL_LIBFUZZER_DIR:-}" ]; then
    SQUALL_LIBFUZZER_DIR=$PWD/$out/libfuzzer
    if [ ! -f "$SQUALL_LIBFUZZER_DIR/libFuzzer.a" ]; then
        echo "fetching libFuzzer (Debian's libfuzzer-22-dev)"
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download -q libfuzzer-22-dev && dpkg-deb -x libfuzzer-22-dev_*.deb root)
        mkdir -p "$SQUALL_LIBFUZZER_DIR"
        cp "$tmp"/root/usr/lib/llvm-22/lib/libFuzzer.a "$SQUALL_LIBFUZZER_DIR/"
        rm -rf "$tmp"
    fi
fi
export SQUALL_LIBFUZZER_DIR

# The workspace's crates instrumented, the dependencies reused from the
# dev build (see fuzz/rustc-wrapper.sh).
start=$(date +%s)
RUSTC_WORKSPACE_WRAPPER=$PWD/fuzz/rustc-wrapper.sh \
    cargo build --locked -p squall-fuzz --features libfuzzer --bins
echo "built the fuzz targets in $(($(date +%s) - start)) s"

# One target: its seeds (and generated ones), then libFuzzer for $seconds.
# Prints one summary line; the full log is in $out/logs/TARGET.log.
fuzz_one() {
    local target=$1 bin=target/debug/$1
    shift
    local corpus=$out/corpus/$target artifacts=$out/artifacts/$target log=$out/logs/$target.log
    local seeds=(fuzz/corpus/"$target")
    mkdir -p "$corpus" "$artifacts" "$out/logs"
    rm -f "$artifacts"/*
    : >"$log"
    case $target in
        bundle | signature)
            rm -rf "$out/generated/$target"
            SQUALL_FUZZ_WRITE_SEEDS=$out/generated/$target "$bin" >>"$log" 2>&1 || {
                printf '%-14s FAILED: cannot write the generated seeds, log %s\n' "$target" "$log"
                return 1
            }
            seeds+=("$out/generated/$target")
            ;;
    esac
    local status=0
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$@" "$corpus" "${seeds[@]}" >>"$log" 2>&1 || status=$?
    local first last runs
    first=$(grep -m1 -o 'INITED cov: [0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    last=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*$' || echo '?')
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    if [ "$status" = 0 ]; then
        printf '%-14s ok     %9s runs  cov %s -> %s  corpus %s\n' \
            "$target" "${runs:-?}" "$first" "$last" "$(find "$corpus" -type f | wc -l)"
    else
        printf '%-14s FAILED (exit %s), log %s\n' "$target" "$status" "$log"
        return 1
    fi
}

# Runs the targets, as many at once as there are cores (or $SQUALL_FUZZ_JOBS).
jobs=${SQUALL_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$out/logs"
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n || true
    done
    fuzz_one "$target" "$@" >"$out/logs/$target.summary" 2>&1 &
done
wait || true
failed=()
for target in "${targets[@]}"; do
    cat "$out/logs/$target.summary"
    if ! grep -q "^$target *ok " "$out/logs/$target.summary"; then
        failed+=("$target")
    fi
done

for target in "${failed[@]}"; do
    printf '\n==> %s: the end of its log\n' "$target"
    tail -n 40 "$out/logs/$target.log"
    for artifact in "$out/artifacts/$target"/*; do
        [ -f "$artifact" ] || continue
        printf '\n--- %s (%s bytes), base64:\n' "$artifact" "$(wc -c <"$artifact")"
        head -c 4096 "$artifact" | base64
    done
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found something in: ${failed[*]} (inputs in $out/artifacts/)" >&2
    exit 1
fi
