#!/usr/bin/env python3
"""S11: a hostile peer sends every malformed message of the bad-input
catalogue (frames and envelope, fields, protocol state) to both endpoints,
with CURVE off and with CURVE on (then as an authenticated producer and
worker, plus the roles' and ids' refusals), and forges results and
HOLDINGs for tasks it never got, beside a normal load.

Each message gets exactly the answer SPEC.md §7/§9 give it (fling-attack
badinput checks them one by one), each refusal is counted, the daemons
stay up, and the normal load loses nothing.
"""
from security_harness import SecurityCluster, run

LOAD = 5000


def hostile(curve):
    with SecurityCluster("hostile-curve" if curve else "hostile", curve=curve) as c:
        broker = c.start_broker(store="disk")
        c.start_worker("--pool-size", "2")
        load = c.start_load("--count", str(LOAD), "--rate", "1000", "--name", "test.noop")
        extra = ["--worker-endpoint", c.worker_endpoint]
        if curve:
            extra += ["--worker-curve-key", c.key_path("worker", "secret")]
        for round_ in range(3):
            out = c.attack("badinput", *extra, key="producer" if curve else False)
            failed = [case for case in out["cases"] if not case["ok"]]
            print("  round %d: %d cases, %d wrong%s" % (round_, len(out["cases"]), len(failed),
                                                      (": %s" % failed) if failed else ""),
                  flush=True)
            assert not failed and out["failed"] == 0
        forged = c.attack("forge", "--count", 500, "--name", "test.noop",
                          key="worker" if curve else False, endpoint="worker")
        assert forged["sent"] == 500
        summary = c.load_summary(load, 60)
        assert summary["accepted"] == LOAD and summary["rejected"] == 0, summary
        c.wait_done(LOAD, 60)
        c.check(expect_accepted=LOAD)
        stats = c.stats()
        print("  refused:", stats["refused"], flush=True)
        print("  stale_results %d holding_ignored %d forbidden_ids %d"
              % (stats["counters"]["stale_results"], stats["counters"]["holding_ignored"],
                 stats["counters"]["forbidden_ids"]), flush=True)
        # FLP/1.1: messages refused are counted by reason (an empty one is a
        # BAD_SIGNATURE), tasks refused in ACKs by status, apart (SPEC §8).
        for reason in ("BAD_SIGNATURE", "BAD_VERSION", "BAD_COMMAND", "MALFORMED", "BAD_FIELD",
                       "BAD_STATE"):
            assert stats["refused"].get(reason, 0) >= 3, (reason, stats["refused"])
        for status in ("MALFORMED", "BAD_TASK", "TOO_LARGE"):
            assert stats["rejected"].get(status, 0) >= 3, (status, stats["rejected"])
        if curve:
            assert stats["refused"].get("FORBIDDEN", 0) >= 3 * 3
            assert stats["counters"]["forbidden_ids"] >= 3
        assert stats["counters"]["stale_results"] >= 500
        assert stats["counters"]["holding_ignored"] >= 500
        assert broker.alive()


def main():
    hostile(curve=False)
    hostile(curve=True)


if __name__ == "__main__":
    run(main)
