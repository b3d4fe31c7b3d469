#!/usr/bin/env python3
"""Helpers for benches/cluster/run.sh (standard library only). The
single-node helpers (free port, Squall's counters, executions in other
states) are benches/peers/tools.py's, imported as they are.

    tools.py port                          a free TCP port on 127.0.0.1
    tools.py squall BASE KEYFILE           one line of Squall's counters (benches/peers)
    tools.py others BASE KEYFILE           executions in any state but succeeded (benches/peers)
    tools.py stream NATS_URL [STREAM]      SQUALL_LOG's messages, bytes and leader (raw NATS protocol)
    tools.py probe NATS_URL N SIZE         p50/p99 of a JetStream publish with
                                           Nats-Expected-Last-Sequence on a 3-replica
                                           stream of its own (raw NATS protocol)
    tools.py merge FILE...                 one RESULT line for wrk runs at the same time
    tools.py report RESULTS.tsv            the table and the cost per event
"""

import json
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import tools as peers  # noqa: E402  benches/peers/tools.py, not edited


# --- a minimal NATS client: enough for JetStream API requests and publishes --

class Nats:
    def __init__(self, url, timeout=10.0):
        hostport = url.split("://", 1)[-1].split(",")[0]
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        line = self._line()
        if not line.startswith(b"INFO "):
            raise RuntimeError(f"NATS greeting: {line!r}")
        self.info = json.loads(line[5:])
        connect = {"verbose": False, "pedantic": False, "headers": True,
                   "no_responders": True, "protocol": 1, "name": "squall-cluster-bench"}
        self.sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
        self.inbox = f"_INBOX.bench{os.getpid()}"
        self.sock.sendall(f"SUB {self.inbox}.* 1\r\n".encode())
        self.n = 0

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("NATS closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        """The next message on our inbox: (headers bytes, payload bytes)."""
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line in (b"PONG", b"+OK") or not line:
                continue
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
            elif line.startswith(b"MSG "):
                size = int(line.split()[-1])
                return b"", self._bytes(size)
            elif line.startswith(b"HMSG "):
                parts = line.split()
                hdr, total = int(parts[-2]), int(parts[-1])
                data = self._bytes(total)
                return data[:hdr], data[hdr:]
            elif line.startswith(b"INFO "):
                continue
            else:
                raise RuntimeError(f"unexpected from NATS: {line!r}")

    def request(self, subject, payload=b"", headers=None):
        self.n += 1
        reply = f"{self.inbox}.{self.n}"
        if headers:
            hdr = b"NATS/1.0\r\n" + b"".join(
                f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"
            self.sock.sendall(f"HPUB {subject} {reply} {len(hdr)} {len(hdr) + len(payload)}\r\n".encode()
                              + hdr + payload + b"\r\n")
        else:
            self.sock.sendall(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")
        hdr, body = self._reply()
        if b"503" in hdr[:16]:
            raise RuntimeError(f"no responders for {subject}")
        return json.loads(body) if body else {}

    def close(self):
        self.sock.close()


def stream(url, name="SQUALL_LOG"):
    nats = Nats(url)
    info = nats.request(f"$JS.API.STREAM.INFO.{name}")
    nats.close()
    if "error" in info:
        sys.exit(f"stream info {name}: {info['error']}")
    state, cluster = info["state"], info.get("cluster", {})
    replicas = [r["name"] + ("" if r.get("current") else "(behind)") for r in cluster.get("replicas", [])]
    print(f"messages={state['messages']} bytes={state['bytes']} last_seq={state['last_seq']} "
          f"leader={cluster.get('leader', '-')} replicas={info['config'].get('num_replicas')} "
          f"followers={','.join(replicas) or '-'}")


def probe(url, count=2000, size=512):
    """The replicated append alone: publishes of SIZE bytes to a 3-replica
    file stream of its own (BENCH_PROBE), each with the
    Nats-Expected-Last-Sequence check Squall uses, one at a time, timed
    from the publish to JetStream's ack (stored by a quorum)."""
    nats = Nats(url)
    name = "BENCH_PROBE"
    nats.request(f"$JS.API.STREAM.DELETE.{name}")
    config = {"name": name, "subjects": ["bench.probe"], "storage": "file",
              "num_replicas": 3, "retention": "limits", "max_msgs": 100000}
    created = nats.request(f"$JS.API.STREAM.CREATE.{name}", json.dumps(config).encode())
    if "error" in created:
        sys.exit(f"creating {name}: {created['error']}")
    leader = "-"
    for _ in range(100):  # until the stream has a leader
        info = nats.request(f"$JS.API.STREAM.INFO.{name}")
        leader = info.get("cluster", {}).get("leader")
        if leader:
            break
        time.sleep(0.1)
    payload = os.urandom(size // 2).hex().encode()[:size]
    last, times, plain = 0, [], []
    for i in range(count + 50):
        start = time.perf_counter_ns()
        ack = nats.request("bench.probe", payload, {"Nats-Expected-Last-Sequence": str(last)})
        took = time.perf_counter_ns() - start
        if "error" in ack:
            sys.exit(f"publish: {ack['error']}")
        last = ack["seq"]
        if i >= 50:
            times.append(took)
    # The same without the check, for comparison.
    for i in range(count // 2):
        start = time.perf_counter_ns()
        ack = nats.request("bench.probe", payload)
        plain.append(time.perf_counter_ns() - start)
    nats.request(f"$JS.API.STREAM.DELETE.{name}")
    nats.close()

    def pct(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * p))] // 1000

    print(f"js_publish_p50_us={pct(times, 0.5)} js_publish_p99_us={pct(times, 0.99)} "
          f"js_publish_plain_p50_us={pct(plain, 0.5)} n={count} size={size} "
          f"server={nats.info.get('server_name')} leader={leader}")


# --- wrk runs at the same time, merged ---------------------------------------

def merge(paths):
    """wrk's RESULT and QUANTILES lines (benches/cluster/post.lua) of runs
    at the same time: requests and errors add up, req/s is their sum over
    the longest run, and p50/p99 come from the runs' latency distributions
    mixed by their request counts (each run gives 999 quantiles)."""
    total = {"requests": 0, "non2xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    duration, max_us, points = 0, 0, []
    for path in paths:
        result, quantiles = None, None
        with open(path) as f:
            for line in f:
                if line.startswith("RESULT "):
                    result = dict(p.split("=", 1) for p in line.split()[1:])
                elif line.startswith("QUANTILES "):
                    quantiles = [int(x) for x in line.split()[1:]]
        if result is None or quantiles is None:
            sys.exit(f"{path}: wrk printed no result")
        n = int(result["requests"])
        for k in total:
            total[k] += int(result[k])
        duration = max(duration, int(result["duration_us"]))
        max_us = max(max_us, int(result["max_us"]))
        points += [(q, n / len(quantiles)) for q in quantiles]
    points.sort()
    weight = sum(w for _, w in points)

    def quantile(p):
        acc = 0.0
        for value, w in points:
            acc += w
            if acc >= p * weight:
                return value
        return points[-1][0]

    print(f"RESULT requests={total['requests']} duration_us={duration} p50_us={quantile(0.5)} "
          f"p99_us={quantile(0.99)} max_us={max_us} non2xx={total['non2xx']} connect={total['connect']} "
          f"read={total['read']} write={total['write']} timeout={total['timeout']}")


# --- the report ---------------------------------------------------------------

def report(path):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    if not rows:
        sys.exit("no results")

    def num(x):
        try:
            return float(x)
        except ValueError:
            return None

    def fmt(x, unit=""):
        v = num(x)
        return "-" if v is None else f"{v:,.0f}{unit}"

    print("| round | clients | system | req/s (202s) | p50 | p99 | max | requests | log entries per webhook "
          "| Squall CPU per webhook | NATS CPU per webhook | JetStream publish p50 (probe, this round) | load avg |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['round']} | {r['clients']} | {r['system']} | {fmt(r['rps'])} | {fmt(r['p50_us'], ' µs')} "
              f"| {fmt(r['p99_us'], ' µs')} | {fmt(r['max_us'], ' µs')} | {fmt(r['requests'])} "
              f"| {r['log_entries_per_webhook']} | {fmt(r['squall_cpu_us_per_webhook'], ' µs')} "
              f"| {fmt(r['nats_cpu_us_per_webhook'], ' µs')} | {fmt(r['js_probe_p50_us'], ' µs')} | {r['load1']} |")
    print()
    by = {}
    for r in rows:
        by.setdefault((r["system"], int(r["clients"])), []).append(r)
    med = lambda system, clients, key: (statistics.median(num(r[key]) for r in by[(system, clients)])
                                        if (system, clients) in by else None)
    clients = sorted({int(r["clients"]) for r in rows})
    print("Medians over rounds, and the cluster against the single node:")
    for c in clients:
        single = med("single", c, "p50_us"), med("single", c, "rps")
        for system in ("cluster-1", "cluster-3"):
            p50, rps = med(system, c, "p50_us"), med(system, c, "rps")
            if None in (p50, rps) or None in single:
                continue
            print(f"  {c:2d} client(s), {system}: p50 {p50:,.0f} µs vs single {single[0]:,.0f} µs "
                  f"({p50 - single[0]:+,.0f} µs); req/s {rps:,.0f} vs {single[1]:,.0f} "
                  f"(x{rps / single[1]:.2f})")
    lo = min(clients)
    a, b = med("single", lo, "p50_us"), med("cluster-1", lo, "p50_us")
    probe = statistics.median(num(r["js_probe_p50_us"]) for r in rows if num(r["js_probe_p50_us"]) is not None) \
        if any(num(r["js_probe_p50_us"]) is not None for r in rows) else None
    if a is not None and b is not None:
        print(f"Cost per event of the replicated write ({lo} client p50, cluster-1 minus single): "
              f"{b - a:+,.0f} µs" + (f"; JetStream publish with the expected-last-sequence check, "
                                     f"3 replicas, alone (probe p50): {probe:,.0f} µs" if probe else ""))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "port":
        peers.free_port()
    elif command == "squall":
        peers.squall(args[0], args[1])
    elif command == "others":
        peers.others(args[0], args[1])
    elif command == "stream":
        stream(*args)
    elif command == "probe":
        probe(args[0], int(args[1]) if len(args) > 1 else 2000, int(args[2]) if len(args) > 2 else 512)
    elif command == "merge":
        merge(args)
    elif command == "report":
        report(args[0])
    else:
        sys.exit(__doc__)
