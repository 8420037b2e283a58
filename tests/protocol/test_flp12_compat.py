#!/usr/bin/env python3
"""FLP/1.2 task extensions meet a broker that speaks FLP/1.1 (SPEC.md §2.3,
§3.1, §3.6), raw FLP on a DEALER as a producer written from the spec sends
them:
- a version-3 SUBMIT is refused whole with ERROR(BAD_VERSION) in the FLP/1
  layout (no batch named), its text saying which versions are spoken, and
  nothing of it is held: a delayed task is never read as one to run now;
- in a version-2 SUBMIT a record with bytes after its payload's zero byte
  is BAD_TASK on its own, its neighbours taken.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flp  # noqa: E402  (re-runs under a Python with pyzmq, or skips)
from fling_harness import Cluster, run  # noqa: E402

P = 0x5eed5eed5eed5eed
DELAY, DUE_AT, PRIORITY, UNIQUE = 1, 2, 3, 4


def ok(seq):
    return flp.record(P, seq, "proto.a", "{}")


def delayed(seq):
    return flp.extend(ok(seq), [(DELAY, struct.pack(">I", 5000)), (PRIORITY, b"\x07"),
                                (UNIQUE, struct.pack(">I", 3600000) + b"user:42")])


def test():
    with Cluster("proto-flp12") as c:
        c.start_broker("--store", "memory")
        p = flp.Peer(c.producer_endpoint)

        p.send(flp.submit(1, [delayed(1), ok(2)], version=3))
        err = p.expect("ERROR")
        assert err.version == 1 and err.reason == "BAD_VERSION" and err.refused is None, err
        assert "1 and 2" in err.text, err.text

        p.send(flp.submit(2, [ok(3), delayed(4), ok(5)]))
        ack = p.expect("ACK")
        assert ack.version == 2 and ack.statuses == ["OK", "BAD_TASK", "OK"], ack.statuses

        s = flp.stats(c.producer_endpoint)
        assert s["tasks"] == 2, s["tasks"]   # 3 and 5: nothing of the version-3 batch
        assert s["refused"] == {"BAD_VERSION": 1}, s["refused"]
        p.close()


run(test)
