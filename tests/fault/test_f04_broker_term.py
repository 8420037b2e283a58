#!/usr/bin/env python3
"""F04 broker SIGTERM bounce: as F03 with SIGTERM; the graceful stop syncs completions and reconnecting workers re-announce what they hold (HOLDING), so duplicates = 0."""
import os, sys, signal
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import bounce, run, scaled


def test():
    bounce("f04", signal.SIGTERM, rounds=5, total=scaled(50000), cut=False, expect_no_dups=True)


run(test)
