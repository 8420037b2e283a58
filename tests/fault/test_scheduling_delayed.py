#!/usr/bin/env python3
"""Delayed tasks across broker SIGKILLs (issue 20; proto/SPEC.md §3.6, §6.8;
labels `scheduling` and `fault`).

Three groups of tasks with due times 4, 8 and 12 s ahead (`fling send --delay`
and `--at`) go to a disk-store broker, which is SIGKILLed at about 2 s and 6 s
and restarted on the same store each time. The ledgers must show every
accepted task done exactly once (none lost, none twice) and none started
before its due time (worker ledger start time >= the due time: for --delay,
the moment the send began plus the delay, since the broker's acceptance came
later; for --at, the time given). How late each ran is printed, not asserted
(timing on a loaded machine is not a test)."""
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run, scaled

PER_GROUP = scaled(40, minimum=5)
CLOCK_SLACK_MS = 5   # the ledger's ms and ours are truncated differently


def send_group(c, options):
    """One fling send of PER_GROUP tasks; returns their accepted ids."""
    text = "".join(json.dumps({"n": n}) + "\n" for n in range(PER_GROUP))
    argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "send",
            "test.noop", "--json"] + options
    r = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (options, r.stderr)
    verdicts = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(v["status"] == "accepted" for v in verdicts), verdicts
    # The harness's producer ledger, as c.send_task keeps it: judge() reads it.
    if c.cli_ledger not in c.producer_ledgers:
        c.producer_ledgers.append(c.cli_ledger)
    with open(c.cli_ledger, "a") as f:
        f.writelines("accepted %s\n" % v["id"] for v in verdicts)
    return [v["id"] for v in verdicts]


def test():
    with FaultCluster("sched-delayed") as c:
        c.require_disk_store()
        c.start_broker(*c.disk_broker_args(c.path("store")))
        c.start_worker()
        due = {}   # id -> earliest time it may start, wall ms
        t0 = time.time()
        for delay_s in (4, 8):
            start_ms = int(time.time() * 1000)
            for task_id in send_group(c, ["--delay", "%ds" % delay_s]):
                due[task_id] = start_ms + delay_s * 1000
        at_ms = int((t0 + 12) * 1000)
        at_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_ms // 1000)) + \
            ".%03dZ" % (at_ms % 1000)
        for task_id in send_group(c, ["--at", at_text]):
            due[task_id] = at_ms
        print("accepted %d delayed tasks in %.2f s" % (len(due), time.time() - t0), flush=True)

        for kill_at in (2, 6):
            time.sleep(max(0, t0 + kill_at - time.time()))
            c.restart_broker(signal.SIGKILL, down_s=0.5)
        ledger = c.wait_ids_done(due, timeout=60)

        early, late = [], []
        for task_id, due_ms in due.items():
            starts = ledger.start_events[task_id]
            assert len(ledger.done_events[task_id]) == 1, \
                "task %s done %d times" % (task_id, len(ledger.done_events[task_id]))
            for _, _, ms in starts:
                if ms is not None and ms + CLOCK_SLACK_MS < due_ms:
                    early.append((task_id, due_ms - ms))
                elif ms is not None:
                    late.append(ms - due_ms)
        late.sort()
        if late:
            print("started after due: median %d ms, max %d ms (due is a lower bound for --delay)"
                  % (late[len(late) // 2], late[-1]), flush=True)
        assert not early, "started before their due time (id, ms early): %s" % early[:5]
        c.judge(max_duplicates=0, expect_accepted=len(due),
                extra={"delayed": len(due), "late_max_ms": late[-1] if late else None})


run(test)
