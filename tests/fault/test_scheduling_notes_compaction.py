#!/usr/bin/env python3
"""A pause and a unique key in its TTL outlive the log segment they were
written in (issue 20; proto/SPEC.md §6.8; broker/STORE.md, KEY and PAUSE
notes; labels `scheduling` and `fault`).

With 64 KiB segments: pause test.async (a pause note), run one task with the
unique key "report:2026" and a 10-minute TTL (a key note after its DONE) and
send one keyed task to the paused name (its key lives in its TASK record).
Then 4,000 plain tasks go through, filling and emptying many segments. The
notes pin their first segment; unless compaction writes them again at the
head of the log, that segment and every later one stay (segments go oldest
first): so the store must shrink back to a few segments. Then SIGKILL and a
restart on the same store: the name is still paused, both keys are still held
(a new send with either is "duplicate"), and after a resume every accepted
task has run exactly once."""
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

SEGMENT = 65536
BULK = scaled(4000, minimum=1500)
PAUSED = "test.async"


def send(c, name, key, ttl):
    """fling send --json with a key; returns (status, id)."""
    argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "send", name,
            "--json", "--key", key, "--key-ttl", ttl]
    r = subprocess.run(argv, input='{"x":1}\n', capture_output=True, text=True, timeout=30)
    v = json.loads(r.stdout.splitlines()[0])
    if v["status"] == "accepted":
        if c.cli_ledger not in c.producer_ledgers:
            c.producer_ledgers.append(c.cli_ledger)
        with open(c.cli_ledger, "a") as f:
            f.write("accepted %s\n" % v["id"])
    return v["status"], v.get("id")


def segment_ids(c):
    """Ids of the store's segment files (16 hex digits + .seg)."""
    names = os.listdir(c.path("store"))
    return sorted(int(n[:16], 16) for n in names if len(n) == 20 and n.endswith(".seg"))


def test():
    with FaultCluster("sched-notes") as c:
        c.require_disk_store()
        c.start_broker(*c.disk_broker_args(c.path("store"), "--segment-bytes", str(SEGMENT)))
        c.start_worker()
        assert c.fling("queue", "pause", PAUSED).returncode == 0
        status, ran_id = send(c, "test.noop", "report:2026", "10m")
        assert status == "accepted", status
        status, held_id = send(c, PAUSED, "user:7", "0")
        assert status == "accepted", status
        c.wait_ids_done([ran_id], timeout=30)

        first = segment_ids(c)   # the notes' segment is among these
        load = c.start_load("--count", str(BULK), "--name", "test.noop")
        s = c.load_summary(load, timeout=120)
        assert s["accepted"] == BULK, s
        c.wait_ids_done(c.fault_ledger().accepted - {held_id}, timeout=60)  # held: paused
        deadline = time.monotonic() + 30
        while min(segment_ids(c)) <= max(first) and time.monotonic() < deadline:
            time.sleep(0.25)
        after = segment_ids(c)
        print("segments: %s before the load, %s after" % (first, after), flush=True)
        assert max(after) >= max(first) + 5, "the load did not roll enough segments: %s" % after
        assert min(after) > max(first), "the notes still pin their first segment: %s" % after

        c.restart_broker(signal.SIGKILL, down_s=0.5)
        stats = c.stats()
        q = [q for q in stats["queues"] if q["name"] == PAUSED]
        assert q and q[0]["paused"] is True and q[0]["queued"] == 1, q
        assert stats.get("keys") == 2, stats.get("keys")
        assert send(c, "test.noop", "report:2026", "10m")[0] == "duplicate"
        assert send(c, PAUSED, "user:7", "0")[0] == "duplicate"
        assert c.fling("queue", "resume", PAUSED).returncode == 0
        ledger = c.wait_ids_done([held_id], timeout=30)
        assert all(len(ledger.done_events[i]) == 1 for i in (ran_id, held_id))
        c.judge(max_duplicates=0, expect_accepted=BULK + 2,
                extra={"segments_before": first, "segments_after": after})


run(test)
