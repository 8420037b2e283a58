"""The Python worker's engine, on one asyncio event loop: the tasks in its
hands (slots, backlog, deadlines, results) and the drain. The broker link
(socket, READY, HOLDING, heartbeats, reconnects) is fling._link. It follows
the C worker (worker/fling_flight.c, fling_overrun.c, fling_worker.c) and
proto/SPEC.md §3.5, §5.2 and §6.

Life of a task: a DISPATCH record becomes a Task. If its class (loop: async
def, pool: plain def) has a free slot it starts at once, else it waits in
its class's backlog (prefetch) and starts, in arrival order, as slots free.
Its outcome joins the pending RESULT, which leaves once per turn of the
loop, before freed slots are refilled (so if a new task crashes the
process, the broker already has what finished before it: SPEC.md §6.4).

Deadlines: a record's timeout_ms (the broker writes the queue's in) limits
the run from its start; a task still waiting in the backlog that long goes
back unrun (RELEASED). On overrun the worker reports TIMEOUT at once; an
async handler is cancelled, a blocking one cannot be and its thread is
detached from the pool (fling._pool).
"""
from __future__ import annotations

import asyncio
import collections
import heapq
import logging
import os
import signal
import sys
import time
import types
from typing import Any, Awaitable, Deque, Dict, List, Optional, Tuple, cast

from . import protocol
from ._link import Link
from ._pool import Pool, outcome_of
from ._stats import Stats
from .app import App, Fail, Retry, Task

log = logging.getLogger("fling.worker")

WARN_PER_SECOND = 10      # task failure lines; a poison flood is counted
DEADLINE_TICKS = 10       # deadline buckets per second
EAGER = sys.version_info >= (3, 12)  # asyncio.Task(eager_start=...) exists


class Engine:
    def __init__(self, app: App, options: Any):
        self.app = app
        self.options = options
        self.stats = Stats()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.loop_context = types.SimpleNamespace()
        self.pool: Optional[Pool] = None
        self.link: Link = None  # type: ignore[assignment]
        classes = [h.cls for h in app.handlers.values()]
        self.has_class = {protocol.LOOP: protocol.LOOP in classes,
                          protocol.POOL: protocol.POOL in classes}
        self.loop_slots = options.async_limit if self.has_class[protocol.LOOP] else 0
        self.handlers = app.handlers
        # tasks in our hands, started or waiting, oldest first (dict order)
        self.running: Dict[Task, None] = {}
        self.backlog: Dict[int, Deque[Task]] = {protocol.LOOP: collections.deque(),
                                                protocol.POOL: collections.deque()}
        self.started = {protocol.LOOP: 0, protocol.POOL: 0}
        self.results: List[bytes] = []
        self.in_callback = False
        self.flush_armed = False
        self.draining = False
        self.finished: "asyncio.Future[None]" = None  # type: ignore[assignment]  # made by run()
        self.rc = 0
        # deadlines: bucket (tick) -> tasks due in it; a heap of the ticks
        self.buckets: Dict[int, Dict[Task, None]] = {}
        self.ticks: List[int] = []
        self.deadline_timer: Optional[asyncio.TimerHandle] = None
        self.deadline_armed = 0
        self.warn_window = 0.0
        self.warn_count = 0
        self.warn_suppressed = 0

    # ---- slots -------------------------------------------------------------------------------

    def slots(self, cls: int) -> int:
        if cls == protocol.LOOP:
            return self.loop_slots
        if not self.has_class[protocol.POOL]:
            return 0
        return self.pool.capacity if self.pool else self.options.pool_size

    def capacity(self) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(capacity, slots), each (loop, pool), to announce."""
        slots = (self.slots(protocol.LOOP), self.slots(protocol.POOL))
        factor = 1 + self.options.prefetch
        return (min(slots[0] * factor, 0xFFFFFFFF), min(slots[1] * factor, 0xFFFFFFFF)), slots

    def running_count(self) -> int:
        return len(self.running)

    # ---- intake ------------------------------------------------------------------------------

    def accept(self, record: protocol.Record, now: float) -> None:
        """A DISPATCH record becomes a running (or waiting) task."""
        self.stats.dispatched += 1
        handler = self.handlers.get(record.name)
        if self.draining or handler is None:
            # Sent before the broker saw our CAPACITY(0, 0), or a name we
            # never registered (the broker should not do that).
            error = b"" if handler else b"no handler for " + record.name.encode()
            self.add_result(record, protocol.RELEASED if self.draining else protocol.FAIL, 0,
                            error)
            return
        task = Task(record, handler)
        self.running[task] = None
        cls = handler.cls
        backlog = self.backlog[cls]
        if not backlog and self.started[cls] < self.slots(cls):
            self.begin(task, now)
            return
        # Waiting, a task with a timeout has a deadline from now on: it must
        # start by then (SPEC.md §6.4: the broker's lease allows a wait of one
        # timeout, then a run of one).
        task.started = now
        self.set_deadline(task, now)
        backlog.append(task)

    def begin(self, task: Task, now: float) -> None:
        cls = task.handler.cls
        task.waiting = False
        self.started[cls] += 1
        task.started = now
        if task.timeout:
            self.set_deadline(task, now)
        if cls == protocol.POOL:
            assert self.pool is not None
            self.pool.submit(task)
            return
        task.context = self.loop_context
        if EAGER:  # Python 3.12+: the handler runs at once until it first waits
            task.future = asyncio.Task(self.run_async(task), loop=self.loop,
                                       eager_start=True)  # type: ignore[call-arg]
        else:
            task.future = asyncio.Task(self.run_async(task), loop=self.loop)

    def start_waiting(self) -> None:
        """Starts waiting tasks while their class has free slots."""
        if self.draining:
            return
        now = 0.0
        for cls, backlog in self.backlog.items():
            while backlog and self.started[cls] < self.slots(cls):
                task = backlog.popleft()
                if not task.waiting or task not in self.running:
                    continue  # released at its deadline meanwhile
                now = now or time.monotonic()
                self.begin(task, now)

    async def run_async(self, task: Task) -> None:
        try:
            await cast(Awaitable[None], task.handler.fn(task))
            outcome = protocol.DONE, 0, b""
        except asyncio.CancelledError:
            if task.timed_out:
                return  # TIMEOUT went out when its deadline passed
            outcome = protocol.FAIL, 0, b"cancelled"
        except Exception as exc:  # noqa: BLE001 - any failure of a handler is its outcome
            if not isinstance(exc, (Retry, Fail)):
                log.debug("handler %s raised", task.name, exc_info=True)
            outcome = outcome_of(exc)
        if task.timed_out:
            return
        self.finish(task, *outcome)

    def on_pool_done(self, done: List[Tuple[Task, int, int, bytes]]) -> None:
        """Pool threads finished these (task, outcome, delay, error); on the loop."""
        self.in_callback = True
        for task, outcome, delay, error in done:
            if task.timed_out:
                self.announce_capacity()  # its thread came back to the pool
            else:
                self.finish(task, outcome, delay, error)
        self.end_turn()

    # ---- results -----------------------------------------------------------------------------

    def finish(self, task: Task, outcome: int, delay: int = 0, error: bytes = b"") -> None:
        """A task leaves the worker: untracked, its outcome queued for RESULT."""
        self.untrack(task)
        self.add_result(task.record, outcome, delay, error)

    def untrack(self, task: Task) -> None:
        if task not in self.running:
            return  # not ours any more
        del self.running[task]
        if not task.waiting:
            self.started[task.handler.cls] -= 1
        if task.deadline:
            bucket = self.buckets.get(task.heap_key)
            if bucket is not None:
                bucket.pop(task, None)

    def add_result(self, record: protocol.Record, outcome: int, delay: int, error: bytes) -> None:
        self.results.append(protocol.encode_result(record.id, record.attempt, outcome, delay,
                                                   error))
        self.count(record, outcome, error)
        if len(self.results) >= protocol.BATCH_MAX:
            self.flush()
        elif not self.in_callback and not self.flush_armed:
            self.flush_armed = True
            self.loop.call_soon(self.on_flush)

    def count(self, record: protocol.Record, outcome: int, error: bytes) -> None:
        s = self.stats
        if outcome == protocol.DONE:
            s.done += 1
            return
        if outcome == protocol.RELEASED:
            s.released += 1
            return
        if outcome == protocol.TIMEOUT:
            s.timed_out += 1
            return
        if outcome == protocol.RETRY:
            s.retried += 1
        else:
            s.failed += 1
        self.warn_outcome(record, outcome, error)

    def warn_outcome(self, record: protocol.Record, outcome: int, error: bytes) -> None:
        """At most WARN_PER_SECOND lines a second; a flood is counted."""
        now = time.monotonic()
        if now - self.warn_window >= 1.0:
            if self.warn_suppressed:
                log.warning("%d more failed tasks not logged", self.warn_suppressed)
            self.warn_window, self.warn_count, self.warn_suppressed = now, 0, 0
        if self.warn_count >= WARN_PER_SECOND:
            self.warn_suppressed += 1
            return
        self.warn_count += 1
        text = error[:200].decode("utf-8", "replace").replace("\n", " ")
        log.warning("task %s name=%s id=%s attempt=%d error=%s", protocol.OUTCOME_NAMES[outcome],
                    record.name, protocol.task_id_text(record.id), record.attempt, text)

    def flush(self) -> None:
        """Sends the pending results as one RESULT (a batch of at most 1,000)."""
        while self.results:
            batch = self.results[:protocol.BATCH_MAX]
            self.results = self.results[protocol.BATCH_MAX:]
            self.link.send_results(batch)

    def on_flush(self) -> None:
        self.flush_armed = False
        self.in_callback = True
        self.end_turn()

    def end_turn(self) -> None:
        """The end of each of our loop callbacks: one RESULT per turn, freed
        slots refilled after it, and the end of a drain once nothing runs."""
        self.flush()
        self.start_waiting()
        self.in_callback = False
        self.flush()  # what the new tasks finished at once
        # A drain ends once nothing runs and the broker has every RESULT
        # (acknowledged): a RESULT lost at the end would run its task again.
        if (self.draining and not self.finished.done() and not self.running
                and not self.link.unacked):
            self.link.send_bye()
            self.finished.set_result(None)

    def refused(self) -> None:
        """The broker refused our READY for good (fling._link): stop, exit 1."""
        self.rc = 1
        if not self.finished.done():
            self.finished.set_result(None)

    # ---- deadlines ---------------------------------------------------------------------------

    def set_deadline(self, task: Task, start: float) -> None:
        """(Re)places the task's deadline at start + its timeout."""
        if not task.timeout:
            return
        if task.deadline:
            bucket = self.buckets.get(task.heap_key)
            if bucket is not None:
                bucket.pop(task, None)
        task.deadline = start + task.timeout
        tick = int(task.deadline * DEADLINE_TICKS) + 1  # a bucket ends after its tasks' deadlines
        task.heap_key = tick
        bucket = self.buckets.get(tick)
        if bucket is None:
            bucket = self.buckets[tick] = {}
            heapq.heappush(self.ticks, tick)
        bucket[task] = None
        if self.deadline_timer is None or tick < self.deadline_armed:
            self.arm_deadlines(tick)

    def arm_deadlines(self, tick: int) -> None:
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        self.deadline_armed = tick
        self.deadline_timer = self.loop.call_at(tick / DEADLINE_TICKS, self.on_deadlines)

    def on_deadlines(self) -> None:
        self.deadline_timer = None
        self.in_callback = True
        now = time.monotonic()
        while self.ticks and self.ticks[0] / DEADLINE_TICKS <= now:
            for task in list(self.buckets.pop(heapq.heappop(self.ticks), {})):
                if task in self.running:
                    self.overrun(task)
        if self.ticks:
            self.arm_deadlines(self.ticks[0])
        self.end_turn()

    def overrun(self, task: Task) -> None:
        if task.waiting:
            log.debug("task waited past its timeout of %d ms without a free slot: handed back "
                      "unrun id=%s name=%s", task.record.timeout_ms, task.id, task.name)
            self.finish(task, protocol.RELEASED)
            return
        cls = task.handler.cls
        log.warning("task overran its deadline id=%s name=%s timeout_ms=%d class=%s", task.id,
                    task.name, task.record.timeout_ms, "loop" if cls == protocol.LOOP else "pool")
        self.finish(task, protocol.TIMEOUT, 0,
                    b"overran its deadline of %d ms" % task.record.timeout_ms)
        task.timed_out = True
        if cls == protocol.LOOP:
            task.future.cancel()
        else:
            assert self.pool is not None
            self.pool.detach(task)
            self.announce_capacity()

    def announce_capacity(self) -> None:
        if self.link and not self.draining:
            self.link.announce_capacity()

    # ---- drain -------------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM/SIGINT: take no new tasks, hand back the waiting ones, let the
        running ones finish (up to the drain timeout), then BYE."""
        if self.draining:
            return
        self.draining = True
        waiting = [t for t in self.running if t.waiting]
        log.info("draining: %d tasks running, %d not started (released), timeout %d ms",
                 len(self.running) - len(waiting), len(waiting), self.options.drain_timeout_ms)
        if self.link.registered:  # else it goes out right after WELCOME
            self.link.send_capacity_zero()
        self.in_callback = True
        for task in waiting:
            self.finish(task, protocol.RELEASED)
        for backlog in self.backlog.values():
            backlog.clear()
        self.loop.call_later(self.options.drain_timeout_ms / 1000.0, self.on_drain_timeout)
        self.end_turn()

    def on_drain_timeout(self) -> None:
        if self.finished.done():
            return
        log.warning("drain timeout after %d ms: %d tasks still running, %d results not "
                    "acknowledged", self.options.drain_timeout_ms, len(self.running),
                    self.link.unacked_results)
        now = time.monotonic()
        for task in list(self.running)[:10]:
            log.warning("still running: name=%s id=%s attempt=%d for %d ms", task.name, task.id,
                        task.attempt, (now - task.started) * 1000)
        self.flush()
        self.link.send_bye()  # the broker requeues what we still hold
        self.rc = 1
        self.finished.set_result(None)

    # ---- run ---------------------------------------------------------------------------------

    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.finished = self.loop.create_future()
        for hook in self.app.loop_start:
            result = hook(self.loop_context)
            if asyncio.iscoroutine(result):
                await result
        if self.has_class[protocol.POOL]:
            self.pool = Pool(self.options.pool_size, self.app, self.loop.call_soon_threadsafe,
                             self.on_pool_done)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(signum, self.stop)
        self.link = Link(self, self.options)
        self.log_started()
        try:
            self.link.connect()
            await self.finished
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.loop.remove_signal_handler(signum)
            await self.teardown()
        s = self.stats
        log.info("stopped done=%d failed=%d retried=%d released=%d timed_out=%d reconnects=%d "
                 "holding_sent=%d results_resent=%d results_forgotten=%d", s.done, s.failed,
                 s.retried, s.released, s.timed_out, s.reconnects, s.holding_sent,
                 s.results_resent, s.results_forgotten)
        return self.rc

    async def teardown(self) -> None:
        self.flush()
        self.link.close(linger_ms=2000)
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
        if self.pool is not None:
            await self.loop.run_in_executor(None, self.pool.stop, 1.0)
        pending = [t.future for t in self.running if t.future is not None]
        for future in pending:
            future.cancel()
        for hook in reversed(self.app.loop_stop):
            result = hook(self.loop_context)
            if asyncio.iscoroutine(result):
                await result

    def log_started(self) -> None:
        names = ",".join("%s(%s)" % (h.name, "loop" if h.cls == protocol.LOOP else "pool")
                         for h in self.app.handlers.values())
        o = self.options
        log.info("started name=%s pid=%d pool=%d async_limit=%d prefetch=%d heartbeat_ms=%d "
                 "endpoint=%s handlers=%s", o.name, os.getpid(), self.slots(protocol.POOL),
                 self.slots(protocol.LOOP), o.prefetch, o.heartbeat_ms, o.endpoint, names)
