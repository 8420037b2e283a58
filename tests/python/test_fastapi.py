"""The FastAPI example (examples/fastapi) as it runs: a real uvicorn server
with the example app, the example's worker (fling-py-worker tasks:app) and
the broker, driven by 50 concurrent httpx clients. The broker is stopped in
the middle and stays away for 5 s: no request fails or waits for it, and
every task that a response named runs exactly once (the example's mailbox
and events files are the ledger). The broker is stopped with SIGTERM: a
SIGKILL may lose its last completions, so a task may run twice then
(at-least-once, proto/SPEC.md §6.5), which tests/python/test_worker.py covers."""
import asyncio
import collections
import json
import os
import signal
import statistics
import sys
import time

import httpx

from fling_harness import free_port, wait_until

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                       "fastapi")
CLIENTS = 50
RUN_SECONDS = 9.0
OUTAGE = (2.0, 7.0)  # seconds into the run: the broker is down in between


def start_web(cluster, producer_endpoint):
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", EXAMPLE, "--host",
            "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    proc, _ = cluster._spawn("web", argv, env={"FLING_PRODUCER_ENDPOINT": producer_endpoint})
    url = "http://127.0.0.1:%d" % port

    def up():
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 30, what="uvicorn serving")
    return proc, url


async def client_loop(client, started, outcomes):
    n = 0
    while time.monotonic() - started[0] < RUN_SECONDS:
        n += 1
        sent = time.monotonic()
        try:
            reply = await client.post("/signup", json={"email": "u%d@example.com" % n})
            outcomes.append((sent - started[0], time.monotonic() - sent, reply.status_code,
                             reply.json() if reply.status_code == 200 else reply.text))
        except httpx.HTTPError as exc:
            outcomes.append((sent - started[0], time.monotonic() - sent, 0, repr(exc)))
        await asyncio.sleep(0.1)


async def drive(url, broker_outage):
    """50 clients, connected and warmed up first (making an httpx client costs
    milliseconds of CPU: 50 of them would otherwise eat the first seconds)."""
    outcomes = []
    clients = [httpx.AsyncClient(base_url=url, timeout=10) for _ in range(CLIENTS)]
    await asyncio.gather(*(c.get("/health") for c in clients))
    started = [time.monotonic()]
    loops = [asyncio.create_task(client_loop(c, started, outcomes)) for c in clients]
    await broker_outage(started[0])
    await asyncio.gather(*loops)
    for c in clients:
        await c.aclose()
    return outcomes


def p99(values):
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def test_fastapi_example_under_load_with_a_broker_outage(cluster):
    pport, wport = free_port(), free_port()
    broker = cluster.start_broker(producer_port=pport, worker_port=wport)
    mailbox, events = cluster.path("mailbox.jsonl"), cluster.path("events.jsonl")
    worker = cluster.start_py_worker("--pool-size", "4", "--heartbeat-ms", "500", app="tasks:app",
                                     app_dir=EXAMPLE, name="pyworker",
                                     env={"EXAMPLE_MAILBOX": mailbox, "EXAMPLE_EVENTS": events})
    web, url = start_web(cluster, cluster.producer_endpoint)
    brokers = [broker]

    mid_outage = {}

    async def outage(started):
        await asyncio.sleep(OUTAGE[0])
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            before = (await client.get("/health")).json()
        print("before the outage:", before)
        assert before["connected"] and before["fling"]["accepted"] > 0, before
        brokers[0].signal(signal.SIGTERM)  # a stop: it commits what it finished, then exits
        brokers[0].wait(10)
        half = (OUTAGE[1] - OUTAGE[0]) / 2
        await asyncio.sleep(half)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            mid_outage.update((await client.get("/health")).json())
        await asyncio.sleep(half)
        brokers[0] = await asyncio.get_running_loop().run_in_executor(
            None, lambda: cluster.start_broker(producer_port=pport, worker_port=wport,
                                               name="broker2"))

    outcomes = asyncio.run(drive(url, outage))
    failed = [o for o in outcomes if o[2] != 200]
    assert not failed, "%d of %d requests failed, e.g. %s" % (len(failed), len(outcomes), failed[:3])
    # Requests sent and answered while the broker was down: none waited for it.
    during = [o[1] for o in outcomes if OUTAGE[0] + 0.2 < o[0] and o[0] + o[1] < OUTAGE[1]]
    other = [o[1] for o in outcomes if not OUTAGE[0] < o[0] < OUTAGE[1] + 1]
    print("%d requests; latency p50/p99 with the broker up %.1f/%.1f ms, down %.1f/%.1f ms "
          "(%d requests)" % (len(outcomes), statistics.median(other) * 1e3, p99(other) * 1e3,
                             statistics.median(during) * 1e3, p99(during) * 1e3, len(during)))
    print("mid-outage:", mid_outage)
    assert len(during) >= 100, "requests should have been served while the broker was down"
    # (`connected` means heard within 3 heartbeats: it may still say True)
    assert mid_outage["fling"]["queued"] > 0, mid_outage
    task_ids = [task_id for o in outcomes for task_id in o[3]["tasks"]]
    assert len(task_ids) == 2 * len(outcomes) and len(set(task_ids)) == len(task_ids)
    health = httpx.get(url + "/health").json()
    print("web producer:", health)
    # SIGTERM: uvicorn runs the lifespan's shutdown (flush, close), then
    # re-raises the signal so its exit status says what stopped it.
    assert cluster.stop(web, signal.SIGTERM, timeout=30) in (0, -signal.SIGTERM)

    def ran():
        counts = collections.Counter()
        for path in (mailbox, events):
            if os.path.exists(path):
                with open(path) as f:
                    counts.update(json.loads(line)["task"] for line in f)
        return counts

    wait_until(lambda: len(ran()) >= len(task_ids), 60, what="every task run")
    counts = ran()
    assert set(counts) == set(task_ids), "tasks lost or unknown"
    twice = [t for t, n in counts.items() if n > 1]
    assert not twice, "%d tasks ran twice, e.g. %s" % (len(twice), twice[:3])
    assert cluster.stop(worker, signal.SIGTERM, timeout=30) == 0
    stats = cluster.stats()
    assert stats["tasks"] == 0 and stats["counters"]["failed"] == 0
