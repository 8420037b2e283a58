#!/usr/bin/env python3
"""`fling task ID` (and GET /api/task?id=ID) says where a task is: queued
with how many ahead of it, running on which worker since when, waiting to
retry until when, dead with its reason and error, parked after a broker
crash until its worker claims it back, ended within the duplicate window,
or unknown (exit 1). Bad ids are refused with a clear message."""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_support  # noqa: E402

ops_support.use_venv()
from ops_support import get_json  # noqa: E402
from fling_harness import Cluster, run, wait_until  # noqa: E402


def send(c, name, payload="{}", *args):
    result = c.fling("send", name, payload, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def lookup(c, task_id):
    result = c.fling("task", task_id, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def text(c, task_id):
    result = c.fling("task", task_id)
    return result.returncode, result.stdout + result.stderr


def check_states(c):
    queued = [send(c, "nobody.home", '{"n":%d}' % i) for i in range(4)]
    hang = send(c, "test.hang", '{"ms":60000}')
    dead = send(c, "test.fail", "{}", "--max-attempts", "1")
    delayed = send(c, "test.fail")
    done = send(c, "test.noop")
    wait_until(lambda: lookup(c, delayed)["state"] == "delayed", 20, what="the retry wait")
    wait_until(lambda: lookup(c, hang)["state"] == "inflight", 20, what="the hang task running")

    t = lookup(c, queued[3])
    assert t["state"] == "queued" and t["queued"] == {"ahead": 3, "ahead_at_least": False}, t
    assert t["name"] == "nobody.home" and t["attempt"] == 0 and t["payload"] == '{"n":3}', t
    assert lookup(c, queued[0])["queued"]["ahead"] == 0
    rc, out = text(c, queued[3])
    assert rc == 0 and "queued, 3 tasks ahead of it" in out, out

    t = lookup(c, hang)
    lease = t["inflight"]
    now_ms = time.time() * 1000
    assert lease["worker"] == "worker1" and lease["class"] == "pool" and t["attempt"] == 1, t
    assert abs(now_ms - lease["for_ms"] - lease["since_ms"]) < 5000, (now_ms, lease)
    assert 0 < lease["deadline_in_ms"] <= 2 * 300000 + 2 * 3000, lease
    rc, out = text(c, hang)
    assert rc == 0 and "running on worker worker1 (pid" in out and "pool) since" in out, out

    t = lookup(c, dead)
    assert t["state"] == "dead" and t["dead"] == {"reason": "failed", "error": "always fails"}, t
    assert "dead (failed): always fails" in text(c, dead)[1]

    t = lookup(c, delayed)
    assert t["attempt"] == 1 and t["max_attempts"] == 2, t
    assert 40000 < t["delayed"]["in_ms"] <= 72000, t  # 60 s backoff, +-20% jitter
    assert abs(t["delayed"]["until_ms"] - now_ms - t["delayed"]["in_ms"]) < 5000, t
    assert "waiting to retry until" in text(c, delayed)[1]

    wait_until(lambda: lookup(c, done)["state"] == "ended", 20, what="the noop task ending")
    t = lookup(c, done)
    assert 0 <= t["ago_ms"] < 20000 and abs(now_ms - t["ago_ms"] - t["ended_ms"]) < 25000, t
    assert "ended (done, or purged when dead)" in text(c, done)[1]

    unknown = queued[0].split(":")[0] + ":999"
    rc, out = text(c, unknown)
    assert rc == 1 and "unknown" in out, (rc, out)
    for bad in ("bogus", "0123456789abcdef", "0123456789abcdeg:1", "x" * 5000):
        rc, out = text(c, bad)
        assert rc == 1 and "want \"id\"" in out, (bad, rc, out)

    # The same answer over HTTP, for the dashboard.
    assert get_json(c.http_addr, "/api/task?id=" + dead)["dead"]["error"] == "always fails"
    return hang


def check_parked(c, hang):
    """The broker dies while the worker runs the task: after the restart the
    task is parked (waiting for its worker) until the worker claims it back,
    then it runs on, same attempt, never twice."""
    worker = c.procs[1]
    worker.signal(signal.SIGSTOP)
    try:
        c.stop(c.procs[0], signal.SIGKILL)
        c.start_broker("--max-attempts", "2", "--backoff-ms", "60000",
                       producer_port=int(c.producer_endpoint.rsplit(":", 1)[1]),
                       worker_port=int(c.worker_endpoint.rsplit(":", 1)[1]), name="broker2")
        t = lookup(c, hang)
        assert t["state"] == "parked" and t["attempt"] == 1, t
        assert "its worker may claim it until" in text(c, hang)[1]
    finally:
        worker.signal(signal.SIGCONT)
    wait_until(lambda: lookup(c, hang)["state"] == "inflight", 30, what="the worker's claim")
    t = lookup(c, hang)
    assert t["attempt"] == 1 and t["inflight"]["worker"] == "worker1", t


def test():
    with Cluster("task-lookup") as c:
        c.start_broker("--max-attempts", "2", "--backoff-ms", "60000")
        c.start_worker("--pool-size", "2", "--prefetch", "0")
        hang = check_states(c)
        check_parked(c, hang)


run(test)
