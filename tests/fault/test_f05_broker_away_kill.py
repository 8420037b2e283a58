#!/usr/bin/env python3
"""F05, second run: the disk-store broker is SIGKILLed and restarted 5 s later
(same ports, same store) while a producer keeps calling fling_send at a fixed
rate. No call blocks (p99.9/max < 100 ms, send phase not stretched); every
accepted task is done after the restart."""
import os, sys, signal, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

RATE = 2000
TOTAL = scaled(24000)
AWAY_S = 5.0


def test():
    with FaultCluster("f05k") as c:
        c.require_disk_store()
        store = c.path("store")
        c.start_broker(*c.disk_broker_args(store))
        workers = [c.start_worker("--pool-size", "2", "--async-limit", "100", name="w%d" % i) for i in range(2)]
        load = c.start_load("--count", str(TOTAL), "--name", "test.noop,test.block", "--rate", str(RATE),
                            "--latency", "--outbox-max", str(TOTAL), "--flush-timeout-ms", "120000")
        time.sleep(2)
        c.restart_broker(signal.SIGKILL, down_s=AWAY_S)
        c.faulted_pids.update(w.pid for w in workers)
        summary = c.load_summary(load, timeout=120)
        print("fling-load:", summary, flush=True)
        lat = summary.get("latency_us", {})
        c.wait_accepted_done(timeout=120)
        c.judge(max_duplicates=2 * (2 + 100), must_live=[c.broker] + workers, explain=False,
                extra={"send_p999_us": lat.get("p999"), "send_max_us": lat.get("max"),
                       "send_seconds": summary["send_seconds"]})
        assert summary["accepted"] == TOTAL, summary
        assert max(lat.get("p999", 0), lat.get("max", 0)) < 100000, lat
        assert summary["send_seconds"] < TOTAL / float(RATE) + AWAY_S / 2, summary


run(test)
