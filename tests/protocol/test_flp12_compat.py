#!/usr/bin/env python3
"""FLP/1.2 task extensions at fling-broker (SPEC.md §2.3, §3.1, §3.6), raw FLP
on a DEALER as a producer written from the spec sends them:
- a version-3 SUBMIT is answered by a version-3 ACK; a delay or a due time is
  accepted (held until due), a priority and a unique key too (§6.8);
- in a version-2 SUBMIT a record with bytes after its payload's zero byte
  is BAD_TASK on its own, its neighbours taken;
- a version-4 SUBMIT is ERROR(BAD_VERSION) in the FLP/1 layout.
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

        later = flp.extend(ok(1), [(DELAY, struct.pack(">I", 60000))])
        at = flp.extend(ok(2), [(DUE_AT, struct.pack(">Q", 4102444800000))])  # 2100-01-01
        p.send(flp.submit(1, [later, at, delayed(3), ok(4)], version=3))
        ack = p.expect("ACK")
        assert ack.version == 3 and ack.batch_seq == 1, ack
        assert ack.statuses == ["OK", "OK", "OK", "OK"], ack.statuses

        p.send(flp.submit(2, [ok(5), delayed(6), ok(7)]))
        ack = p.expect("ACK")
        assert ack.version == 2 and ack.statuses == ["OK", "BAD_TASK", "OK"], ack.statuses

        # A priority alone is held (in the stored record) and served (§6.8).
        p.send(flp.submit(4, [flp.extend(ok(9), [(PRIORITY, b"\x07")])], version=3))
        ack = p.expect("ACK")
        assert ack.statuses == ["OK"], ack.statuses

        p.send(flp.submit(3, [ok(8)], version=4))
        err = p.expect("ERROR")
        assert err.version == 1 and err.reason == "BAD_VERSION" and err.refused is None, err
        assert "1 to 3" in err.text, err.text

        s = flp.stats(c.producer_endpoint)
        assert s["tasks"] == 7, s["tasks"]   # 1, 2, 3 (held until due), 4, 5, 7, 9
        assert s["delayed"] == 3, s["delayed"]
        p.close()


run(test)
