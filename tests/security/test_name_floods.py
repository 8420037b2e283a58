#!/usr/bin/env python3
"""Name floods (the issue's third attack), broker under `ulimit -n 1024`,
CURVE off (the attack needs no key), beside a normal load.

Before: 40 READYs of 256 made-up names filled the 10,000-name table in
0.5 s, names were never freed, every refusal logged an unthrottled WARN
("No space left on device": 514,001 lines for 2,000 READYs).

1. 40 connections send 40 READYs each, 256 new names a READY (a re-READY
   replaces a worker's names: the old ones are freed), and stay connected:
   - workers may fill only three quarters of the table: names refused,
     counted (names_refused), each refused name logged at most once a
     minute with its real reason, the worker told once per READY;
   - producers can still create new names meanwhile (100 new names, all
     accepted), and the normal load loses nothing;
   - when the flood's workers go (silent: declared dead after 3 s), their
     names are freed: the table is back to the load's names.
2. One connection sends 2,000 READYs of 256 new names: the broker log
   stays small (bounded lines, not one per refusal).
"""
import os
import time

from security_harness import SecurityCluster, run, settle

NOFILE = 1024
LOAD = 6000


def log_lines(proc):
    return proc.log().count("\n")


def test():
    with SecurityCluster("name-floods", broker_nofile=NOFILE) as c:
        broker = c.start_broker("--max-names", "10000", store="disk")
        c.start_worker("--pool-size", "2")
        base_names = c.stats()["queues_total"]
        load = c.start_load("--count", str(LOAD), "--rate", "1000", "--name", "test.noop")
        lines_before = log_lines(broker)
        flood = c.attack_start("worker", "--names", 256, "--messages", 40, "--connections", 40,
                               "--deaf", "--ping", "--hold-ms", 6000, endpoint="worker")
        settle(lambda: c.stats()["counters"]["names_refused"] > 0, 30, "names refused")
        stats = c.stats()
        print("  during the flood: names %d, refused %d, freed %d"
              % (stats["queues_total"], stats["counters"]["names_refused"],
                 stats["counters"]["names_freed"]), flush=True)
        assert stats["queues_total"] <= 10000
        # producers still get new names
        fresh = c.start_load("--count", "100", "--name",
                             ",".join("fresh.name%d" % i for i in range(100)), name="fresh")
        summary = c.load_summary(fresh, 60)
        print("  100 new names while the flood holds the table:", summary["accepted"], flush=True)
        assert summary["accepted"] == 100 and summary["rejected"] == 0, summary
        c.attack_result(flood, 60)
        # the flood's workers fall silent and die: their names are freed
        settle(lambda: c.stats()["queues_total"] <= base_names + 100 + 5, 30,
               "names back to the load's after the flood left")
        summary = c.load_summary(load, 60)
        assert summary["accepted"] == LOAD, summary
        c.wait_done(LOAD + 0, 60)
        refused_lines = broker.log().count("task name refused")
        stats = c.stats()
        print("  names refused %d, logged %d lines; names freed %d"
              % (stats["counters"]["names_refused"], refused_lines,
                 stats["counters"]["names_freed"]), flush=True)
        assert refused_lines <= stats["counters"]["names_refused"]
        # The 100 fresh tasks have no worker: they stay queued; all others ran.
        held = {q["name"]: q["queued"] + q["inflight"] for q in stats["queues"]
                if q["queued"] + q["inflight"]}
        assert stats["tasks"] == 100, (stats["tasks"], stats["queues_total"], held)
        c.producer_ledgers.remove(c.path("fresh.ledger"))  # no worker serves those names
        c.check(expect_accepted=LOAD)

        # 2,000 READYs on one connection, 256 new names each
        before = log_lines(broker)
        size_before = os.path.getsize(broker.log_path)
        started = time.monotonic()
        out = c.attack("worker", "--names", 256, "--messages", 2000, "--deaf", "--hold-ms", 500,
                       endpoint="worker", timeout=120)
        lines = log_lines(broker) - before
        grown = os.path.getsize(broker.log_path) - size_before
        print("  2,000 READYs on one connection in %.1fs: %d log lines, %d bytes (before the fix:"
              " 514,001 lines, 115 MB)" % (time.monotonic() - started, lines, grown), flush=True)
        assert out["readies"] == 2000
        assert lines < 10000 and grown < 2 << 20, (lines, grown)
        assert c.fling("ping").returncode == 0
        print("  log lines during the whole test: %d" % (log_lines(broker) - lines_before),
              flush=True)


if __name__ == "__main__":
    run(test)
