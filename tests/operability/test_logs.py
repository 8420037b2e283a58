#!/usr/bin/env python3
"""Logs for machines: with --log-format json every broker line is one JSON
object, with --log-format logfmt every worker line parses as logfmt (the
program's and its library's), --log-level warn silences both; a task
error with quotes, a newline and UTF-8 comes back exactly (not rewritten as
always_fails), and lines about a task carry its id and name. A bad
--log-format stops the program at start."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from fling_harness import Cluster, run, wait_until  # noqa: E402

ERROR = 'disk "sda" full\nretry later \u00fc \\ done'
PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def logfmt(line):
    """key -> value of one logfmt line; fails on anything left over."""
    pairs, end = {}, 0
    for match in PAIR.finditer(line):
        assert line[end:match.start()].strip() == "", "not logfmt: %r" % line
        key, value = match.groups()
        pairs[key] = json.loads(value) if value.startswith('"') else value
        end = match.end()
    assert line[end:].strip() == "", "not logfmt: %r" % line
    return pairs


def test():
    with Cluster("logs") as c:
        broker = c.start_broker("--log-format", "json", "--max-attempts", "1")
        worker = c.start_worker("--log-format", "logfmt")
        sent = c.fling("send", "test.fail", json.dumps({"error": ERROR}))
        assert sent.returncode == 0, sent.stderr
        task_id = sent.stdout.strip()
        wait_until(lambda: "dead-lettered" in broker.log(), 30, what="the dead-letter line")
        # Started at warn: registered (ready), yet no INFO line, neither the
        # program's ("loaded module") nor libfling's ("registered with broker").
        quiet = c.start_worker("--log-level", "warn", name="quiet")
        c.stop(quiet)
        c.stop(worker)
        c.stop(broker)

        lines = [json.loads(line) for line in broker.log().splitlines() if line.strip()]
        for line in lines:
            assert {"time", "level", "component", "msg"} <= set(line) and line["component"] == "broker"
        dead = [line for line in lines if line["msg"] == "task dead-lettered"]
        assert len(dead) == 1, lines
        assert dead[0]["id"] == task_id and dead[0]["name"] == "test.fail" and \
            dead[0]["error"] == ERROR and dead[0]["attempts"] == 1 and dead[0]["level"] == "warn", dead
        assert any(line["msg"] == "worker joined" and line["name"] == "worker1" for line in lines)

        wlines = [logfmt(line) for line in worker.log().splitlines() if line.strip()]
        failed = [w for w in wlines if w.get("msg") == "task FAIL"]
        assert len(failed) == 1 and failed[0]["id"] == task_id and failed[0]["name"] == "test.fail"
        assert failed[0]["error"] == ERROR and failed[0]["component"] == "worker", failed
        # The program and libfling (fling_log_configure) write one format,
        # one component: the first line below is the program's, the second
        # libfling's, as the "task FAIL" line above.
        for start in ("loaded module", "registered with broker"):
            assert any(w.get("msg", "").startswith(start) and w["level"] == "info" and
                       w["component"] == "worker" for w in wlines), (start, wlines)
        assert " INFO " not in quiet.log() and "loaded module" not in quiet.log(), quiet.log()

        bad = subprocess.run([os.path.join(c.bin_dir, "fling-broker"), "--log-format", "xml"],
                             capture_output=True, text=True, timeout=20)
        assert bad.returncode == 1 and "--log-format" in bad.stderr, bad


run(test)
