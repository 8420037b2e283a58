#!/usr/bin/env python3
"""A producer started before its broker buffers its tasks and delivers all of
them once the broker comes up; fling_send never blocked meanwhile."""
import os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run, free_port

TOTAL = 20000


def test():
    with Cluster("producer-first") as c:
        pport, wport = free_port(), free_port()
        load = c.start_load("--count", str(TOTAL), "--name", "test.noop", "--latency",
                            "--outbox-max", str(TOTAL), endpoint="tcp://127.0.0.1:%d" % pport)
        time.sleep(1.5)  # the point of the test: the broker is absent for a while
        assert load.alive(), "fling-load gave up before the broker came up"
        c.start_broker(producer_port=pport, worker_port=wport)
        c.start_worker()
        summary = c.load_summary(load, timeout=120)
        assert summary["rc"] == 0 and summary["accepted"] == TOTAL, summary
        # The sends themselves happened while no broker existed: they must have
        # returned at once (a blocking send would take the 1.5 s the broker was away).
        assert summary["send_seconds"] < 1.5, summary
        print("send latency while broker absent (us):", summary.get("latency_us"))
        c.wait_done(TOTAL, timeout=120)
        c.check(max_duplicates=0, expect_accepted=TOTAL)


run(test)
