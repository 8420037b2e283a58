#!/usr/bin/env python3
"""Broker SIGKILL with healthy workers: what runs twice (SPEC.md: RESULT_ACK,
durability and restarts; issue #15 point 2).

10,000 tasks stream through a disk-store broker to two workers; the broker is
SIGKILLed twice mid-stream and restarted 1 s later on the same ports and
store. No worker dies. Every accepted task must run, and a task may run twice
only where the spec allows it after a broker crash. A worker keeps each
RESULT until a RESULT_ACK says it is stored, and after it registers with the
restarted broker it names the tasks it holds (HOLDING) and sends its
unacknowledged RESULTs again, so the tasks it finished or still runs are
neither lost nor run again. Before FLP/1.1 the results sent around a kill
were lost with the connection: ~300 of 10,000 ran twice per kill.

Nor does the restarted broker hand a task to a second worker: a lease is in
the store before its DISPATCH leaves (write-ahead), so the restarted broker
parks it for its worker to claim. Before that, a task dispatched in the
broker's last turn ran twice, both times as attempt 1. Every duplicate is
printed with its runs; the test fails above DUPLICATES_MAX.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled  # noqa: E402

TOTAL = scaled(10000)
KILLS = 2
RATE = 2000           # tasks/s: the stream lasts ~5 s
DUPLICATES_MAX = 0    # SPEC.md: healthy workers that come back in time run nothing twice


def test():
    with FaultCluster("broker-kill-reruns") as c:
        c.require_disk_store()
        c.start_broker()
        workers = [c.start_worker("--pool-size", "4", "--async-limit", "64", name="w%d" % i)
                   for i in range(2)]
        load = c.start_load("--count", str(TOTAL), "--name", "test.noop,test.async,test.block",
                            "--ms", "2", "--rate", str(RATE), "--outbox-max", str(TOTAL),
                            "--flush-timeout-ms", "120000")
        for _ in range(KILLS):
            time.sleep(1.5)
            c.restart_broker(signal.SIGKILL, down_s=1.0)
        summary = c.load_summary(load, timeout=240)
        print("producer:", {k: summary.get(k) for k in ("accepted", "rejected", "resent_batches", "rc")})
        c.wait_accepted_done(timeout=180)
        time.sleep(1.5)  # late duplicates, if any, land in the ledger
        counters = c.counters()
        print("broker counters:", {k: counters.get(k) for k in
                                   ("holding_leased", "holding_ignored", "stale_results", "done")})
        ledger = c.fault_ledger()
        for task_id, events in sorted(ledger.start_events.items()):
            if len(ledger.done_pids.get(task_id, [])) > 1:
                print("  twice: %s runs (attempt, worker pid): %s"
                      % (task_id, [(a, p) for a, p, _ in events]))
        for w in workers:
            for line in w.log().splitlines():
                if "registered" in line or "broker lost" in line:
                    print("  %s: %s" % (w.name, line[24:]))
        s, _ = c.judge(max_duplicates=DUPLICATES_MAX, must_live=[c.broker] + workers, explain=False,
                       extra={"kills": KILLS})
        assert s["accepted"] == summary["accepted"], (s["accepted"], summary["accepted"])


run(test)
