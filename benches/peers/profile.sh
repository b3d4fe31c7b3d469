#!/usr/bin/env bash
# Where one client's webhook time goes in `squall serve` (issue 20): the
# same server and rule as run.sh (release build, fresh data directory,
# webhook -> one `equals` criterion -> core.echo), one wrk client for
# DURATION seconds under `perf record`, then again under `strace -c -f`.
#
#   benches/peers/profile.sh        (after run.sh has installed wrk and built squall)
#
# Needs perf and strace, and kernel.perf_event_paranoid <= 1 for a process
# of one's own (or root). Output in target/peers/profile/: perf.data,
# report-*.txt, strace.txt, and a summary on stdout.

set -euo pipefail

DURATION=${DURATION:-10}
FREQ=${FREQ:-1999}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
BIN=${SQUALL_BIN:-$ROOT/target/release/squall}
OUT=$ROOT/target/peers/profile
TOOLS="python3 $HERE/tools.py"
[ -x "$BIN" ] || { echo "profile.sh: $BIN not found (run run.sh first)" >&2; exit 1; }
for tool in wrk perf strace; do
    command -v $tool >/dev/null || { echo "profile.sh: $tool not found" >&2; exit 1; }
done

rm -rf "$OUT"
mkdir -p "$OUT/squall-data"
SQ_PID=; AUX_PID=
cleanup() {
    [ -z "$AUX_PID" ] || kill -INT "$AUX_PID" 2>/dev/null || true
    [ -z "$SQ_PID" ] || { kill -TERM "$SQ_PID" 2>/dev/null || true; wait "$SQ_PID" 2>/dev/null || true; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$($TOOLS port)
BASE=http://127.0.0.1:$PORT
URL=$BASE/api/v1/webhooks/hook
SQUALL_LOG=warn "$BIN" serve --data-dir "$OUT/squall-data" --listen "127.0.0.1:$PORT" \
    >"$OUT/squall.log" 2>&1 &
SQ_PID=$!
for _ in $(seq 600); do curl -sf "$BASE/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
KEY=$(cat "$OUT/squall-data/admin-api-key")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/yaml' --data-binary @- "$BASE/api/v1/rules" <<'EOF'
name: hook
pack: peers
enabled: true
trigger: {type: core.webhook, parameters: {url: hook}}
criteria: {trigger.body.kind: {type: equals, pattern: load}}
action: {ref: core.echo, parameters: {message: "event {{ trigger.body.seq }}"}}
EOF
)
[ "$code" = 201 ] || { echo "profile.sh: creating the rule answered $code" >&2; exit 1; }
one() { SQUALL_KEY=$KEY wrk -c 1 -t 1 -d "${1}s" --latency -s "$HERE/post.lua" "$URL"; }
one 3 >/dev/null   # warm-up: compile cache, pools, page cache

echo "== perf record, one client, ${DURATION} s ($(cut -d' ' -f1-3 /proc/loadavg) load)"
perf record -F "$FREQ" -g -p "$SQ_PID" -o "$OUT/perf.data" -- sleep $(( DURATION + 1 )) \
    2>"$OUT/perf-record.log" &
AUX_PID=$!
sleep 0.5
one "$DURATION" | tee "$OUT/wrk-perf.txt" | grep -E 'RESULT|Requests/sec'
wait "$AUX_PID" || true
AUX_PID=
perf report -i "$OUT/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
    | grep -v '^$' >"$OUT/report-symbol.txt"
perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
    | grep -v '^$' >"$OUT/report-dso-symbol.txt"
perf report -i "$OUT/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null \
    | grep -v '^$' >"$OUT/report-thread.txt"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
    | grep -v '^$' >"$OUT/report-dso.txt"
show() { grep -v '^#' "$1" | cut -c1-150 | sed 's/ *-  *- *$//' | head -"$2" || true; }
echo "-- by thread";     show "$OUT/report-thread.txt" 12
echo "-- by dso";        show "$OUT/report-dso.txt" 12
echo "-- by dso,symbol"; show "$OUT/report-dso-symbol.txt" 40

echo "== strace -c -f, one client, ${DURATION} s"
strace -c -f -p "$SQ_PID" -o "$OUT/strace.txt" 2>"$OUT/strace.log" &
AUX_PID=$!
sleep 0.5
one "$DURATION" | tee "$OUT/wrk-strace.txt" | grep -E 'RESULT|Requests/sec'
kill -INT "$AUX_PID" 2>/dev/null || true
wait "$AUX_PID" 2>/dev/null || true
AUX_PID=
requests=$(sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p' "$OUT/wrk-strace.txt")
echo "-- syscalls per request ($requests requests under strace)"
awk -v n="$requests" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ {
    calls = $4; name = $NF; printf "%-20s %10d calls %8.2f per request\n", name, calls, calls / n }' \
    "$OUT/strace.txt" | sort -k2 -n -r | head -25 || true
