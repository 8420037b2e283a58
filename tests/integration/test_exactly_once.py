#!/usr/bin/env python3
"""100,000 tasks from 4 producer processes through one broker to 3 workers,
mixing async (loop) and blocking (pool) handlers in every worker: every task
id runs exactly once, none lost, none twice."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run

TOTAL = int(os.environ.get("FLING_TEST_TASKS", "100000"))


def test():
    with Cluster("exactly-once") as c:
        c.start_broker()
        for _ in range(3):
            c.start_worker("--pool-size", "4", "--async-limit", "1000")
        per = TOTAL // 4
        loads = [c.start_load("--count", str(per), "--name", "test.noop,test.block,test.async")
                 for _ in range(4)]
        for load in loads:
            summary = c.load_summary(load, timeout=240)
            assert summary["rc"] == 0 and summary["accepted"] == per, summary
        c.wait_done(per * 4, timeout=240)
        stats = c.stats()
        assert stats["counters"]["done"] == per * 4, stats["counters"]
        c.check(max_duplicates=0, expect_accepted=per * 4)
        # Every worker took part, and every class ran somewhere.
        by_pid = c.ledger().done_by_pid
        assert len(by_pid) == 3, by_pid


run(test)
