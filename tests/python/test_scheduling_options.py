"""The Python producer's scheduling options (proto/SPEC.md §3.6, §6.8): the
same as the C library's fling_send_options_t (delay_ms, at_ms, priority,
unique_key, key_ttl_ms), checked the same way, sent in FLP/1.2 batches of
their own; an FLP/1.1 broker refuses them (VersionTooOld) and nothing else.
"""
import sys
import time

import pytest

import fling
from conftest import LedgerProducer
from fling import protocol as p
from fling.task_ext import task_ext
from fling_harness import wait_until
from test_flp11 import ScriptedBroker


def test_delayed_tasks_wait_and_plain_ones_do_not(cluster):
    cluster.start_broker()
    cluster.start_worker(name="cworker")
    producer = LedgerProducer(cluster)
    # The ledgers' times are whole ms (truncated): a task that starts in
    # the very ms it is due reads as that ms, so compare whole ms too.
    sent_ms = int(time.time() * 1000)
    at_ms = sent_ms + 2500
    plain, delayed, at = [], [], []
    for i in range(30):  # interleaved: the kinds never share a batch
        plain.append(producer.send("test.noop", {"i": i}))
        delayed.append(producer.send("test.noop", {"i": i}, delay_ms=1500))
        at.append(producer.send("test.noop", {"i": i}, at_ms=at_ms))
    producer.flush(20)
    producer.close()
    cluster.wait_done(90, timeout=30)
    ran = cluster.event_ms("done")
    assert all(ran[t] - sent_ms < 1400 for t in plain), "a plain task waited"
    early = [ran[t] - sent_ms for t in delayed if ran[t] - sent_ms < 1500]
    assert not early, "delayed tasks ran early: %s ms after sending" % early[:5]
    assert not [t for t in at if ran[t] < at_ms], "a task ran before its at_ms"
    cluster.check(max_duplicates=0, expect_accepted=90)


def test_options_are_checked_before_anything_leaves(cluster):
    cluster.start_broker()
    producer = fling.Producer(cluster.producer_endpoint)
    try:
        bad = [dict(priority=10), dict(priority=-1), dict(delay_ms=5, at_ms=10**12),
               dict(unique_key=""), dict(unique_key="has space"), dict(unique_key="k" * 129),
               dict(unique_key="caf\u00e9"), dict(delay_ms=1 << 32), dict(key_ttl_ms=-1,
                                                                          unique_key="k")]
        for options in bad:
            with pytest.raises(ValueError):
                producer.send("test.noop", {}, **options)
        producer.flush(5)
        stats = producer.stats()
        assert stats.invalid == len(bad) and stats.accepted == 0, stats
    finally:
        producer.close()


def test_task_extensions_reach_the_broker_as_encoded(monkeypatch):
    """The SUBMIT the producer sends: version 3 for the batch with extensions,
    version 2 (FLP/1.1, unchanged) for the plain one, and the extension bytes
    as the spec's one encoding."""
    broker = ScriptedBroker()
    producer = fling.Producer(broker.endpoint)
    try:
        producer.send("test.noop", {"n": 1})
        producer.send("test.noop", {"n": 2}, delay_ms=7, priority=3, unique_key="user:42",
                      key_ttl_ms=60000)
        seen = []
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            if not broker.sock.poll(200):
                continue
            rid, *frames = broker.sock.recv_multipart()
            if frames[0][3] == p.PING:
                broker.send(rid, p.pong())
                continue
            seen.append(frames)
            count = int.from_bytes(frames[1][8:12], "big")
            broker.send(rid, p.ack(int.from_bytes(frames[1][:8], "big"), bytes(count)))
        assert [f[0][2] for f in seen] == [2, 3], "FLP/1.1 for plain, FLP/1.2 for extensions"
        record = seen[1][2]
        ext = bytes((1, 4)) + (7).to_bytes(4, "big") + bytes((3, 1, 3, 4, 11)) \
            + (60000).to_bytes(4, "big") + b"user:42"
        assert record.endswith(b'{"n":2}\0' + ext), record
        assert int.from_bytes(record[:4], "big") == len(record) - 4
        producer.flush(5)
    finally:
        producer.close(linger=0)
        broker.close()


def test_an_flp11_broker_refuses_only_the_tasks_with_options():
    broker = ScriptedBroker()
    acks = []
    producer = fling.Producer(broker.endpoint,
                              on_ack=lambda task_id, ack, error: acks.append((ack, type(error))))
    try:
        producer.send("test.noop", {"n": 1}, delay_ms=1000)
        plain_sent = False
        deadline = time.monotonic() + 10
        while len(acks) < 2 and time.monotonic() < deadline:
            if acks and not plain_sent:  # the refusal came: a plain task still goes
                producer.send("test.noop", {"n": 2})
                plain_sent = True
            if not broker.sock.poll(100):
                continue
            rid, *frames = broker.sock.recv_multipart()
            if frames[0][3] == p.PING:
                broker.send(rid, p.pong())
            elif frames[0][2] == p.VERSION_SCHED:  # an FLP/1.1 broker's answer: FLP/1 layout
                broker.send(rid, p.error(p.BAD_VERSION, text=b"versions 1 and 2", version=1))
            else:
                msg = p.decode(frames)
                broker.send(rid, p.ack(msg.batch_seq, bytes(msg.count)))
        wait_until(lambda: len(acks) == 2, 5, what="both tasks answered")
        assert acks == [(fling.Ack.REJECTED, fling.VersionTooOld), (fling.Ack.ACCEPTED,
                                                                     type(None))], acks
    finally:
        producer.close(linger=0)
        broker.close()


def test_c_decodes_python_task_extensions_as_python_meant_them():
    """Python -> C: SUBMITs with random extensions, decoded by the C codec
    as an FLP/1.2 broker does (fling_golden decode12)."""
    import random
    from test_codec_golden import c_tool, frames_line
    rng = random.Random(20)
    writer = p.RecordWriter(bytes.fromhex("9f86d081884c7d65"), b"email.welcome")
    lines, wanted = [], []
    for seq in range(1, 200):
        delay = rng.choice((0, 0, 1, 1500, (1 << 32) - 1))
        due = 0 if delay else rng.choice((0, 1, 1765000000000, (1 << 64) - 1))
        prio = rng.randrange(10)
        key = rng.choice((None, b"k", b"user:42:welcome", b"!" * 128))
        ttl = rng.randrange(1 << 32) if key else 0
        record = writer.record(seq, 0, 0, 0, b"{}", task_ext(delay, due, prio, key, ttl))
        lines.append(frames_line(p.submit(seq, 1, record, extended=True)))
        plain = not (delay or due or prio or key)
        wanted.append(None if plain else {"delay_ms": delay, "due_at_ms": str(due),
                                          "priority": prio, "key": (key or b"").decode(),
                                          "key_ttl_ms": ttl})
    import json
    for line, answer, want in zip(lines, c_tool("decode12", lines), wanted):
        got = json.loads(answer)
        assert "msg" in got, "C refused %s: %s" % (line, answer)
        assert got["msg"]["version"] == 3
        assert got["msg"]["records"][0].get("ext") == want, (line, got)


if __name__ == "__main__":
    sys.exit("run with pytest")
