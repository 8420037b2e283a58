#!/usr/bin/env python3
"""SUBMIT refusals (SPEC.md: SUBMIT, ACK, ERROR; issue #15 points 1 and 5).

Raw FLP on a DEALER, as a producer written from the spec would send it:
- a bad record refuses that record only: BAD_TASK or TOO_LARGE as its status
  byte in the ACK, and the valid records of the same batch are taken (a
  resend of them is DUPLICATE, a fixed resend of the bad one is OK);
- a producer's record must carry attempt 0 and a sequence other than 0;
- a batch whose records cannot be told apart is answered with an ACK of
  MALFORMED for every task, naming its batch_seq, in FLP/1 and FLP/1.1;
- a SUBMIT whose count is out of range gets ERROR(BAD_FIELD) naming SUBMIT
  and the batch_seq (FLP/1.1; FLP/1's ERROR has no room for them);
- each peer is answered in the version it spoke;
- BYE is not a command of the producer endpoint (BAD_STATE);
- the stats count messages under "refused" and tasks under "rejected"
  (QUEUE_FULL included).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flp  # noqa: E402  (re-runs under a Python with pyzmq, or skips)
from fling_harness import Cluster, run  # noqa: E402

P = 0x5eed5eed5eed5eed


def ok(seq, name="proto.a", payload="{}"):
    return flp.record(P, seq, name, payload)


def test():
    with Cluster("proto-submit") as c:
        c.start_broker("--store", "memory")
        p = flp.Peer(c.producer_endpoint)

        # A bad name between two good records: only it is refused.
        p.send(flp.submit(1, [ok(1), flp.record(P, 2, "bad name", "{}"), ok(3)]))
        ack = p.expect("ACK")
        assert ack.version == 2 and ack.batch_seq == 1, ack
        assert ack.statuses == ["OK", "BAD_TASK", "OK"], ack.statuses

        # A payload above 1 MiB: TOO_LARGE for it alone.
        big = "{\"x\":\"%s\"}" % ("y" * (1 << 20))
        p.send(flp.submit(2, [ok(4), flp.record(P, 5, "proto.a", big)]))
        ack = p.expect("ACK", timeout=10)
        assert ack.batch_seq == 2 and ack.statuses == ["OK", "TOO_LARGE"], ack

        # Producers send attempt 0 and sequences from 1; the all-zero id is not one.
        p.send(flp.submit(3, [flp.record(P, 6, "proto.a", "{}", attempt=1), flp.record(P, 0, "proto.a", "{}"),
                              flp.record(0, 0, "proto.a", "{}"), ok(7)]))
        ack = p.expect("ACK")
        assert ack.statuses == ["BAD_TASK", "BAD_TASK", "BAD_TASK", "OK"], ack.statuses

        # What was taken is held: a resend is DUPLICATE; the refused ones, fixed, are new.
        p.send(flp.submit(4, [ok(1), ok(3), ok(4), ok(7), ok(2), ok(5), ok(6)]))
        ack = p.expect("ACK")
        assert ack.statuses == ["DUPLICATE"] * 4 + ["OK"] * 3, ack.statuses

        # Framing lost (a length prefix past the body): every task MALFORMED, batch named.
        broken = bytearray(ok(8))
        broken[0:4] = (len(broken) + 10).to_bytes(4, "big")
        p.send(flp.submit(5, [ok(9), bytes(broken)]))
        ack = p.expect("ACK")
        assert ack.batch_seq == 5 and ack.statuses == ["MALFORMED", "MALFORMED"], ack
        # ...also when the count does not match the records, and with a missing body frame
        p.send(flp.submit(6, [ok(10)], count=2))
        ack = p.expect("ACK")
        assert ack.batch_seq == 6 and ack.statuses == ["MALFORMED"] * 2, ack
        p.send(flp.submit(7, [ok(11)])[:2])
        ack = p.expect("ACK")
        assert ack.batch_seq == 7 and ack.statuses == ["MALFORMED"], ack

        # Count out of range: no ACK can carry it; ERROR names SUBMIT and the batch.
        p.send(flp.submit(8, [ok(12)], count=0))
        err = p.expect("ERROR")
        assert (err.reason, err.refused, err.batch_seq) == ("BAD_FIELD", "SUBMIT", 8), err
        p.send(flp.submit(9, [ok(12)], count=1001))
        err = p.expect("ERROR")
        assert (err.reason, err.refused, err.batch_seq) == ("BAD_FIELD", "SUBMIT", 9), err
        # A fields frame that cannot be read: the batch is unknown (0).
        p.send([flp.header("SUBMIT"), b"\0" * 11, ok(12)])
        err = p.expect("ERROR")
        assert (err.reason, err.refused, err.batch_seq) == ("MALFORMED", "SUBMIT", 0), err

        # An FLP/1 producer gets FLP/1 answers: ACK with version 1, the short ERROR.
        p.send(flp.submit(10, [ok(13), flp.record(P, 14, "a/b", "{}")], version=1))
        ack = p.expect("ACK")
        assert ack.version == 1 and ack.statuses == ["OK", "BAD_TASK"], ack
        p.send(flp.submit(11, [ok(15)], version=1, count=0))
        err = p.expect("ERROR")
        assert err.version == 1 and err.reason == "BAD_FIELD" and err.refused is None, err
        p.send(flp.simple("PING", version=1))
        assert p.expect("PONG", skip=()).version == 1

        # BYE, like every worker command, is not for the producer endpoint.
        p.send(flp.simple("BYE"))
        err = p.expect("ERROR")
        assert (err.reason, err.refused) == ("BAD_STATE", "BYE"), err
        # PONG and ERROR are never answered (no ping-pong of errors).
        p.send(flp.simple("PONG"))
        p.send([flp.header("ERROR"), bytes(11), b"x"])
        p.send([flp.header("ERROR"), bytes(11), b"x" * 1025])  # malformed: still not answered
        p.send([flp.header("PONG"), b"extra"])
        p.silence()

        s = flp.stats(c.producer_endpoint)
        # held: 1,3,4,7 then 2,5,6 then 13 = 8 tasks
        assert s["tasks"] == 8, s["tasks"]
        assert s["rejected"] == {"BAD_TASK": 5, "TOO_LARGE": 1, "MALFORMED": 5}, s["rejected"]
        assert s["refused"] == {"MALFORMED": 6, "BAD_FIELD": 3, "BAD_STATE": 1}, s["refused"]
        assert s["counters"]["rejected"] == 11, s["counters"]
        p.close()

    # A limit refuses per task too, counted under "rejected" (FLP/1 counted it nowhere).
    with Cluster("proto-submit-full") as c:
        c.start_broker("--store", "memory", "--max-queue-tasks", "2")
        p = flp.Peer(c.producer_endpoint)
        p.send(flp.submit(1, [ok(1), ok(2), ok(3)]))
        assert p.expect("ACK").statuses == ["OK", "OK", "QUEUE_FULL"]
        s = flp.stats(c.producer_endpoint)
        assert s["rejected"] == {"QUEUE_FULL": 1} and s["refused"] == {}, s
        assert s["counters"]["rejected"] == 1, s["counters"]
        p.close()


run(test)
