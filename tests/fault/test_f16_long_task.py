#!/usr/bin/env python3
"""F16 long task keeps its lease: two pool tasks of 20 s (far beyond the 3 s
liveness timeout) on a live worker run once each (no redelivery). Then a
worker is SIGKILLed while running an 8 s task: the task runs again on another
worker within 10 s of the kill."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run

LONG_MS = int(os.environ.get("FLING_F16_MS", "20000"))


def wait_started(c, task_id, pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p == str(pid) for _, p, _ in c.fault_ledger().start_events[task_id]):
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError("task %s not started by pid %d within %ss" % (task_id, pid, timeout))


def test():
    with FaultCluster("f16") as c:
        c.start_broker()
        a = c.start_worker("--pool-size", "2", name="a")
        ids = [c.send_task("test.block", {"ms": LONG_MS}, "--task-timeout-ms", "120000")[1] for _ in range(2)]
        c.wait_ids_done(ids, timeout=LONG_MS / 1000.0 + 20)
        stats = c.counters()
        ledger = c.fault_ledger()
        starts = {i: len(ledger.start_events[i]) for i in ids}
        print("long tasks: starts %s, requeued %s, worker_lost %s"
              % (starts, stats.get("requeued"), stats.get("worker_lost")), flush=True)
        assert all(n == 1 for n in starts.values()), "a long task was redelivered: %s" % starts
        assert stats.get("requeued", 0) == 0 and stats.get("worker_lost", 0) == 0, stats

        rc, victim = c.send_task("test.block", {"ms": 8000}, "--task-timeout-ms", "120000")
        assert rc == 0, victim
        wait_started(c, victim, a.pid, 10)
        b = c.start_worker("--pool-size", "2", name="b")
        time.sleep(1)
        killed_at = time.monotonic()
        c.kill(a)
        again = wait_started(c, victim, b.pid, 30)
        delay = again - killed_at
        c.wait_ids_done([victim], timeout=30)
        c.judge(max_duplicates=0, must_live=[c.broker, b], extra={"redelivery_s": round(delay, 2)})
        assert delay <= 10, "redelivered %.1fs after the kill (bound 10 s)" % delay


run(test)
