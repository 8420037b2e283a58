#!/usr/bin/env python3
"""F14 slow / stuck consumer: one of three workers is SIGSTOPped for 8 s while
30,000 tasks stream in. Its tasks go back to the queue when its liveness runs
out; the other workers keep running (they finish work during the stop); the
broker's RSS stays under 64 MiB; nothing is silently dropped."""
import os, sys, signal, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

TOTAL = scaled(30000)
POOL, ASYNC = 2, 64


def test():
    with FaultCluster("f14", rss_cap_mb=64) as c:
        c.start_broker()
        wargs = ("--pool-size", str(POOL), "--async-limit", str(ASYNC))
        workers = [c.start_worker(*wargs, name="w%d" % i) for i in range(3)]
        load = c.start_load("--count", str(TOTAL), "--name", "test.async,test.block", "--ms", "2",
                            "--rate", str(TOTAL // 15), "--outbox-max", str(TOTAL))
        time.sleep(2)
        stuck = workers[0]
        c.kill(stuck, signal.SIGSTOP)
        others_before = c.done_count()
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            c.sample_rss()
            time.sleep(0.2)
        others_during = c.done_count() - others_before
        c.kill(stuck, signal.SIGCONT)
        summary = c.load_summary(load, timeout=120)
        assert summary["accepted"] == TOTAL, summary
        c.wait_accepted_done(timeout=120)
        time.sleep(1)
        stats = c.counters()
        c.judge(max_duplicates=POOL + ASYNC, must_live=[c.broker] + workers, expect_accepted=TOTAL,
                extra={"done_during_stop": others_during, "worker_lost": stats.get("worker_lost"),
                       "requeued": stats.get("requeued"),
                       "router_unroutable": stats.get("router_unroutable"),
                       "router_dropped": stats.get("router_dropped")})
        assert others_during > 1000, "the other workers stalled during the stop: %d done" % others_during
        assert not stats.get("router_dropped"), stats


run(test)
