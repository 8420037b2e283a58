#!/usr/bin/env python3
"""Handlers that send follow-up tasks: a fling-worker module using both the
worker and the producer API of libfling (tests/integration/chain_handlers.c).
fling-load sends 200 root tasks of depth 4; each run sends the next step
from inside its handler (alternately on the pool and on the loop), so
1,000 tasks run in all, through a real disk-store broker. Every task any
producer saw accepted, fling-load or a handler, is done exactly once, and
each run checked that the producer and the worker report errors through
one shared state (fling_last_error after a refused send)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run  # noqa: E402

ROOTS, DEPTH = 200, 4
TOTAL = ROOTS * (DEPTH + 1)


def test():
    module = os.environ["FLING_CHAIN_HANDLERS"]
    with Cluster("follow-up") as c:
        c.start_broker()
        # The handlers' producers connect where fling_producer_options_init looks.
        os.environ["FLING_PRODUCER_ENDPOINT"] = c.producer_endpoint
        for i in range(2):
            ledger = c.path("chain%d.ledger" % (i + 1))
            c.start_worker("--pool-size", "2", name="chain%d" % (i + 1), ledger=ledger,
                           handlers=module)
            c.producer_ledgers.append(ledger + ".accepted")
        load = c.start_load("--count", str(ROOTS), "--name", "chain.block,chain.async",
                            "--payload-extra", '"depth":%d' % DEPTH)
        summary = c.load_summary(load, timeout=60)
        assert summary["accepted"] == ROOTS, summary
        deadline = time.monotonic() + 120
        while c.done_count() < TOTAL:
            failed = sum(c.ledger().failed_runs.values())
            assert failed == 0, "%d runs failed; the broker log has their errors" % failed
            assert time.monotonic() < deadline, "only %d of %d done" % (c.done_count(), TOTAL)
            time.sleep(0.1)
        c.check(max_duplicates=0, expect_accepted=TOTAL)
        counters = c.stats()["counters"]
        print("done %d of %d; broker: done=%s failed=%s" % (c.done_count(), TOTAL,
                                                           counters["done"], counters["failed"]))
        assert counters["failed"] == 0 and counters["done"] == TOTAL, counters


run(test)
