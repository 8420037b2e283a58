#!/usr/bin/env python3
"""F07 power cut: the broker runs with the I/O fault shim (LD_PRELOAD) that logs, per segment, the offset of each successful fdatasync. 5 times under load: SIGKILL, cut each segment to its last synced offset and leave nothing, a torn prefix of the unsynced bytes, or up to 4 KiB of garbage; restart. Every ACCEPTED task is done; torn tails are truncated (not counted as corruption); no garbage is delivered (unexpected = 0)."""
import os, sys, signal
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import bounce, run, scaled


def test():
    bounce("f07", signal.SIGKILL, rounds=5, total=scaled(50000), cut=True, expect_no_dups=False)


run(test)
