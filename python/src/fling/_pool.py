"""The worker's thread pool for blocking handlers (plain def).

The event loop hands a task to the pool only when a thread is free (it counts
its slots), so a task never waits here for long. Each thread runs the app's
thread start hooks once with a context of its own before its first task, and
the stop hooks as it exits: a handler reaches its thread's clients through
task.context and no client is ever shared between threads.

A task that overruns its deadline cannot be stopped (no thread can be killed
safely in Python): the worker reports TIMEOUT and detaches its thread, which
finishes the handler alone (its outcome is dropped), runs its stop hooks and
exits. A replacement thread keeps the pool at its size while no more than
`size` threads are stuck this way; beyond that the pool shrinks (capacity)
until stuck handlers return, so hanging tasks cannot multiply threads.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
import types
from typing import Any, Callable, List, Optional, Set, Tuple

from .app import App, Fail, Retry, Task
from . import protocol

log = logging.getLogger("fling.worker")

# what a handler's run comes to: outcome, retry_delay_ms, error text
Outcome = Tuple[int, int, bytes]
# called on the loop thread with a list of (task, outcome, retry_delay_ms, error text)
DoneFn = Callable[[List[Tuple[Task, int, int, bytes]]], None]


def outcome_of(exc: Optional[BaseException]) -> Outcome:
    """(outcome, retry_delay_ms, error bytes) of a handler's run that raised
    `exc` (None: it returned)."""
    if exc is None:
        return protocol.DONE, 0, b""
    if isinstance(exc, Retry):
        delay = 0 if exc.delay is None else max(1, int(exc.delay * 1000))
        return protocol.RETRY, delay, str(exc).encode("utf-8", "replace")
    if isinstance(exc, Fail):
        return protocol.FAIL, 0, str(exc).encode("utf-8", "replace")
    text = "%s: %s" % (type(exc).__name__, exc)
    return protocol.FAIL, 0, text.encode("utf-8", "replace")


def run_blocking(task: Task) -> Outcome:
    """Runs a plain-def handler here and now; its outcome_of()."""
    try:
        task.handler.fn(task)
    except Exception as exc:  # noqa: BLE001 - any failure of a handler is its outcome
        if not isinstance(exc, (Retry, Fail)):
            log.debug("handler %s raised", task.name, exc_info=True)
        return outcome_of(exc)
    return outcome_of(None)


class Pool:
    def __init__(self, size: int, app: App, post: Callable[..., Any], done: DoneFn):
        self.size = size
        self._app = app
        self._post = post  # loop.call_soon_threadsafe
        self._done = done
        # Finished tasks wait here for the loop, which one call_soon_threadsafe
        # (a write to the loop's self-pipe) wakes for all that finish meanwhile.
        self._finished: "collections.deque[Tuple[Task, int, int, bytes]]" = collections.deque()
        self._wake_pending = False
        self._jobs: "queue.SimpleQueue[Optional[Task]]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._detached: Set[threading.Thread] = set()  # stuck in a task that overran
        self._active = 0      # threads that take tasks
        self._next_index = 0  # thread indexes are never reused
        self._stopping = False
        with self._lock:
            for _ in range(size):
                self._start_thread()

    # ---- loop thread -------------------------------------------------------------

    def submit(self, task: Task) -> None:
        self._jobs.put(task)

    @property
    def capacity(self) -> int:
        """Threads that take tasks now: the pool's size less the stuck threads
        beyond the ones it replaced."""
        return self._active

    @property
    def stuck(self) -> int:
        return len(self._detached)

    def detach(self, task: Task) -> None:
        """`task` overran: its thread (if it has one yet) leaves the pool."""
        with self._lock:
            thread = task.thread
            task.timed_out = True
            if thread is None or thread in self._detached or not thread.is_alive():
                return  # not started: the thread that picks it up skips it
            self._detached.add(thread)
            self._active -= 1
            if len(self._detached) <= self.size:
                self._start_thread()
            else:
                log.warning("%d pool threads stuck in overdue tasks: pool capacity now %d",
                            len(self._detached), self._active)

    def _deliver(self) -> None:
        """On the loop: hands every finished task to the worker at once. The flag
        drops first: a thread that appends after it drops wakes the loop again."""
        self._wake_pending = False
        finished = self._finished
        batch = [finished.popleft() for _ in range(len(finished))]
        if batch:
            self._done(batch)

    def stop(self, timeout: float) -> None:
        """Asks every thread to exit after its task and waits up to `timeout`
        seconds; stuck threads are left to finish alone (they are daemons)."""
        with self._lock:
            self._stopping = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            if thread not in self._detached:
                thread.join(timeout)

    # ---- threads ---------------------------------------------------------------------

    def _start_thread(self) -> None:
        """Under _lock."""
        index = self._next_index
        self._next_index += 1
        thread = threading.Thread(target=self._main, args=(index,), daemon=True,
                                  name="fling-pool-%d" % index)
        self._threads.append(thread)
        self._active += 1
        thread.start()

    def _main(self, index: int) -> None:
        context = types.SimpleNamespace(thread_index=index)
        for hook in self._app.thread_start:
            try:
                hook(context)
            except Exception:  # noqa: BLE001
                log.exception("thread start hook %s failed on pool thread %d", hook, index)
        me = threading.current_thread()
        try:
            while True:
                task = self._jobs.get()
                if task is None:
                    break
                with self._lock:
                    if task.timed_out:
                        continue  # overran before a thread took it: never runs
                    task.thread = me
                task.context = context
                self._finished.append((task,) + run_blocking(task))
                if not self._wake_pending:
                    self._wake_pending = True
                    self._post(self._deliver)
                with self._lock:
                    if me in self._detached:
                        self._detached.discard(me)
                        # A stuck thread beyond the replaced ones is back: the
                        # pool grows to its size again.
                        if self._active < self.size and not self._stopping:
                            self._start_thread()
                        break
        except RuntimeError:
            pass  # the loop is closed: the worker is gone
        finally:
            for hook in reversed(self._app.thread_stop):
                try:
                    hook(context)
                except Exception:  # noqa: BLE001
                    log.exception("thread stop hook %s failed on pool thread %d", hook, index)
            with self._lock:
                if me in self._threads:
                    self._threads.remove(me)
