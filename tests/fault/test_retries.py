#!/usr/bin/env python3
"""Retries (issue): five test.flaky tasks that fail twice then succeed run three
times each, with growing delays (from the fail/done timestamps, realtime ms,
6th ledger field): median second gap > median first gap, both at least half the
base backoff. Five test.fail tasks that always fail end in the dead-letter
queue after max_attempts (3) runs, with their error text (fling dead list --json)."""
import os, sys, statistics, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, delays

BASE_MS = 300
N = 5


def test():
    with FaultCluster("retries") as c:
        c.require("fling-broker", "--queue", "--backoff-ms")
        c.start_broker("--backoff-ms", str(BASE_MS), "--backoff-max-ms", "5000", "--max-attempts", "3",
                       "--queue", "test.flaky:max_attempts=5,backoff_ms=%d" % BASE_MS)
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        flaky = [c.send_task("test.flaky", {"fail_attempts": 2})[1] for _ in range(N)]
        failing = [c.send_task("test.fail", {"x": i})[1] for i in range(N)]
        ledger = c.wait_ids_done(flaky, timeout=60)
        gaps1, gaps2 = [], []
        for i in flaky:
            events = ledger.fail_events[i] + ledger.done_events[i]
            attempts = sorted(a for a, _, _ in events)
            assert attempts == [1, 2, 3], "flaky %s attempts %s" % (i, attempts)
            g = delays(events)
            assert len(g) == 2, "no timestamps in the ledger (6th field): %s" % events
            gaps1.append(g[0])
            gaps2.append(g[1])
        print("backoff gaps ms: first %s second %s" % (gaps1, gaps2), flush=True)
        assert statistics.median(gaps2) > statistics.median(gaps1), (gaps1, gaps2)
        assert min(gaps1) >= BASE_MS / 2, gaps1
        # Jitter is +-20 %: the first retry is due 240..360 ms after the failure.
        late = max(gaps1) - 1.2 * BASE_MS
        print("first retry at most %.0f ms later than its due time" % max(0, late), flush=True)
        if os.environ.get("FLING_FAULT_STRICT_BACKOFF") == "1":
            assert late < 150, "retries run late: the broker's poll timeout ignores the next due time"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dead = {d.get("id"): d for d in c.dead_list()}
            if all(i in dead for i in failing):
                break
            time.sleep(0.5)
        ledger = c.fault_ledger()
        for i in failing:
            assert i in dead, "test.fail task %s not dead-lettered" % i
            runs = len({a for a, _, _ in ledger.start_events[i] + ledger.fail_events[i]})
            assert runs == 3, "test.fail %s ran %d times" % (i, runs)
            assert dead[i].get("error"), "no error text kept: %s" % dead[i]
        print("dead-lettered:", [dead[i] for i in failing[:1]], flush=True)
        c.judge(max_duplicates=0, must_live=[c.broker] + workers, max_lost=N,
                extra={"gaps1_ms": gaps1, "gaps2_ms": gaps2})


run(test)
