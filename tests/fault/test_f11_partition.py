#!/usr/bin/env python3
"""F11 partition worker <-> broker: two workers run in a network namespace of
their own, joined to the broker by a veth pair (private /30 in 10.213/16); one
worker stays on the host. Three times: the namespace's link goes down for
10 s, then comes back. The cut-off workers' leases expire and their tasks run
on the host worker; after the heal their late results are fenced; duplicates
only from the cut-off workers and at most what they held."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, Netns, run, scaled

ROUNDS = 3
CUT_S = 10
TOTAL = scaled(9000)
POOL, ASYNC = 4, 8  # pool tasks of 40 ms: the host worker alone cannot keep up


def test():
    with FaultCluster("f11") as c:
        ns = Netns()
        c.cleanups.append(ns.close)
        ns.create()
        c.worker_host = ns.host_ip
        # The worker endpoint is on the test's own namespace link, not loopback:
        # without CURVE the broker binds there only when told it may.
        c.start_broker("--insecure-bind")
        wargs = ("--pool-size", str(POOL), "--async-limit", str(ASYNC))
        host = c.start_worker(*wargs, name="host")
        cut_off = [c.start_worker(*wargs, name="ns%d" % i, prefix=ns.prefix()) for i in range(2)]
        load = c.start_load("--count", str(TOTAL), "--name", "test.block", "--ms", "40",
                            "--rate", str(TOTAL // 45), "--outbox-max", str(TOTAL))
        lost_before = c.counters().get("worker_lost", 0)
        for r in range(ROUNDS):
            time.sleep(3)
            done_before = c.fault_ledger().done_by_pid_ids
            ns_done = sum(len(done_before[str(w.pid)]) for w in cut_off)
            assert ns_done > 0 or r > 0, "the namespaced workers got no work before the cut"
            for w in cut_off:
                c.event("partition", w)
                c.faulted_pids.add(w.pid)
            ns.cut()
            deadline = time.monotonic() + CUT_S
            while time.monotonic() < deadline:
                c.sample_rss()
                time.sleep(0.5)
            ns.heal()
            c.event("heal", None)
        summary = c.load_summary(load, timeout=120)
        assert summary["accepted"] == TOTAL, summary
        c.wait_accepted_done(timeout=120)
        time.sleep(2)
        stats = c.counters()
        lost = stats.get("worker_lost", 0) - lost_before
        ledger = c.fault_ledger()
        per = {w.name: len(ledger.done_by_pid_ids[str(w.pid)]) for w in [host] + cut_off}
        c.judge(max_duplicates=ROUNDS * 2 * (POOL + ASYNC), must_live=[c.broker, host] + cut_off,
                expect_accepted=TOTAL,
                extra={"rounds": ROUNDS, "worker_lost": lost, "stale_results": stats.get("stale_results"),
                       "requeued": stats.get("requeued"), "done_per_worker": per})
        assert lost >= ROUNDS, "the broker declared cut-off workers dead only %d times" % lost
        assert all(n > 0 for n in per.values()), per


run(test)
