#!/usr/bin/env python3
"""A schedule firing every second for 60 s through two broker SIGKILLs (issue
20, proto/SPEC.md §6.8; labels `scheduling` and `fault`).

Two schedules, added with `fling schedule add` to a disk-store broker: `once`
(missed = once) and `skip` (missed = skip), both every 1 s. The broker is
SIGKILLed twice at the worst moments, right around a fire time: 2 ms after
one (it is firing: task and mark in the commit), down 2.5 s, so two or three
fire times fall while it is down; and 2 ms before one, down 0.3 s. One worker
runs the tasks all along. The worker's ledger must show, for each schedule:

- every firing id done exactly once, each id a multiple of 1000 (the
  deterministic id: SHA-1 producer of the name, fire time as the sequence),
  none started before its fire time;
- no fire time missing outside the kills' windows (from a second before the
  kill to a second after the restarted broker was ready);
- `once`: of the fire times that fell while the broker was surely down
  (after the kill, before the restart was spawned), at most one ran, and
  the latest missed firing ran (a fire time at or after the latest of
  them, no later than the restart's first turn);
- `skip`: none of those ran.
FLING_FAULT_SCALE scales the 60 s."""
import hashlib, os, signal, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

EVERY_MS = 1000
RUN_S = scaled(60, minimum=12)
CLOCK_SLACK_MS = 5


def producer_hex(name):
    return hashlib.sha1(("fling-schedule:" + name).encode()).hexdigest()[:16]


def now_ms():
    return int(time.time() * 1000)


def sleep_until_ms(t):
    time.sleep(max(0.0, (t - now_ms()) / 1000.0))


def runs_of(ledger, name):
    prefix = producer_hex(name) + ":"
    starts = {int(i[len(prefix):]): s for i, s in ledger.start_events.items() if i.startswith(prefix)}
    dones = {int(i[len(prefix):]): d for i, d in ledger.done_events.items() if i.startswith(prefix)}
    return starts, dones


def check(ledger, name, added_ms, end_ms, kills, policy):
    starts, dones = runs_of(ledger, name)
    problems = []
    for t, d in sorted(dones.items()):
        if len(d) != 1:
            problems.append("fire time %d done %d times" % (t, len(d)))
    for t, s in sorted(starts.items()):
        if t % EVERY_MS:
            problems.append("fire time %d not a multiple of %d" % (t, EVERY_MS))
        if t <= added_ms or t > end_ms:
            problems.append("fire time %d outside (%d, %d]" % (t, added_ms, end_ms))
        early = [ms for _, _, ms in s if ms is not None and ms + CLOCK_SLACK_MS < t]
        if early:
            problems.append("fire time %d started early at %s" % (t, early))
    if set(starts) != set(dones):
        problems.append("started but never done: %s" % sorted(set(starts) - set(dones))[:5])
    ran = set(dones)
    first = (added_ms // EVERY_MS + 1) * EVERY_MS
    last_checked = end_ms - 2 * EVERY_MS  # the last second may still be running
    missing = [t for t in range(first, last_checked + 1, EVERY_MS) if t not in ran]
    for t in missing:
        if not any(k["kill_ms"] - EVERY_MS < t <= k["ready_ms"] + EVERY_MS for k in kills):
            problems.append("fire time %d missing outside the kills' windows" % t)
    summary = []
    for k in kills:
        down = [t for t in range(first, end_ms, EVERY_MS) if k["kill_ms"] < t <= k["spawn_ms"]]
        ran_down = [t for t in down if t in ran]
        window = [t for t in range(first, end_ms, EVERY_MS)
                  if k["kill_ms"] - EVERY_MS < t <= k["ready_ms"] + EVERY_MS]
        summary.append({"down": len(down), "ran_of_down": len(ran_down),
                        "window_ran": [t % 100000 for t in window if t in ran],
                        "window_missing": [t % 100000 for t in window if t not in ran]})
        if policy == "once":
            if len(ran_down) > 1:
                problems.append("kill at %d: %d of the missed fire times ran, at most one may"
                                % (k["kill_ms"], len(ran_down)))
            if down and not any(max(down) <= t <= k["ready_ms"] + EVERY_MS for t in ran):
                problems.append("kill at %d: the latest missed firing (%d or later) never ran"
                                % (k["kill_ms"], max(down)))
        elif ran_down:
            problems.append("kill at %d: missed fire times ran with missed=skip: %s"
                            % (k["kill_ms"], ran_down))
    print("%s: ran %d, missing %d (%s), per kill %s"
          % (name, len(ran), len(missing), [t % 100000 for t in missing], summary), flush=True)
    return problems, len(ran)


def test():
    with FaultCluster("sched-kills") as c:
        c.require_disk_store()
        c.start_broker(*c.disk_broker_args(c.path("store")))
        c.start_worker()
        added_ms = now_ms()
        for name, policy in (("once", "once"), ("skip", "skip")):
            r = c.fling("schedule", "add", name, "test.noop", '{"p":"%s"}' % policy, "--every",
                        "1s", "--missed", policy)
            assert r.returncode == 0, r.stderr
        end_ms = added_ms + RUN_S * 1000
        kills = []
        # (seconds in, offset from the fire time in ms, seconds down)
        plan = [(RUN_S // 3, +2, 2.5), (2 * RUN_S // 3, -2, 0.3)]
        for at_s, offset_ms, down_s in plan:
            fire = (added_ms // EVERY_MS + at_s) * EVERY_MS
            sleep_until_ms(fire + offset_ms)
            kill_ms = now_ms()
            old = c.broker
            c.event("broker-SIGKILL", old)
            old.signal(signal.SIGKILL)
            old.wait(10)
            time.sleep(down_s)
            spawn_ms = now_ms()
            c.broker_restarts += 1
            c.start_broker(*c.broker_args, same_ports=True, name="broker.%d" % c.broker_restarts)
            ready_ms = now_ms()
            kills.append({"kill_ms": kill_ms, "spawn_ms": spawn_ms, "ready_ms": ready_ms})
            print("killed at %+d ms of fire time %d, down %.1f s (ready %d ms after the kill)"
                  % (kill_ms - fire, fire % 100000, down_s, ready_ms - kill_ms), flush=True)
        sleep_until_ms(end_ms)
        r = c.fling("schedule", "remove", "once")
        assert r.returncode == 0, r.stderr
        r = c.fling("schedule", "remove", "skip")
        assert r.returncode == 0, r.stderr
        stop_ms = now_ms()
        time.sleep(1.5)   # the last firings finish
        ledger = c.fault_ledger()
        problems = []
        counts = {}
        for name in ("once", "skip"):
            p, counts[name] = check(ledger, name, added_ms, stop_ms, kills, name)
            problems += ["%s: %s" % (name, x) for x in p]
        print("stats:", c.stats().get("schedules"), flush=True)
        assert counts["once"] >= RUN_S - 6 and counts["skip"] >= RUN_S - 8, counts
        assert c.broker.alive(), "the broker died"
        assert not problems, "; ".join(problems[:10])


run(test)
