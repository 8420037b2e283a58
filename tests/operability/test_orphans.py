#!/usr/bin/env python3
"""No silent queues. A task sent to a name no worker serves (a typo, or the
README's `fling send nobody.home '{}'`) is seen within seconds, not held
in silence: a WARN line naming the name and its count (then at most once per
--orphan-warn-ms), fling_orphan_queued_tasks{name}, and `fling stats`. When a
worker comes for the name, an INFO line says so, the tasks run and the gauge
goes. With --refuse-unknown-names such a task is refused at once (BAD_TASK),
except names --allow-name lists or a worker registered."""
import json
import os
import re
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_support  # noqa: E402

ops_support.use_venv()
from ops_support import scrape  # noqa: E402
from fling_harness import Cluster, run, wait_until  # noqa: E402

INTERVAL_MS = 2000
WARN = re.compile(r"^(\S+) broker WARN queue has no worker name=(\S+) queued=(\d+)", re.M)


def warnings(broker, name):
    return [(datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ"), int(n))
            for t, who, n in WARN.findall(broker.log()) if who == name]


def check_silent_queue(c, broker):
    started = time.monotonic()
    sent = c.fling("send", "nobody.home", "{}")
    assert sent.returncode == 0, sent.stderr
    # The broker gives workers one worker timeout (3 s) to come back after a start.
    wait_until(lambda: warnings(broker, "nobody.home"), 60, what="the WARN line")
    print("WARN after %.1fs" % (time.monotonic() - started), flush=True)
    assert warnings(broker, "nobody.home")[0][1] == 1
    s = scrape(c.http_addr)
    assert s.get("fling_orphan_queued_tasks", name="nobody.home") == 1
    assert s.get("fling_queue_workers", name="nobody.home") == 0
    stats = c.fling("stats")
    assert "no worker for: nobody.home (1 queued)" in stats.stdout, stats.stdout
    queue = [q for q in c.stats()["queues"] if q["name"] == "nobody.home"][0]
    assert queue["workers"] == 0 and queue["queued"] == 1, queue
    # Repeated, but never more often than the interval.
    wait_until(lambda: len(warnings(broker, "nobody.home")) >= 3, 30, what="three WARN lines")
    times = [t for t, _ in warnings(broker, "nobody.home")]
    gaps = [(b - a).total_seconds() * 1000 for a, b in zip(times, times[1:])]
    assert all(gap >= INTERVAL_MS - 5 for gap in gaps), gaps
    assert all(gap < INTERVAL_MS + 2000 for gap in gaps), gaps


def check_worker_comes(c, broker):
    """Tasks for a served name wait while no worker is there, then run."""
    for _ in range(5):
        assert c.fling("send", "test.block", '{"ms":1}').returncode == 0
    wait_until(lambda: warnings(broker, "test.block"), 30, what="test.block orphaned")
    assert scrape(c.http_addr).get("fling_orphan_queued_tasks", name="test.block") == 5
    c.start_worker()
    c.wait_done(5, timeout=30)
    wait_until(lambda: "queue no longer without a worker name=test.block" in broker.log(), 10,
               what="the INFO line")
    s = scrape(c.http_addr)
    assert s.get("fling_orphan_queued_tasks", name="test.block") is None
    assert s.get("fling_orphan_queued_tasks", name="nobody.home") == 1  # still nobody for it


def check_refused(c):
    broker = c.start_broker("--refuse-unknown-names", "--allow-name", "allowed.one",
                            "--allow-name", "allowed.two", name="strict-broker", store="memory")
    refused = c.fling("send", "nobody.home", "{}", "--json")
    verdict = json.loads(refused.stdout)
    assert refused.returncode != 0 and verdict["error"] == "BAD_TASK", refused
    assert "does not know" in c.fling("send", "nobody.home", "{}").stderr
    for name in ("allowed.one", "allowed.two"):
        assert c.fling("send", name, "{}").returncode == 0
    c.start_worker(name="strict-worker")
    accepted = c.fling("send", "test.noop", "{}")
    assert accepted.returncode == 0, accepted.stderr
    s = scrape(c.http_addr)
    assert s.get("fling_rejected_tasks_total", reason="BAD_TASK") == 2
    assert s.get("fling_tasks_accepted_total", name="nobody.home") is None  # no queue made
    assert "refused task of unknown name name=nobody.home count=1" in broker.log()
    assert s.get("fling_tasks_accepted_total", name="allowed.two") == 1
    c.stop(broker)


def test():
    with Cluster("orphans") as c:
        broker = c.start_broker("--orphan-warn-ms", str(INTERVAL_MS))
        check_silent_queue(c, broker)
        check_worker_comes(c, broker)
        c.stop(broker)
        check_refused(c)


run(test)
