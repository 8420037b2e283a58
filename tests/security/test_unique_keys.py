#!/usr/bin/env python3
"""Unique keys under CURVE (issue 20; proto/SPEC.md §6.8 "Unique keys", §9;
labels `security` and `scheduling`).

1. Scope: two producer keys each send a task with the same key text: both
   are accepted and run (a key is scoped by the producer key), and a second
   send by either one is "duplicate" and never runs.
2. Share: with --max-tasks 10 the broker holds at most 10 unique keys, half
   of them per producer key. A producer that keeps keys alive for their TTL
   (its tasks done one by one) gets QUEUE_FULL once it holds 5, while the
   other producer key is still served.
The ledger: every accepted task ran exactly once, no refused one ran."""
import json, os, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from fling_harness import Cluster, run  # noqa: E402


def send(c, who, key, name="test.noop"):
    """fling send --json under producer key `who`; returns (status, error, id)."""
    argv = ([os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint]
            + c.curve_args(who) + ["send", name, "--json", "--key", key, "--key-ttl", "1h"])
    r = subprocess.run(argv, input='{"k":1}\n', capture_output=True, text=True, timeout=30)
    v = json.loads(r.stdout.splitlines()[0])
    ledger = c.path("%s.ledger" % who)
    if ledger not in c.producer_ledgers:
        c.producer_ledgers.append(ledger)
    with open(ledger, "a") as f:
        if v["status"] == "accepted":
            f.write("accepted %s\n" % v["id"])
        elif v.get("id"):
            f.write("rejected %s %s\n" % (v["id"], v.get("error", v["status"]).upper()))
    return v["status"], v.get("error"), v.get("id")


def test():
    with Cluster("unique-keys", curve=True) as c:
        c.keygen("p2", "producer")
        c.start_broker("--max-tasks", "10", store="memory")
        c.start_worker()
        # 1. scope
        for who in ("producer", "p2"):
            assert send(c, who, "invoice:1")[0] == "accepted", who
        for who in ("producer", "p2"):
            assert send(c, who, "invoice:1")[0] == "duplicate", who
        c.wait_done(2, 30)
        assert c.stats()["keys"] == 2
        # 2. share: "producer" holds invoice:1 already, so 4 more, then QUEUE_FULL
        taken = 0
        for i in range(6):
            status, error, _ = send(c, "producer", "order:%d" % i)
            if status == "accepted":
                taken += 1
                c.wait_done(2 + taken, 30)   # its task ends: the key stays for its TTL
            else:
                assert (status, error) == ("rejected", "QUEUE_FULL"), (i, status, error)
        assert taken == 4, taken
        assert send(c, "p2", "order:0")[0] == "accepted"   # the other key is served
        c.wait_done(2 + taken + 1, 30)
        stats = c.stats()
        assert stats["keys"] == 7 and stats["counters"]["key_duplicates"] == 2, \
            (stats["keys"], stats["counters"])
        time.sleep(0.5)   # nothing refused may run meanwhile
        c.check(expect_accepted=2 + taken + 1)


if __name__ == "__main__":
    run(test)
