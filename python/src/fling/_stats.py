"""The Python worker's counters: the engine (fling._worker) and its broker
link (fling._link) both count here; the stopped line logs them."""
from __future__ import annotations


class Stats:
    """The worker's counters (its stopped line logs them)."""

    def __init__(self) -> None:
        self.dispatched = self.done = self.failed = self.retried = self.released = 0
        self.timed_out = self.reconnects = self.send_failures = self.bad_messages = 0
        self.holding_sent = self.results_resent = self.results_forgotten = 0
