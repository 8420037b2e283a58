"""The producer's outbox, as producer/fling_outbox.c is the C producer's: the
tasks send() accepted and the broker has not answered for yet, in batches.
Callers append under `lock`; the I/O thread (fling._sender) takes whole
batches out and gives their room back when the broker answers.

Why a lock and not a message to the I/O thread: send() must know at once
whether the task fits (OutboxFull) and which sequence it gets, and a queue
hand-off costs as much as the rest of send() together. The lock guards only
this object, and nobody holds it across a call that can block.

Waking the I/O thread is the producer's business (the `wake` callback): the
outbox only says when the I/O thread would not look soon enough by itself.
"""
from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Callable, Deque, List, Optional, Set, Tuple

from . import protocol
from .errors import Closed, OutboxFull

Waiter = Tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Batch:
    """Tasks that leave in one SUBMIT: their records, or once sent the body."""

    __slots__ = ("records", "body", "count", "size", "first_seq", "extended", "keyed")

    def __init__(self, first_seq: int, extended: bool = False):
        self.records: List[bytes] = []
        self.body = b""
        self.count = 0
        self.size = 0
        self.first_seq = first_seq
        # FLP/1.2: its records carry task extensions, and the SUBMIT says so
        # (SPEC.md §2.3); tasks with and without never share a batch.
        self.extended = extended
        self.keyed: Optional[Set[int]] = None  # sequences of its tasks with a unique key


class Outbox:
    """Bounded by tasks and bytes; batches close at batch_tasks or batch_bytes.

    wake(urgent) is called (outside the lock) when the I/O thread should look:
    urgent=False for the first task while nothing is in flight (it may wait
    the idle linger for company), True when a batch is full or the outbox is
    refusing tasks. At most one wake is outstanding (wake_pending)."""

    def __init__(self, max_tasks: int, max_bytes: int, drop: bool, batch_tasks: int,
                 batch_bytes: int, seq_base: int, wake: Callable[[bool], None]):
        self.max_tasks = max_tasks
        self.max_bytes = max_bytes
        self.drop = drop
        self.batch_tasks = batch_tasks
        self.batch_bytes = batch_bytes
        self.wake = wake
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)  # wakes flush() callers
        self.seq_base = self.seq = seq_base
        self.open = Batch(seq_base + 1)
        self.open_since = 0.0
        self.sealed: Deque[Batch] = collections.deque()
        self.held_tasks = 0
        self.held_bytes = 0
        self.closed = False
        self.forked = False
        self.invalid = 0   # send() calls refused by validation
        self.dropped = 0   # tasks dropped by the overflow policy
        self.flush_waiters = 0
        self.async_waiters: List[Waiter] = []
        # The I/O thread publishes these when it looks at the outbox.
        self.in_flight = 0
        self.wake_pending = False
        self.unresolved_min = seq_base + 1  # lowest first seq of the batches it holds

    def put(self, writer: protocol.RecordWriter, data: bytes, max_attempts: int,
            timeout_ms: int, backoff_ms: int) -> int:
        """Appends a checked task; its sequence, or 0 when dropped (overflow
        "drop"). Raises Closed or OutboxFull. The hot path of send()."""
        size = len(data) + writer.size
        with self.lock:
            if (self.closed or self.held_tasks >= self.max_tasks
                    or self.held_bytes + size > self.max_bytes):
                return self._refuse()
            seq = self.seq = self.seq + 1
            batch = self.open
            if batch.extended:
                batch = self._reopen(seq, False)
            first = not batch.count
            if first:
                self.open_since = time.monotonic()
            batch.records.append(writer.record(seq, max_attempts, timeout_ms, backoff_ms, data))
            batch.count += 1
            batch.size += size
            self.held_tasks += 1
            self.held_bytes += size
            full = batch.count >= self.batch_tasks or batch.size >= self.batch_bytes
            if full:
                self.sealed.append(batch)
                self.open = Batch(seq + 1)
            # While batches are in flight the I/O thread looks again soon anyway.
            if not (first or full) or self.in_flight or self.wake_pending:
                return seq
            self.wake_pending = True
        self.wake(full)
        return seq

    def put_ext(self, writer: protocol.RecordWriter, data: bytes, max_attempts: int,
                timeout_ms: int, backoff_ms: int, ext: bytes, keyed: bool) -> int:
        """put() for a task with extensions (protocol.task_ext): it goes in an
        FLP/1.2 batch of its own kind."""
        size = len(data) + writer.size + len(ext)
        with self.lock:
            if (self.closed or self.held_tasks >= self.max_tasks
                    or self.held_bytes + size > self.max_bytes):
                return self._refuse()
            seq = self.seq = self.seq + 1
            batch = self.open
            if not batch.extended:
                batch = self._reopen(seq, True)
            if not batch.count:
                self.open_since = time.monotonic()
            batch.records.append(writer.record(seq, max_attempts, timeout_ms, backoff_ms, data,
                                               ext))
            if keyed:
                if batch.keyed is None:
                    batch.keyed = set()
                batch.keyed.add(seq)
            batch.count += 1
            batch.size += size
            self.held_tasks += 1
            self.held_bytes += size
            if batch.count >= self.batch_tasks or batch.size >= self.batch_bytes:
                self.sealed.append(batch)
                self.open = Batch(seq + 1)
            if self.in_flight or self.wake_pending:
                return seq
            self.wake_pending = True
        self.wake(True)  # rare: no linger for company
        return seq

    def _reopen(self, seq: int, extended: bool) -> Batch:
        """(under lock) The open batch is of the other kind: sealed if it
        holds tasks, and a batch of this kind, first task `seq`, opens."""
        if self.open.count:
            self.sealed.append(self.open)
        self.open = Batch(seq, extended)
        return self.open

    def _refuse(self) -> int:
        """(under lock) Closed, or full: 0 (dropped, counted) or the error."""
        if self.closed:
            raise Closed("created before a fork" if self.forked else "")
        if not self.wake_pending:
            # The I/O thread may hold answers it has not read yet. (The one
            # wake-up made under the lock: a rare path, a write that cannot block.)
            self.wake_pending = True
            self.wake(True)
        if self.drop:
            self.dropped += 1
            return 0
        raise OutboxFull("%d tasks, %d bytes held" % (self.held_tasks, self.held_bytes))

    def refused(self) -> None:
        with self.lock:
            self.invalid += 1

    def pressed(self) -> bool:
        """(under lock) Half full or more: answers should be read promptly."""
        return self.held_tasks * 2 >= self.max_tasks or self.held_bytes * 2 >= self.max_bytes

    def min_unresolved(self) -> int:
        """(under lock) Lowest task sequence not resolved yet."""
        lowest = self.unresolved_min
        if self.sealed:
            lowest = min(lowest, self.sealed[0].first_seq)
        if self.open.count:
            lowest = min(lowest, self.open.first_seq)
        return min(lowest, self.seq + 1)

    def take_all(self) -> Optional[Batch]:
        """(under lock) The next batch, sealed or open, or None: at stop."""
        if self.sealed:
            return self.sealed.popleft()
        if self.open.count:
            batch, self.open = self.open, Batch(self.seq + 1)
            return batch
        return None

    def release(self, batch: Batch) -> None:
        """(under lock) The broker answered for `batch` (or it was dropped):
        its room comes back and whoever waits for it hears."""
        self.held_tasks -= batch.count
        self.held_bytes -= batch.size
        if self.flush_waiters:
            self.cond.notify_all()
        if self.async_waiters:
            lowest = self.min_unresolved()
            for target, loop, future in self.async_waiters:
                if target < lowest:
                    try:
                        loop.call_soon_threadsafe(_set_done, future)
                    except RuntimeError:  # that loop is closed: nobody waits
                        pass


def _set_done(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)
