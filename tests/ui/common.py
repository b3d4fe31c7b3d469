"""What the browser tests share (tests/ui/run.sh runs them with the server's
address and credentials in the environment): the settings, a JSON call to
the API, the watch every page is under (console errors, uncaught
exceptions and requests that leave the server's origin fail the run), the
one-line report of a check, and screenshots."""

import json
import os
import urllib.request

BASE = os.environ["SQUALL_URL"].rstrip("/")
KEY = os.environ["SQUALL_API_KEY"]
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("SCREENSHOTS", "docs/ui")

problems = []  # console errors, page errors, requests elsewhere
expected = []  # console errors a test provoked on purpose (see watch)


def call(method, path, body=None, key=KEY):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("St2-Api-Key", key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
        return json.loads(text) if text else None


def ok(what):
    print(f"ok: {what}", flush=True)


def watch(page, name, provoked=None):
    """Records what must not happen on `page`. A console error for which
    `provoked(text, url)` is true was caused by the test on purpose: it
    goes to `expected` instead."""

    def console(message):
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if provoked and provoked(message.text, where):
            expected.append(message.text)
            return
        problems.append(f"{name}: console error: {message.text} ({where})")

    def request(req):
        url = req.url
        if not (url.startswith(BASE + "/") or url.startswith("data:")):
            problems.append(f"{name}: a request left the origin: {req.method} {url}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"{name}: uncaught: {error}"))
    page.on("request", request)
    return page


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)
