#!/usr/bin/env python3
"""Connection floods against a broker run under `ulimit -n 1024`, beside a
normal load (disk store) that must lose nothing.

1. Idle connections (the issue's attack): 1,000 connections that finish the
   ZMTP handshake and then say nothing, held 15 s, CURVE off and on. Before
   the fix the broker sat at 1,024 descriptors, `fling ping` failed and the
   store answered STORE_FULL. Now the load is all accepted (no STORE_FULL,
   no refusal), the broker counts what it closed, its descriptors stay
   below the limit and come back near the baseline, and:
   - from another address (127.0.0.2) the flood is held to its own share
     (--max-key-connections): `fling ping` answers every time;
   - from the clients' own address nothing tells the flood from a new
     client but its silence: a new connection pushes out the oldest silent
     one and is served once it speaks; pings mostly answer (reported).
2. S10: slowloris (TCP connect, nothing sent) and garbage peers (random
   bytes, an HTTP request, half a ZMTP greeting): every one closed within
   6 s, descriptors back to baseline, the load unharmed.
"""
import os
import random
import select
import socket
import time

from security_harness import SecurityCluster, fd_count, run, settle

NOFILE = 1024
LOAD = 12000


def ping_ok(c):
    return c.fling("--timeout-ms", "3000", "ping", timeout=15).returncode == 0


def idle_flood(curve, source=None):
    name = ("flood-idle-curve" if curve else "flood-idle") + ("-remote" if source else "-local")
    with SecurityCluster(name, broker_nofile=NOFILE, curve=curve) as c:
        if curve:
            c.keygen("squatter", "producer")
        broker = c.start_broker(store="disk")
        c.start_worker("--pool-size", "2")
        time.sleep(0.5)
        baseline = fd_count(broker)
        load = c.start_load("--count", str(LOAD), "--rate", "1500", "--name", "test.noop")
        flood = c.attack_start("idle", "--connections", 1000, "--hold-ms", 15000,
                               *(["--source", source] if source else []),
                               key="squatter" if curve else False)
        peak, pings, failed = baseline, 0, 0
        deadline = time.monotonic() + 14
        while time.monotonic() < deadline:
            peak = max(peak, fd_count(broker))
            pings += 1
            failed += not ping_ok(c)
            time.sleep(0.5)
        print("  %s: broker fds baseline %d peak %d (limit %d); pings %d failed %d"
              % (name, baseline, peak, NOFILE, pings, failed), flush=True)
        if source:
            assert failed == 0, "fling ping failed %d of %d times during the flood" % (failed, pings)
        else:
            assert failed < pings, "no fling ping got through the flood"
        summary = c.load_summary(load, 120)
        print("  load:", summary, flush=True)
        assert summary["accepted"] == LOAD and summary["rejected"] == 0, summary
        c.wait_done(LOAD, 60)
        c.check(expect_accepted=LOAD)
        stats = c.stats()
        conns = stats["connections"]
        print("  connections:", conns, flush=True)
        assert stats["counters"]["store_full"] == 0 and stats["counters"]["unavailable"] == 0
        closed = conns["refused_key"] + conns["refused_total"] + conns["evicted_silent"]
        assert closed > 0, conns
        c.attack_result(flood, 30)
        after = settle(lambda: fd_count(broker) if fd_count(broker) <= baseline + 10 else None,
                       30, "broker fds back near the baseline %d" % baseline)
        assert after <= baseline + 10


def garbage(kind):
    if kind == "random":
        return bytes(random.getrandbits(8) for _ in range(200))
    if kind == "http":
        return b"GET / HTTP/1.1\r\nHost: fling\r\n\r\n"
    return b"\xff" + b"\0" * 8 + b"\x7f\x03"  # the first 11 bytes of a ZMTP greeting


def s10_slowloris_and_garbage(curve):
    name = "s10-curve" if curve else "s10"
    with SecurityCluster(name, broker_nofile=NOFILE, curve=curve) as c:
        broker = c.start_broker(store="disk")
        c.start_worker("--pool-size", "2")
        time.sleep(0.5)
        baseline = fd_count(broker)
        load = c.start_load("--count", "5000", "--rate", "1000", "--name", "test.noop")
        host, port = c.producer_endpoint[len("tcp://"):].rsplit(":", 1)
        peers = []
        for i in range(400):
            s = socket.create_connection((host, int(port)), timeout=5)
            kind = ("silent", "random", "http", "greeting")[i % 4]
            if kind != "silent":
                s.sendall(garbage(kind))
            peers.append((s, kind, time.monotonic()))
        open_peers = {s.fileno(): (s, kind, t0) for s, kind, t0 in peers}
        closed_after = []
        deadline = time.monotonic() + 8
        while open_peers and time.monotonic() < deadline:
            readable, _, _ = select.select(list(open_peers), [], [], 0.2)
            for fd in readable:
                s, kind, t0 = open_peers[fd]
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:  # closed by the broker (libzmq)
                    closed_after.append((kind, time.monotonic() - t0))
                    del open_peers[fd]
                    s.close()
        for s, _, _ in open_peers.values():
            s.close()
        slowest = max(t for _, t in closed_after) if closed_after else None
        print("  %s: %d of %d peers closed by the broker, slowest after %.1fs; still open: %d"
              % (name, len(closed_after), len(peers), slowest or -1, len(open_peers)), flush=True)
        assert not open_peers, "peers left open after 8 s: %s" % sorted(
            k for _, k, _ in open_peers.values())
        assert slowest <= 6.5, slowest
        summary = c.load_summary(load, 60)
        assert summary["accepted"] == 5000, summary
        c.wait_done(5000, 60)
        c.check(expect_accepted=5000)
        handshakes = c.connections()["handshakes"]
        print("  handshakes:", handshakes, flush=True)
        assert handshakes["failed_protocol"] + handshakes["failed_no_detail"] > 0
        after = settle(lambda: fd_count(broker) if fd_count(broker) <= baseline + 10 else None,
                       15, "broker fds back near the baseline %d" % baseline)
        assert after <= baseline + 10


def main():
    for curve in (False, True):
        idle_flood(curve, source="127.0.0.2")
        idle_flood(curve)
    s10_slowloris_and_garbage(curve=False)
    s10_slowloris_and_garbage(curve=True)


if __name__ == "__main__":
    run(main)
