#!/usr/bin/env python3
"""Soak test (not in CI): webhook load on `squall serve` for a long time,
with random SIGKILLs and restarts, then a check that nothing acknowledged
was lost and that every execution reached a final state.

    cargo build --release -p squall
    cargo build --release --target wasm32-wasip2 --manifest-path packs/Cargo.toml
    python3 scripts/soak.py --minutes 30

Each client POSTs webhooks to a rule that runs `core.echo`; a 202 answer is
an acknowledgement (the trigger instance, its enforcement and the execution
are committed and fsynced before it). Between kills the server runs for a
random 10-60 s; it is killed with SIGKILL, so nothing gets a chance to
flush. At the end every acknowledged trigger instance must exist, its
enforcement must name an execution, and every such execution must end in a
final state. Figures are printed as a table for docs/benchmarks.md.
Standard library only; the server binds 127.0.0.1.
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

FINAL = {"succeeded", "failed", "timeout", "canceled", "abandoned"}
RULE = """name: soak
pack: soak
enabled: true
trigger: {type: core.webhook, parameters: {url: soak/hello}}
action:
  ref: core.echo
  parameters: {message: "hello {{ trigger.body.name }}"}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `squall serve` process on a fixed port and data directory."""

    def __init__(self, binary, core, data, port, log):
        self.binary, self.core, self.data, self.port, self.log = binary, core, data, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.process = None
        self.key = None

    def start(self):
        started = time.monotonic()
        self.process = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data, "--listen", f"127.0.0.1:{self.port}",
             "--pack", "packs/core/pack.toml", self.core],
            stdout=self.log, stderr=self.log)
        while True:
            if self.process.poll() is not None:
                sys.exit(f"squall serve exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/v1/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - started > 120:
                sys.exit("squall serve did not answer within 120 s")
            time.sleep(0.02)
        with open(os.path.join(self.data, "admin-api-key")) as f:
            self.key = f.read().strip()
        return time.monotonic() - started

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def call(self, method, path, body=None, content_type="application/json", timeout=10):
        data = None if body is None else body.encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                text = answer.read()
                return answer.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


class Load:
    """Client threads POSTing webhooks; records what was acknowledged."""

    def __init__(self, server, clients, rate):
        self.server = server
        # Each client paces itself to its share of `rate` (0: as fast as
        # it can), so the soak does not starve everything else.
        self.interval = clients / rate if rate > 0 else 0
        self.running = True
        self.lock = threading.Lock()
        self.acknowledged = []
        self.refused = {}
        self.unreachable = 0
        self.latencies = []
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                        for n in range(clients)]

    def client(self, number):
        sent = 0
        next_at = time.monotonic()
        while self.running:
            next_at += self.interval
            time.sleep(max(0, next_at - time.monotonic()))
            sent += 1
            body = json.dumps({"name": f"c{number}-{sent}"})
            start = time.monotonic()
            try:
                status, answer = self.server.call("POST", "/api/v1/webhooks/soak/hello", body)
            except OSError:
                with self.lock:
                    self.unreachable += 1
                time.sleep(0.05)
                continue
            with self.lock:
                if status == 202:
                    self.acknowledged.extend(answer["trigger_instances"])
                    self.latencies.append(time.monotonic() - start)
                else:
                    self.refused[status] = self.refused.get(status, 0) + 1

    def start(self):
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join()


def in_parallel(function, items, threads=8):
    """`function` over `items` on a few threads, in order."""
    results = [None] * len(items)

    def worker(start):
        for index in range(start, len(items), threads):
            results[index] = function(items[index])

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return results


def check(server, instances, settle_seconds):
    """Every acknowledged instance exists and its execution ended."""
    lost, without_execution, executions = [], [], {}
    answers = in_parallel(
        lambda instance: server.call("GET", f"/api/v1/triggerinstances/{instance}"), instances)
    for instance, (status, record) in zip(instances, answers):
        if status != 200:
            lost.append(instance)
            continue
        enforcements = record.get("rule_enforcements") or []
        execution = enforcements[0].get("execution") if enforcements else None
        if execution is None:
            without_execution.append(instance)
        else:
            executions[execution] = None
    deadline = time.monotonic() + settle_seconds
    pending = set(executions)
    while pending and time.monotonic() < deadline:
        ids = list(pending)
        answers = in_parallel(
            lambda execution: server.call("GET", f"/api/v1/executions/{execution}"), ids)
        for execution, (status, record) in zip(ids, answers):
            if status == 200 and record["status"] in FINAL:
                executions[execution] = record["status"]
                pending.discard(execution)
        if pending:
            time.sleep(1)
    for execution in pending:
        status, record = server.call("GET", f"/api/v1/executions/{execution}")
        executions[execution] = record["status"] if status == 200 else f"HTTP {status}"
    return lost, without_execution, executions


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate", type=float, default=150,
                        help="webhooks per second over all clients; 0: as fast as they can")
    parser.add_argument("--min-up", type=float, default=10, help="shortest run between kills, s")
    parser.add_argument("--max-up", type=float, default=60, help="longest run between kills, s")
    parser.add_argument("--binary", default="target/release/squall")
    parser.add_argument("--core", default="packs/target/wasm32-wasip2/release/squall_pack_core.wasm",
                        help="the core pack's component")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: cargo build --release -p squall (or pass --binary)")

    work = tempfile.mkdtemp(prefix="squall-soak-")
    log = open(os.path.join(work, "serve.log"), "ab")
    server = Server(args.binary, args.core, os.path.join(work, "data"), free_port(), log)
    server.start()
    status, answer = server.call("POST", "/api/v1/rules", RULE, "application/yaml")
    if status != 201:
        sys.exit(f"cannot create the rule: {status} {answer}")

    load = Load(server, args.clients, args.rate)
    load.start()
    began = time.monotonic()
    end = began + args.minutes * 60
    kills, restarts = 0, []
    while time.monotonic() < end:
        time.sleep(min(rng.uniform(args.min_up, args.max_up), max(0, end - time.monotonic())))
        if time.monotonic() >= end:
            break
        server.kill()
        kills += 1
        restarts.append(server.start())
        print(f"[{time.monotonic() - began:7.1f} s] kill {kills}: restarted in "
              f"{restarts[-1]:.2f} s, {len(load.acknowledged)} acknowledged so far", flush=True)
    load.stop()
    elapsed = time.monotonic() - began

    lost, without_execution, executions = check(server, load.acknowledged, settle_seconds=300)
    server.stop()
    finals = {}
    for state in executions.values():
        finals[state] = finals.get(state, 0) + 1
    unfinished = sum(n for state, n in finals.items() if state not in FINAL)
    latencies = sorted(load.latencies)

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0

    rows = [
        ("seed", seed),
        ("duration", f"{elapsed / 60:.1f} min"),
        ("clients (webhooks per second asked)", f"{args.clients} ({args.rate:g})"),
        ("SIGKILLs (and restarts)", kills),
        ("restart to first health answer, median / max",
         f"{statistics.median(restarts):.2f} s / {max(restarts):.2f} s" if restarts else "-"),
        ("webhooks acknowledged (202)", len(load.acknowledged)),
        ("acknowledged per second, whole run", f"{len(load.acknowledged) / elapsed:.0f}"),
        ("acknowledgement latency p50 / p99", f"{pct(0.5):.1f} ms / {pct(0.99):.1f} ms"),
        ("requests refused, by status", load.refused or "none"),
        ("requests unanswered (server down)", load.unreachable),
        ("acknowledged instances lost", len(lost)),
        ("acknowledged instances without an execution", len(without_execution)),
        ("executions by final status", dict(sorted(finals.items()))),
        ("executions not in a final state", unfinished),
    ]
    print("\n| measurement | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(f"\nlog: {log.name}")
    if lost or without_execution or unfinished:
        print("FAILED: something acknowledged was lost or did not finish", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
