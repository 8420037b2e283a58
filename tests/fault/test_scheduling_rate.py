#!/usr/bin/env python3
"""A rate limit over 30 s with workers joining and leaving (issue 20;
proto/SPEC.md §6.8; labels `scheduling` and `fault`).

The broker runs with `--queue test.noop:rate=50/s,burst=10` and a backlog of
TOTAL tasks (more than the limit lets through in WINDOW_S) sent before any
worker. Then workers come and go on a fixed plan (five processes, one to
three connected at a time, each stopped with SIGTERM: the tasks it held but
had not started go back to the queue). From the workers' ledgers (a start
line per run, wall ms):
- over the WINDOW_S seconds from the first start, runs <= burst + rate * T
  (+ MARGIN) and >= 90 % of rate * T: the limit holds across all workers,
  whoever is connected, and the broker does not stall waiting for a token;
- no second of the window without runs, none with more than burst + rate;
- the broker's CPU over the window stays far from a busy loop;
- every task done exactly once (none lost, none twice).
`fling stats` shows the limit and its tokens."""
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import FaultCluster, run

RATE, BURST = 50, 10
WINDOW_S = 30
TOTAL = RATE * WINDOW_S + 200
MARGIN = 5          # a run started late by the worker, counted at the window's edge
CPU_MAX = 0.30      # share of one core; a busy loop is 1.0

# (seconds after the first worker started, action, worker)
PLAN = [(4, "start", "w2"), (8, "start", "w3"), (12, "stop", "w1"), (16, "start", "w4"),
        (20, "stop", "w2"), (24, "stop", "w3"), (26, "start", "w5")]


def send_backlog(c, count):
    text = "".join(json.dumps({"n": n}) + "\n" for n in range(count))
    argv = [os.path.join(c.bin_dir, "fling"), "--endpoint", c.producer_endpoint, "send",
            "test.noop", "--json"]
    r = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    verdicts = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(verdicts) == count and all(v["status"] == "accepted" for v in verdicts)
    if c.cli_ledger not in c.producer_ledgers:
        c.producer_ledgers.append(c.cli_ledger)
    with open(c.cli_ledger, "a") as f:
        f.writelines("accepted %s\n" % v["id"] for v in verdicts)
    return [v["id"] for v in verdicts]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def starts(c):
    """Wall ms of every start line in every worker ledger."""
    out = []
    for path in c.worker_ledgers:
        if os.path.exists(path):
            with open(path) as f:
                out += [int(p[5]) for p in (line.split() for line in f)
                        if len(p) >= 6 and p[0] == "start"]
    return sorted(out)


def test():
    with FaultCluster("sched-rate") as c:
        c.start_broker("--store", "memory", "--queue",
                       "test.noop:rate=%d/s,burst=%d" % (RATE, BURST))
        ids = send_backlog(c, TOTAL)
        queue = next(q for q in c.stats()["queues"] if q["name"] == "test.noop")
        assert queue["rate_limit"] == {"rate": RATE, "per_ms": 1000, "burst": BURST,
                                       "tokens": BURST}, queue
        text = c.fling("stats").stdout
        assert "rate=%d/s burst=%d tokens=%d" % (RATE, BURST, BURST) in text, text

        workers = {"w1": c.start_worker(name="w1")}
        t0 = time.monotonic()
        cpu0 = cpu_seconds(c.broker.pid)
        for at, action, name in PLAN:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            if action == "start":
                workers[name] = c.start_worker(name=name)
            else:
                c.stop(workers.pop(name))
            print("%5.1f s: %s %s, %d runs so far" % (time.monotonic() - t0, action, name,
                                                     len(starts(c))), flush=True)
        time.sleep(max(0.0, t0 + WINDOW_S + 1 - time.monotonic()))
        cpu = (cpu_seconds(c.broker.pid) - cpu0) / (time.monotonic() - t0)

        runs = starts(c)
        first = runs[0]
        window = [ms for ms in runs if ms < first + WINDOW_S * 1000]
        per_second = [0] * WINDOW_S
        for ms in window:
            per_second[(ms - first) // 1000] += 1
        most = BURST + RATE * WINDOW_S
        print("runs in %d s: %d (limit %d); per second: %s; broker CPU %.1f %% of a core"
              % (WINDOW_S, len(window), most, per_second, 100 * cpu), flush=True)
        assert len(window) <= most + MARGIN, (len(window), most)
        assert len(window) >= 0.9 * RATE * WINDOW_S, "stalled: %d runs" % len(window)
        assert min(per_second) > 0, "a second without a run: %s" % per_second
        assert max(per_second) <= BURST + RATE + MARGIN, per_second
        assert cpu < CPU_MAX, "broker CPU %.2f of a core while waiting for tokens" % cpu

        c.wait_ids_done(ids, timeout=60)
        c.judge(max_duplicates=0, expect_accepted=TOTAL,
                extra={"runs_in_window": len(window), "limit": most,
                       "broker_cpu": round(cpu, 3)})


run(test)
