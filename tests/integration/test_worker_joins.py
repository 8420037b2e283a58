#!/usr/bin/env python3
"""A worker that joins mid-run gets work at once, and nothing runs twice."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run

TOTAL = 4000


def test():
    with Cluster("worker-joins") as c:
        c.start_broker()
        c.start_worker("--pool-size", "2", name="early")
        load = c.start_load("--count", str(TOTAL), "--name", "test.block", "--ms", "2")
        c.wait_done(300, timeout=60)
        late = c.start_worker("--pool-size", "2", name="late")
        summary = c.load_summary(load, timeout=120)
        assert summary["accepted"] == TOTAL, summary
        c.wait_done(TOTAL, timeout=120)
        c.check(max_duplicates=0, expect_accepted=TOTAL)
        late_done = c.ledger().done_by_pid[str(late.pid)]
        print("late worker ran", late_done, "of", TOTAL)
        assert late_done > TOTAL // 10, "the late worker got almost no work: %d" % late_done


run(test)
