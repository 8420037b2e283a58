#!/usr/bin/env python3
"""`fling send --delay/--at/--priority/--key` against a broker that does not
speak FLP/1.2 (proto/SPEC.md §2.3): such tasks are refused clearly, each one
BAD_VERSION with a message that says what to do, exit 1, and none of them
runs; plain tasks sent beside them are unaffected. An old broker must never
read a delayed task as one to run now.

When fling-broker speaks FLP/1.2 this test changes side: the same commands
must then be accepted and held (the `scheduling` label)."""
import json, os, subprocess, sys
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
        for options in (["--delay", "2s"], ["--at", "2030-01-01T00:00:00Z"], ["--priority", "7"],
                        ["--key", "user:42:welcome", "--key-ttl", "1h"]):
            rc, out, err = send(c, options)
            assert rc == 1, (options, rc, err)
            assert len(out) == LINES, (options, out)
            for entry in out:
                assert entry["status"] == "rejected", (options, entry)
                assert entry["error"] == "BAD_VERSION", (options, entry)
                assert "FLP/1.2" in entry["message"], (options, entry)
                refused.add(entry["id"])
        rc, out, err = send(c, [])
        assert rc == 0, err
        accepted = {e["id"] for e in out if e["status"] == "accepted"}
        assert len(accepted) == LINES, out

        # Usage errors never reach the broker: exit 2 for a bad value, 1 with
        # the reason for options that contradict each other.
        rc, _, err = send(c, ["--delay", "5 s"], count=1)
        assert rc == 2 and "--delay" in err, (rc, err)
        rc, out, err = send(c, ["--delay", "5s", "--at", "2030-01-01T00:00:00Z"], count=1)
        assert rc == 1 and out[0]["status"] == "invalid", (rc, out, err)

        # Exactly the plain tasks run; the refused ones were never held.
        c.start_worker()
        c.wait_done(len(accepted), timeout=60)
        done = c.ledger().done
        assert set(done) == accepted, ("ran", done, "accepted", accepted)
        assert all(n == 1 for n in done.values()), done
        assert not set(done) & refused


if __name__ == "__main__":
    test()
    print("ok")
