"""What a task handler module sees: App (handlers and hooks), Task, and the
two ways out other than returning: Retry and Fail. This module knows nothing
of the worker that runs an App (fling.worker: `fling-py-worker module:app`,
or fling.worker.run(app) from a program of your own).

    app = fling.App()

    @app.on_loop_start
    async def open_loop(context):        # once, on the worker's event loop
        context.http = httpx.AsyncClient()

    @app.on_thread_start
    def open_thread(context):            # once on each pool thread
        context.db = psycopg.connect(DSN)

    @app.task("email.welcome")           # async def: runs on the event loop
    async def welcome(task: fling.Task) -> None:
        await task.context.http.post(URL, json=task.payload)

    @app.task("report.render")           # plain def: runs on the thread pool
    def render(task: fling.Task) -> None:
        with task.context.db.cursor() as cur: ...

Returning means DONE. `raise fling.Retry("busy", delay=30)` asks for another
run after 30 s (without delay: the queue's backoff); `raise fling.Fail("bad
input")`, or any other exception, fails the run (the broker retries while
attempts remain, then dead-letters it with the message).

task.context is the state of the place the handler runs on: the pool
thread's own (filled by the thread start hooks) for a plain def, the loop's
(filled by the loop start hooks) for an async def. A client kept there is
never shared between threads, by construction.
"""
from __future__ import annotations

import inspect
import json
import threading
import types
from typing import Any, Awaitable, Callable, Dict, List, NamedTuple, Optional, Union

from . import protocol
from .validate import check_name

HandlerFn = Callable[["Task"], Union[None, Awaitable[None]]]
ThreadHook = Callable[[types.SimpleNamespace], None]
LoopHook = Callable[[types.SimpleNamespace], Union[None, Awaitable[None]]]


class Retry(Exception):
    """Raised by a handler: run the task again later. `delay` (seconds) is
    the wish for when; None leaves it to the queue's backoff."""

    def __init__(self, message: str = "", delay: Optional[float] = None):
        super().__init__(message)
        if delay is not None and not 0 <= delay < 2 ** 32 / 1000:
            raise ValueError("retry delay out of range")
        self.delay = delay


class Fail(Exception):
    """Raised by a handler: this run failed, with this message (no traceback
    is logged; any other exception fails the run as well, with one)."""


class Handler(NamedTuple):
    name: str
    fn: HandlerFn
    cls: int  # protocol.LOOP (async def) or protocol.POOL (plain def)


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))


class App:
    """A set of task handlers and hooks, run by `fling-py-worker module:app`."""

    def __init__(self) -> None:
        self.handlers: Dict[str, Handler] = {}
        self.thread_start: List[ThreadHook] = []
        self.thread_stop: List[ThreadHook] = []
        self.loop_start: List[LoopHook] = []
        self.loop_stop: List[LoopHook] = []

    def task(self, name: str) -> Callable[[HandlerFn], HandlerFn]:
        """Registers the decorated function as the handler of `name`: an async
        def runs on the event loop, a plain def on the thread pool."""
        check_name(name)

        def register(fn: HandlerFn) -> HandlerFn:
            if name in self.handlers:
                raise ValueError("a handler for %r is registered already" % name)
            if len(self.handlers) >= protocol.NAMES_MAX:
                raise ValueError("at most %d task names per worker" % protocol.NAMES_MAX)
            cls = protocol.LOOP if _is_async(fn) else protocol.POOL
            self.handlers[name] = Handler(name, fn, cls)
            return fn

        return register

    def on_thread_start(self, fn: ThreadHook) -> ThreadHook:
        """Runs on each pool thread before its first task, with that thread's
        context (a SimpleNamespace; context.thread_index is set)."""
        self.thread_start.append(fn)
        return fn

    def on_thread_stop(self, fn: ThreadHook) -> ThreadHook:
        """Runs on each pool thread as it exits (reverse order of registration)."""
        self.thread_stop.append(fn)
        return fn

    def on_loop_start(self, fn: LoopHook) -> LoopHook:
        """Runs on the event loop before the worker registers with the broker,
        with the loop's context (async or plain def)."""
        self.loop_start.append(fn)
        return fn

    def on_loop_stop(self, fn: LoopHook) -> LoopHook:
        """Runs on the event loop after the drain (reverse order of registration)."""
        self.loop_stop.append(fn)
        return fn


_NO_PAYLOAD = object()


class Task:
    """One run of a task, as its handler sees it."""

    __slots__ = ("record", "handler", "context", "timeout", "started", "deadline", "_payload",
                 "_id_text", "timed_out", "thread", "future", "waiting", "heap_key")

    def __init__(self, record: protocol.Record, handler: Handler):
        self.record = record
        self.handler = handler
        self.context: types.SimpleNamespace = _NO_CONTEXT
        # seconds the run may take (0: no limit), from the record the broker filled in
        self.timeout = record.timeout_ms / 1000.0
        self.started = 0.0   # monotonic time it was handed to its handler (or accepted)
        self.deadline = 0.0  # monotonic; 0 = none
        self._payload: Any = _NO_PAYLOAD
        self._id_text: Optional[str] = None
        self.timed_out = False
        self.thread: Optional[threading.Thread] = None
        self.future: Any = None
        self.waiting = True
        self.heap_key = 0

    @property
    def id(self) -> str:
        """The task id's text form ("9f86d081884c7d65:42")."""
        if self._id_text is None:
            self._id_text = protocol.task_id_text(self.record.id)
        return self._id_text

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def attempt(self) -> int:
        """1 for the first run."""
        return self.record.attempt

    @property
    def raw(self) -> bytes:
        """The payload as the producer sent it: JSON text."""
        return self.record.payload

    @property
    def payload(self) -> Any:
        """The payload parsed (a dict), on first use."""
        if self._payload is _NO_PAYLOAD:
            self._payload = json.loads(self.record.payload)
        return self._payload

    def __repr__(self) -> str:
        return "<fling.Task %s %s attempt=%d>" % (self.name, self.id, self.attempt)


_NO_CONTEXT = types.SimpleNamespace()
