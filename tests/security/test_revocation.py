#!/usr/bin/env python3
"""S06 (SECURITY.md, tests): a worker's certificate is deleted while it runs
tasks.

Worker A (key w1) and worker B (key w2) serve 2-second blocking tasks. Once
A runs some, w1.pub leaves the allowed directory:
  - a new connection under w1 is refused at once (handshake, ZAP 400);
  - the broker stops serving A's session within the rescan interval (10 s
    by default) plus a second: A leaves the worker table and its
    connection is closed (counter revoked_closed);
  - A's tasks are redelivered to B: every accepted task runs (0 lost); the
    only second runs are of tasks A was running at the revocation.
Then on a broker that rescans only every minute, SIGHUP revokes at once.
"""
import os
import signal
import time

from security_harness import SecurityCluster, run, settle

TASKS = 30


def worker_names(c):
    return sorted(w["name"] for w in c.stats()["workers"])


def starts_by(c, name):
    path = c.path("%s.ledger" % name)
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for line in f if line.startswith("start "))


def revoke_during_work():
    with SecurityCluster("revocation", curve=True) as c:
        c.keygen("w1", "worker")
        c.keygen("w2", "worker")
        c.start_broker(store="memory")
        c.start_worker("--pool-size", "2", "--prefetch", "0", name="A", key="w1")
        load = c.start_load("--count", str(TASKS), "--name", "test.block", "--ms", "2000")
        settle(lambda: starts_by(c, "A") >= 2, 20, "tasks started on A")
        c.start_worker("--pool-size", "4", "--prefetch", "0", name="B", key="w2")
        revoked_at = time.monotonic()
        c.revoke("w1")
        # a new handshake under w1 is refused at once
        r = c.fling("--timeout-ms", "2000", "ping", key="w1")
        print("  new connection under w1:", r.stderr.strip(), flush=True)
        assert r.returncode == 1 and "refused this key" in r.stderr, r.stderr
        # the old session is dropped within the rescan interval
        settle(lambda: "A" not in worker_names(c), 10 + 3, "A out of the worker table")
        took = time.monotonic() - revoked_at
        print("  revoked session unserved after %.1fs" % took, flush=True)
        assert took <= 10 + 3
        conns = c.connections()
        assert conns["revoked_closed"] >= 1, conns
        held = starts_by(c, "A")
        summary = c.load_summary(load, 60)
        assert summary["accepted"] == TASKS
        c.wait_done(TASKS, 90)
        # A's running tasks may have finished on A too (its results could
        # not reach the broker any more): those are the only second runs.
        c.check(max_duplicates=held, expect_accepted=TASKS)
        # A, cut off, tells its operator where to look
        settle(lambda: "allowed directory" in open(c.path("A.log")).read(), 15,
               "A's log names the allowed directory")


def sighup_revokes_at_once():
    with SecurityCluster("revocation-hup", curve=True) as c:
        c.keygen("w1", "worker")
        broker = c.start_broker("--curve-rescan-ms", "60000", store="memory")
        c.start_worker(name="A", key="w1")
        assert worker_names(c) == ["A"]
        c.revoke("w1")
        time.sleep(1.5)
        assert worker_names(c) == ["A"]  # no rescan due for a minute
        sent = time.monotonic()
        broker.signal(signal.SIGHUP)
        settle(lambda: worker_names(c) == [], 5, "A gone after SIGHUP")
        print("  SIGHUP revoked in %.1fs" % (time.monotonic() - sent), flush=True)
        assert "SIGHUP" in broker.log()
        # and the key comes back: a new session is served again
        c.allow("w1")
        broker.signal(signal.SIGHUP)
        settle(lambda: worker_names(c) == ["A"], 15, "A back after the key returned")


def main():
    revoke_during_work()
    sighup_revokes_at_once()


if __name__ == "__main__":
    run(main)
