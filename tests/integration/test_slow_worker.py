#!/usr/bin/env python3
"""Credit-based flow control: a worker with less capacity gets less work, and
an idle worker is never left waiting while another holds a backlog."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run

TOTAL = 3000


def test():
    with Cluster("slow-worker") as c:
        c.start_broker()
        slow = c.start_worker("--pool-size", "1", name="slow")
        fast = c.start_worker("--pool-size", "8", name="fast")
        load = c.start_load("--count", str(TOTAL), "--name", "test.block", "--ms", "3")
        assert c.load_summary(load, timeout=120)["accepted"] == TOTAL
        c.wait_done(TOTAL, timeout=120)
        c.check(max_duplicates=0, expect_accepted=TOTAL)
        by_pid = c.ledger().done_by_pid
        slow_n, fast_n = by_pid[str(slow.pid)], by_pid[str(fast.pid)]
        print("slow worker (1 thread) ran %d, fast worker (8 threads) ran %d" % (slow_n, fast_n))
        assert slow_n > 0, "the slow worker was never used"
        # 8 threads vs 1 at the same task cost: the fast one should take about
        # 8/9 of the work. Require at least 3x to stay robust on a noisy machine.
        assert fast_n >= 3 * slow_n, (slow_n, fast_n)


run(test)
