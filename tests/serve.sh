# Sourced by tests/st2client/run.sh and tests/chatbot/run.sh, from the
# repository root with $work set to a scratch directory: start_squall ARGS…
# starts `target/debug/squall serve` on a fresh data directory in $work
# (port chosen by the OS) with ARGS, stops it and removes $work when the
# script exits (printing the log's tail if it failed), and sets $base to
# where it listens once it has also written the admin API key.
start_squall() {
    target/debug/squall serve --data-dir "$work/data" --listen 127.0.0.1:0 "$@" \
        >"$work/serve.log" 2>&1 &
    server=$!
    trap 'status=$?; kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
          [ "$status" = 0 ] || { echo "squall serve log:"; tail -n 40 "$work/serve.log"; } >&2
          rm -rf "$work"; exit "$status"' EXIT
    base=
    for _ in $(seq 300); do
        # The log may not exist yet in the first moments (and set -e is on).
        base=$(sed -n 's|^squall serve: listening on \(http://[0-9.:]*\).*|\1|p' "$work/serve.log" 2>/dev/null || true)
        [ -n "$base" ] && [ -s "$work/data/admin-api-key" ] && return 0
        base=
        kill -0 "$server" 2>/dev/null || break
        sleep 0.2
    done
    echo "squall serve did not start within 60 s" >&2
    exit 1
}
