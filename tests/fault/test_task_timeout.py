#!/usr/bin/env python3
"""Task timeout (issue): a test.hang task (sleeps 1 h) under
--queue test.hang:timeout_ms=1000,max_attempts=2 overruns its deadline: the
worker reports TIMEOUT, the task runs again (attempt 2) and is then
dead-lettered; the worker that held the hung task keeps serving (other tasks
complete on it after the timeout)."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run


def test():
    with FaultCluster("timeout") as c:
        c.require("fling-broker", "--queue")
        c.start_broker("--queue", "test.hang:timeout_ms=1000,max_attempts=2")
        a = c.start_worker("--pool-size", "2", name="a")
        rc, hang = c.send_task("test.hang", {"ms": 3600000})
        assert rc == 0, hang
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not c.fault_ledger().start_events[hang]:
            time.sleep(0.05)
        b = c.start_worker("--pool-size", "2", name="b")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(c.fault_ledger().start_events[hang]) < 2:
            time.sleep(0.1)
        starts = c.fault_ledger().start_events[hang]
        print("hang task starts (attempt, pid):", [(x, p) for x, p, _ in starts], flush=True)
        assert len(starts) >= 2, "the hung task never ran again"
        load = c.start_load("--count", "400", "--name", "test.block", "--ms", "5")
        assert c.load_summary(load, timeout=60)["accepted"] == 400
        ledger = c.wait_ids_done(c.fault_ledger().accepted - {hang}, timeout=60)
        on_a = len(ledger.done_by_pid_ids[str(a.pid)])
        dead = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and hang not in dead:
            dead = {d.get("id"): d for d in c.dead_list()}
            time.sleep(0.5)
        c.judge(max_duplicates=0, must_live=[c.broker, a, b], max_lost=1,
                extra={"done_on_a_after_timeout": on_a, "dead_entry": dead.get(hang)})
        assert on_a > 0, "worker a stopped serving after its task timed out"
        assert hang in dead, "the timed-out task was not dead-lettered after max_attempts"


run(test)
