"""The Python producer against the real broker: delivery across a late or
restarted broker, the outbox bounds, validation, refusals, flush, the async
API and the default producer. Tasks are run by the C test worker and judged
by the ledger checker."""
import asyncio
import os
import signal
import threading
import time

import pytest

import fling
from conftest import LedgerProducer
from fling_harness import free_port, wait_until


def test_producer_started_before_its_broker(cluster):
    port, wport = free_port(), free_port()
    producer = LedgerProducer(cluster, endpoint="tcp://127.0.0.1:%d" % port)
    ids = [producer.send("test.noop", {"i": i}) for i in range(500)]
    assert len(set(ids)) == 500
    time.sleep(0.5)
    assert producer.stats().accepted == 0 and producer.stats().queued == 500
    cluster.start_broker(producer_port=port, worker_port=wport)
    producer.flush(20)
    assert producer.connected
    producer.close()
    assert producer.stats()._replace(resent=0) == fling.Stats(500, 500, 0, 0, 0, 0, 0)
    cluster.start_worker(name="cworker")
    cluster.wait_done(500, timeout=60)
    cluster.check(max_duplicates=0, expect_accepted=500)


def test_broker_killed_and_restarted_while_sending(cluster):
    """SIGKILL of a disk-store broker mid-stream: unacknowledged batches are
    resent with the same ids, the store and dedup keep each task once."""
    port, wport = free_port(), free_port()
    broker = cluster.start_broker(producer_port=port, worker_port=wport)
    producer = LedgerProducer(cluster, heartbeat_ms=200)
    sent = []
    stop = threading.Event()

    def sender():  # about 5,000 tasks a second, for 4 s
        while not stop.is_set() and len(sent) < 20000:
            try:
                sent.append(producer.send("test.noop", {"n": len(sent)}))
            except fling.OutboxFull:
                time.sleep(0.01)
            if len(sent) % 100 == 0:
                time.sleep(0.02)

    thread = threading.Thread(target=sender)
    thread.start()
    wait_until(lambda: producer.stats().accepted > 2000, 30, what="accepted > 2000")
    # Stopped first, so batches are surely out and unanswered when it dies.
    broker.signal(signal.SIGSTOP)
    time.sleep(0.3)
    broker.signal(signal.SIGKILL)
    broker.wait(10)
    time.sleep(1.0)
    cluster.start_broker(producer_port=port, worker_port=wport, name="broker2")
    thread.join(60)
    stop.set()
    producer.flush(30)
    producer.close()
    stats = producer.stats()
    print("producer:", stats)
    assert stats.accepted == len(sent) and stats.rejected == 0 and stats.dropped == 0
    assert stats.resent > 0, "the kill should have left batches to resend"
    cluster.start_worker("--async-limit", "200", name="cworker")
    cluster.wait_done(len(sent), timeout=90)
    cluster.check(max_duplicates=0, expect_accepted=len(sent))


def test_invalid_tasks_never_leave(cluster):
    cluster.start_broker()
    producer = LedgerProducer(cluster)
    bad = [("", {}), ("bad name", {}), ("x" * 128, {}), ("ok", b"[1]"), ("ok", b"{\"a\":1,\"a\":2}"),
           ("ok", {"n": float("nan")}), ("ok", {"big": 1 << 64}), ("ok", b"{\"a\":\"\\u0000\"}"),
           ("ok", b"{" * 70 + b"}" * 70), ("ok", "{\"\xe9\":1}".encode("latin-1"))]
    for name, payload in bad:
        with pytest.raises(fling.InvalidTask):
            producer.send(name, payload)
    with pytest.raises(fling.TooLarge):
        producer.send("ok", {"a": "x" * (1 << 20)})
    with pytest.raises(ValueError):
        producer.send("ok", {}, max_attempts=1 << 16)
    with pytest.raises(fling.BadName) as bad_name:
        producer.send("no spaces", {})
    assert bad_name.value.code == 0x464C0001 and "invalid task name" in str(bad_name.value)
    producer.send("ok", {"fine": True})
    producer.flush(10)
    producer.close()
    stats = producer.stats()
    assert (stats.sent, stats.accepted, stats.invalid) == (1, 1, len(bad) + 3)
    assert cluster.stats()["tasks"] == 1


def test_outbox_bounds_and_overflow_policies(cluster):
    dead_end = "tcp://127.0.0.1:%d" % free_port()  # nobody listens
    acks = []
    failing = fling.Producer(dead_end, outbox=100,
                             on_ack=lambda task_id, ack, err: acks.append((ack, type(err))))
    for i in range(100):
        failing.send("test.noop", {"i": i})
    with pytest.raises(fling.OutboxFull):
        failing.send("test.noop", {"i": 100})
    assert failing.stats().queued == 100 and not acks
    failing.close(linger=0.2)
    assert failing.stats().dropped == 100
    assert acks == [(fling.Ack.DROPPED, fling.Closed)] * 100
    with pytest.raises(fling.Closed):
        failing.send("test.noop", {})

    dropping = fling.Producer(dead_end, outbox=1000, outbox_bytes=50 * 1024, overflow="drop")
    ids = [dropping.send("test.noop", {"pad": "x" * 100}) for _ in range(1000)]
    queued = sum(1 for task_id in ids if task_id)
    assert 300 < queued < 400, "50 KiB holds about 350 records of 146 bytes"
    assert dropping.stats().dropped == 1000 - queued
    dropping.close(linger=0)


def test_broker_refusals_are_counted_and_reported(cluster):
    cluster.start_broker("--max-tasks", "50")
    errors = []

    class Recording(LedgerProducer):
        def _write(self, task_id, ack, error):
            super()._write(task_id, ack, error)
            errors.append(error)

    producer = Recording(cluster)
    for i in range(200):
        producer.send("test.noop", {"i": i})
    producer.flush(20)
    producer.close()
    stats = producer.stats()
    assert (stats.accepted, stats.rejected) == (50, 150)
    refusals = [e for e in errors if e is not None]
    assert len(refusals) == 150 and all(isinstance(e, fling.QueueFull) for e in refusals)
    cluster.start_worker(name="cworker")
    cluster.wait_done(50, timeout=30)
    cluster.check(max_duplicates=0, expect_accepted=50)


def test_four_threads_share_one_producer(cluster):
    cluster.start_broker()
    producer = LedgerProducer(cluster)
    ids = [[] for _ in range(4)]

    def send(mine):
        for i in range(5000):
            mine.append(producer.send("test.noop", {"i": i}))

    threads = [threading.Thread(target=send, args=(ids[t],)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    producer.flush(30)
    producer.close()
    flat = [i for mine in ids for i in mine]
    assert len(flat) == len(set(flat)) == 20000
    assert producer.stats().accepted == 20000
    cluster.start_worker("--async-limit", "200", name="cworker")
    cluster.wait_done(20000, timeout=90)
    cluster.check(max_duplicates=0, expect_accepted=20000)


def test_per_task_options_reach_the_broker(cluster):
    cluster.start_broker()
    cluster.start_worker(name="cworker")
    with fling.Producer(cluster.producer_endpoint) as producer:
        task_id = producer.send("test.fail", {}, max_attempts=1, backoff_ms=10)
        producer.flush(10)
    wait_until(lambda: cluster.stats()["dead"] == 1, 20, what="the task dead-lettered")
    dead = cluster.fling("dead", "list", "--json")
    assert task_id in dead.stdout and "always fails" in dead.stdout, dead.stdout


def test_async_api_and_the_default_producer(cluster):
    cluster.start_broker()

    async def deep_helper(i):
        await asyncio.sleep(0)
        return fling.send("test.noop", {"from": "helper", "i": i})

    async def main():
        async with fling.Producer(cluster.producer_endpoint) as producer:
            fling.set_default_producer(producer)
            ids = await asyncio.gather(*(deep_helper(i) for i in range(300)))
            await producer.aflush(10)
            assert producer.stats().accepted == 300
            fling.set_default_producer(None)
            return ids

    ids = asyncio.run(main())
    assert len(set(ids)) == 300
    with pytest.raises(fling.Closed):
        fling.send("test.noop", {})

    class App:
        state = type("State", (), {})()

    async def lifespan_run():
        app = App()
        async with fling.lifespan(cluster.producer_endpoint)(app):
            assert fling.default_producer() is app.state.fling
            fling.send("test.noop", {"from": "lifespan"})
        assert app.state.fling.stats().accepted == 1

    asyncio.run(lifespan_run())
    assert cluster.stats()["tasks"] == 301


def test_aflush_times_out_without_a_broker():
    async def main():
        producer = fling.Producer("tcp://127.0.0.1:%d" % free_port())
        producer.send("test.noop", {})
        started = time.monotonic()
        with pytest.raises(fling.FlushTimeout):
            await producer.aflush(0.3)
        assert 0.25 < time.monotonic() - started < 5
        await producer.aclose(linger=0)
        assert producer.stats().dropped == 1

    asyncio.run(main())


def test_a_forked_child_cannot_send_into_the_void(cluster):
    producer = fling.Producer("tcp://127.0.0.1:%d" % free_port())
    pid = os.fork()
    if pid == 0:
        try:
            producer.send("test.noop", {})
            os._exit(1)
        except fling.Closed:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, "the child's send should raise Closed"
    producer.send("test.noop", {})
    producer.close(linger=0)


def test_flush_inside_a_coroutine_does_not_wait_for_the_deferred_wake(cluster):
    """On an event loop send() wakes the I/O thread at the end of the loop's
    turn; a (blocking) flush() in the same turn must not wait for that turn."""
    cluster.start_broker()

    async def main():
        with fling.Producer(cluster.producer_endpoint, heartbeat_ms=5000) as producer:
            await asyncio.sleep(0.3)  # connected and idle: its poll sleeps 5 s
            producer.send("test.noop", {})
            started = time.monotonic()
            producer.flush(10)
            return time.monotonic() - started, producer.stats().accepted

    seconds, accepted = asyncio.run(main())
    assert accepted == 1 and seconds < 2, "flush took %.2f s" % seconds


def test_lone_sends_on_an_event_loop_share_submits_and_still_leave():
    """A task sent on an event loop while nothing is in flight waits up to
    idle_linger_us for company, and the I/O thread reads ACKs when it wakes
    anyway: 50 sends 1 ms apart (a web service's lone sends) cost a few
    SUBMITs, not one each (each one a wake-up of the I/O thread, which takes
    the GIL from the requests), and are accepted without a flush. A fake
    broker (a ROUTER answering every SUBMIT) counts them."""
    import zmq
    from fling import protocol

    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    submits = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            if not router.poll(50):
                continue
            peer, *frames = router.recv_multipart()
            msg = protocol.decode(frames)
            if msg.cmd == protocol.SUBMIT:
                submits.append(msg.count)
                router.send_multipart([peer] + protocol.ack(msg.batch_seq, bytes(msg.count)))
            elif msg.cmd == protocol.PING:
                router.send_multipart([peer] + protocol.pong())

    async def main():
        with fling.Producer("tcp://127.0.0.1:%d" % port) as producer:
            await asyncio.sleep(0.3)  # connected and idle
            for i in range(50):
                producer.send("test.noop", {"i": i})
                await asyncio.sleep(0.001)
            deadline = time.monotonic() + 5
            while producer.stats().accepted < 50 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return producer.stats().accepted

    server = threading.Thread(target=serve)
    server.start()
    try:
        accepted = asyncio.run(main())
    finally:
        stop.set()
        server.join(5)
        router.close(0)
    assert accepted == 50
    print("SUBMITs of %s tasks" % submits)
    assert sum(submits) == 50 and len(submits) <= 20, "SUBMITs of %s tasks" % submits
