#!/usr/bin/env bash
# The web UI in a real browser: Debian's chromium driven by Playwright for
# Python (pinned; its own browser downloads are never used: the test
# launches the system chromium by path). Starts `squall serve` on a fresh
# data directory with the core and ops packs and runs ui_test.py, which
# signs in, watches executions arrive live, pages the list past its first
# page, runs an action from its form, follows a workflow's task graph and
# its tasks' log lines while an inquiry is answered from the UI,
# checks what an observer is offered, and saves screenshots to docs/ui/.
# A real OCI registry (`docker-registry`, apt) on a free loopback port is
# the one the server may pull from (`squall serve --registry`): the Packs
# page installs a pack from it.
#
# Usage: tests/ui/run.sh   (from anywhere; builds `squall` first)
# Needs: chromium (`apt-get install -y --no-install-recommends chromium`).
# PACKS: where the packs' .wasm are (default packs/target/wasm32-wasip2/release).
# UIVENV: the venv (default target/ui-venv, reused). CHROMIUM: the browser
# (default /usr/bin/chromium). SCREENSHOTS: where to save them (docs/ui).
# TESTS: which to run, in order (default `ui_test pages_test`; pages_test.py
# checks the Rules, Packs, Datastore and Audit pages on the same server);
# each runs even if one before failed, and any failure fails the script.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
packs=${PACKS:-packs/target/wasm32-wasip2/release}
for pack in core ops; do
    [ -f "$packs/squall_pack_$pack.wasm" ] || {
        echo "no $packs/squall_pack_$pack.wasm: build the packs first" >&2
        exit 1
    }
done
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || {
    echo "no $chromium: apt-get install -y --no-install-recommends chromium" >&2
    exit 1
}
venv=${UIVENV:-target/ui-venv}
if ! "$venv/bin/python" -c 'import playwright' 2>/dev/null; then
    python3 -m venv "$venv"
    # Only the driver: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD keeps it from
    # fetching browsers, and `playwright install` is never run.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$venv/bin/pip" install --quiet 'playwright==1.65.0'
fi
work=$(mktemp -d)
cargo build --locked -q -p squall
command -v docker-registry >/dev/null || {
    echo "no docker-registry: apt-get install -y docker-registry" >&2
    exit 1
}
registry_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
registry_at=127.0.0.1:$registry_port
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$work/registry/storage" "$registry_at" >"$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry=$!
for _ in $(seq 100); do
    curl -fsS "http://$registry_at/v2/" >/dev/null 2>&1 && break
    kill -0 "$registry" 2>/dev/null || { cat "$work/registry/log" >&2; exit 1; }
    sleep 0.1
done
# shellcheck source=../serve.sh
source tests/serve.sh
start_squall \
    --pack packs/core/pack.toml "$packs/squall_pack_core.wasm" \
    --pack packs/ops/pack.toml "$packs/squall_pack_ops.wasm" \
    --registry "$registry_at"
# Stop the registry too when the script exits, then do what start_squall's
# trap does (with the status the script ends with; errexit off in between).
squall_trap=$(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT\$//")
# shellcheck disable=SC2064
trap "status=\$?; set +e; kill $registry 2>/dev/null; wait $registry 2>/dev/null; (exit \$status); $squall_trap" EXIT
failed=0
for test in ${TESTS:-ui_test pages_test}; do
    SQUALL_URL="$base" SQUALL_API_KEY="$(cat "$work/data/admin-api-key")" \
        ADMIN_PASSWORD="$(cat "$work/data/admin-password")" CHROMIUM="$chromium" \
        SCREENSHOTS="${SCREENSHOTS:-docs/ui}" REGISTRY="$registry_at" \
        timeout 300 "$venv/bin/python" "tests/ui/$test.py" || failed=1
done
exit "$failed"
