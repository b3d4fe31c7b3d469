#!/usr/bin/env python3
"""The web UI's first page load with many executions stored (not in CI).

Starts `squall serve` on a fresh data directory (127.0.0.1, a free port),
stores N executions of core.noop through the API, then opens the UI's home
page (the executions list) in Debian's chromium, driven by Playwright from
tests/ui's venv, each time in a new browser context (an empty cache, as a
first visit), signed in with the admin API key, and times from navigation
to the first page of rows in the document (the page's own clock, from the
navigation's start). Prints the median and p95 over the
loads, and the bytes the browser transferred for one load (the UI's assets
and the API answers it needed), for docs/benchmarks.md.

    cargo build -p squall && tests/ui/run.sh   # once: the venv with Playwright
    target/ui-venv/bin/python scripts/ui_load.py --executions 10000 --loads 20

SQUALL_BIN names the binary (default target/debug/squall); CHROMIUM the
browser (default /usr/bin/chromium). BASELINE_BIN names a second binary
(the one before a change): both are served, each with its own data, and
their loads are interleaved in the same browser, so a busy machine slows
both alike and the two medians compare.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright


FIRST_ROW = """
new MutationObserver((_, observer) => {
  if (document.querySelector("#executions tr")) {
    window.__firstRow = performance.now();
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


def start_server(squall, data):
    server = subprocess.Popen(
        [squall, "serve", "--data-dir", data, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 60
    for line in server.stdout:
        found = re.search(r"listening on (http://[0-9.:]+)", line)
        if found:
            return server, found.group(1)
        if time.time() > deadline:
            break
    server.kill()
    sys.exit("squall serve did not start")


def store_executions(base, key, count):
    host = base.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=30)
    body = json.dumps({"action": "core.noop", "parameters": {}})
    headers = {"Content-Type": "application/json", "St2-Api-Key": key}
    started = time.time()
    for i in range(count):
        conn.request("POST", "/api/v1/executions", body, headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status >= 300:
            sys.exit(f"POST /executions answered {answer.status}")
        if (i + 1) % 2000 == 0:
            print(f"  {i + 1} executions stored ({time.time() - started:.0f} s)", file=sys.stderr)


def load_once(browser, base, credential, sizes_wanted):
    """One first visit: the time to the first rows, and (when asked) the
    bytes and requests the browser transferred for it."""
    context = browser.new_context()
    context.add_init_script(
        f"sessionStorage.setItem('squall.credential', {json.dumps(credential)});"
    )
    # The page notes when the first row is in the document, in its own
    # clock (from the navigation's start), so the driver's round trips are
    # not counted.
    context.add_init_script(FIRST_ROW)
    page = context.new_page()
    sizes = []
    page.on("requestfinished", lambda r: sizes.append(r.sizes()["responseBodySize"]
                                                     + r.sizes()["responseHeadersSize"]))
    page.goto(base + "/")
    page.wait_for_function("() => window.__firstRow !== undefined", polling=20)
    elapsed = page.evaluate("window.__firstRow")
    transferred = None
    if sizes_wanted:
        # The event stream stays open, so "network idle" never comes: give
        # the page a second to finish its requests.
        page.wait_for_timeout(1000)
        transferred = (sum(sizes), len(sizes))
    context.close()
    return elapsed, transferred


def report(label, times, transferred, executions):
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    print(f"{label}: executions stored: {executions}; loads: {len(times)}")
    print(f"{label}: first page load (navigation to the first rows): median "
          f"{statistics.median(times):.0f} ms, p95 {p95:.0f} ms, min {times[0]:.0f} ms")
    print(f"{label}: transferred for one load: {transferred[0] / 1024:.1f} KiB in {transferred[1]} "
          f"requests (uncompressed: the server does not compress)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()
    systems = [("squall", os.environ.get("SQUALL_BIN", "target/debug/squall"))]
    if os.environ.get("BASELINE_BIN"):
        systems.insert(0, ("baseline", os.environ["BASELINE_BIN"]))
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as work:
        servers = []
        try:
            for label, binary in systems:
                data = os.path.join(work, label)
                server, base = start_server(binary, data)
                servers.append(server)
                key = open(os.path.join(data, "admin-api-key")).read().strip()
                print(f"{label}: storing {args.executions} executions ...", file=sys.stderr)
                store_executions(base, key, args.executions)
                credential = json.dumps({"kind": "key", "secret": key})
                systems[systems.index((label, binary))] = (label, base, credential)
            time.sleep(2)  # let the last ones finish
            times = {label: [] for label, _, _ in systems}
            transferred = {}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                for n in range(args.loads + 1):
                    for label, base, credential in systems:
                        elapsed, sizes = load_once(browser, base, credential, label not in transferred)
                        if sizes:
                            transferred[label] = sizes
                        if n > 0:  # the first load starts the browser's own machinery
                            times[label].append(elapsed)
                browser.close()
        finally:
            for server in servers:
                server.kill()
                server.wait()
    for label, _, _ in systems:
        report(label, times[label], transferred[label], args.executions)


if __name__ == "__main__":
    main()
