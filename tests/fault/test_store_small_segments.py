#!/usr/bin/env python3
"""Segment size is not a cap on tasks (issue #15): with --segment-bytes 65536
the store holds 20,000 queued tasks (about 3.4 MB of records in ~50 segments),
`stats` says full=false while it accepts them, and a restart recovers them
all. Then a cap (--store-max-bytes 8 MiB) makes the store refuse: every
STORE_FULL answer is seen with stats full=true, tasks already accepted all
complete, and once they drained the store accepts again. Every accepted task
runs once (ledger)."""
import os
import signal
import sys
import time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, check_store

SEGMENT = 65536
TOTAL = scaled(20000)


def store_of(c):
    return c.stats()["store"]


def test():
    with FaultCluster("smallseg") as c:
        c.require_disk_store()
        store = c.path("store")
        args = c.disk_broker_args(store, "--segment-bytes", str(SEGMENT))
        c.start_broker(*args)
        load = c.start_load("--count", str(TOTAL), "--name", "test.noop")
        s = c.load_summary(load, timeout=120)
        st = store_of(c)
        print("small segments: %s; store %s" % ({k: s[k] for k in ("accepted", "rejected")}, st), flush=True)
        assert s["accepted"] == TOTAL, "only %d of %d accepted with %d-byte segments (rejected %d)" % (
            s["accepted"], TOTAL, SEGMENT, s["rejected"])
        assert st["full"] is False, st
        assert st["segments"] > 20, st
        assert c.stop(c.broker, signal.SIGTERM) == 0
        chk = check_store(c, store)
        assert chk["rc"] == 0 and chk["live_tasks"] == TOTAL, chk
        c.start_broker(*args, same_ports=True, name="broker.1")
        assert c.stats()["tasks"] == TOTAL
        # a task larger than a segment: refused as too large, not "unavailable" for ever
        rc, text = c.send_task("test.noop", {"pad": "x" * 70000})
        print("a 70 KB task with 64 KiB segments: rc=%d %s" % (rc, text), flush=True)
        assert rc != 0 and "too large" in text.lower().replace("_", " "), text
        assert c.broker.alive() and c.stats()["tasks"] == TOTAL

        # a cap: refusals agree with stats
        assert c.stop(c.broker, signal.SIGTERM) == 0
        capped = args + ["--store-max-bytes", str(8 << 20)]
        c.start_broker(*capped, same_ports=True, name="broker.2")
        fill = c.start_load("--count", str(scaled(100000)), "--name", "test.noop", "--rate", str(scaled(50000)))
        saw_full = 0
        deadline = time.monotonic() + 60
        while fill.alive() and time.monotonic() < deadline:
            st = c.stats()
            if st["counters"].get("store_full", 0) > 0:
                saw_full += 1
                assert st["store"]["full"] is True, "STORE_FULL answered while stats says %s" % st["store"]
            time.sleep(0.1)
        summary = c.load_summary(fill, timeout=120)
        st = c.stats()
        print("capped fill: %s; store %s; store_full=%d" % (
            {k: summary[k] for k in ("accepted", "rejected")}, st["store"], st["counters"].get("store_full", 0)),
            flush=True)
        assert summary["rejected"] > 0, "the cap never filled the store"
        assert st["store"]["full"] is True, st["store"]
        ledger = c.refusals("STORE_FULL", "nothing refused")
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        c.wait_accepted_done(timeout=180)
        deadline = time.monotonic() + 30
        while store_of(c)["full"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not store_of(c)["full"], "still full after every task ran: %s" % store_of(c)
        again = c.start_load("--count", "2000", "--name", "test.noop")
        assert c.load_summary(again, timeout=60)["accepted"] == 2000
        c.wait_accepted_done(timeout=60)
        c.judge(max_duplicates=0, must_live=[c.broker] + workers,
                extra={"refused": len(ledger.rejected), "polls_while_full": saw_full})


run(test)
