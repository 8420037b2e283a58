#!/usr/bin/env python3
"""The producer library takes every answer the spec allows for a SUBMIT
(SPEC.md: producer rules; issue #15 point 1).

A broker played in Python (a ROUTER speaking FLP/1.1 from flp.py) answers
`fling send --json`, which runs the real producer library:
- ERROR naming the batch (BAD_FIELD, SUBMIT, batch_seq): every task of it is
  reported refused at once, and the batch is never sent again (before
  FLP/1.1 an ERROR could not name its batch and the batch was resent until
  the caller gave up);
- an ACK with per-task statuses: each task gets its own verdict;
- UNAVAILABLE (ERROR or ACK) is not a verdict: the same batch, same ids, is
  sent again after the ack timeout, and the next ACK decides.
"""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flp  # noqa: E402
from flp import zmq  # noqa: E402
from fling_harness import Cluster, run  # noqa: E402

ACK_TIMEOUT_S = 3.0  # the producer library's default (fling_producer.h)


class FakeBroker:
    """A ROUTER on a free port; answers PING with PONG and hands SUBMITs to `on_submit`."""

    def __init__(self):
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = "tcp://127.0.0.1:%d" % port
        self.submits = []  # (time, Msg)

    def serve(self, proc, on_submit, timeout):
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if not self.sock.poll(50):
                continue
            frames = self.sock.recv_multipart()
            peer, msg = frames[0], flp.Msg(frames[1:])
            if msg.cmd == "PING":
                self.sock.send_multipart([peer] + flp.simple("PONG"))
            elif msg.cmd == "SUBMIT":
                self.submits.append((time.monotonic(), msg))
                reply = on_submit(msg, len(self.submits))
                if reply:
                    self.sock.send_multipart([peer] + reply)
        return proc.poll()

    def close(self):
        self.sock.close(0)


def send(c, endpoint, count, pause_s=0.0, options=()):
    """`fling send --json` of `count` tasks; with `pause_s`, a pause between lines."""
    argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", endpoint, "--timeout-ms", "15000",
            "send", "proto.a", "--json"] + list(options)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = ['{"n":%d}\n' % i for i in range(count)]

    def write():  # on a thread, so the fake broker answers while the lines trickle in
        for chunk in ([lines[:1], lines[1:]] if pause_s else [lines]):
            proc.stdin.write("".join(chunk))
            proc.stdin.flush()
            time.sleep(pause_s)
        proc.stdin.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    if not pause_s:
        writer.join()
    return proc


def verdicts(proc):
    return [json.loads(line) for line in proc.stdout.read().splitlines()]


def statuses(reason, count):
    return bytes([flp.REASON[reason]] * count)


def case_error_names_batch(c):
    fake = FakeBroker()
    proc = send(c, fake.endpoint, 3)

    def refuse(msg, n):
        return [flp.header("ERROR"), (24).to_bytes(2, "big") + bytes([flp.CMD["SUBMIT"]])
                + msg.batch_seq.to_bytes(8, "big"), b"count must be 1 to 1000"]

    started = time.monotonic()
    rc = fake.serve(proc, refuse, timeout=20)
    took = time.monotonic() - started
    out = verdicts(proc)
    fake.close()
    assert rc == 1, "fling send should fail: %s %s" % (rc, out)
    assert [v["status"] for v in out] == ["rejected"] * 3, out
    assert all(v["error"] == "PROTOCOL" for v in out), out
    seqs = [msg.batch_seq for _, msg in fake.submits]
    assert len(seqs) == len(set(seqs)), "a refused batch was sent again: %s" % seqs
    assert sum(msg.count for _, msg in fake.submits) == 3, "each task sent once"
    assert took < ACK_TIMEOUT_S, "a refusal took %.1fs to reach the caller" % took
    print("  ERROR naming the batch: 3 tasks refused in %.2fs, one SUBMIT" % took)


def case_ack_per_task(c):
    fake = FakeBroker()
    proc = send(c, fake.endpoint, 3)

    wanted = [flp.REASON["OK"], flp.REASON["BAD_TASK"], flp.REASON["TOO_LARGE"]]
    sent = []  # tasks answered so far: the library may split the three into several batches

    def answer(msg, n):
        body = bytes(wanted[len(sent):len(sent) + msg.count])
        sent.extend([msg] * msg.count)
        return [flp.header("ACK"), msg.frames[1], body]

    fake.serve(proc, answer, timeout=20)
    out = verdicts(proc)
    fake.close()
    assert sum(msg.count for _, msg in fake.submits) == 3, "each task sent once"
    assert [(v["status"], v.get("error")) for v in out] == [
        ("accepted", None), ("rejected", "BAD_TASK"), ("rejected", "TOO_LARGE")], out
    print("  ACK per task: accepted, BAD_TASK, TOO_LARGE as sent")


def case_duplicate(c):
    """DUPLICATE for a task with a unique key: another task holds the key, so
    this one will not run (`duplicate`); for a plain task it means "stored
    earlier" (`accepted`). Both count as accepted: exit 0."""
    for options, wanted in ((["--key", "user:42:welcome"], "duplicate"), ([], "accepted")):
        fake = FakeBroker()
        proc = send(c, fake.endpoint, 1, options=options)
        rc = fake.serve(proc, lambda msg, n: [flp.header("ACK"), msg.frames[1],
                                              statuses("DUPLICATE", msg.count)], timeout=20)
        out = verdicts(proc)
        fake.close()
        assert rc == 0 and [v["status"] for v in out] == [wanted], (options, rc, out)
        assert "error" not in out[0], out
        print("  DUPLICATE %s: %s" % ("with a key" if options else "without a key", wanted))


def case_unavailable_is_no_answer(c):
    fake = FakeBroker()
    proc = send(c, fake.endpoint, 2, pause_s=0.3)  # two batches, most likely; one is fine too
    seen = {}  # batch_seq -> sends so far: the library may split the two tasks into two batches

    def answer(msg, n):
        seen[msg.batch_seq] = seen.get(msg.batch_seq, 0) + 1
        if seen[msg.batch_seq] == 1:  # an ERROR naming the batch, UNAVAILABLE: keep it, send it again
            return [flp.header("ERROR"), (4).to_bytes(2, "big") + bytes([flp.CMD["SUBMIT"]])
                    + msg.batch_seq.to_bytes(8, "big"), b"shutting down"]
        if seen[msg.batch_seq] == 2:  # an ACK with UNAVAILABLE: the same
            return [flp.header("ACK"), msg.frames[1], statuses("UNAVAILABLE", msg.count)]
        return [flp.header("ACK"), msg.frames[1], statuses("OK", msg.count)]

    fake.serve(proc, answer, timeout=30)
    out = verdicts(proc)
    fake.close()
    assert [v["status"] for v in out] == ["accepted"] * 2, out
    batches = {}
    for when, msg in fake.submits:
        batches.setdefault(msg.batch_seq, []).append((when, msg))
    assert sum(sends[0][1].count for sends in batches.values()) == 2, "the two tasks, once each"
    all_gaps = []
    for seq, sends in batches.items():
        assert len(sends) == 3, "batch %d: expected 3 sends, got %d" % (seq, len(sends))
        first = sends[0][1]
        for when, msg in sends[1:]:
            assert msg.frames[1:] == first.frames[1:], "a resend must be the same batch, same ids"
        gaps = [b[0] - a[0] for a, b in zip(sends, sends[1:])]
        assert all(g >= ACK_TIMEOUT_S * 0.9 for g in gaps), "resent before the ack timeout: %s" % gaps
        all_gaps += gaps
    print("  UNAVAILABLE twice, then OK: %d batch(es) resent unchanged after %s s"
          % (len(batches), ["%.1f" % g for g in all_gaps]))


def test():
    with Cluster("proto-producer") as c:
        case_error_names_batch(c)
        case_ack_per_task(c)
        case_duplicate(c)
        case_unavailable_is_no_answer(c)


run(test)
