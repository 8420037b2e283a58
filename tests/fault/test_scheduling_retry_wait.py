#!/usr/bin/env python3
"""Retry waits across broker SIGKILLs (issue 20; proto/SPEC.md §6.4, §6.8;
labels `scheduling` and `fault`).

Two groups of tasks fail their first run and wait for their retry on a
disk-store broker: group A (test.flaky) with a 15 s backoff (12-18 s with the
±20 % jitter), group B (test.block) with 2.5 s (2-3 s). The broker is
SIGKILLed 1 s after the last first run failed and stays down 3.5 s, so every
B wait ends while it is down (due in the past: queued at once on restart) and
no A wait does; then it is SIGKILLed again 2 s after its restart and comes
back at once. After each restart `stats` must show every A task still
waiting for its retry (its queue's `delayed`, and `retrying` where the broker
reports it): before issue 20 a restart queued them at once.

The ledgers must show every accepted task done exactly once (none lost, none
twice), two runs each (attempts 1 and 2), and no second run before its due
time: the broker's due time is at least the failure's ledger time plus 80 %
of the backoff (the broker reads the FAIL after the worker wrote the line).
(test.block's forced failure writes no "fail" line: its first run's start
time stands in, a lower bound too). How long after that each retry ran is printed, not asserted beyond a loose
bound (timing on a loaded machine is not a test)."""
import os, signal, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

PER_GROUP = scaled(25, minimum=5)
BACKOFF_A_MS = 15000
BACKOFF_B_MS = 2500
JITTER = 0.8         # the earliest wait is 80 % of the backoff (§6.4)
flaky_ids = set()
CLOCK_SLACK_MS = 5   # ledger ms are truncated; the broker's due time errs late
B_LATE_MAX_MS = 15000  # a past-due retry still runs soon after the restart


def first_failures(c, ids, timeout):
    """Waits until every id has run once; returns id -> the last ledger time
    of that run (test.flaky's "fail" line; test.block's forced failure writes
    none, so its "start": earlier than the failure, still a lower bound)."""
    deadline = time.monotonic() + timeout
    while True:
        ledger = c.fault_ledger()
        fails = {}
        for i in ids:
            events = [ms for a, _, ms in ledger.fail_events[i] + ledger.start_events[i] if a == 1]
            if events and (ledger.fail_events[i] or i not in flaky_ids):
                fails[i] = max(events)
        if len(fails) == len(ids):
            return fails
        assert time.monotonic() < deadline, "%d of %d tasks never failed a first run" \
            % (len(ids) - len(fails), len(ids))
        time.sleep(0.1)


def waiting(c, name):
    """(delayed, retrying) of the queue `name` from stats (retrying None when
    the broker does not report it)."""
    for q in c.stats().get("queues", []):
        if q.get("name") == name:
            return q.get("delayed", 0), q.get("retrying")
    return 0, None


def check_waiting(c, a_ids, when):
    delayed, retrying = waiting(c, "test.flaky")
    print("%s: test.flaky delayed=%s retrying=%s" % (when, delayed, retrying), flush=True)
    assert delayed == len(a_ids), \
        "%s: %d of %d retry waits kept (the rest were queued at once)" % (when, delayed, len(a_ids))
    assert retrying in (None, len(a_ids)), (when, retrying)


def test():
    with FaultCluster("sched-retry-wait") as c:
        c.require_disk_store()
        c.require("fling-broker", "--queue", "--backoff-ms")
        c.start_broker(*c.disk_broker_args(c.path("store")), "--backoff-max-ms", "60000",
                       "--queue", "test.flaky:max_attempts=3,backoff_ms=%d" % BACKOFF_A_MS,
                       "--queue", "test.block:max_attempts=3,backoff_ms=%d" % BACKOFF_B_MS)
        c.start_worker("--pool-size", "4")
        a_ids = [c.send_task("test.flaky", {"fail_attempts": 1, "n": n})[1]
                 for n in range(PER_GROUP)]
        flaky_ids.update(a_ids)
        b_ids = [c.send_task("test.block", {"fail_attempts": 1, "n": n})[1]
                 for n in range(PER_GROUP)]
        assert all(":" in i for i in a_ids + b_ids), "a send was refused: %s" % (a_ids + b_ids)
        failed = first_failures(c, a_ids + b_ids, timeout=30)
        last_fail_s = max(failed.values()) / 1000.0
        first_a_due_s = min(failed[i] for i in a_ids) / 1000.0 + JITTER * BACKOFF_A_MS / 1000.0
        print("first runs failed within %d ms" % (max(failed.values()) - min(failed.values())),
              flush=True)

        time.sleep(max(0, last_fail_s + 1.0 - time.time()))
        c.restart_broker(signal.SIGKILL, down_s=3.5)
        assert time.time() < first_a_due_s, "too slow here: A became due before the check"
        check_waiting(c, a_ids, "after the first restart")
        time.sleep(2)
        c.restart_broker(signal.SIGKILL, down_s=0.2)
        if time.time() < first_a_due_s - 0.2:
            check_waiting(c, a_ids, "after the second restart")
        else:
            print("second check skipped: A became due during the restart", flush=True)
        ledger = c.wait_ids_done(a_ids + b_ids, timeout=60)

        early, late_a, late_b = [], [], []
        for group, backoff_ms, late in ((a_ids, BACKOFF_A_MS, late_a), (b_ids, BACKOFF_B_MS, late_b)):
            for task_id in group:
                attempts = sorted(a for a, _, _ in ledger.start_events[task_id])
                assert attempts == [1, 2], "task %s ran attempts %s" % (task_id, attempts)
                assert len(ledger.done_events[task_id]) == 1, \
                    "task %s done %d times" % (task_id, len(ledger.done_events[task_id]))
                earliest = failed[task_id] + JITTER * backoff_ms
                started = [ms for a, _, ms in ledger.start_events[task_id] if a == 2][0]
                if started + CLOCK_SLACK_MS < earliest:
                    early.append((task_id, int(earliest - started)))
                late.append(int(started - earliest))
        late_a.sort()
        late_b.sort()
        print("retries started after the earliest due time: A median %d ms max %d ms, "
              "B (due while the broker was down) median %d ms max %d ms"
              % (late_a[len(late_a) // 2], late_a[-1], late_b[len(late_b) // 2], late_b[-1]),
              flush=True)
        assert not early, "retries started before their due time (id, ms early): %s" % early[:5]
        assert late_b[-1] < B_LATE_MAX_MS, "past-due retries held after the restart: %s" % late_b[-5:]
        c.judge(max_duplicates=0, expect_accepted=len(a_ids) + len(b_ids),
                extra={"late_a_max_ms": late_a[-1], "late_b_max_ms": late_b[-1]})


run(test)
