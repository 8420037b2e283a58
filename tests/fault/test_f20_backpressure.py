#!/usr/bin/env python3
"""F20 backpressure: a queue capped at 10,000 tasks, a producer at about 10x
the worker's rate. The producer gets explicit QUEUE_FULL refusals (never a
silent drop, never a blocked fling_send); refused tasks never run; the queue
never holds more than the cap; every accepted task is done."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

CAP = 10000
TOTAL = scaled(40000)


def test():
    with FaultCluster("f20") as c:
        c.start_broker("--max-queue-tasks", str(CAP))
        worker = c.start_worker("--pool-size", "1", "--async-limit", "1", name="slow")
        load = c.start_load("--count", str(TOTAL), "--name", "test.block", "--ms", "1",
                            "--rate", "8000", "--latency", "--outbox-max", "20000")
        most = 0
        deadline = time.monotonic() + 60
        while load.alive() and time.monotonic() < deadline:
            for q in c.stats().get("queues", []):
                if q.get("name") == "test.block":
                    most = max(most, q.get("queued", 0) + q.get("inflight", 0))
            c.sample_rss()
            time.sleep(0.2)
        summary = c.load_summary(load, timeout=60)
        print("fling-load:", summary, flush=True)
        ledger = c.fault_ledger()
        reasons = set(ledger.rejected.values())
        c.wait_accepted_done(timeout=180)
        lat = summary.get("latency_us", {})
        c.judge(max_duplicates=0, must_live=[c.broker, worker],
                extra={"queue_max_seen": most, "cap": CAP, "reasons": sorted(reasons),
                       "send_p999_us": lat.get("p999"), "send_max_us": lat.get("max")})
        assert ledger.rejected, "no task was refused: the test did not reach the cap"
        assert reasons == {"QUEUE_FULL"}, reasons
        assert summary["accepted"] + summary["rejected"] == TOTAL and summary.get("dropped", 0) == 0, summary
        assert most <= CAP, "queue held %d > cap %d" % (most, CAP)
        assert max(lat.get("p999", 0), lat.get("max", 0)) < 100000, lat


run(test)
