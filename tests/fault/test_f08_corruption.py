#!/usr/bin/env python3
"""F08 store corruption: 20,000 tasks stored (no workers) in 1 MiB segments;
the broker is stopped; 8 random bits are flipped inside records of a sealed
segment; restart with workers. The broker starts, counts corrupt records,
never crashes and never delivers a record whose CRC fails (unexpected = 0);
loss is at most one task per flipped bit and reported by id."""
import os, re, sys, signal, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled, rng_for, stat_get

TOTAL = scaled(20000)
FLIPS = 8


def test():
    rng = rng_for("f08")
    with FaultCluster("f08") as c:
        c.require_disk_store()
        c.require("fling-broker", "--segment-bytes")
        store = c.path("store")
        args = c.disk_broker_args(store, "--segment-bytes", str(1 << 20))
        c.start_broker(*args)
        load = c.start_load("--count", str(TOTAL), "--name", "test.noop")
        assert c.load_summary(load, timeout=60)["accepted"] == TOTAL
        assert c.stop(c.broker, signal.SIGTERM) == 0
        segs = sorted(f for f in os.listdir(store) if f.endswith(".seg"))
        assert len(segs) >= 2, "need a sealed segment, have %s" % segs
        victim = os.path.join(store, segs[0])
        with open(victim, "r+b") as f:
            data = bytearray(f.read())
            end = len(data.rstrip(b"\0"))
            for _ in range(FLIPS):
                at = rng.randrange(64, end)
                data[at] ^= 1 << rng.randrange(8)
            f.seek(0)
            f.write(data)
        c.event("bitflips", None)
        c.start_broker(*args, same_ports=True, name="broker.1")
        workers = [c.start_worker("--pool-size", "2", name="w%d" % i) for i in range(2)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and c.stats().get("tasks", 1) > 0:
            time.sleep(0.5)
        time.sleep(1)
        st = c.stats()
        corrupt = stat_get(st, "corrupt_records", default=None)
        if corrupt is None:  # not in stats: the recovery line of the log has it
            found = re.findall(r"recovered .*corrupt_records=(\d+)", c.broker.log())
            corrupt = int(found[-1]) if found else None
        s, ledger = c.judge(max_duplicates=0, must_live=[c.broker] + workers, max_lost=FLIPS,
                            extra={"flipped_bits": FLIPS, "corrupt_records": corrupt, "segment": segs[0]})
        print("lost ids (damaged range):", s["lost_sample"])
        assert corrupt, "the broker did not count the corrupt records: %s" % st


run(test)
