#!/usr/bin/env python3
"""Full store (issue): a disk store capped by --store-max-bytes (4 MiB in
1 MiB segments) fills with tasks no worker takes; new tasks are refused with
STORE_FULL; once workers drain the queue new tasks are accepted again; the
store opens cleanly after a restart (offline check: 0 corrupt)."""
import os, sys, signal, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, check_store, corrupt_count, MissingFeature


def test():
    with FaultCluster("storefull") as c:
        c.require_disk_store()
        c.require("fling-broker", "--store-max-bytes", "--segment-bytes")
        store = c.path("store")
        args = c.disk_broker_args(store, "--store-max-bytes", str(4 << 20), "--segment-bytes", str(1 << 20))
        c.start_broker(*args)
        fill = c.start_load("--count", "60000", "--name", "test.noop")
        summary = c.load_summary(fill, timeout=120)
        print("fill:", summary, flush=True)
        ledger = c.refusals("STORE_FULL", "the store never filled")
        rc, text = c.send_task("test.noop", {"x": 1})
        # the active segment's tail may still fit one small task; if refused, say why
        print("one more task while full: rc=%d %s" % (rc, text), flush=True)
        assert rc == 0 or "STORE_FULL" in text.upper().replace(" ", "_"), text
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        c.wait_accepted_done(timeout=120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # completions free segments
            rc, _ = c.send_task("test.noop", {"probe": 1})
            if rc == 0:
                break
            time.sleep(0.5)
        again = c.start_load("--count", "2000", "--name", "test.noop")
        s2 = c.load_summary(again, timeout=60)
        c.wait_accepted_done(timeout=60)
        c.judge(max_duplicates=0, must_live=[c.broker] + workers,
                extra={"refused": len(ledger.rejected), "accepted_after_drain": s2["accepted"]})
        assert s2["accepted"] == 2000, s2
        assert c.stop(c.broker, signal.SIGTERM) == 0
        try:
            assert corrupt_count(check_store(c, store)) == 0
        except MissingFeature as e:
            print("note:", e)
        c.start_broker(*args, same_ports=True, name="broker.1")
        assert c.stats().get("tasks", 0) == 0


run(test)
