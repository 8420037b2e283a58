"""FLP/1.1 dialog rules the real broker rarely exercises, checked against a
scripted broker (a ROUTER socket in the test, speaking through fling.protocol,
whose bytes test_codec_golden.py holds to the C codec):

- a worker's READY refused for good (BAD_FIELD) stops it with exit 1; a
  READY refused as UNAVAILABLE is sent again;
- a worker sends nothing but READY before WELCOME, keeps every RESULT until a
  RESULT_ACK covers it, sends the kept ones again unchanged (same result_seq)
  after registering again, and does not end a drain before they are
  acknowledged;
- a producer takes an ERROR naming its batch as a refusal of the whole batch
  and does not send it again; an ACK status it does not know is a refusal.
"""
import signal
import sys
import time

import pytest
import zmq

import fling
from fling import protocol as p
from fling_harness import wait_until


class ScriptedBroker:
    """One ROUTER socket on a free loopback port; the test plays the broker."""

    def __init__(self):
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = "tcp://127.0.0.1:%d" % port

    def recv(self, timeout=10.0, skip=(p.PING,)):
        """(routing id, decoded message), skipping PINGs (answered PONG)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000)):
                raise TimeoutError("the scripted broker heard nothing for %.0f s" % timeout)
            rid, *frames = self.sock.recv_multipart()
            msg = p.decode(frames)
            assert msg.version == p.VERSION, "an FLP/1.1 peer sends version 2"
            if msg.cmd in skip:
                if msg.cmd == p.PING:
                    self.send(rid, p.pong())
                continue
            return rid, msg

    def send(self, rid, frames):
        self.sock.send_multipart([rid] + frames)

    def close(self):
        self.sock.close(0)


@pytest.fixture
def broker(cluster):
    """A scripted broker; the cluster's workers connect to it."""
    scripted = ScriptedBroker()
    cluster.worker_endpoint = scripted.endpoint
    yield scripted
    scripted.close()


def start_worker(cluster, broker, *args):
    return cluster.start_py_worker("--endpoint", broker.endpoint, "--heartbeat-ms", "300", *args,
                                   wait=False, name="pyworker")


def registered_worker(cluster, broker, *args, quiet_check=0.0):
    """A worker READY and WELCOMEd; (process, its routing id). quiet_check:
    seconds to wait first, checking it says nothing before WELCOME."""
    worker = start_worker(cluster, broker, *args)
    rid, ready = broker.recv()
    assert ready.cmd == p.READY
    if quiet_check:
        time.sleep(quiet_check)
        assert not broker.sock.poll(0), "the worker spoke before WELCOME"
    broker.send(rid, p.welcome(1000, 3000))
    return worker, rid


def record(seq, name="test.noop", attempt=1):
    return p.encode_record(bytes(range(8)) + seq.to_bytes(8, "big"), attempt, 0, 0, 0,
                           name.encode(), b"{}")


def test_ready_refused_for_good_stops_the_worker(cluster, broker):
    worker = start_worker(cluster, broker)
    rid, ready = broker.recv()
    assert ready.cmd == p.READY and "test.noop" in dict((n, c) for c, n in ready.names)
    broker.send(rid, p.error(p.UNAVAILABLE, p.READY, 0, b"not now"))
    rid, again = broker.recv(timeout=5)  # UNAVAILABLE: READY again, on a new socket
    assert again.cmd == p.READY
    broker.send(rid, p.error(p.BAD_FIELD, p.READY, 0, b"no such field"))
    assert worker.wait(10) == 1, "a READY refused for good must stop the worker, exit 1"
    assert "refused our READY" in worker.log()


def test_results_are_kept_until_acknowledged_and_resent_unchanged(cluster, broker):
    # before WELCOME the worker sends nothing, PINGs included
    worker, rid = registered_worker(cluster, broker, "--drain-timeout-ms", "3000",
                                    quiet_check=0.5)
    broker.send(rid, p.dispatch(2, record(1) + record(2)))
    _, first = broker.recv()
    assert first.cmd == p.RESULT and first.result_seq == 1
    outcomes = list(first.results)
    if first.count < 2:  # the two may come in one RESULT or two
        _, second = broker.recv()
        assert second.result_seq == 2
        outcomes += second.results
    assert sorted(r.id[-1] for r in outcomes) == [1, 2]
    assert all(r.outcome == p.DONE for r in outcomes)
    kept = first
    # The broker forgets the worker: it registers again on a new socket
    # and sends the RESULTs no RESULT_ACK covered, unchanged.
    broker.send(rid, p.error(p.UNKNOWN_PEER, p.PING, 0, b"who are you"))
    rid2, ready2 = broker.recv()
    assert ready2.cmd == p.READY and rid2 != rid
    broker.send(rid2, p.welcome(1000, 3000))
    _, resent = broker.recv()
    assert resent.cmd == p.RESULT and resent.result_seq == kept.result_seq
    assert resent.results == kept.results
    # SIGTERM: the drain waits for the acknowledgement of every RESULT
    worker.signal(signal.SIGTERM)
    _, drain = broker.recv(skip=(p.PING, p.RESULT))
    assert drain.cmd == p.CAPACITY and drain.capacity == {p.LOOP: 0, p.POOL: 0}
    time.sleep(0.5)
    assert worker.alive(), "the drain ended before the RESULTs were acknowledged"
    broker.send(rid2, p.result_ack(first.result_seq + 1))
    _, bye = broker.recv(skip=(p.PING, p.RESULT))
    assert bye.cmd == p.BYE
    assert worker.wait(10) == 0


def test_drain_without_acknowledgements_ends_at_its_timeout(cluster, broker):
    worker, rid = registered_worker(cluster, broker, "--drain-timeout-ms", "1000")
    broker.send(rid, p.dispatch(1, record(1)))
    _, result = broker.recv()
    assert result.cmd == p.RESULT
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 1, "tasks unacknowledged at the drain timeout: exit 1"
    assert 0.9 < time.monotonic() - started < 10
    assert "results not acknowledged" in worker.log()


def test_producer_takes_an_error_naming_its_batch_as_a_refusal():
    broker = ScriptedBroker()
    acks = []
    producer = fling.Producer(broker.endpoint, ack_timeout_ms=300,
                              on_ack=lambda task_id, ack, error: acks.append((ack, type(error))))
    try:
        producer.send("test.noop", {"n": 1})
        rid, submit = broker.recv()
        assert submit.cmd == p.SUBMIT and submit.statuses == [p.OK]
        broker.send(rid, p.error(p.BAD_FIELD, p.SUBMIT, submit.batch_seq, b"count"))
        wait_until(lambda: producer.stats().rejected == 1, 5, what="the batch refused")
        try:  # past two ack timeouts: a refused batch is never sent again
            _, late = broker.recv(timeout=0.7)
            raise AssertionError("the producer sent %s after the refusal"
                                 % p.COMMAND_NAMES[late.cmd])
        except TimeoutError:
            pass
        producer.send("test.noop", {"n": 2})
        rid, submit = broker.recv()
        broker.send(rid, p.ack(submit.batch_seq, bytes([99])))  # a status we do not know
        wait_until(lambda: producer.stats().rejected == 2, 5, what="the unknown status refused")
        assert acks == [(fling.Ack.REJECTED, fling.ProtocolError)] * 2
        assert producer.stats().accepted == 0 and producer.stats().resent == 0
    finally:
        producer.close(linger=0)
        broker.close()


if __name__ == "__main__":
    sys.exit("run with pytest")
