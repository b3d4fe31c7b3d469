#!/usr/bin/env bash
# The web UI in a real browser: Debian's chromium driven by Playwright for
# Python (pinned; its own browser downloads are never used: the test
# launches the system chromium by path). Starts `squall serve` on a fresh
# data directory with the core and ops packs and runs ui_test.py, which
# signs in, watches executions arrive live, pages the list past its first
# page, runs an action from its form, follows a workflow's task graph and
# its tasks' log lines while an inquiry is answered from the UI,
# checks what an observer is offered, and saves screenshots to docs/ui/.
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
# shellcheck source=../serve.sh
source tests/serve.sh
start_squall \
    --pack packs/core/pack.toml "$packs/squall_pack_core.wasm" \
    --pack packs/ops/pack.toml "$packs/squall_pack_ops.wasm"
failed=0
for test in ${TESTS:-ui_test pages_test}; do
    SQUALL_URL="$base" SQUALL_API_KEY="$(cat "$work/data/admin-api-key")" \
        ADMIN_PASSWORD="$(cat "$work/data/admin-password")" CHROMIUM="$chromium" \
        SCREENSHOTS="${SCREENSHOTS:-docs/ui}" \
        timeout 300 "$venv/bin/python" "tests/ui/$test.py" || failed=1
done
exit "$failed"
