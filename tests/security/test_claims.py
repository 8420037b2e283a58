#!/usr/bin/env python3
"""Workers complete only what was leased to their own key (CURVE).

Worker A (key w1) runs a long task and is paused (SIGSTOP) until the
broker declares it dead: its task goes back to the queue, marked as a run
whose end nobody saw, that A may claim back (HOLDING) when it returns.
Meanwhile another worker key (w2) knows the task's id and attempt and
sends HOLDING and RESULT DONE for it, without ever being given it:
  - the broker refuses both (holding_ignored, stale_results): the task is
    still held, not done;
Then a peer under A's own key (w1) claims the same lease and completes it:
  - the claim is taken (holding_leased), the task ends once: done 1, none
    held, and the broker took nothing from w2.
(The claim is made by fling-attack under w1, so that its outcome depends
on the key alone, not on when A's run ends.)
"""
import signal
import time

from security_harness import SecurityCluster, run, settle


def started(c, name):
    with open(c.path("%s.ledger" % name)) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "start":
                return parts[1], int(parts[2])
    return None


def forge_then_stats(c, prefix, seq, key, done=0):
    """HOLDING and RESULT DONE for task prefix:seq attempt 1 under `key`; the
    broker's stats once it has had a second (or once `done` tasks ended)."""
    out = c.attack("forge", "--name", "test.block", "--capacity", 0, "--prefix", prefix,
                   "--seq-start", seq, "--count", 1, key=key, endpoint="worker")
    print("  forged under %s: %s" % (key, out), flush=True)
    time.sleep(1)
    if done:
        settle(lambda: c.stats()["counters"]["done"] == done or None, 20,
               "%d task done under %s" % (done, key))
    stats = c.stats()
    print("  then:", {k: stats["counters"][k] for k in
                      ("holding_leased", "holding_ignored", "stale_results", "done")}, flush=True)
    return stats


def test():
    with SecurityCluster("claims", curve=True) as c:
        c.keygen("w1", "worker")
        c.keygen("w2", "worker")
        c.start_broker("--worker-timeout-ms", "3000", store="memory")
        a = c.start_worker("--pool-size", "1", "--prefetch", "0", name="A", key="w1")
        load = c.start_load("--count", "1", "--name", "test.block", "--ms", "8000")
        assert c.load_summary(load, 30)["accepted"] == 1
        task_id, attempt = settle(lambda: started(c, "A"), 20, "the task started on A")
        a.signal(signal.SIGSTOP)
        settle(lambda: c.stats()["counters"]["worker_lost"] >= 1, 15, "A declared dead")
        prefix, seq = task_id.split(":")
        stats = forge_then_stats(c, prefix, seq, "w2")
        counters = stats["counters"]
        assert counters["done"] == 0 and stats["tasks"] == 1, stats
        assert counters["holding_leased"] == 0 and counters["holding_ignored"] >= 1
        assert counters["stale_results"] >= 1
        a.signal(signal.SIGKILL)
        a.wait(10)
        stats = forge_then_stats(c, prefix, seq, "w1", done=1)
        counters = stats["counters"]
        assert counters["holding_leased"] == 1 and stats["tasks"] == 0, stats
        assert counters["dispatched"] == 1, counters  # it never ran a second time


if __name__ == "__main__":
    run(test)
