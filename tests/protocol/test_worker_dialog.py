#!/usr/bin/env python3
"""The worker dialog (SPEC.md: READY, WELCOME, RESULT, RESULT_ACK, PING;
issue #15 points 2, 3 and 5, and the heartbeat finding).

Raw FLP on DEALER sockets against the real broker:
- READY is answered: WELCOME with the broker's heartbeat interval and worker
  timeout, or ERROR naming READY with the reason (class 2: BAD_FIELD; a bad
  task name: BAD_TASK; a worker name with a control character or over 127
  bytes: BAD_FIELD). A refused READY registers nothing;
- a PING, RESULT or CAPACITY from a peer the broker does not know gets
  ERROR(UNKNOWN_PEER) naming the command (and the RESULT's result_seq); BYE
  from it is ignored;
- DISPATCH carries attempt 1 and the broker's effective timeout_ms;
- each RESULT is acknowledged by a RESULT_ACK once applied and stored; the
  same RESULT sent again from a new connection (what a worker does after it
  registers again) is acknowledged and changes nothing (stale_results);
- a worker the broker dropped for silence learns it from its next PING;
- an FLP/1 worker (version byte 1) is served as before: no WELCOME, no
  RESULT_ACK, everything in version 1.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flp  # noqa: E402
from fling_harness import Cluster, run, wait_until  # noqa: E402

P = 0x00c0ffee00c0ffee
# The worker timeout leaves a loaded CI machine room: the scripted worker
# sends no PING between its steps, and a stall past it drops the worker.
HEARTBEAT_MS, WORKER_TIMEOUT_MS, TASK_TIMEOUT_MS = 200, 4000, 7000


def submit(c, first, count, name="proto.w", version=2):
    p = flp.Peer(c.producer_endpoint)
    p.send(flp.submit(first, [flp.record(P, first + i, name, '{"i":%d}' % i) for i in range(count)],
                      version=version))
    ack = p.expect("ACK")
    assert ack.statuses == ["OK"] * count, ack
    p.close()


def register(c, name="w", loop=(10, 10), names=(("proto.w", flp.LOOP),), version=2):
    w = flp.Peer(c.worker_endpoint, immediate=False)
    w.send(flp.ready(list(names), loop=loop, pid=os.getpid(), worker_name=name, version=version))
    return w


def refused_ready(c, **kw):
    w = register(c, **kw)
    err = w.expect("ERROR")
    assert err.refused == "READY", err
    # nothing registered: the broker does not know this peer
    w.send(flp.simple("PING"))
    again = w.expect("ERROR")
    assert (again.reason, again.refused) == ("UNKNOWN_PEER", "PING"), again
    w.close()
    return err


def test():
    with Cluster("proto-worker") as c:
        c.start_broker("--store", "memory", "--heartbeat-ms", str(HEARTBEAT_MS),
                       "--worker-timeout-ms", str(WORKER_TIMEOUT_MS),
                       "--task-timeout-ms", str(TASK_TIMEOUT_MS))

        # READY refused, with the reason and what was wrong.
        err = refused_ready(c, names=(("proto.w", 2),))
        assert err.reason == "BAD_FIELD" and "class" in err.text, err
        err = refused_ready(c, names=(("bad name", flp.LOOP),))
        assert err.reason == "BAD_TASK", err
        err = refused_ready(c, name="tab\tname")
        assert err.reason == "BAD_FIELD" and "worker name" in err.text, err
        err = refused_ready(c, name="w" * 200)
        assert err.reason == "BAD_FIELD", err
        err = refused_ready(c, loop=(1, 2))  # more slots than capacity
        assert err.reason == "BAD_FIELD", err

        # Unknown peers: UNKNOWN_PEER naming the command; BYE is ignored.
        u = flp.Peer(c.worker_endpoint, immediate=False)
        u.send(flp.simple("BYE"))
        u.send(flp.result(41, [flp.result_record(flp.task_id(P, 1), 1, "DONE")]))
        err = u.expect("ERROR")
        assert (err.reason, err.refused, err.batch_seq) == ("UNKNOWN_PEER", "RESULT", 41), err
        u.send(flp.capacity(loop=(0, 0)))
        err = u.expect("ERROR")
        assert (err.reason, err.refused) == ("UNKNOWN_PEER", "CAPACITY"), err
        u.silence()  # the BYE got nothing
        u.close()

        # READY accepted: WELCOME with the broker's timings.
        w = register(c, name="w1")
        welcome = w.expect("WELCOME")
        assert (welcome.heartbeat_ms, welcome.worker_timeout_ms) == (HEARTBEAT_MS, WORKER_TIMEOUT_MS), welcome
        submit(c, 1, 3)
        d = w.expect("DISPATCH")
        assert [t["attempt"] for t in d.tasks] == [1, 1, 1], d
        assert all(t["timeout_ms"] == TASK_TIMEOUT_MS for t in d.tasks), d.tasks
        ids = [t["id"] for t in d.tasks]
        results = [flp.result_record(i, 1, "DONE") for i in ids]
        w.send(flp.result(1, results))
        ack = w.expect("RESULT_ACK", skip=("PONG", "DISPATCH"))
        assert ack.result_seq == 1, ack
        s = flp.stats(c.producer_endpoint)
        assert s["counters"]["done"] == 3 and s["tasks"] == 0, s["counters"]

        # The same RESULT again, from a new connection after READY (a worker
        # that lost its connection before the RESULT_ACK): acknowledged,
        # stale, nothing done twice.
        w.close()
        w2 = register(c, name="w1")
        w2.expect("WELCOME")
        w2.send(flp.result(1, results))
        w2.send(flp.result(2, results))
        ack = w2.expect("RESULT_ACK")
        assert ack.result_seq in (1, 2), ack
        if ack.result_seq == 1:
            assert w2.expect("RESULT_ACK").result_seq == 2
        s = flp.stats(c.producer_endpoint)
        assert s["counters"]["done"] == 3 and s["counters"]["stale_results"] == 6, s["counters"]

        # Silent past the worker timeout: dropped; its next PING says so.
        time.sleep(WORKER_TIMEOUT_MS / 1000 * 1.6)
        wait_until(lambda: flp.stats(c.producer_endpoint)["counters"]["worker_lost"] >= 1, 10,
                   what="the silent worker to be dropped")
        w2.send(flp.simple("PING"))
        err = w2.expect("ERROR")
        assert (err.reason, err.refused) == ("UNKNOWN_PEER", "PING"), err
        w2.close()

        # An FLP/1 worker: served in version 1, no WELCOME, no RESULT_ACK.
        old = register(c, name="old", version=1)
        old.send(flp.simple("PING", version=1))
        pong = old.expect("PONG", skip=())
        assert pong.version == 1, pong
        submit(c, 10, 2)
        d = old.expect("DISPATCH")
        assert d.version == 1 and d.count == 2, d
        old.send(flp.result(0, [flp.result_record(t["id"], 1, "DONE") for t in d.tasks], version=1))
        wait_until(lambda: flp.stats(c.producer_endpoint)["counters"]["done"] == 5, 10, what="FLP/1 results")
        old.send(flp.simple("PING", version=1))
        assert old.expect("PONG", skip=()).version == 1  # and no RESULT_ACK came before it
        old.send(flp.simple("BYE", version=1))
        old.close()


run(test)
