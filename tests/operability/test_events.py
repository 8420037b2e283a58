#!/usr/bin/env python3
"""`fling events` streams the lifecycle of tasks and workers as JSON lines:
each task's events come in order (accepted, leased, done; or failed and
leased again, then dead; dead_retried, purged), worker joined / lost,
a crash charged after a kill -9, and --name filters. The broker keeps a bounded
ring: a reader that falls more than the ring behind is told how many it
missed, and the ring does not grow."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_support  # noqa: E402

ops_support.use_venv()
import zmq  # noqa: E402  (pyzmq, in the venv)
from fling_harness import Cluster, run, wait_until  # noqa: E402

RING = 8192


class Reader:
    """A `fling events` process; its lines collected by a thread."""

    def __init__(self, c, *args):
        argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "events"]
        self.proc = subprocess.Popen(argv + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.append(json.loads(line))

    def of(self, task_id):
        return [e["event"] for e in self.events if e.get("id") == task_id]

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(10)
        self.thread.join(10)
        return rc, self.proc.stderr.read()


def send(c, name, payload="{}", *args):
    result = c.fling("send", name, payload, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def admin(endpoint, request):
    """One ADMIN exchange on a raw DEALER (proto/SPEC.md §5.3)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    sock.send_multipart([b"FL\x01\x0b", json.dumps(request).encode()])
    assert sock.poll(5000), "no ADMIN_REPLY"
    header, body = sock.recv_multipart()
    sock.close()
    assert header == b"FL\x01\x0c", header
    return json.loads(body)


def check_lifecycles(c, everything, fails):
    marker = send(c, "test.noop")  # the readers poll from their start: wait until they see one
    while not everything.of(marker):
        marker = send(c, "test.noop")
        time.sleep(0.2)
    done = [send(c, "test.noop") for _ in range(5)]
    failing = send(c, "test.fail")
    wait_until(lambda: "dead" in everything.of(failing), 30, what="the failing task dead")
    for task_id in done:
        wait_until(lambda: "done" in everything.of(task_id), 30, what="done events")
        assert everything.of(task_id) == ["accepted", "leased", "done"], everything.of(task_id)
    assert everything.of(failing) == ["accepted", "leased", "failed", "leased", "dead"], \
        everything.of(failing)
    assert c.fling("dead", "retry", "--id", failing).returncode == 0
    wait_until(lambda: everything.of(failing).count("dead") == 2, 30, what="dead again")
    assert c.fling("dead", "purge", "--id", failing).returncode == 0
    wait_until(lambda: "purged" in everything.of(failing), 30, what="purged")
    assert everything.of(failing)[5:] == ["dead_retried", "leased", "failed", "leased", "dead",
                                          "purged"], everything.of(failing)
    leased = [e for e in everything.events if e["event"] == "leased" and e.get("id") == failing]
    assert [e["attempt"] for e in leased] == [1, 2, 1, 2] and leased[0]["worker"] == "worker1"
    wait_until(lambda: any(e.get("id") == failing for e in fails.events), 10, what="filtered")
    assert {e["name"] for e in fails.events} == {"test.fail"}, fails.events
    seqs = [e["seq"] for e in everything.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def check_workers(c, everything):
    hang = send(c, "test.hang", '{"ms":60000}')
    wait_until(lambda: "leased" in everything.of(hang), 30, what="the hang task leased")
    c.procs[1].signal(signal.SIGKILL)  # worker1, holding only this task: a crash charged
    wait_until(lambda: "crashed" in everything.of(hang), 30, what="the crash after the kill")
    lost = [e for e in everything.events if e["event"] == "worker_lost"]
    assert lost and lost[0]["worker"] == "worker1" and lost[0]["pid"] == c.procs[1].pid, lost
    c.start_worker(name="worker2")
    wait_until(lambda: any(e["event"] == "worker_joined" and e["worker"] == "worker2"
                           for e in everything.events), 30, what="worker2 joined")
    wait_until(lambda: everything.of(hang)[-1:] == ["leased"] and
               [e for e in everything.events if e.get("id") == hang][-1]["worker"] == "worker2",
               30, what="the hang task leased to worker2")


def check_bounded(c):
    """A reader more than the ring behind is told how many it missed."""
    first = admin(c.producer_endpoint, {"op": "events"})
    start = first["next"]

    # worker2 runs the crashed task's trial alone (SPEC §6.4): one more worker
    # runs these; 9,000 accepted events alone overflow the ring.
    c.start_worker(name="worker3")
    load = c.start_load("--count", "9000", "--name", "test.noop")
    assert c.load_summary(load, timeout=120)["accepted"] == 9000
    wait_until(lambda: admin(c.producer_endpoint, {"op": "events", "after": start, "limit": 1})
               ["dropped"] > 0, 60, what="the ring to overflow")
    reply = admin(c.producer_endpoint, {"op": "events", "after": start})
    assert reply["dropped"] > 0 and len(reply["events"]) == 1000, {k: v for k, v in reply.items()
                                                                   if k != "events"}
    assert reply["events"][0]["seq"] == start + 1 + reply["dropped"]
    newest = admin(c.producer_endpoint, {"op": "events", "after": reply["next"] + 10 * RING})
    assert newest["events"] == [] and newest["dropped"] == 0  # a later seq: start afresh
    bad = admin(c.producer_endpoint, {"op": "events", "after": "x"})
    assert "error" in bad, bad


def test():
    with Cluster("events") as c:
        c.start_broker("--max-attempts", "2", "--backoff-ms", "20", "--worker-timeout-ms", "1500",
                       "--heartbeat-ms", "300")
        c.start_worker("--pool-size", "2", "--heartbeat-ms", "300", name="worker1")
        everything = Reader(c)
        fails = Reader(c, "--name", "test.fail")
        try:
            check_lifecycles(c, everything, fails)
            check_workers(c, everything)
        finally:
            rc, err = everything.stop()
            fails.stop()
        assert rc == 0, err
        check_bounded(c)


run(test)
