#!/usr/bin/env python3
"""Issue 15 item 2, async: a segfaulting async handler among 10,000 healthy
async tasks (each completes 20 ms later on a loop timer, about a thousand
running at once on one worker), 3 poison tasks sent while they stream in,
the worker restarted whenever it dies. Before crash attribution per task,
every crash was charged to each of the ~1,000 tasks the worker was running
(and to tasks of the same DISPATCH that never started), and 1,000 innocent
tasks ended dead-lettered "crashed". Now: only the 3 poison tasks are
dead-lettered, each with exactly 3 crashes, and every healthy task runs
(poison_scenario.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import run, scaled  # noqa: E402
from poison_scenario import run_poison  # noqa: E402


def test():
    run_poison("poison_async", "test.segv", ("--async-limit", "1000", "--pool-size", "1"),
               healthy=scaled(10000), poison=3, healthy_ms=20, rate=2000)


run(test)
