#!/usr/bin/env python3
"""/metrics under load, read by Prometheus's own parser: 100,000 tasks from
four producers through one broker (disk store) to three workers, plus tasks
that fail once and tasks that always fail. While it runs, the broker and the
workers are scraped over and over: every page parses, counters never go
down, and per task name accepted + recovered - done - purged equals the
tasks held (queued + delayed + in flight + dead) at every scrape. At the end
every counter equals what the ledgers say happened, task by task: accepted,
done per name and per worker, failed runs, retries, dead letters, each
worker's run-time histogram counts, and the connection gauges.

FLING_TEST_TASKS (default 100000) sets the size of the run."""
import os
import socket
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_support  # noqa: E402

ops_support.use_venv()
from ops_support import check_conventions, check_increase, scrape  # noqa: E402
from fling_harness import Cluster, run, wait_until  # noqa: E402

TOTAL = int(os.environ.get("FLING_TEST_TASKS", "100000"))
FAILING = 20   # test.fail: fails every attempt, dead after 3
FLAKY = 200    # test.block with fail_attempts 1: one failure, then done
POOL_NAMES = ("test.block", "test.fail")
LOOP_NAMES = ("test.noop", "test.async")
RUN_SECONDS = 10
LOOP_SAMPLE_EVERY = 64  # fling_worker_task_run_seconds{class="loop"}: one in 64


def check_flow(s, where):
    """accepted + recovered - done - purged = held, per name; held = total."""
    for name, accepted in s.by("fling_tasks_accepted_total", "name").items():
        held = sum(s.get("fling_queue_tasks", 0, name=name, state=state)
                   for state in ("queued", "delayed", "suspect", "inflight", "dead"))
        flow = (accepted + s.get("fling_tasks_recovered_total", 0, name=name)
                - s.get("fling_tasks_done_total", 0, name=name)
                - s.get("fling_tasks_purged_total", 0, name=name))
        assert flow == held, "%s: %s: accepted %d ... flow %d != held %d" % (where, name, accepted,
                                                                            flow, held)
    assert s.total("fling_queue_tasks") == s.get("fling_held_tasks"), where


class Scraper(threading.Thread):
    """Scrapes the broker and the workers until stopped, checking each page."""

    def __init__(self, addrs):
        super().__init__(daemon=True)
        self.addrs = addrs
        self.stop = threading.Event()
        self.error = None
        self.scrapes = 0
        self.max_producer_connections = 0
        self.saw_inflight = False

    def run(self):
        last = {}
        try:
            while not self.stop.is_set():
                for addr in self.addrs:
                    s = scrape(addr)
                    if addr in last:
                        check_increase(last[addr], s, addr)
                    last[addr] = s
                    if addr == self.addrs[0]:
                        check_flow(s, "scrape %d" % self.scrapes)
                        self.max_producer_connections = max(
                            self.max_producer_connections,
                            s.get("fling_connections", 0, socket="producer"))
                        self.saw_inflight |= s.total("fling_queue_tasks", state="inflight") > 0
                self.scrapes += 1
                self.stop.wait(0.2)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc


def ledger_lines(c):
    """(event, id, pid, name) of every worker ledger line."""
    lines = []
    for path in c.worker_ledgers:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5:
                    lines.append((parts[0], parts[1], parts[3], parts[4]))
    return lines


def check_workers(c, workers, broker):
    lines = ledger_lines(c)
    done_by = Counter((pid, name) for event, _, pid, name in lines if event == "done")
    starts = Counter((pid, name) for event, _, pid, name in lines if event == "start")
    # Every run started here ended done or failed (nothing crashed or timed out).
    fail_by = Counter()
    for (pid, name), n in starts.items():
        fail_by[pid] += n - done_by[(pid, name)]
    broker_done = broker.by("fling_broker_worker_done_total", "worker")
    total = 0
    for proc in workers:
        pid = str(proc.pid)
        s = scrape(proc.http_addr)
        check_conventions(s)
        assert s.get("fling_build_info", component="worker", version=s.by(
            "fling_build_info", "version").popitem()[0]) == 1
        assert s.get("fling_worker_registered") == 1
        done = sum(n for (p, _), n in done_by.items() if p == pid)
        total += done
        assert s.get("fling_worker_tasks_total", outcome="done") == done, (proc.name, done)
        failed = s.get("fling_worker_tasks_total", outcome="failed")
        assert failed == fail_by[pid], (proc.name, failed, fail_by[pid])
        assert broker_done[proc.name] == done, (proc.name, broker_done, done)
        pool_runs = sum(starts[(pid, name)] for name in POOL_NAMES)
        loop_done = sum(done_by[(pid, name)] for name in LOOP_NAMES)
        pool_count = s.get("fling_worker_task_run_seconds_count", **{"class": "pool"})
        loop_count = s.get("fling_worker_task_run_seconds_count", **{"class": "loop"})
        assert pool_count == pool_runs, (proc.name, pool_count, pool_runs)
        assert loop_count == loop_done // LOOP_SAMPLE_EVERY, (proc.name, loop_count, loop_done)
        inf = s.get("fling_worker_task_run_seconds_bucket", **{"class": "pool", "le": "+Inf"})
        assert inf == pool_count
        assert s.get("fling_worker_inflight_tasks", **{"class": "pool"}) == 0
        assert s.get("fling_worker_slots", **{"class": "pool"}) == 4
        assert s.get("fling_worker_capacity_tasks", **{"class": "loop"}) == 2000
        print("  %s: done=%d pool runs=%d loop samples=%d" % (proc.name, done, pool_count,
                                                             loop_count), flush=True)
    assert total == broker.total("fling_tasks_done_total")
    assert sum(fail_by.values()) == broker.total("fling_tasks_failed_total") == 3 * FAILING + FLAKY
    return done_by


def check_final(c, s, done_by, summary):
    check_conventions(s)
    accepted = summary["accepted"]
    assert s.total("fling_tasks_accepted_total") == accepted, (s.total("fling_tasks_accepted_total"),
                                                               accepted)
    assert s.total("fling_tasks_done_total") == summary["executions"]
    for name in ("test.noop", "test.block", "test.async"):
        ledger_done = sum(n for (_, n2), n in done_by.items() if n2 == name)
        assert s.get("fling_tasks_done_total", name=name) == ledger_done, name
    assert s.get("fling_tasks_failed_total", name="test.fail") == 3 * FAILING
    assert s.get("fling_tasks_retried_total", name="test.fail") == 2 * FAILING
    assert s.get("fling_tasks_dead_lettered_total", name="test.fail") == FAILING
    assert s.get("fling_queue_tasks", name="test.fail", state="dead") == FAILING
    assert s.get("fling_tasks_failed_total", name="test.block") == FLAKY
    assert s.get("fling_tasks_retried_total", name="test.block") == FLAKY
    assert s.total("fling_tasks_crashed_total") == 0 and s.total("fling_tasks_timed_out_total") == 0
    assert s.get("fling_held_tasks") == FAILING
    assert s.total("fling_orphan_queued_tasks") == 0
    assert s.get("fling_workers_registered") == 3
    assert s.get("fling_connections", socket="worker") == 3
    assert s.total("fling_queue_workers", name="test.noop") == 3
    commits = s.get("fling_store_commits_total", store="disk")
    count = s.get("fling_store_commit_seconds_count", store="disk")
    assert commits > 0 and count >= commits, (commits, count)
    buckets = sorted(((float(dict(labels)["le"]), value) for labels, value in
                      s.series("fling_store_commit_seconds_bucket").items()))
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])) and buckets[-1][1] == count
    assert s.get("fling_store_bytes", store="disk") > 0
    assert s.get("fling_store_failed", store="disk") == 0


def check_connection_gauge(c):
    """A raw TCP connection to the producer port counts while it is open."""
    def producers():
        return scrape(c.http_addr).get("fling_connections", socket="producer")
    wait_until(lambda: producers() == 0, 10, what="producer connections back to 0")
    host, port = c.producer_endpoint[len("tcp://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port))):
        wait_until(lambda: producers() == 1, 10, what="one producer connection counted")
    wait_until(lambda: producers() == 0, 10, what="the closed connection uncounted")


def test():
    with Cluster("metrics") as c:
        c.start_broker("--backoff-ms", "20", "--max-attempts", "3")
        workers = [c.start_worker("--pool-size", "4", "--async-limit", "1000", http=True)
                   for _ in range(3)]
        scraper = Scraper([c.http_addr] + [w.http_addr for w in workers])
        scraper.start()
        per = TOTAL // 4
        # Spread over about RUN_SECONDS, so that scrapes land in the thick of it.
        rate = max(per // RUN_SECONDS, 100)
        loads = [c.start_load("--count", str(per), "--name", "test.noop,test.block,test.async",
                              "--rate", str(rate)) for _ in range(4)]
        loads.append(c.start_load("--count", str(FAILING), "--name", "test.fail"))
        loads.append(c.start_load("--count", str(FLAKY), "--name", "test.block",
                                  "--payload-extra", '"fail_attempts":1'))
        for load in loads:
            summary = c.load_summary(load, timeout=300)
            assert summary["rc"] == 0, summary
        c.wait_done(4 * per + FLAKY, timeout=300)
        wait_until(lambda: scrape(c.http_addr).get("fling_held_tasks") == FAILING, 60,
                   what="every task done or dead")
        scraper.stop.set()
        scraper.join(30)
        if scraper.error:
            raise scraper.error
        print("scrapes during the run: %d, producer connections seen: %d" %
              (scraper.scrapes, scraper.max_producer_connections), flush=True)
        assert scraper.scrapes >= 10 and scraper.saw_inflight, (scraper.scrapes,
                                                                scraper.saw_inflight)
        summary = c.ledger().summary()
        assert summary["accepted"] == 4 * per + FAILING + FLAKY, summary
        assert summary["lost"] == FAILING and summary["duplicates"] == 0, summary
        s = scrape(c.http_addr)
        done_by = check_workers(c, workers, s)
        check_final(c, s, done_by, summary)
        check_connection_gauge(c)


run(test)
