#!/usr/bin/env bash
# ChatOps against Squall with the real bot: installs errbot 6.2.1 and
# err-stackstorm 2.3.2 from PyPI into a venv, starts `squall serve` on a
# fresh data directory with the core pack (and the chatops pack when it is
# built), and runs acceptance.py, which drives err-stackstorm in Errbot's
# test backend (no chat service) and checks what comes back into the chat.
#
# Usage: tests/chatbot/run.sh   (from anywhere; builds `squall` first)
# PACKS: where the packs' .wasm are (default packs/target/wasm32-wasip2/release).
# BOTVENV: a venv to reuse. SERVE_ARGS: more `squall serve` arguments.
# SQUALL_BIN: a server to run instead of building one (e.g.
# "python3 tests/chatbot/stub.py", to check this harness alone).

set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
packs=${PACKS:-packs/target/wasm32-wasip2/release}
work=$(mktemp -d)
venv=${BOTVENV:-$work/venv}
if [ ! -x "$venv/bin/errbot" ] || ! "$venv/bin/python" -c 'import pytest' 2>/dev/null; then
    python3 -m venv "$venv"
    # errbot's test backend imports pytest; constraints.txt pins the rest.
    "$venv/bin/pip" install --quiet -c tests/chatbot/constraints.txt \
        'errbot==6.2.1' 'err-stackstorm==2.3.2' pytest
fi
# pip puts the plugin (st2.plug, st2.py, errst2lib/) in site-packages/err-stackstorm.
plugin=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/err-stackstorm
[ -f "$plugin/st2.plug" ] || { echo "no err-stackstorm plugin at $plugin" >&2; exit 1; }

serve_args=(--data-dir "$work/data" --listen 127.0.0.1:0)
if [ -n "${SQUALL_BIN:-}" ]; then
    read -r -a server_cmd <<<"$SQUALL_BIN"
else
    [ -f "$packs/squall_pack_core.wasm" ] || {
        echo "no $packs/squall_pack_core.wasm: build the packs first" >&2
        exit 1
    }
    cargo build --locked -q -p squall
    server_cmd=(target/debug/squall)
    serve_args+=(--pack packs/core/pack.toml "$packs/squall_pack_core.wasm")
    if [ -f packs/chatops/pack.toml ] && [ -f "$packs/squall_pack_chatops.wasm" ]; then
        serve_args+=(--pack packs/chatops/pack.toml "$packs/squall_pack_chatops.wasm")
    fi
fi
# shellcheck disable=SC2086 # SERVE_ARGS is split on purpose
"${server_cmd[@]}" serve "${serve_args[@]}" ${SERVE_ARGS:-} >"$work/serve.log" 2>&1 &
server=$!
trap 'status=$?; kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true
      [ "$status" = 0 ] || { echo "squall serve log:"; tail -n 40 "$work/serve.log"; } >&2
      rm -rf "$work"; exit "$status"' EXIT
base=
for _ in $(seq 300); do
    base=$(sed -n 's|^squall serve: listening on \(http://[0-9.:]*\).*|\1|p' "$work/serve.log")
    [ -n "$base" ] && [ -s "$work/data/admin-api-key" ] && break
    base=
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
done
[ -n "$base" ] || { echo "squall serve did not start within 60 s" >&2; exit 1; }
SQUALL_URL="$base" SQUALL_API_KEY="$(cat "$work/data/admin-api-key")" \
    ERR_STACKSTORM_DIR="$plugin" timeout 600 "$venv/bin/python" tests/chatbot/acceptance.py
