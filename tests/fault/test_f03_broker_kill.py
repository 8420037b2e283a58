#!/usr/bin/env python3
"""F03 broker SIGKILL bounce (issue size): two producers fire 100,000 tasks; the disk-store broker is SIGKILLed 5 times at random points and restarted after 1 s on the same ports and store. Every task a producer saw accepted is done; duplicates at most what the workers held per kill."""
import os, sys, signal
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fault_harness import bounce, run, scaled


def test():
    bounce("f03", signal.SIGKILL, rounds=5, total=scaled(100000), cut=False, expect_no_dups=False)


run(test)
