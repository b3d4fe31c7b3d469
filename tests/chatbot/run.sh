#!/usr/bin/env bash
# ChatOps against Squall with the real bot: installs errbot 6.2.1 and
# err-stackstorm 2.3.2 from PyPI into a venv, starts `squall serve` on a
# fresh data directory with the core and chatops packs, and runs
# acceptance.py, which drives err-stackstorm in Errbot's test backend (no
# chat service) and checks what comes back into the chat.
#
# Usage: tests/chatbot/run.sh   (from anywhere; builds `squall` first)
# PACKS: where the packs' .wasm are (default packs/target/wasm32-wasip2/release).
# BOTVENV: a venv to reuse. SERVE_ARGS: more `squall serve` arguments.
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

[ -f "$packs/squall_pack_core.wasm" ] && [ -f "$packs/squall_pack_chatops.wasm" ] || {
    echo "no $packs/squall_pack_core.wasm or squall_pack_chatops.wasm: build the packs first" >&2
    exit 1
}
cargo build --locked -q -p squall
# shellcheck source=../serve.sh
source tests/serve.sh
# shellcheck disable=SC2086 # SERVE_ARGS is split on purpose
start_squall \
    --pack packs/core/pack.toml "$packs/squall_pack_core.wasm" \
    --pack packs/chatops/pack.toml "$packs/squall_pack_chatops.wasm" ${SERVE_ARGS:-}
SQUALL_URL="$base" SQUALL_API_KEY="$(cat "$work/data/admin-api-key")" \
    ERR_STACKSTORM_DIR="$plugin" timeout 600 "$venv/bin/python" tests/chatbot/acceptance.py
