#!/usr/bin/env bash
# Side by side with Node-RED (issue 20): the same webhook, the same load
# generator, the same machine, in one run, interleaved.
#
#   benches/peers/run.sh
#
# Node-RED 4 (pinned below, installed with npm into target/peers/) runs
# flow.json: `http in` POST /hook -> `switch` (payload.kind == "load") ->
# `function` (builds the reply) -> `http response`, in memory, nothing
# written to disk. `squall serve` (release build, fresh data directory)
# runs one rule: webhook `hook` -> criterion `trigger.body.kind equals
# load` -> `core.echo` (the core pack built into the binary); each 202 comes
# after the trigger instance and its execution are committed and fsynced.
# Both listen on 127.0.0.1 only. wrk (apt) sends the same JSON POST
# (post.lua) over keep-alive connections, for each client count, for both
# servers in turn, for each round; before each round a bare 4 KiB
# fdatasync is timed on the same disk. After each Squall point the script
# checks that every answer was a 202 and that each 202 stored one
# execution, and fails otherwise.
#
# Environment: DURATION (s per point, 10), ROUNDS (2), CLIENTS ("1 16"),
# WARMUP (s per server before the first round, 3), SKIP_BUILD=1 (use the
# binary as it is), SQUALL_BIN (default target/release/squall),
# BASELINE_BIN (another squall binary, e.g. one built before a change: it
# runs as a third system, `squall-base`, interleaved with the other two on
# its own data directory, so a change's before and after come from one run).
# Results: printed, and kept in target/peers/run/ (results.tsv, logs).

set -euo pipefail

NODE_RED_VERSION=4.1.8
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-"1 16"}
WARMUP=${WARMUP:-3}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
PEERS=$ROOT/target/peers
NR_DIR=$PEERS/node-red-$NODE_RED_VERSION
RUN=$PEERS/run
BIN=${SQUALL_BIN:-$ROOT/target/release/squall}
TOOLS="python3 $HERE/tools.py"

say() { printf '\n== %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# --- tools ---------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    say "installing wrk with apt"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y --no-install-recommends wrk >/dev/null \
        || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends wrk >/dev/null; }
fi
command -v node >/dev/null || die "node is needed for Node-RED"
if [ "$(node -p "try{require('$NR_DIR/node_modules/node-red/package.json').version}catch(e){''}")" != "$NODE_RED_VERSION" ]; then
    say "installing node-red@$NODE_RED_VERSION with npm into $NR_DIR"
    mkdir -p "$NR_DIR"
    npm install --prefix "$NR_DIR" --no-audit --no-fund --save-exact --loglevel=error \
        "node-red@$NODE_RED_VERSION" >/dev/null
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    say "cargo build --release -p squall"
    cargo build --release -p squall
fi
[ -x "$BIN" ] || die "$BIN not found (cargo build --release -p squall)"

# --- servers ---------------------------------------------------------------
rm -rf "$RUN"
mkdir -p "$RUN/node-red"
SYSTEMS="node-red squall"
if [ -n "${BASELINE_BIN:-}" ]; then
    [ -x "$BASELINE_BIN" ] || die "$BASELINE_BIN not found"
    SYSTEMS="node-red squall-base squall"
fi
PIDS=
cleanup() {
    for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in $PIDS; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # name pid command...
    local name=$1 pid=$2; shift 2
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || die "$name exited; see $RUN/*.log"
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$name did not come up within 60 s"
}

NR_PORT=$($TOOLS port)
NR_URL=http://127.0.0.1:$NR_PORT/hook
BODY='{"kind":"load","seq":1}'
cp "$HERE/flow.json" "$RUN/node-red/flows.json"
PORT=$NR_PORT node "$NR_DIR/node_modules/node-red/red.js" --settings "$HERE/settings.js" \
    --userDir "$RUN/node-red" "$RUN/node-red/flows.json" >"$RUN/node-red.log" 2>&1 &
NR_PID=$!
PIDS="$NR_PID"
wait_for node-red "$NR_PID" curl -sf -X POST -H 'Content-Type: application/json' -d "$BODY" "$NR_URL"
# One request looked at: Node-RED's reply.
answer=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' -d "$BODY" "$NR_URL")
[ "$answer" = '{"message":"event 1"} 202' ] || die "Node-RED answered: $answer"

# Per Squall system: its base URL, webhook URL, key file and key.
declare -A SQ_BASE SQ_URL KEYFILE KEY SQ_PID
RULE='name: hook
pack: peers
enabled: true
trigger: {type: core.webhook, parameters: {url: hook}}
criteria: {trigger.body.kind: {type: equals, pattern: load}}
action: {ref: core.echo, parameters: {message: "event {{ trigger.body.seq }}"}}'
start_squall() { # system binary
    local system=$1 bin=$2 data=$RUN/$1-data port pid
    port=$($TOOLS port)
    mkdir -p "$data"
    SQUALL_LOG=warn "$bin" serve --data-dir "$data" --listen "127.0.0.1:$port" >"$RUN/$system.log" 2>&1 &
    pid=$!
    PIDS="$PIDS $pid"
    SQ_PID[$system]=$pid
    local base=http://127.0.0.1:$port
    SQ_BASE[$system]=$base
    SQ_URL[$system]=$base/api/v1/webhooks/hook
    KEYFILE[$system]=$data/admin-api-key
    wait_for "$system" "$pid" curl -sf "$base/api/v1/health"
    KEY[$system]=$(cat "${KEYFILE[$system]}")
    local auth="Authorization: Bearer ${KEY[$system]}" rule answer instance execution= status=
    rule=$(printf '%s\n' "$RULE" | curl -s -o "$RUN/$system-rule.json" -w '%{http_code}' -X POST \
        -H "$auth" -H 'Content-Type: application/yaml' --data-binary @- "$base/api/v1/rules")
    [ "$rule" = 201 ] || die "$system: creating the rule answered $rule: $(cat "$RUN/$system-rule.json")"
    # One request looked at: a 202 naming the trigger instance, whose
    # enforcement names an execution that succeeds.
    answer=$(curl -s -w ' %{http_code}' -X POST -H "$auth" -H 'Content-Type: application/json' \
        -d "$BODY" "${SQ_URL[$system]}")
    [ "${answer##* }" = 202 ] || die "$system answered: $answer"
    instance=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].rsplit(" ",1)[0])["trigger_instances"][0])' "$answer")
    for _ in $(seq 50); do
        execution=$(curl -sf -H "$auth" "$base/api/v1/triggerinstances/$instance" \
            | python3 -c 'import json,sys; e=json.load(sys.stdin).get("rule_enforcements") or [{}]; print(e[0].get("execution") or "")')
        [ -n "$execution" ] && break; sleep 0.1
    done
    [ -n "$execution" ] || die "$system: the trigger instance $instance has no execution"
    for _ in $(seq 50); do
        status=$(curl -sf -H "$auth" "$base/api/v1/executions/$execution" \
            | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], json.dumps(r.get("result")))')
        [ "${status%% *}" = succeeded ] && break; sleep 0.1
    done
    [ "${status%% *}" = succeeded ] || die "$system: execution $execution: $status"
    echo "sanity: $system 202 -> instance $instance -> execution $execution: $status"
}
start_squall squall "$BIN"
[ -z "${BASELINE_BIN:-}" ] || start_squall squall-base "$BASELINE_BIN"

# --- the run ---------------------------------------------------------------
say "machine and versions"
echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:       $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $(uname -sr)"
echo "node-red:  $NODE_RED_VERSION on node $(node --version)"
echo "wrk:       $(wrk -v 2>&1 | head -1)"
echo "squall:    $("$BIN" --version), built $(date -u -r "$BIN" '+%H:%M UTC'); tree now at git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host sdk || echo ', uncommitted changes under host/ or sdk/')"
[ -z "${BASELINE_BIN:-}" ] || echo "baseline:  $BASELINE_BIN, built $(date -u -r "$BASELINE_BIN" '+%H:%M UTC')"
echo "disk:      $(df -T "$RUN" | awk 'NR==2 {print $1, $2}')"

counters() { $TOOLS squall "${SQ_BASE[$1]}" "${KEYFILE[$1]}"; } # system
field() { # key line
    local pair
    for pair in $2; do [ "${pair%%=*}" = "$1" ] && { echo "${pair#*=}"; return; }; done
    echo 0
}
cpu_ticks() { # pid: user + system CPU time so far, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
settle() { # system: until it has nothing queued or running (at most 30 s)
    local c
    for _ in $(seq 300); do
        c=$(counters "$1")
        [ "$(field queued "$c")" = 0 ] && [ "$(field running "$c")" = 0 ] && { echo "$c"; return; }
        sleep 0.1
    done
    echo "$c"
}
bench() { # url clients seconds [key]
    local threads=$(( $2 < 2 ? $2 : 2 ))
    SQUALL_KEY=${4:-} timeout $(( $3 + 30 )) wrk -c "$2" -t "$threads" -d "${3}s" --latency \
        -s "$HERE/post.lua" "$1"
}

say "warm-up: ${WARMUP} s at 16 clients each (not reported)"
bench "$NR_URL" 16 "$WARMUP" >/dev/null
for system in $SYSTEMS; do
    [ "$system" = node-red ] && continue
    bench "${SQ_URL[$system]}" 16 "$WARMUP" "${KEY[$system]}" >/dev/null
    settle "$system" >/dev/null
done

RESULTS=$RUN/results.tsv
printf 'round\tclients\tsystem\trequests\tp50_us\tp99_us\tmax_us\trps\tnon2xx\tsocket_errors\tload1\tfsync_p50_us\tfsync_append_p50_us\tcommits_per_webhook\tcpu_us_per_webhook\n' >"$RESULTS"
FAILED=0
for round in $(seq "$ROUNDS"); do
    say "round $round: bare fdatasync on the same disk"
    fs=$($TOOLS fsync "$RUN")
    echo "$fs"
    fsync_p50=$(field fdatasync_p50_us "$fs")
    fsync_append=$(field append_fdatasync_p50_us "$fs")
    for clients in $CLIENTS; do
        for system in $SYSTEMS; do
            say "round $round, $clients client(s), $system"
            uptime
            load1=$(cut -d' ' -f1 /proc/loadavg)
            if [ "$system" != node-red ]; then
                before=$(settle "$system")
                ticks_before=$(cpu_ticks "${SQ_PID[$system]}")
                out=$(bench "${SQ_URL[$system]}" "$clients" "$DURATION" "${KEY[$system]}")
            else
                out=$(bench "$NR_URL" "$clients" "$DURATION")
            fi
            echo "$out" | grep -v '^RESULT'
            result=$(echo "$out" | sed -n 's/^RESULT //p')
            [ -n "$result" ] || die "wrk printed no result"
            requests=$(field requests "$result")
            duration=$(field duration_us "$result")
            rps=$(python3 -c "print(f'{$requests / ($duration / 1e6):.1f}')")
            non2xx=$(field non2xx "$result")
            sockerr=$(( $(field connect "$result") + $(field read "$result") + $(field write "$result") + $(field timeout "$result") ))
            per_commit=-
            cpu_per=-
            if [ "$system" != node-red ]; then
                after=$(settle "$system")
                ticks=$(( $(cpu_ticks "${SQ_PID[$system]}") - ticks_before ))
                d202=$(( $(field webhook_202 "$after") - $(field webhook_202 "$before") ))
                dother=$(( $(field webhook_other "$after") - $(field webhook_other "$before") ))
                dstored=$(( $(field executions_stored "$after") - $(field executions_stored "$before") ))
                dcommits=$(( $(field commits "$after") - $(field commits "$before") ))
                per_commit=$(python3 -c "print(f'{$dcommits / max($d202, 1):.2f}')")
                # CPU the server used per webhook (user + system, threads
                # and wake-ups included): less at the mercy of neighbours
                # than latency on a shared machine.
                cpu_per=$(python3 -c "print(f'{$ticks * 1e6 / $(getconf CLK_TCK) / max($d202, 1):.0f}')")
                echo "checked: wrk completed $requests; the server answered $d202 webhooks 202 and $dother otherwise; $dstored executions stored; $dcommits commits ($per_commit per webhook); $cpu_per µs of CPU per webhook"
                # Every completed request was a 202 and each 202 stored an
                # execution. wrk stops with up to one request per connection
                # in flight: those may be answered (counted by the server,
                # not by wrk) or committed with the answer never sent.
                if [ "$dother" -ne 0 ] || [ "$d202" -lt "$requests" ] || [ "$dstored" -lt "$d202" ] \
                    || [ "$dstored" -gt $(( requests + clients )) ]; then
                    echo "CHECK FAILED: the 202s and the stored executions do not match wrk's count" >&2
                    FAILED=1
                fi
            fi
            if [ "$non2xx" -ne 0 ] || [ "$sockerr" -ne 0 ]; then
                echo "CHECK FAILED: $non2xx non-2xx answers, $sockerr socket errors" >&2
                FAILED=1
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$clients" "$system" \
                "$requests" "$(field p50_us "$result")" "$(field p99_us "$result")" \
                "$(field max_us "$result")" "$rps" "$non2xx" "$sockerr" "$load1" "$fsync_p50" "$fsync_append" \
                "$per_commit" "$cpu_per" >>"$RESULTS"
        done
    done
done

for system in $SYSTEMS; do
    [ "$system" = node-red ] && continue
    say "$system at the end"
    final=$(settle "$system")
    echo "$final"
    rest=$($TOOLS others "${SQ_BASE[$system]}" "${KEYFILE[$system]}")
    echo "executions stored: $(field executions_stored "$final"); trigger instances stored: $(field trigger_instances_stored "$rest"); $rest"
    if [ "$(field not_succeeded "$rest")" != 0 ] \
        || [ "$(field executions_stored "$final")" != "$(field trigger_instances_stored "$rest")" ]; then
        echo "CHECK FAILED: $system: a stored execution did not succeed, or an instance has no execution" >&2
        FAILED=1
    fi
done

say "results ($RESULTS)"
$TOOLS report "$RESULTS"
[ "$FAILED" = 0 ] || die "a check failed; the figures above do not measure the durable path"
