#!/usr/bin/env python3
"""Priorities under a backlog (issue 20; proto/SPEC.md §6.8; labels `scheduling`
and `fault`).

Part 1, order and durability: TOTAL tasks in batches of mixed priorities
(`fling send --priority N`, a seeded shuffle) go to a disk-store broker with
no worker (aging off: --priority-age-ms of an hour). One worker that runs one
task at a time (--pool-size 1 --prefetch 0, test.block) then runs them, and the
broker is SIGKILLed and restarted on its store when about a third are done.
The order of the first starts in the worker's ledger must be exactly:
highest priority first, FIFO (the order they were accepted) within a
priority, across the restart (the priority is in the stored record). Every
task done, none twice.

Part 2, aging (--priority-age-ms 2000, another broker): OLD tasks of
priority 0, then AGE_WAIT_S later tasks of priority 2 (LATE) and 6 (HIGH). The
worker must run HIGH, then OLD (an effective 3 or more by then, above LATE's
2), then LATE: a low task that waited long enough runs before later higher
ones, without overtaking a task far above it."""
import os, random, signal, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

TOTAL = scaled(2000, minimum=200)
BATCH = 50
AGE_MS = 2000
AGE_WAIT_S = 7.0   # OLD is an effective 3 after 6 s; HIGH (6) stays above it until 12 s
PART2 = 20
LEASED_AT_KILL = 1  # one slot, no prefetch


def send_batch(c, priority, count, name="test.block"):
    """One fling send of `count` tasks, every one accepted; returns their ids
    in acceptance order."""
    options = ["--priority", str(priority)] if priority else []
    return c.send_accepted(name, [{"ms": 1, "n": n} for n in range(count)], *options,
                           timeout=60)


def first_starts(c, ledger_path):
    """Ids in the order the worker first started them, and when (wall ms)."""
    order, when = [], {}
    with open(ledger_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[0] == "start" and parts[1] not in when:
                when[parts[1]] = int(parts[5])
                order.append(parts[1])
    return order, when


def out_of_order(actual, expected, started, killed_ms):
    """Positions where `actual` differs from `expected`, once the tasks
    leased when the broker was killed are set aside: a DISPATCH the worker
    never got is parked on restart until the worker's timeout (SPEC.md
    §6.4), then runs later. At most LEASED_AT_KILL, each started after the
    kill; returns (wrong, excused)."""
    actual, expected, excused, i = list(actual), list(expected), [], 0
    while i < len(expected):
        if i < len(actual) and actual[i] == expected[i]:
            i += 1
            continue
        task_id = expected[i]
        if len(excused) < LEASED_AT_KILL and started.get(task_id, 0) >= killed_ms:
            excused.append(task_id)
            actual.remove(task_id)
            expected.remove(task_id)
            continue
        return [(n, a, e) for n, (a, e) in enumerate(zip(actual, expected)) if a != e], excused
    return [], excused


def one_at_a_time(c, name):
    return c.start_worker("--pool-size", "1", "--prefetch", "0", name=name)


def part1(c):
    c.start_broker("--store", "disk", "--store-dir", c.path("store"), "--priority-age-ms", "3600000")
    rng = random.Random(20)
    levels = [n % 10 for n in range(TOTAL // BATCH)]
    rng.shuffle(levels)
    priority_of, accepted = {}, []
    t0 = time.time()
    for level in levels:
        for task_id in send_batch(c, level, BATCH):
            priority_of[task_id] = level
            accepted.append(task_id)
    print("accepted %d tasks in %d batches in %.1f s" % (len(accepted), len(levels),
                                                         time.time() - t0), flush=True)
    stats = c.stats()
    queue = next(q for q in stats["queues"] if q["name"] == "test.block")
    by_level = [sum(1 for p in priority_of.values() if p == n) for n in range(10)]
    assert queue["queued_by_priority"] == by_level, (queue["queued_by_priority"], by_level)

    worker = one_at_a_time(c, "worker1")
    deadline = time.monotonic() + 60
    while len(first_starts(c, c.path("worker1.ledger"))[0]) < len(accepted) // 3:
        assert time.monotonic() < deadline, "the worker does not progress"
        time.sleep(0.05)
    killed_ms = int(time.time() * 1000)
    c.restart_broker(signal.SIGKILL, down_s=0.5)
    c.wait_ids_done(accepted, timeout=120)

    rank = {task_id: n for n, task_id in enumerate(accepted)}
    expected = sorted(accepted, key=lambda i: (-priority_of[i], rank[i]))
    actual, started = first_starts(c, c.path("worker1.ledger"))
    assert len(actual) == len(expected), (len(actual), len(expected))
    wrong, excused = out_of_order(actual, expected, started, killed_ms)
    assert not wrong, "%d out of order (position, ran, expected) with priorities %s: %s" % (
        len(wrong), [(priority_of[a], priority_of[e]) for _, a, e in wrong[:5]], wrong[:5])
    if excused:
        print("leased at the kill, ran after its worker timeout: %s" % excused, flush=True)
    print("part 1: %d tasks ran highest priority first, FIFO within each, across a broker"
          " SIGKILL" % len(actual), flush=True)
    c.stop(worker)
    return len(accepted)


def part2(c):
    c.stop(c.broker)
    c.start_broker("--store", "memory", "--priority-age-ms", str(AGE_MS), name="broker-aging")
    sent_old = time.time()
    old = send_batch(c, 0, PART2)
    time.sleep(AGE_WAIT_S)
    late = send_batch(c, 2, PART2)
    high = send_batch(c, 6, PART2)
    one_at_a_time(c, "worker2")
    waited = time.time() - sent_old
    assert waited < 12 - 1, "too slow to judge: OLD reached HIGH's 6 (timing, not the broker)"
    c.wait_ids_done(old + late + high, timeout=60)
    actual = first_starts(c, c.path("worker2.ledger"))[0]
    expected = high + old + late
    assert actual == expected, "aging order: ran %s, expected HIGH, OLD, LATE" % (
        ["HIGH" if i in high else "OLD" if i in old else "LATE" for i in actual])
    print("part 2: priority-0 tasks that waited %.1f s ran before later priority-2 tasks,"
          " after the priority-6 ones" % waited, flush=True)
    return 3 * PART2


def test():
    with FaultCluster("sched-priority") as c:
        c.require_disk_store()
        count = part1(c) + part2(c)
        # A broker SIGKILL may rerun the task in flight: explained, bounded.
        c.judge(max_duplicates=2, explain=False, expect_accepted=count)


run(test)
