#!/usr/bin/env python3
"""F06 producer SIGKILL: ten producers, each SIGKILLed mid-burst. Every
ACCEPTED task is done; tasks sent but never confirmed are either done
(recovered: the producer's key and a sequence it sent) or not; nothing runs
that no producer sent."""
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, rng_for

ROUNDS = 10
PER = scaled(20000)


def test():
    rng = rng_for("f06")
    with FaultCluster("f06") as c:
        c.start_broker()
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        counts = {}
        for r in range(ROUNDS):
            load = c.start_load("--count", str(PER), "--name", "test.noop,test.async", "--ms", "1",
                                "--rate", "20000")
            ledger = c.producer_ledgers[-1]
            deadline = time.monotonic() + 20
            while (not os.path.exists(ledger) or os.path.getsize(ledger) == 0) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert os.path.getsize(ledger) > 0, "producer %d confirmed nothing in 20 s" % r
            time.sleep(rng.uniform(0, 0.4))
            assert load.alive(), "producer finished before it could be killed; raise PER"
            c.kill(load)
            with open(ledger) as f:
                key = f.readline().split()[1].split(":")[0]
            counts[key] = PER
        # Quiescence: the broker holds nothing more.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = c.stats()
            if st.get("tasks", 1) == 0:
                break
            time.sleep(0.5)
        c.wait_accepted_done(timeout=60)
        time.sleep(0.5)
        recovered = c.fault_ledger().recovered(counts)
        c.judge(max_duplicates=0, must_live=[c.broker] + workers, allow_unexpected=recovered,
                extra={"producers_killed": ROUNDS})


run(test)
