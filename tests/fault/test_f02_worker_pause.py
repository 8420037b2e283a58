#!/usr/bin/env python3
"""F02 worker pause (zombie): while 20,000 tasks stream to three workers, one
random worker is SIGSTOPped for 2 x the liveness timeout, then SIGCONT, 20
times. Its late results carry an old attempt and are fenced (stale_results);
duplicates only on paused workers, within what they held; no task given up
because of the pauses."""
import os, sys, signal, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, rng_for

TOTAL = scaled(20000)
PAUSES = 20
TIMEOUT_MS = 1000
POOL, ASYNC = 4, 32


def test():
    rng = rng_for("f02")
    with FaultCluster("f02") as c:
        c.start_broker("--heartbeat-ms", "300", "--worker-timeout-ms", str(TIMEOUT_MS))
        wargs = ("--pool-size", str(POOL), "--async-limit", str(ASYNC), "--heartbeat-ms", "300")
        workers = [c.start_worker(*wargs, name="w%d" % i) for i in range(3)]
        load = c.start_load("--count", str(TOTAL), "--name", "test.block,test.async", "--ms", "20",
                            "--rate", str(TOTAL // 50), "--outbox-max", str(TOTAL))
        for _ in range(PAUSES):
            w = rng.choice(workers)
            c.kill(w, signal.SIGSTOP)
            time.sleep(2 * TIMEOUT_MS / 1000.0)
            c.kill(w, signal.SIGCONT)
            c.sample_rss()
            time.sleep(0.3)
        summary = c.load_summary(load, timeout=120)
        assert summary["accepted"] == TOTAL, summary
        c.wait_accepted_done(timeout=120)
        time.sleep(1)  # late results of the last pause reach the broker
        stats = c.counters()
        held = PAUSES * (POOL + ASYNC)
        s, _ = c.judge(max_duplicates=held, must_live=[c.broker] + workers, expect_accepted=TOTAL,
                       extra={"pauses": PAUSES, "stale_results": stats.get("stale_results"),
                              "worker_lost": stats.get("worker_lost"), "failed": stats.get("failed"),
                              "dead": stats.get("dead", stats.get("dead_lettered"))})
        assert stats.get("failed", 0) == 0, "tasks given up because of pauses: %s" % stats
        assert not stats.get("dead", stats.get("dead_lettered", 0)), stats
        if s["duplicates"]:
            assert stats.get("stale_results", 0) > 0, "duplicates ran but no stale result was fenced"


run(test)
