#!/usr/bin/env bash
# Cluster mode on NATS JetStream against a single node: the same webhook,
# the same load generator, the same machine, in one run, interleaved.
#
#   benches/cluster/run.sh
#
# Three systems, each with one rule (webhook `hook` -> criterion
# `trigger.body.kind equals load` -> `core.echo`, the core pack built into
# the binary), as in benches/peers:
#   single     `squall serve` without --cluster, fresh data directory;
#   cluster-1  one `squall serve --cluster --node node0` on three clustered
#              nats-server processes with JetStream (the log SQUALL_LOG has
#              3 replicas), all the load on it;
#   cluster-3  the same NATS cluster and node0, plus node1 and node2 (started
#              for the point and stopped after it, so that cluster-1 is one
#              node alone); the connections are split over the three nodes as
#              evenly as possible, one wrk (1 thread) per node with load, all
#              at the same time (16 clients: 6/5/5; 1 client: node0 only, the
#              other two nodes still apply every entry). Latency percentiles
#              of the three wrk runs are merged from their distributions.
# wrk (apt) sends the same JSON POST (post.lua) over keep-alive connections,
# for each client count, each system in turn, each round. Before each round
# a probe times the replicated append alone: one publish at a time to a
# 3-replica file stream of its own with the Nats-Expected-Last-Sequence
# header, over the raw NATS protocol (tools.py probe). After every point the
# script checks that every answer was a 202 and that each 202 stored one
# execution (the executions table's length from the API, and the nodes'
# webhook counters from /metrics), and fails otherwise.
# Everything listens on 127.0.0.1 only, and everything started is stopped on
# exit (trap), failure included.
#
# Environment: DURATION (s per point, 10), ROUNDS (1), CLIENTS ("1 16"),
# WARMUP (s per system before the first round, 3), PROBE (publishes per
# probe, 2000), SKIP_BUILD=1 (use the binary as it is), SQUALL_BIN (default
# target/release/squall), NATS_SERVER (default nats-server on PATH, else
# /usr/sbin/nats-server).
# Results: printed, and kept in target/cluster-bench/ (results.tsv, logs).

set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-1}
CLIENTS=${CLIENTS:-"1 16"}
WARMUP=${WARMUP:-3}
PROBE=${PROBE:-2000}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
RUN=$ROOT/target/cluster-bench
BIN=${SQUALL_BIN:-$ROOT/target/release/squall}
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
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
[ -x "$NATS_SERVER" ] || die "nats-server not found (Debian package nats-server)"
if [ -z "${SKIP_BUILD:-}" ]; then
    say "cargo build --release -p squall"
    cargo build --release -p squall
fi
[ -x "$BIN" ] || die "$BIN not found (cargo build --release -p squall)"

# --- processes -------------------------------------------------------------
rm -rf "$RUN"
mkdir -p "$RUN"
FAILED=0
declare -A PID          # name -> pid of everything started and still running
stop() { # name: TERM, then KILL after 10 s
    local name=$1 pid=${PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$name]"
}
cleanup() {
    local name
    for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
    for name in "${!PID[@]}"; do stop "$name"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # name command...: until the command succeeds, at most 60 s
    local name=$1; shift
    for _ in $(seq 600); do
        kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited; see $RUN/$name.log"
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$name did not come up within 60 s; see $RUN/$name.log"
}

# NATS: three servers with JetStream, clustered on loopback.
CLIENT_PORTS=() ROUTE_PORTS=()
for i in 0 1 2; do CLIENT_PORTS+=("$($TOOLS port)"); ROUTE_PORTS+=("$($TOOLS port)"); done
ROUTES="nats-route://127.0.0.1:${ROUTE_PORTS[0]}, nats-route://127.0.0.1:${ROUTE_PORTS[1]}, nats-route://127.0.0.1:${ROUTE_PORTS[2]}"
URLS="nats://127.0.0.1:${CLIENT_PORTS[0]},nats://127.0.0.1:${CLIENT_PORTS[1]},nats://127.0.0.1:${CLIENT_PORTS[2]}"
for i in 0 1 2; do
    cat >"$RUN/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${CLIENT_PORTS[$i]}
jetstream { store_dir: "$RUN/js$i" }
cluster { name: squall, listen: 127.0.0.1:${ROUTE_PORTS[$i]}, routes: [$ROUTES] }
EOF
    "$NATS_SERVER" -c "$RUN/n$i.conf" >"$RUN/nats$i.log" 2>&1 &
    PID[nats$i]=$!
done
for i in 0 1 2; do
    wait_for "nats$i" python3 -c "import socket; socket.create_connection(('127.0.0.1', ${CLIENT_PORTS[$i]}), 1)"
done
# JetStream answers once the servers have met and elected a meta leader.
for _ in $(seq 300); do
    $TOOLS probe "nats://127.0.0.1:${CLIENT_PORTS[0]}" 5 16 >/dev/null 2>&1 && break
    sleep 0.2
done
$TOOLS probe "nats://127.0.0.1:${CLIENT_PORTS[0]}" 5 16 >/dev/null || die "JetStream did not come up"

# Squall: per node its port, base URL, data dir, key.
declare -A PORT BASE DATA KEY
BODY='{"kind":"load","seq":1}'
RULE='{"name":"hook","pack":"bench","enabled":true,"trigger":{"type":"core.webhook","parameters":{"url":"hook"}},"criteria":{"trigger.body.kind":{"type":"equals","pattern":"load"}},"action":{"ref":"core.echo","parameters":{"message":"event {{ trigger.body.seq }}"}}}'
start_node() { # name [node-name]: without a node name, a single node
    local name=$1 node=${2:-}
    PORT[$name]=${PORT[$name]:-$($TOOLS port)}
    DATA[$name]=$RUN/$name-data
    BASE[$name]=http://127.0.0.1:${PORT[$name]}
    mkdir -p "${DATA[$name]}"
    # Every node of a cluster seals secrets with the same key (a node with
    # another refuses to join): the first node's, copied as an operator would.
    if [ -n "$node" ] && [ "$name" != node0 ] && [ ! -e "${DATA[$name]}/squall.redb.key" ]; then
        install -m 600 "${DATA[node0]}/squall.redb.key" "${DATA[$name]}/squall.redb.key"
    fi
    local cluster=()
    [ -z "$node" ] || cluster=(--cluster "$URLS" --node "$node")
    SQUALL_LOG=warn "$BIN" serve --data-dir "${DATA[$name]}" --listen "127.0.0.1:${PORT[$name]}" \
        "${cluster[@]}" >>"$RUN/$name.log" 2>&1 &
    PID[$name]=$!
    wait_for "$name" curl -sf "${BASE[$name]}/api/v1/health"
    KEY[$name]=$(cat "${DATA[$name]}/admin-api-key")
}
api() { # name method path [json]
    local name=$1 method=$2 path=$3
    curl -s -w '\n%{http_code}' -X "$method" -H "Authorization: Bearer ${KEY[$name]}" \
        -H 'Content-Type: application/json' ${4:+--data-binary "$4"} "${BASE[$name]}$path"
}
sanity() { # name: one 202 whose trigger instance leads to an execution that succeeds
    local name=$1 answer instance execution= status=
    answer=$(api "$name" POST /api/v1/webhooks/hook "$BODY")
    [ "${answer##*$'\n'}" = 202 ] || die "$name answered: $answer"
    instance=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].rsplit("\n",1)[0])["trigger_instances"][0])' "$answer")
    for _ in $(seq 100); do
        execution=$(api "$name" GET "/api/v1/triggerinstances/$instance" | sed '$d' \
            | python3 -c 'import json,sys; e=json.load(sys.stdin).get("rule_enforcements") or [{}]; print(e[0].get("execution") or "")' 2>/dev/null || true)
        [ -n "$execution" ] && break; sleep 0.1
    done
    [ -n "$execution" ] || die "$name: the trigger instance $instance has no execution"
    for _ in $(seq 100); do
        status=$(api "$name" GET "/api/v1/executions/$execution" | sed '$d' \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || true)
        [ "$status" = succeeded ] && break; sleep 0.1
    done
    [ "$status" = succeeded ] || die "$name: execution $execution: $status"
    echo "sanity: $name 202 -> instance $instance -> execution $execution: $status"
}
create_rule() { # name
    local answer
    answer=$(api "$1" POST /api/v1/rules "$RULE")
    [ "${answer##*$'\n'}" = 201 ] || die "$1: creating the rule answered: $answer"
}

start_node single
create_rule single
sanity single
start_node node0 node0
create_rule node0
sanity node0
start_nodes_1_2() {
    start_node node1 node1
    start_node node2 node2
    sleep 1  # rules written through node0 reach the others' engines
    sanity node1
    sanity node2
}
stop_nodes_1_2() { stop node2; stop node1; }

# --- the run ---------------------------------------------------------------
say "machine and versions"
echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu:       $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $(uname -sr)"
echo "memory:    $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
echo "disk:      $(df -T "$RUN" | awk 'NR==2 {print $1, $2}')"
echo "nats:      $("$NATS_SERVER" --version 2>&1 | head -1)"
echo "wrk:       $(wrk -v 2>&1 | head -1)"
echo "squall:    $("$BIN" --version), built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'); tree at git $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host sdk || echo ', uncommitted changes under host/ or sdk/')"
echo "log:       $($TOOLS stream "$URLS")"

counters() { $TOOLS squall "${BASE[$1]}" "${DATA[$1]}/admin-api-key"; } # name
field() { # key line
    local pair
    for pair in $2; do [ "${pair%%=*}" = "$1" ] && { echo "${pair#*=}"; return; }; done
    echo 0
}
cpu_ticks() { # names...: user + system CPU time so far, in clock ticks
    local sum=0 name
    for name in "$@"; do sum=$(( sum + $(awk '{print $14 + $15}' "/proc/${PID[$name]}/stat") )); done
    echo "$sum"
}
settle() { # names...: until none has anything queued or running and all store as many executions (≤ 60 s)
    local c name stored ok
    for _ in $(seq 600); do
        ok=1 stored=
        for name in "$@"; do
            c=$(counters "$name")
            [ "$(field queued "$c")" = 0 ] && [ "$(field running "$c")" = 0 ] || ok=0
            [ -z "$stored" ] || [ "$stored" = "$(field executions_stored "$c")" ] || ok=0
            stored=$(field executions_stored "$c")
        done
        [ "$ok" = 1 ] && return 0
        sleep 0.1
    done
    echo "CHECK FAILED: settle: $* still busy, or not storing as many executions, after 60 s" >&2
    FAILED=1
}
sum_field() { # key names...: the key summed over the nodes' counters
    local key=$1 sum=0 name; shift
    for name in "$@"; do sum=$(( sum + $(field "$key" "$(counters "$name")") )); done
    echo "$sum"
}
log_messages() { field messages "$($TOOLS stream "$URLS")"; }
bench() { # seconds clients names...: split the clients over the nodes, one wrk each, merged
    local seconds=$1 clients=$2; shift 2
    local n=$# i=0 c name files=() pids=()
    for name in "$@"; do
        c=$(( clients / n + (i < clients % n ? 1 : 0) ))
        i=$(( i + 1 ))
        [ "$c" -gt 0 ] || continue
        local threads=$(( n > 1 ? 1 : (c < 2 ? c : 2) ))
        SQUALL_KEY=${KEY[$name]} timeout $(( seconds + 30 )) wrk -c "$c" -t "$threads" -d "${seconds}s" \
            --latency -s "$HERE/post.lua" "${BASE[$name]}/api/v1/webhooks/hook" >"$RUN/wrk-$name.out" 2>&1 &
        pids+=($!) files+=("$RUN/wrk-$name.out")
    done
    for p in "${pids[@]}"; do wait "$p" || die "wrk failed: $(cat "${files[@]}")"; done
    for f in "${files[@]}"; do grep -v '^QUANTILES' "$f" | sed "s|^|[$(basename "$f" .out)] |"; done
    $TOOLS merge "${files[@]}"
}
nodes_of() { # system
    case $1 in single) echo single ;; cluster-1) echo node0 ;; cluster-3) echo node0 node1 node2 ;; esac
}
NATS_NAMES="nats0 nats1 nats2"

say "warm-up: ${WARMUP} s at 16 clients per system (not reported)"
bench "$WARMUP" 16 single >/dev/null; settle single
bench "$WARMUP" 16 node0 >/dev/null; settle node0
start_nodes_1_2
bench "$WARMUP" 16 node0 node1 node2 >/dev/null; settle node0 node1 node2
stop_nodes_1_2

RESULTS=$RUN/results.tsv
printf 'round\tclients\tsystem\trequests\tp50_us\tp99_us\tmax_us\trps\tnon2xx\tsocket_errors\twebhooks_202\texecutions_stored\tlog_entries_per_webhook\tsquall_cpu_us_per_webhook\tnats_cpu_us_per_webhook\tjs_probe_p50_us\tjs_probe_p99_us\tload1\n' >"$RESULTS"
for round in $(seq "$ROUNDS"); do
    say "round $round: JetStream publish round trip alone (3 replicas, expected-last-sequence, ${PROBE} publishes)"
    size=$($TOOLS stream "$URLS" | python3 -c 'import sys; d=dict(p.split("=",1) for p in sys.stdin.read().split()); m=int(d["messages"]); print(max(16, int(d["bytes"]) // m) if m else 512)')
    probe=$($TOOLS probe "nats://127.0.0.1:${CLIENT_PORTS[0]}" "$PROBE" "$size")
    echo "$probe (size = SQUALL_LOG's mean stored message so far, header and subject included)"
    for clients in $CLIENTS; do
        for system in single cluster-1 cluster-3; do
            say "round $round, $clients client(s), $system"
            [ "$system" != cluster-3 ] || start_nodes_1_2
            read -r -a nodes <<<"$(nodes_of "$system")"
            settle "${nodes[@]}"
            uptime
            load1=$(cut -d' ' -f1 /proc/loadavg)
            b202=$(sum_field webhook_202 "${nodes[@]}")
            bother=$(sum_field webhook_other "${nodes[@]}")
            bstored=$(field executions_stored "$(counters "${nodes[0]}")")
            blog=-; [ "$system" = single ] || blog=$(log_messages)
            ticks_before=$(cpu_ticks "${nodes[@]}")
            nats_before=$(cpu_ticks $NATS_NAMES)
            out=$(bench "$DURATION" "$clients" "${nodes[@]}")
            echo "$out" | grep -v '^RESULT'
            result=$(echo "$out" | sed -n 's/^RESULT //p')
            [ -n "$result" ] || die "wrk printed no result"
            settle "${nodes[@]}"
            ticks=$(( $(cpu_ticks "${nodes[@]}") - ticks_before ))
            nticks=$(( $(cpu_ticks $NATS_NAMES) - nats_before ))
            d202=$(( $(sum_field webhook_202 "${nodes[@]}") - b202 ))
            dother=$(( $(sum_field webhook_other "${nodes[@]}") - bother ))
            dstored=$(( $(field executions_stored "$(counters "${nodes[0]}")") - bstored ))
            per_entry=-
            if [ "$system" != single ]; then
                dlog=$(( $(log_messages) - blog ))
                per_entry=$(python3 -c "print(f'{$dlog / max($d202, 1):.3f}')")
            fi
            requests=$(field requests "$result")
            duration=$(field duration_us "$result")
            rps=$(python3 -c "print(f'{$requests / ($duration / 1e6):.1f}')")
            non2xx=$(field non2xx "$result")
            sockerr=$(( $(field connect "$result") + $(field read "$result") + $(field write "$result") + $(field timeout "$result") ))
            tck=$(getconf CLK_TCK)
            cpu_per=$(python3 -c "print(f'{$ticks * 1e6 / $tck / max($d202, 1):.0f}')")
            ncpu_per=$(python3 -c "print(f'{$nticks * 1e6 / $tck / max($d202, 1):.0f}')")
            echo "checked: wrk completed $requests; the nodes answered $d202 webhooks 202 and $dother otherwise; $dstored executions stored (read on ${nodes[0]}); log entries per webhook $per_entry; CPU per webhook: Squall $cpu_per µs, NATS $ncpu_per µs"
            # Every completed request was a 202 and each 202 stored an
            # execution. wrk stops with up to one request per connection in
            # flight: those may be answered (counted by the node, not by
            # wrk) or stored with the answer never sent.
            if [ "$dother" -ne 0 ] || [ "$d202" -lt "$requests" ] || [ "$dstored" -lt "$d202" ] \
                || [ "$dstored" -gt $(( requests + clients )) ]; then
                echo "CHECK FAILED: $system: the 202s and the stored executions do not match wrk's count" >&2
                FAILED=1
            fi
            if [ "$non2xx" -ne 0 ] || [ "$sockerr" -ne 0 ]; then
                echo "CHECK FAILED: $system: $non2xx non-2xx answers, $sockerr socket errors" >&2
                FAILED=1
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$clients" \
                "$system" "$requests" "$(field p50_us "$result")" "$(field p99_us "$result")" \
                "$(field max_us "$result")" "$rps" "$non2xx" "$sockerr" "$d202" "$dstored" "$per_entry" \
                "$cpu_per" "$ncpu_per" "$(field js_publish_p50_us "$probe")" "$(field js_publish_p99_us "$probe")" \
                "$load1" >>"$RESULTS"
            [ "$system" != cluster-3 ] || stop_nodes_1_2
        done
    done
done

for name in single node0; do
    say "$name at the end"
    settle "$name"
    final=$(counters "$name")
    rest=$($TOOLS others "${BASE[$name]}" "${DATA[$name]}/admin-api-key")
    echo "executions stored: $(field executions_stored "$final"); $rest"
    if [ "$(field not_succeeded "$rest")" != 0 ] \
        || [ "$(field executions_stored "$final")" != "$(field trigger_instances_stored "$rest")" ]; then
        echo "CHECK FAILED: $name: a stored execution did not succeed, or an instance has no execution" >&2
        FAILED=1
    fi
done
echo "log:       $($TOOLS stream "$URLS")"
# Warnings and errors in the logs (SQUALL_LOG=warn), but NATS's normal
# start-up (routes tried before the other servers listen).
if grep -E '(^|[ \]])(WARN|ERROR)[ :]|panicked' "$RUN"/single.log "$RUN"/node*.log >"$RUN/log-problems.txt" 2>/dev/null; then :; fi
grep -E '\[(ERR|WRN)\]' "$RUN"/nats*.log | grep -vE 'connect to route \(attempt|Waiting for routing' >>"$RUN/log-problems.txt" || true
if [ -s "$RUN/log-problems.txt" ]; then
    echo "warnings and errors in the logs ($(wc -l <"$RUN/log-problems.txt") lines, first 20; all in $RUN/log-problems.txt):"
    head -20 "$RUN/log-problems.txt" | cut -c1-300
else
    echo "logs: no warning or error from the Squall nodes or NATS (beyond NATS's route set-up at start)"
fi

say "results ($RESULTS)"
$TOOLS report "$RESULTS"
[ "$FAILED" = 0 ] || die "a check failed; the figures above do not measure the replicated path"
