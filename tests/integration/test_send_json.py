#!/usr/bin/env python3
"""`fling send --json`: one machine-readable line per task, and the lines tell
the truth: every task printed "accepted" runs, no other one does.

A script that pipes tasks in must know which ones the broker holds. The broker
here refuses past --max-queue-tasks, so one run yields accepted, rejected
(QUEUE_FULL) and invalid lines; a worker then runs the queue and its ledger
must hold exactly the ids printed "accepted". With the broker gone, the one
line a task gets says "unconfirmed" (its fate unknown), never a verdict."""
import json, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run

QUEUE_LIMIT = 50
LINES = 80
INVALID = {7, 31, 64}   # input line numbers holding bad JSON
BLANK = {10, 11}        # skipped: no output line


def send_lines(c, name, text, timeout=30):
    argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "send", name, "--json"]
    result = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout)
    return result.returncode, [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def test():
    with Cluster("send-json") as c:
        c.start_broker("--max-queue-tasks", str(QUEUE_LIMIT))
        lines = []
        for number in range(1, LINES + 1):
            if number in INVALID:
                lines.append("{not json")
            elif number in BLANK:
                lines.append("")
            else:
                lines.append(json.dumps({"n": number}))
        rc, out, err = send_lines(c, "test.noop", "\n".join(lines) + "\n")
        assert rc == 1, (rc, err)   # some refused: the exit status says so
        by_line = {}
        for entry in out:
            assert entry["line"] not in by_line, "two lines for input line %d" % entry["line"]
            by_line[entry["line"]] = entry
        expected_lines = set(range(1, LINES + 1)) - BLANK
        assert set(by_line) == expected_lines, sorted(set(by_line) ^ expected_lines)
        status = {n: e["status"] for n, e in by_line.items()}
        assert {n for n, s in status.items() if s == "invalid"} == INVALID, status
        for n in INVALID:
            assert by_line[n]["error"] == "BAD_JSON" and "id" not in by_line[n], by_line[n]
        accepted = {e["id"] for e in out if e["status"] == "accepted"}
        rejected = {e["id"] for e in out if e["status"] == "rejected"}
        assert len(accepted) == QUEUE_LIMIT, (len(accepted), status)
        assert len(rejected) == LINES - len(BLANK) - len(INVALID) - QUEUE_LIMIT, status
        assert all(e["error"] == "QUEUE_FULL" for e in out if e["status"] == "rejected")
        summary = err.strip().splitlines()[-1]
        assert "accepted=%d" % QUEUE_LIMIT in summary, err

        # One task from the command line: the same line, for line 1.
        one = subprocess.run([os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint,
                              "send", "test.async", '{"ms":1}', "--json"],
                             capture_output=True, text=True, timeout=30)
        assert one.returncode == 0, one.stderr
        single = json.loads(one.stdout)
        assert single["line"] == 1 and single["status"] == "accepted", single
        accepted.add(single["id"])

        # Exactly the accepted ids run.
        c.start_worker()
        c.wait_done(len(accepted), timeout=60)
        ran = set()
        for path in c.worker_ledgers:
            with open(path) as f:
                ran |= {line.split()[1] for line in f if line.startswith("done ")}
        assert ran == accepted, ("ran but not accepted", ran - accepted, "accepted, not run", accepted - ran)

        # No broker: one "unconfirmed" line per task, exit 1.
        c.stop(c.procs[0])
        argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "--timeout-ms", "300",
                "send", "test.noop", "--json"]
        gone = subprocess.run(argv, input='{"a":1}\n{"a":2}\n', capture_output=True, text=True, timeout=30)
        assert gone.returncode == 1, gone.stderr
        entries = [json.loads(line) for line in gone.stdout.splitlines()]
        assert sorted(e["line"] for e in entries) == [1, 2], entries
        assert all(e["status"] == "unconfirmed" and e["id"] for e in entries), entries


run(test)
