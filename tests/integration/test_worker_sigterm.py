#!/usr/bin/env python3
"""SIGTERM on a worker: it takes no new tasks, finishes every task it had
started, hands back the rest, and exits 0; another worker runs the rest and
nothing runs twice."""
import os, sys, signal
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run

TOTAL = 400


def test():
    with Cluster("worker-sigterm") as c:
        c.start_broker()
        first = c.start_worker("--pool-size", "4", "--async-limit", "20", name="first")
        load = c.start_load("--count", str(TOTAL), "--name", "test.block,test.async", "--ms", "100")
        assert c.load_summary(load, timeout=60)["accepted"] == TOTAL
        c.wait_done(20, timeout=60)
        rc = c.stop(first, signal.SIGTERM, timeout=30)
        assert rc == 0, "worker exited %s after SIGTERM" % rc
        ledger = c.ledger()
        pid = str(first.pid)
        started = {i for i, pids in ledger.started_by.items() if pid in pids}
        finished = {i for i, pids in ledger.done_by.items() if pid in pids}
        print("first worker started %d, finished %d before exiting" % (len(started), len(finished)))
        assert started == finished, "in-flight tasks abandoned: %s" % sorted(started - finished)[:5]
        c.start_worker("--pool-size", "4", "--async-limit", "20", name="second")
        c.wait_done(TOTAL, timeout=60)
        c.check(max_duplicates=0, expect_accepted=TOTAL)


run(test)
