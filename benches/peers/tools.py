#!/usr/bin/env python3
"""Helpers for benches/peers/run.sh (standard library only).

    tools.py port                       a free TCP port on 127.0.0.1
    tools.py fsync DIR [N]              p50/p99 of a 4 KiB write + fdatasync in DIR (overwrite N, append N/2)
    tools.py squall BASE KEYFILE        one line of Squall's counters (key=value)
    tools.py others BASE KEYFILE        stored executions in any state but succeeded
    tools.py report RESULTS.tsv         the tables and ratios
"""

import json
import os
import socket
import statistics
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def fsync(directory, count=2000):
    """A bare durable 4 KiB write, timed two ways in one file: overwrite a
    block of a preallocated file and fdatasync it (the floor for a commit
    that rewrites pages in place), then append a block and fdatasync it
    (the file's size changes too, so the journal is flushed as well)."""
    path = os.path.join(directory, "fdatasync.probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def timed(write, n):
        times = []
        for i in range(n + 50):
            start = time.perf_counter_ns()
            write(i)
            os.fdatasync(fd)
            times.append(time.perf_counter_ns() - start)
        times = sorted(times[50:])
        return (times[len(times) // 2] // 1000,
                times[min(len(times) - 1, int(len(times) * 0.99))] // 1000)

    try:
        block = os.urandom(4096)
        os.pwrite(fd, os.urandom(1 << 20), 0)
        os.fsync(fd)
        over = timed(lambda i: os.pwrite(fd, block, (i % 256) * 4096), count)
        end = 1 << 20
        append = timed(lambda i: os.pwrite(fd, block, end + i * 4096), count // 2)
    finally:
        os.close(fd)
        os.unlink(path)
    print(f"fdatasync_p50_us={over[0]} fdatasync_p99_us={over[1]} "
          f"append_fdatasync_p50_us={append[0]} append_fdatasync_p99_us={append[1]} n={count}")


def squall(base, keyfile):
    """Counters that show the 202s were durable: executions stored (the
    table's length, from the API), webhook answers by status, store commits
    and the engine's execution states (from /metrics)."""
    with open(keyfile) as f:
        key = f.read().strip()

    def get(path):
        request = urllib.request.Request(base + path)
        request.add_header("Authorization", f"Bearer {key}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.headers, answer.read().decode()

    headers, _ = get("/api/v1/executions?limit=1")
    out = {"executions_stored": int(headers["x-total-count"])}
    _, text = get("/metrics")
    other = 0
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        value = int(float(value))
        name, _, labels = name_labels.partition("{")
        labels = dict(
            part.split("=", 1) for part in labels.rstrip("}").split(",") if "=" in part)
        labels = {k: v.strip('"') for k, v in labels.items()}
        if name == "squall_http_requests_total" and labels.get("route", "").startswith(
                "/api/v1/webhooks/"):
            if labels.get("status") == "202":
                out["webhook_202"] = out.get("webhook_202", 0) + value
            else:
                other += value
        elif name == "squall_executions_total":
            out[f"exec_{labels['status']}"] = value
        elif name == "squall_store_commits_total":
            out["commits"] = value
        elif name == "squall_store_operations_total":
            out["operations"] = value
        elif name == "squall_executions_queued":
            out["queued"] = value
        elif name == "squall_executions_running":
            out["running"] = value
        elif name == "squall_engine_events_missed_total":
            out["feed_missed"] = value
    out["webhook_other"] = other
    print(" ".join(f"{k}={v}" for k, v in sorted(out.items())))


def others(base, keyfile):
    """Stored executions by every state but `succeeded` (a filtered list
    with limit 1 scans to the end when nothing matches), and the stored
    trigger instances."""
    with open(keyfile) as f:
        key = f.read().strip()

    def get(path):
        request = urllib.request.Request(base + path)
        request.add_header("Authorization", f"Bearer {key}")
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.headers, json.loads(answer.read())

    found = {}
    for status in ("requested", "scheduled", "running", "pending", "paused", "failed",
                   "timeout", "canceled", "abandoned"):
        _, rows = get(f"/api/v1/executions?status={status}&limit=1&include_attributes=id")
        if rows:
            found[status] = rows[0]["id"]
    headers, _ = get("/api/v1/triggerinstances?limit=1")
    print(f"trigger_instances_stored={headers['x-total-count']} not_succeeded={len(found)}"
          + "".join(f" {status}={example}" for status, example in found.items()))


def report(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    if not rows:
        sys.exit("no results")
    for row in rows:
        for k in ("round", "clients", "requests", "p50_us", "p99_us", "rps"):
            row[k] = float(row[k])

    def fmt(x):
        return f"{x:,.0f}"

    print("| round | clients | load avg (1 min) | Node-RED p50 | Squall p50 | Node-RED p99 | Squall p99 "
          "| Node-RED req/s | Squall req/s | fdatasync p50, overwrite / append (this round) | Squall commits per webhook |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    points = {}
    for row in rows:
        points.setdefault((int(row["round"]), int(row["clients"])), {})[row["system"]] = row
    for (rnd, clients), pair in sorted(points.items()):
        n, s = pair.get("node-red"), pair.get("squall")
        if not (n and s):
            continue
        print(f"| {rnd} | {clients} | {n['load1']} / {s['load1']} | {fmt(n['p50_us'])} µs "
              f"| {fmt(s['p50_us'])} µs | {fmt(n['p99_us'])} µs | {fmt(s['p99_us'])} µs "
              f"| {fmt(n['rps'])} | {fmt(s['rps'])} | {s['fsync_p50_us']} / {s['fsync_append_p50_us']} µs "
              f"| {s['commits_per_webhook']} |")
    print()
    print("Ratios (goal in issue 20: p50 ratio at 1 client <= 0.8, p99 ratio <= 1, "
          "req/s ratio at 16 clients >= 4; Squall p50 at 1 client <= fdatasync p50 + 150 µs):")
    for (rnd, clients), pair in sorted(points.items()):
        n, s = pair.get("node-red"), pair.get("squall")
        if not (n and s):
            continue
        fs = float(s["fsync_p50_us"])
        print(f"  round {rnd}, {clients:2d} client(s): Squall/Node-RED p50 {s['p50_us'] / n['p50_us']:.2f}, "
              f"p99 {s['p99_us'] / n['p99_us']:.2f}, req/s {s['rps'] / n['rps']:.2f}; "
              f"Squall p50 - fdatasync p50 = {s['p50_us'] - fs:+,.0f} µs")
    if any("squall-base" in pair for pair in points.values()):
        print()
        print("Before and after (BASELINE_BIN as squall-base, SQUALL_BIN as squall; ratio < 1 is faster):")
        print("| round | clients | base p50 | new p50 | p50 new/base | base p99 | new p99 "
              "| base req/s | new req/s | req/s new/base | CPU per webhook, base / new | commits per webhook, base / new |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for (rnd, clients), pair in sorted(points.items()):
            b, s = pair.get("squall-base"), pair.get("squall")
            if not (b and s):
                continue
            print(f"| {rnd} | {clients} | {fmt(b['p50_us'])} µs | {fmt(s['p50_us'])} µs "
                  f"| {s['p50_us'] / b['p50_us']:.2f} | {fmt(b['p99_us'])} µs | {fmt(s['p99_us'])} µs "
                  f"| {fmt(b['rps'])} | {fmt(s['rps'])} | {s['rps'] / b['rps']:.2f} "
                  f"| {b.get('cpu_us_per_webhook', '-')} / {s.get('cpu_us_per_webhook', '-')} µs "
                  f"| {b['commits_per_webhook']} / {s['commits_per_webhook']} |")
    for clients in sorted({c for _, c in points}):
        n = [pair["node-red"] for (r, c), pair in points.items() if c == clients and "node-red" in pair]
        s = [pair["squall"] for (r, c), pair in points.items() if c == clients and "squall" in pair]
        if n and s:
            print(f"  all rounds, {clients:2d} client(s): median p50 Node-RED "
                  f"{fmt(statistics.median(r['p50_us'] for r in n))} µs, Squall "
                  f"{fmt(statistics.median(r['p50_us'] for r in s))} µs; median req/s Node-RED "
                  f"{fmt(statistics.median(r['rps'] for r in n))}, Squall "
                  f"{fmt(statistics.median(r['rps'] for r in s))}")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "port":
        free_port()
    elif command == "fsync":
        fsync(args[0], int(args[1]) if len(args) > 1 else 2000)
    elif command == "squall":
        squall(args[0], args[1])
    elif command == "others":
        others(args[0], args[1])
    elif command == "report":
        report(args[0])
    else:
        sys.exit(__doc__)
