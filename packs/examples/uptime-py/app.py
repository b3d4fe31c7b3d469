"""Uptime checks: the action `check` and the poll sensor `watch`."""

import squall


def probe(url, timeout):
    """"up" or "down", and the status (0 when nothing answered)."""
    try:
        status = squall.http.request("GET", url, timeout=timeout).status
    except (squall.Failed, squall.Timeout) as e:
        squall.log.warn(f"{url}: {e}")
        return "down", 0
    return ("up" if 200 <= status < 400 else "down"), status


@squall.action("check")
def check(params, ctx):
    url = params["url"]
    state, status = probe(url, params["timeout_seconds"])
    # Not granted, http and kv raise squall.Denied; letting it propagate
    # fails the execution as `denied`.
    before = squall.kv.get(f"state:{url}")
    squall.kv.set(f"state:{url}", state)
    squall.log.info(f"{url}: {state} ({status})")
    return {"url": url, "status": status, "up": state == "up",
            "changed": before is not None and before != state}


@squall.sensor("watch")
def watch(config, cursor):
    url = config.get("url")
    if not url:
        raise squall.InvalidInput("config: `url` is required")
    state, _ = probe(url, config.get("timeout_seconds", 10))
    events = []
    if cursor is not None and cursor != state:
        events.append(squall.Event("uptime_py.changed", {"url": url, "up": state == "up"}))
    return squall.Poll(events, cursor=state)
