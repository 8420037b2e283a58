#!/usr/bin/env python3
"""Paused queues across a broker SIGKILL (issue 20; proto/SPEC.md §5.3, §6.8
"Paused queues"; labels `scheduling` and `fault`).

`fling queue pause test.noop` on a disk-store broker that holds no task of the
name yet; then tasks of it and of an unpaused name (test.async) are sent while
a worker serving both is connected. For a few seconds the unpaused tasks run
and none of the paused ones start, and `stats` says paused with every one of
them queued. The broker is SIGKILLed and restarted on the same store: still
paused, still none started for a few more seconds with the worker back. Then
`fling queue resume`: the ledgers must show every accepted task done exactly
once (none lost, none twice)."""
import os, signal, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

PAUSED_NAME = "test.noop"
OTHER_NAME = "test.async"
COUNT = scaled(50, minimum=10)
QUIET_S = 3.0


def send_group(c, name, count):
    """One fling send of `count` tasks of `name`, every one accepted; returns their ids."""
    return c.send_accepted(name, [{"n": n} for n in range(count)])


def queue_of(c, name):
    for q in c.stats()["queues"]:
        if q["name"] == name:
            return q
    raise AssertionError("no queue %s in stats" % name)


def admin(c, *args):
    r = c.fling("queue", *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout.strip()


def assert_none_started(c, ids, what):
    ledger = c.fault_ledger()
    started = [i for i in ids if ledger.start_events.get(i)]
    assert not started, "%d paused tasks started %s, e.g. %s" % (len(started), what, started[:3])


def test():
    with FaultCluster("sched-pause") as c:
        c.require_disk_store()
        c.start_broker(*c.disk_broker_args(c.path("store")))
        print(admin(c, "pause", PAUSED_NAME), flush=True)   # no task of it held yet
        c.start_worker()
        paused = send_group(c, PAUSED_NAME, COUNT)
        others = send_group(c, OTHER_NAME, COUNT)
        c.wait_ids_done(others, timeout=30)     # the worker runs what is not paused
        time.sleep(QUIET_S)
        assert_none_started(c, paused, "while paused")
        q = queue_of(c, PAUSED_NAME)
        assert q.get("paused") is True and q["queued"] == COUNT, q

        c.restart_broker(signal.SIGKILL, down_s=0.5)
        q = queue_of(c, PAUSED_NAME)
        assert q.get("paused") is True, "the pause did not survive the restart: %s" % q
        more = send_group(c, PAUSED_NAME, COUNT)   # still accepted while paused
        time.sleep(QUIET_S)                        # the worker has registered again meanwhile
        assert_none_started(c, paused + more, "after the restart")
        q = queue_of(c, PAUSED_NAME)
        assert q["queued"] == 2 * COUNT and q["workers"] >= 1, q

        print(admin(c, "resume", PAUSED_NAME), flush=True)
        c.wait_ids_done(paused + more, timeout=60)
        assert queue_of(c, PAUSED_NAME).get("paused") is False
        ledger = c.fault_ledger()
        twice = [i for i in paused + more + others if len(ledger.done_events[i]) != 1]
        assert not twice, "done other than once: %s" % twice[:5]
        c.judge(max_duplicates=0, expect_accepted=3 * COUNT, extra={"paused_tasks": 2 * COUNT})


run(test)
