#!/usr/bin/env bash
# StackStorm's own clients against Squall: installs st2client 3.9.0 (the
# `st2` CLI and the Python library) from PyPI into a venv, starts `squall
# serve` on a fresh data directory with the core and github packs, and
# runs acceptance.py, which drives `st2 ... -j` and st2client's Python API
# and checks what they answer.
#
# Usage: tests/st2client/run.sh   (from anywhere; builds `squall` first)
# PACKS: where the packs' .wasm are (default packs/target/wasm32-wasip2/release,
# where `cargo build --release --target wasm32-wasip2 --manifest-path
# packs/Cargo.toml` puts them). ST2VENV: a venv to reuse.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
packs=${PACKS:-packs/target/wasm32-wasip2/release}
for pack in core github; do
    [ -f "$packs/squall_pack_$pack.wasm" ] || {
        echo "no $packs/squall_pack_$pack.wasm: build the packs first" >&2
        exit 1
    }
done
work=$(mktemp -d)
venv=${ST2VENV:-$work/venv}
if [ ! -x "$venv/bin/st2" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'st2client==3.9.0'
fi
cargo build --locked -q -p squall
# shellcheck source=../serve.sh
source tests/serve.sh
start_squall \
    --pack packs/core/pack.toml "$packs/squall_pack_core.wasm" \
    --pack packs/github/pack.toml "$packs/squall_pack_github.wasm"
# A home of its own: `st2 login` writes ~/.st2/config.
HOME="$work/home" PATH="$venv/bin:$PATH" \
    ST2_BASE_URL="$base" ST2_API_URL="$base/api/v1" ST2_AUTH_URL="$base/auth/v1" \
    ST2_STREAM_URL="$base/stream/v1" ST2_API_KEY="$(cat "$work/data/admin-api-key")" \
    ADMIN_PASSWORD="$(cat "$work/data/admin-password")" \
    "$venv/bin/python" tests/st2client/acceptance.py
