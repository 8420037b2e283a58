#!/usr/bin/env python3
"""bench/python_bench.py - the Python package's benchmark (bench/README.md,
"Python"), in the same JSON lines and table as bench/run.

Runs the real fling-broker and fling-py-worker (through
tests/harness/fling_harness.py) and, in the same run, the peers a Python
service would use instead: Celery .delay() and RQ enqueue on a Redis server
(Debian's redis-server, started here on a free port), and asyncio's own
create_task and to_thread in-process.

  bench/run-python            full sizes (a few minutes)
  bench/run-python --quick    small sizes, no peers: what CTest runs (bench.python_quick)

Every run checks correctness and exits 1 if a task was lost: the producer's
accepted count, the broker's done count and what it still holds; the peers'
queue lengths. Speed is reported, never asserted.
"""
import argparse
import asyncio
import importlib.machinery
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import zmq

import fling
from fling import protocol

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "harness"))
sys.path.insert(0, HERE)
import fling_harness  # noqa: E402

# bench/run's results, machine line and log: one format for both drivers.
bench_run = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run")).load_module()
Results, Failure, log, machine = bench_run.Results, bench_run.Failure, bench_run.log, bench_run.machine

PAD = "x" * 60  # {"i":N,"ms":0,"pad":"x…"}: about 90 bytes, as bench/run's 100-byte payload
POOL = 8  # the worker's pool threads: no-op blocking tasks are bound by the hand-offs

SIZES = {
    "full": dict(send=200_000, e2e_async=100_000, e2e_block=40_000, web=4_000, peers=20_000),
    "quick": dict(send=5_000, e2e_async=5_000, e2e_block=2_000, web=200, peers=500),
}


def payload(i):
    return {"i": i, "ms": 0, "pad": PAD}


def percentiles(samples_ns):
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0  # noqa: E731
    return pick(0.50), pick(0.99)


def add_latencies(res, workload, store, samples_ns, seconds, **extra):
    """send_latency_p50/p99 (µs) of the calls timed, and their rate (calls/s)."""
    p50, p99 = percentiles(samples_ns)
    res.add(workload, store, "send_latency_p50", round(p50, 2), "µs", **extra)
    res.add(workload, store, "send_latency_p99", round(p99, 2), "µs", **extra)
    res.add(workload, store, "send_rate", round(len(samples_ns) / seconds), "calls/s", **extra)


class Admin:
    """`fling stats` without a process per call: ADMIN on a DEALER."""

    def __init__(self, endpoint):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def stats(self, timeout=5.0):
        self.sock.send_multipart(protocol.admin(b'{"op":"stats"}'))
        if not self.sock.poll(int(timeout * 1000)):
            raise Failure("the broker did not answer stats")
        return json.loads(protocol.decode(self.sock.recv_multipart()).text)

    def wait_done(self, count, timeout):
        """Polls until the broker counted `count` done; the moment it saw it."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["counters"]["done"] >= count:
                return time.monotonic(), stats
            if time.monotonic() > deadline:
                raise Failure("only %d of %d done after %.0f s"
                              % (stats["counters"]["done"], count, timeout))
            time.sleep(0.01)

    def close(self):
        self.sock.close(0)


# ---- send: from a coroutine and from 4 threads -------------------------------------


def run_send(res, sizes):
    n = sizes["send"]
    with fling_harness.Cluster("pysend") as cluster:
        cluster.start_broker("--store", "memory")
        for threads in (1, 4):
            producer = fling.Producer(cluster.producer_endpoint, outbox=n + 1,
                                      outbox_bytes=n * 400)
            cpu = None
            if threads == 1:
                samples, seconds, cpu = send_from_coroutine(producer, n)
            else:
                samples, seconds = send_from_threads(producer, n, threads)
            producer.flush(120)
            producer.close()
            stats = producer.stats()
            if stats.accepted != n:
                raise Failure("py_send: the broker accepted %d of %d" % (stats.accepted, n))
            caller = "a coroutine" if threads == 1 else "%d threads" % threads
            add_latencies(res, "py_send", "memory", samples, seconds, threads=threads,
                          caller=caller, count=n, note="from " + caller + ", broker running")
            if cpu is not None:  # the sender thread's CPU per loop turn: what load moves least
                res.add("py_send", "memory", "send_cpu_per_call", round(cpu / n * 1e6, 2), "µs",
                        threads=1, caller=caller, count=n,
                        note="thread CPU per call, payload and timing included")
            log("  py_send %d %s: %.0f calls/s" % (threads, caller, n / seconds))


def send_from_coroutine(producer, n):
    async def sender():
        samples = [0] * n
        clock = time.perf_counter_ns
        send = producer.send
        started, cpu = time.perf_counter(), time.thread_time()
        for i in range(n):
            task = payload(i)
            t0 = clock()
            send("bench.py_noop", task)
            samples[i] = clock() - t0
        return samples, time.perf_counter() - started, time.thread_time() - cpu

    return asyncio.run(sender())


def send_from_threads(producer, n, threads):
    per = n // threads
    results = [None] * threads
    spans = [None] * threads
    barrier = threading.Barrier(threads)

    def sender(index):
        samples = [0] * per
        clock = time.perf_counter_ns
        barrier.wait()
        started = time.perf_counter()
        for i in range(per):
            task = payload(i)
            t0 = clock()
            producer.send("bench.py_noop", task)
            samples[i] = clock() - t0
        spans[index] = (started, time.perf_counter())
        results[index] = samples

    workers = [threading.Thread(target=sender, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    samples = [s for r in results for s in r]
    seconds = max(e for _, e in spans) - min(s for s, _ in spans)
    return samples, seconds


# ---- asyncio in-process: create_task, to_thread ----------------------------------------


def run_asyncio_peers(res, sizes):
    n = sizes["send"]

    async def noop():
        return None

    def noop_sync():
        return None

    async def measure(make):
        samples = [0] * n
        clock = time.perf_counter_ns
        started = time.perf_counter()
        tasks = []
        for i in range(n):
            t0 = clock()
            tasks.append(make())
            samples[i] = clock() - t0
        call_seconds = time.perf_counter() - started
        await asyncio.gather(*tasks)
        return samples, call_seconds, time.perf_counter() - started

    for name, make in (("asyncio_create_task", lambda: asyncio.create_task(noop())),
                       ("asyncio_to_thread",
                        lambda: asyncio.create_task(asyncio.to_thread(noop_sync)))):
        samples, call_seconds, total_seconds = asyncio.run(measure(make))
        add_latencies(res, name, None, samples, call_seconds, threads=1, count=n,
                      note="in-process, no delivery guarantee")
        res.add(name, None, "e2e_throughput", round(n / total_seconds), "tasks/s", count=n)
        log("  %s: %.0f calls/s, %.0f done/s" % (name, n / call_seconds, n / total_seconds))


# ---- Celery and RQ on Redis ---------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    """Debian's redis-server on a free port, no persistence; (process, port)."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(port=port)
    fling_harness.wait_until(lambda: _redis_up(client), 10, what="redis-server up")
    return proc, port, client


def _redis_up(client):
    try:
        return client.ping()
    except Exception:  # noqa: BLE001 - not up yet
        return False


def peers_missing():
    if not shutil.which("redis-server"):
        return "no redis-server (FLING_DEPS_BENCH=1 tools/install-deps)"
    if not all(importlib.util.find_spec(name) for name in ("celery", "rq", "redis")):
        return "no celery/rq (tools/python-venv --bench)"
    return None


def run_queue_peers(res, sizes):
    why = peers_missing()
    if why:
        for name in ("celery_delay", "rq_enqueue"):
            res.missing(name, "redis", [("send_latency_p50", "µs"), ("send_latency_p99", "µs"),
                                        ("send_rate", "calls/s")], why)
        return
    n = sizes["peers"]
    proc, port, client = start_redis()
    try:
        celery_delay(res, n, port, client)
        rq_enqueue(res, n, port, client)
    finally:
        proc.terminate()
        proc.wait(10)


def timed_calls(n, call):
    samples = [0] * n
    clock = time.perf_counter_ns
    started = time.perf_counter()
    for i in range(n):
        t0 = clock()
        call(i)
        samples[i] = clock() - t0
    return samples, time.perf_counter() - started


def celery_delay(res, n, port, client):
    from celery import Celery
    app = Celery("bench", broker="redis://127.0.0.1:%d/0" % port)
    app.conf.task_ignore_result = True

    @app.task(name="bench.celery_noop")
    def celery_noop(i):
        return None

    celery_noop.delay(-1)  # connect and declare before the clock runs
    client.delete("celery")
    samples, seconds = timed_calls(n, celery_noop.delay)
    queued = client.llen("celery")
    if queued != n:
        raise Failure("celery: %d of %d messages in Redis" % (queued, n))
    add_latencies(res, "celery_delay", "redis", samples, seconds, threads=1, count=n)
    log("  celery .delay(): %.0f calls/s" % (n / seconds))


def rq_enqueue(res, n, port, client):
    import rq
    import py_bench_app
    queue = rq.Queue("bench", connection=client)
    queue.enqueue(py_bench_app.rq_noop, -1)
    queue.empty()
    samples, seconds = timed_calls(n, lambda i: queue.enqueue(py_bench_app.rq_noop, i))
    if len(queue) != n:
        raise Failure("rq: %d of %d jobs queued" % (len(queue), n))
    add_latencies(res, "rq_enqueue", "redis", samples, seconds, threads=1, count=n)
    log("  rq enqueue: %.0f calls/s" % (n / seconds))


# ---- Python producer -> broker -> Python worker ---------------------------------------------


def run_e2e(res, sizes):
    for variant, name, count in (("async", "bench.py_noop", sizes["e2e_async"]),
                                 ("blocking", "bench.py_block", sizes["e2e_block"])):
        with fling_harness.Cluster("pye2e") as cluster:
            cluster.start_broker("--store", "memory")
            cluster.start_py_worker("--pool-size", str(POOL), app="py_bench_app:app",
                                    app_dir=HERE, name="pyworker")
            admin = Admin(cluster.producer_endpoint)
            producer = fling.Producer(cluster.producer_endpoint, outbox=count + 1,
                                      outbox_bytes=count * 400)
            started = time.monotonic()
            for i in range(count):
                producer.send(name, payload(i))
            sent = time.monotonic()
            finished, stats = admin.wait_done(count, timeout=600)
            producer.close()
            admin.close()
            check_drained(stats, count, "py_e2e " + variant)
            rate = count / (finished - started)
            res.add("py_e2e", "memory", "e2e_throughput", round(rate), "tasks/s", variant=variant,
                    count=count, send_seconds=round(sent - started, 3),
                    note="%s: Python producer -> broker -> Python worker" % variant)
            log("  py_e2e %s: %.0f tasks/s (sending took %.2f s)" % (variant, rate, sent - started))
        run_drain(res, variant, name, count)


def run_drain(res, variant, name, count):
    """The worker alone: tasks queued first (by fling-load), then it attaches."""
    with fling_harness.Cluster("pydrain") as cluster:
        cluster.start_broker("--store", "memory")
        load = cluster.start_load("--count", str(count), "--name", name)
        summary = cluster.load_summary(load, timeout=300)
        if summary.get("accepted") != count:
            raise Failure("py_drain: fling-load accepted %s of %d" % (summary.get("accepted"), count))
        admin = Admin(cluster.producer_endpoint)
        cluster.start_py_worker("--pool-size", str(POOL), app="py_bench_app:app", app_dir=HERE,
                                name="pyworker")
        first, first_done = admin.wait_done(1, timeout=60)
        finished, stats = admin.wait_done(count, timeout=600)
        admin.close()
        check_drained(stats, count, "py_drain " + variant)
        rate = (count - first_done["counters"]["done"]) / (finished - first)
        res.add("py_drain", "memory", "e2e_throughput", round(rate), "tasks/s", variant=variant,
                count=count, note="%s: queued first, the worker alone (first to last done)"
                % variant)
        log("  py_drain %s: %.0f tasks/s" % (variant, rate))


def check_drained(stats, count, what):
    done, failed = stats["counters"]["done"], stats["counters"]["failed"]
    if done != count or failed or stats["tasks"]:
        raise Failure("%s: done %d of %d, failed %d, %d still held"
                      % (what, done, count, failed, stats["tasks"]))


# ---- a FastAPI endpoint with and without a send ------------------------------------------------


def run_web(res, sizes):
    import http.client
    n = sizes["web"]
    with fling_harness.Cluster("pyweb") as cluster:
        cluster.start_broker("--store", "memory")
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "py_bench_web:app", "--app-dir", HERE, "--host",
                "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
        web, _ = cluster._spawn("web", argv, env={"FLING_PRODUCER_ENDPOINT": cluster.producer_endpoint})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        def get(path):
            conn.request("GET", path)
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                raise Failure("GET %s: %d" % (path, reply.status))

        fling_harness.wait_until(lambda: _web_up(port), 30, what="uvicorn serving")
        for i in range(200):  # warm-up, both paths
            get("/plain?i=%d" % i)
            get("/send?i=%d" % i)
        samples = {"plain": [], "send": []}
        block = 100
        clock = time.perf_counter_ns
        for start in range(0, n, block):  # alternating blocks: drift hits both alike
            for path in ("plain", "send"):
                for i in range(start, min(n, start + block)):
                    t0 = clock()
                    get("/%s?i=%d" % (path, i))
                    samples[path].append(clock() - t0)
        conn.close()
        cluster.stop(web, signal.SIGTERM, timeout=30)
        admin = Admin(cluster.producer_endpoint)
        held = admin.stats()["tasks"]
        admin.close()
        if held != n + 200:
            raise Failure("py_web: the broker holds %d tasks, %d were sent" % (held, n + 200))
        p50, p99 = {}, {}
        for path in ("plain", "send"):
            p50[path], p99[path] = percentiles(samples[path])
            variant = "with send" if path == "send" else "without send"
            extra = dict(variant=variant, count=n,
                         note="%s: uvicorn, one keep-alive client, sequential" % variant)
            res.add("py_fastapi", "memory", "endpoint_latency_p50", round(p50[path], 1), "µs",
                    **extra)
            res.add("py_fastapi", "memory", "endpoint_latency_p99", round(p99[path], 1), "µs",
                    **extra)
        res.add("py_fastapi", "memory", "p50_ratio_send_to_plain",
                round(p50["send"] / p50["plain"], 3), "ratio", count=n)
        res.add("py_fastapi", "memory", "p99_ratio_send_to_plain",
                round(p99["send"] / p99["plain"], 3), "ratio", count=n)
        log("  py_fastapi p99: plain %.0f µs, with send %.0f µs" % (p99["plain"], p99["send"]))


def _web_up(port):
    import http.client
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/plain")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


# ---- main ------------------------------------------------------------------------------------


STEPS = ("send", "asyncio", "peers", "e2e", "web")


def main():
    parser = argparse.ArgumentParser(description="fling's Python benchmark (bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="small sizes, no peers (CTest)")
    parser.add_argument("--only", metavar="LIST", help="comma-separated subset of " + ",".join(STEPS))
    parser.add_argument("--out", metavar="FILE", help="also write the JSON lines and the table here")
    args = parser.parse_args()
    os.environ.setdefault("FLING_BIN_DIR", os.path.join(REPO, "build", "bin"))
    sizes = SIZES["quick" if args.quick else "full"]
    only = set(args.only.split(",")) if args.only else set(STEPS) - ({"peers"} if args.quick else set())
    res = Results()
    info = machine()
    info["python"] = sys.version.split()[0]
    print(json.dumps(dict(machine=info, mode="quick" if args.quick else "full", suite="python")),
          flush=True)
    started = time.monotonic()
    failures, ran = [], []
    steps = {"send": run_send, "asyncio": run_asyncio_peers, "peers": run_queue_peers,
             "e2e": run_e2e, "web": run_web}
    for name in STEPS:
        if name not in only:
            continue
        log("- %s" % name)
        try:
            steps[name](res, sizes)
            ran.append(name)
        except (Failure, AssertionError, RuntimeError, TimeoutError, OSError, KeyError,
                subprocess.TimeoutExpired) as exc:
            failures.append("%s: %s" % (name, exc))
            log("  FAILED: %s" % exc)
    table = res.table()
    print()
    print(table)
    info_end = machine()
    footer = ("\nmachine: %d cores, %s, kernel %s, Python %s; load average %s at start, %s at "
              "end; %.0f s" % (info["nproc"], info["cpu"], info["kernel"], info["python"],
                               info["loadavg"], info_end["loadavg"], time.monotonic() - started))
    print(footer, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            for row in res.rows:
                f.write(json.dumps(row) + "\n")
            f.write("\n" + table + "\n" + footer + "\n")
    if failures:
        for failure in failures:
            print("FAIL %s" % failure, flush=True)
        return 1
    print("PASS python bench (%s): %s" % ("quick" if args.quick else "full", ", ".join(ran)),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
