#!/usr/bin/env python3
"""Periodic schedules owned by the broker (issue 20; proto/SPEC.md §5.3, §6.8;
labels `scheduling` and `fault`). A real disk-store broker and worker:

- `--schedules FILE` at start: its schedule fires;
- the same schedule added by two admins at once (`fling schedule add`): one
  is told "added", the other "unchanged", and each fire time runs once;
- `fling schedule list` and `fling stats` show it, with its next fire time
  and its fired-up-to mark;
- `--max-schedules` refuses one more with a clear error;
- `fling schedule remove` stops it: no fire time after the removal runs;
- a file with bad lines: the broker refuses to start and names each line.

Judged by the worker's ledger: a firing's id is deterministic (producer =
the first 8 bytes of SHA-1("fling-schedule:" + name), sequence = its fire
time in UTC ms), so every id says which fire time it was. Each must be a
multiple of the interval, run exactly once, never start before its fire
time, and the run must have no gap between the first and the last firing.
The broker's wall clock and the ledger's are the same machine's."""
import hashlib, json, os, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run

CLOCK_SLACK_MS = 5   # the ledger's ms and ours are truncated differently


def producer_hex(name):
    return hashlib.sha1(("fling-schedule:" + name).encode()).hexdigest()[:16]


def now_ms():
    return int(time.time() * 1000)


def firings(ledger, name):
    """{fire_ms: [(attempt, pid, start_ms)]} of the schedule's tasks that started."""
    prefix = producer_hex(name) + ":"
    out = {}
    for task_id, starts in ledger.start_events.items():
        if task_id.startswith(prefix):
            out[int(task_id[len(prefix):])] = starts
    return out


def check_runs(ledger, name, every_ms, after_ms, until_ms):
    """Every firing of `name`: a multiple of every_ms within (after_ms, until_ms], done
    once, started at or after its fire time, and no fire time missing in between."""
    runs = firings(ledger, name)
    assert runs, "schedule %s never fired" % name
    times = sorted(runs)
    for t in times:
        assert t % every_ms == 0, "%s: fire time %d not a multiple of %d" % (name, t, every_ms)
        assert after_ms < t <= until_ms, "%s: fire time %d outside (%d, %d]" % (name, t, after_ms, until_ms)
        assert len(runs[t]) == 1, "%s: fire time %d started %d times" % (name, t, len(runs[t]))
        start = runs[t][0][2]
        assert start is not None and start + CLOCK_SLACK_MS >= t, \
            "%s: fire time %d started early, at %s" % (name, t, start)
    expected = list(range(times[0], times[-1] + 1, every_ms))
    assert times == expected, "%s: fire times missing: %s" % (name, sorted(set(expected) - set(times))[:10])
    done = [task_id for task_id in ledger.done_events if task_id.startswith(producer_hex(name) + ":")]
    assert len(done) == len(times), "%s: %d started, %d done" % (name, len(times), len(done))
    return times


def bad_file_refused(c):
    """A file with two bad lines among good ones: exit 1, each line named."""
    path = c.path("bad.schedules")
    with open(path, "w") as f:
        f.write('# comment, then a good line, then two bad ones\n')
        f.write(json.dumps({"name": "good", "task": "test.noop", "every_ms": 1000}) + "\n")
        f.write(json.dumps({"name": "bad-cron", "task": "test.noop", "cron": "61 * * * *"}) + "\n")
        f.write('{"name": "half", "task": \n')
        f.write(json.dumps({"name": "fast", "task": "test.noop", "every_ms": 10}) + "\n")
    argv = [os.path.join(c.bin_dir, "fling-broker"), "--producer-endpoint", "tcp://127.0.0.1:*",
            "--worker-endpoint", "tcp://127.0.0.1:*", "--http-addr", "", "--store-dir",
            c.path("bad-store"), "--schedules", path]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    text = r.stdout + r.stderr
    assert r.returncode == 1, "a broker with a bad --schedules file started (rc %s):\n%s" % (r.returncode, text)
    for line in ("line 3", "line 4", "line 5"):
        assert line in text, "the refusal does not name %s:\n%s" % (line, text)
    assert "line 2:" not in text, text
    print("bad file refused:", [l for l in text.splitlines() if "--schedules" in l][:4], flush=True)


def test():
    with FaultCluster("sched-periodic") as c:
        c.require_disk_store()
        bad_file_refused(c)
        path = c.path("schedules")
        with open(path, "w") as f:
            f.write(json.dumps({"name": "from-file", "task": "test.noop", "every_ms": 2000,
                                "payload": {"from": "file"}}) + "\n")
        start_ms = now_ms()
        c.start_broker("--store", "disk", "--store-dir", c.path("store"), "--schedules", path,
                       "--max-schedules", "2")
        c.start_worker()

        # Two admins add the same schedule at the same moment.
        added_ms = now_ms()
        results = [None, None]

        def add(i):
            results[i] = c.fling("schedule", "add", "tick", "test.noop", '{"n": 1}', "--every", "1s")
        threads = [threading.Thread(target=add, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outs = [r.stdout.strip() for r in results]
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        assert sorted(o.split(",")[0] for o in outs) == \
            ["schedule added", "schedule unchanged (the broker holds the same one)"], outs
        print("two admins:", outs, flush=True)

        r = c.fling("schedule", "add", "third", "test.noop", "--every", "1s")
        assert r.returncode != 0 and "--max-schedules" in r.stderr, (r.returncode, r.stderr)
        print("third refused:", r.stderr.strip(), flush=True)

        time.sleep(4.5)
        listing = c.fling("schedule", "list")
        assert listing.returncode == 0, listing.stderr
        lines = listing.stdout.splitlines()
        assert "FIRED UP TO" in lines[0] and any(l.startswith("tick ") for l in lines) and \
            any(l.startswith("from-file ") for l in lines), listing.stdout
        print(listing.stdout, flush=True)
        stats = c.stats()["schedules"]
        assert stats["total"] == 2 and {s["name"] for s in stats["next"]} == {"tick", "from-file"}, stats
        assert all(s["next_ms"] > now_ms() - 1000 for s in stats["next"]), stats

        r = c.fling("schedule", "remove", "tick")
        removed_ms = now_ms()
        assert r.returncode == 0 and r.stdout.strip() == "schedule removed", (r.stdout, r.stderr)
        r = c.fling("schedule", "remove", "tick")
        assert r.returncode == 0 and "nothing removed" in r.stdout, (r.stdout, r.stderr)
        time.sleep(2.5)

        ledger = c.fault_ledger()
        ticks = check_runs(ledger, "tick", 1000, added_ms, removed_ms)
        files = check_runs(ledger, "from-file", 2000, start_ms, now_ms())
        assert len(ticks) >= 4 and len(files) >= 2, (ticks, files)
        # Only schedules ran: nothing else is in the ledger.
        others = [i for i in ledger.start_events
                  if not i.startswith((producer_hex("tick"), producer_hex("from-file")))]
        assert not others, others
        stats = c.stats()["schedules"]
        print("ticks %d (%d..%d), file firings %d, stats %s"
              % (len(ticks), ticks[0], ticks[-1], len(files), json.dumps(stats)), flush=True)
        assert stats["total"] == 1 and stats["refused"] == 0, stats


run(test)
