#!/usr/bin/env python3
"""`fling send --delay/--at/--priority/--key` and `fling schedule`, `fling
queue pause` against today's fling-broker (proto/SPEC.md §3.6, §6.8):
- a delay or a due time is accepted, held, and the task runs after it (the
  `scheduling` label kills the broker meanwhile: tests/fault);
- a priority is accepted and its tasks run (their order: tests/fault
  test_scheduling_priority.py);
- a unique key: the first task with it runs, a second one sent while the key
  is held is reported "duplicate" and never runs;
- schedules are served, `fling queue pause` and `resume` work, and `fling
  schedule next` needs no broker;
- plain tasks are unaffected.
"""
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster

LINES = 3


def send(c, options, count=LINES):
    argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "send",
            "test.noop", "--json"] + options
    text = "".join(json.dumps({"n": n}) + "\n" for n in range(count))
    result = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=30)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test():
    with Cluster("send-sched") as c:
        c.start_broker()
        refused = set()
        delayed = set()
        sent_ms = time.time() * 1000
        for options in (["--delay", "1500ms"], ["--at", time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))]):
            rc, out, err = send(c, options)
            assert rc == 0, (options, err)
            delayed |= {e["id"] for e in out if e["status"] == "accepted"}
        assert len(delayed) == 2 * LINES, delayed
        rc, out, err = send(c, [])
        assert rc == 0, err
        accepted = {e["id"] for e in out if e["status"] == "accepted"}
        assert len(accepted) == LINES, out
        rc, out, err = send(c, ["--priority", "7"])
        assert rc == 0, err
        prioritized = {e["id"] for e in out if e["status"] == "accepted"}
        assert len(prioritized) == LINES, out
        accepted |= prioritized
        accepted |= delayed
        keyed = ["--key", "user:42:welcome", "--key-ttl", "1h"]
        rc, out, err = send(c, keyed, count=1)
        assert rc == 0 and out[0]["status"] == "accepted", (out, err)
        accepted.add(out[0]["id"])
        rc, out, err = send(c, keyed, count=2)   # the key is held: DUPLICATE, never runs
        assert rc == 0 and all(e["status"] == "duplicate" for e in out), (out, err)
        refused |= {e["id"] for e in out}

        # Usage errors never reach the broker: exit 2 for a bad value, 1 with
        # the reason for options that contradict each other.
        rc, _, err = send(c, ["--delay", "5 s"], count=1)
        assert rc == 2 and "--delay" in err, (rc, err)
        rc, out, err = send(c, ["--delay", "5s", "--at", "2030-01-01T00:00:00Z"], count=1)
        assert rc == 1 and out[0]["status"] == "invalid", (rc, out, err)

        fling = os.path.join(c.bin_dir, "fling")
        # Schedules are served (tests/fault/test_scheduling_periodic.py has them
        # fire); 03:00 in Berlin does not come during this test.
        result = subprocess.run([fling, "--endpoint", c.producer_endpoint, "schedule", "add",
                                 "nightly", "test.noop", "--cron", "0 3 * * *", "--tz",
                                 "Europe/Berlin"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0 and "schedule added" in result.stdout, result
        for action, said in (("pause", "paused"), ("resume", "resumed")):
            result = subprocess.run([fling, "--endpoint", c.producer_endpoint, "queue", action,
                                     "test.other"], capture_output=True, text=True, timeout=30)
            assert result.returncode == 0 and result.stdout.startswith(said), result
        result = subprocess.run([fling, "schedule", "next", "--cron", "30 2 * * *", "--tz",
                                 "Europe/Berlin", "--count", "2"], capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0 and len(result.stdout.splitlines()) == 2, result
        assert all(line.endswith("T02:30:00 +01:00") or line.endswith("T02:30:00 +02:00")
                   for line in result.stdout.splitlines()), result.stdout

        # Exactly the plain tasks run; the refused ones were never held.
        c.start_worker()
        c.wait_done(len(accepted), timeout=60)
        done = c.ledger().done
        assert set(done) == accepted, ("ran", done, "accepted", accepted)
        # A delayed task started no earlier than 1.5 s after its send began.
        starts = c.event_ms("start")
        assert all(starts[i] >= sent_ms + 1500 - 5 for i in delayed), "a delayed task ran early"
        assert all(n == 1 for n in done.values()), done
        assert not set(done) & refused


if __name__ == "__main__":
    test()
    print("ok")
