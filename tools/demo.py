#!/usr/bin/env python3
"""fling local demo: a broker, workers running the example handlers, and a
producer firing tasks; prints a live progress line and a summary.

The broker and workers log to files in a temporary directory (shown at the
end); every process is stopped by its PID when the demo ends."""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "harness"))
from fling_harness import Cluster  # noqa: E402


def broker_stats(cluster):
    try:
        return cluster.stats()
    except Exception:  # noqa: BLE001 - a missed poll only skips one progress line
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default="build/bin")
    parser.add_argument("--module", required=True, help="path of fling_example_handlers.so")
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ["FLING_BIN_DIR"] = os.path.abspath(args.bin_dir)
    os.environ.setdefault("FLING_TEST_TMP", tempfile.gettempdir())

    with Cluster("demo", keep=True) as c:
        analytics = c.path("analytics.log")
        c.start_broker()
        print("broker up: producers -> %s, workers -> %s" % (c.producer_endpoint, c.worker_endpoint))
        for i in range(args.workers):
            c.start_worker("--pool-size", "4", "--async-limit", "1000", name="worker%d" % (i + 1),
                           handlers=os.path.abspath(args.module), ledger=analytics)
        print("%d workers up (example.analytics on 4 threads each, example.timer on the event loop)"
              % args.workers)
        started = time.monotonic()
        load = c.start_load("--count", str(args.tasks), "--name", "example.analytics,example.timer",
                            "--ms", "5")
        done = 0
        stats = None
        while True:
            stats = broker_stats(c) or stats
            if stats:
                counters = stats["counters"]
                done = counters["done"] + counters["failed"]
                elapsed = time.monotonic() - started
                line = ("\r  accepted %7d  done %7d/%d  queued %6d  failed %d  %6.1fs  %8.0f tasks/s"
                        % (counters["accepted"], counters["done"], args.tasks, stats["tasks"],
                           counters["failed"], elapsed, counters["done"] / max(elapsed, 1e-3)))
                print(line, end="", flush=True)
            if done >= args.tasks:
                break
            if not load.alive() and load.popen.returncode != 0:
                print("\nproducer failed:\n" + load.log()[-2000:])
                return 1
            if time.monotonic() - started > 600:
                print("\ndemo timed out")
                return 1
            time.sleep(0.25)
        seconds = time.monotonic() - started
        summary = c.load_summary(load, timeout=60)
        print()
        counters = stats["counters"]
        lost = summary["accepted"] - counters["done"] - counters["failed"]
        print("summary: tasks %d  accepted %d  done %d  failed %d  lost %d  seconds %.2f  tasks/s %.0f"
              % (args.tasks, summary["accepted"], counters["done"], counters["failed"], lost,
                 seconds, counters["done"] / seconds))
        print("analytics handler wrote %s; logs in %s" % (analytics, c.dir))
        for proc in c.procs:
            if proc.alive():
                proc.signal(signal.SIGTERM)
        for proc in c.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        return 0 if lost == 0 and counters["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
