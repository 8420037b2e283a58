#!/usr/bin/env python3
"""Issue 15 item 2, blocking: a segfaulting blocking handler among 10,000
healthy blocking tasks on one worker with a 2-thread pool (and the default
prefetch of 1: it holds 4 tasks), 3 poison tasks sent while they stream in,
the worker restarted whenever it dies. Before crash attribution per task,
the neighbour running on the other thread was charged each crash too, and
went to the dead-letter queue with the poison. Now: only the 3 poison
tasks are dead-lettered, each with exactly 3 crashes, and every healthy
task runs (poison_scenario.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import run, scaled  # noqa: E402
from poison_scenario import run_poison  # noqa: E402


def test():
    run_poison("poison_pool", "test.segv_block", ("--pool-size", "2", "--async-limit", "16"),
               healthy=scaled(10000), poison=3, healthy_ms=2, rate=800)


run(test)
