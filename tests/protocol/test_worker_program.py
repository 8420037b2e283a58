#!/usr/bin/env python3
"""The real fling-worker keeps to what the broker says (SPEC.md: WELCOME,
ERROR; issue #15 point 3 and the heartbeat finding).

- `fling-worker --heartbeat-ms 60000` against a broker that drops workers
  silent for 3 s: the worker follows the 1 s heartbeat the broker announces
  in WELCOME, is never dropped, and a task sent after a long idle spell runs
  at once. (Before FLP/1.1 the broker dropped it after 3 s and its tasks sat
  queued until its next PING, 30 s later.)
- A broker (played in Python) that refuses the READY with FORBIDDEN: the
  worker says why and exits non-zero after that one READY, instead of
  registering again and again.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flp  # noqa: E402
from flp import zmq  # noqa: E402
from fling_harness import Cluster, run, wait_until  # noqa: E402

IDLE_S = 5.0  # well past the broker's 3 s worker timeout


def heartbeat_bounded(c):
    broker = c.start_broker("--store", "memory")  # defaults: heartbeat 1000 ms, worker timeout 3000 ms
    worker = c.start_worker("--heartbeat-ms", "60000")
    time.sleep(IDLE_S)
    s = c.stats()
    assert s["counters"]["worker_lost"] == 0, "the worker was dropped: %s" % s["counters"]
    assert len(s["workers"]) == 1, s["workers"]
    started = time.monotonic()
    sent = c.fling("send", "test.noop", "{}")
    assert sent.returncode == 0, sent.stderr
    c.wait_done(1, timeout=10, progress=False)
    took = time.monotonic() - started
    assert took < 3.0, "a task took %.1fs to run on an idle worker" % took
    log = worker.log()
    assert "heartbeat_ms=1000 broker_heartbeat_ms=1000" in log, log[-2000:]
    print("  --heartbeat-ms 60000: kept the broker's 1000 ms; task ran %.2fs after %.0fs idle"
          % (took, IDLE_S))
    c.stop(worker)
    c.stop(broker)


def ready_refused(c):
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    c.worker_endpoint = "tcp://127.0.0.1:%d" % port
    worker = c.start_worker("--heartbeat-ms", "100", wait=False, name="refused")
    readies = 0
    deadline = time.monotonic() + 10
    try:
        while worker.alive() and time.monotonic() < deadline:
            if not sock.poll(50):
                continue
            frames = sock.recv_multipart()
            msg = flp.Msg(frames[1:])
            if msg.cmd == "READY":
                readies += 1
                sock.send_multipart([frames[0], flp.header("ERROR"),
                                     (27).to_bytes(2, "big") + bytes([flp.CMD["READY"]]) + bytes(8),
                                     b"this key may not register workers"])
        rc = worker.wait(5)
        # listen a little longer: nothing more may come
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            if sock.poll(50):
                frames = sock.recv_multipart()
                readies += flp.Msg(frames[1:]).cmd == "READY"
    finally:
        sock.close(0)
        if worker.alive():
            worker.signal(signal.SIGKILL)
    assert rc != 0, "the worker exited 0 after its READY was refused"
    assert readies == 1, "%d READYs: the worker registered again after a final refusal" % readies
    assert "refused our READY: FORBIDDEN this key may not register workers" in worker.log(), worker.log()
    print("  READY refused FORBIDDEN: one READY, exit %d" % rc)


def test():
    with Cluster("proto-worker-program") as c:
        heartbeat_bounded(c)
        ready_refused(c)


run(test)
