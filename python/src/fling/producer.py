"""The producer: send() validates a task in the caller's thread, appends it
to a bounded outbox and returns; one background I/O thread owns the ZeroMQ
socket, batches the outbox into SUBMITs, resends what the broker has not
acknowledged (same batch, same task ids) and sends PING when idle. It is the
C producer (producer/fling_producer.h) in Python, with the same options,
defaults, counters and errors.

send() never waits for the network, so it is safe on an asyncio event loop
and from any thread; one Producer is meant to be shared by a whole process.
"""
from __future__ import annotations

import asyncio
import atexit
import collections
import logging
import os
import threading
import time
import weakref
from asyncio import _get_running_loop
from contextlib import asynccontextmanager
from typing import (Any, AsyncIterator, Callable, Deque, Dict, List, NamedTuple, Optional,
                    Tuple)

import zmq

from . import protocol
from ._sender import SILENT_HEARTBEATS, Ack, IoLoop, _Batch
from .errors import Closed, FlushTimeout, FlingError, OutboxFull
from .keys import CurveKeys, apply_client_keys
from .validate import Payload, check_name, payload_bytes

log = logging.getLogger("fling.producer")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"


OnAck = Callable[[str, Ack, Optional[FlingError]], None]
_Waiter = Tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Stats(NamedTuple):
    sent: int      # send() calls that queued a task
    accepted: int  # tasks the broker accepted
    rejected: int  # tasks the broker refused
    dropped: int   # tasks dropped by the overflow policy or at close
    queued: int    # tasks in the outbox now, unacknowledged included
    resent: int    # batches sent again after an ack timeout or a silence
    invalid: int   # send() calls refused by validation


def _wake_pair() -> Tuple[int, int]:
    """(read fd, write fd) of an eventfd, or of a pipe where there is none."""
    if hasattr(os, "eventfd"):
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        return fd, fd
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    return read_fd, write_fd


_producers: "weakref.WeakSet[Producer]" = weakref.WeakSet()
_ONE = (1).to_bytes(8, "little")  # an eventfd increment


class Producer:
    """Sends tasks to a fling broker.

    endpoint: the broker's producer endpoint (default $FLING_PRODUCER_ENDPOINT,
    else tcp://127.0.0.1:5555). The broker need not be up: tasks wait in the
    outbox until it is.

    outbox, outbox_bytes: tasks and bytes held from send() until the broker
    answers for them (default 100,000 and 64 MiB). When full, overflow="fail"
    makes send() raise OutboxFull, overflow="drop" drops the task, counts it
    and returns "".

    The other options are the C producer's, in the same units: tasks and
    bytes per SUBMIT (256, 256 KiB), how long a batch may wait to fill while
    others are in flight (batch_linger_us, 200), unacknowledged batches in
    flight (window, 16), the ack timeout after which a batch is resent
    (3,000 ms), how long close() waits for the outbox to drain (linger_ms,
    5,000) and the PING interval (1,000 ms). on_ack(task_id, Ack, error) is
    called on the I/O thread once per task when its fate is known; it must
    be quick and must not call back into this producer. keys: CurveKeys for
    a broker with CURVE (default: from the environment, see fling.keys).
    """

    def __init__(self, endpoint: Optional[str] = None, *, outbox: int = 100_000,
                 outbox_bytes: int = 64 << 20, overflow: str = "fail",
                 batch_max_tasks: int = 256, batch_max_bytes: int = 256 << 10,
                 batch_linger_us: int = 200, window: int = 16, ack_timeout_ms: int = 3000,
                 linger_ms: int = 5000, heartbeat_ms: int = 1000, on_ack: Optional[OnAck] = None,
                 keys: Optional[CurveKeys] = None):
        if overflow not in ("fail", "drop"):
            raise ValueError("overflow must be 'fail' or 'drop'")
        if not (outbox > 0 and outbox_bytes > 0 and 0 < batch_max_tasks <= protocol.BATCH_MAX
                and 0 < batch_max_bytes <= protocol.MSG_BYTES_MAX // 2
                and 0 <= batch_linger_us <= 1_000_000 and 0 < window <= 1024
                and ack_timeout_ms > 0 and 0 < heartbeat_ms and linger_ms >= 0):
            raise ValueError("producer option out of range")
        self.endpoint = endpoint or os.environ.get("FLING_PRODUCER_ENDPOINT") or DEFAULT_ENDPOINT
        self._max_tasks = outbox
        self._max_bytes = outbox_bytes
        self._drop = overflow == "drop"
        self._batch_tasks = batch_max_tasks
        self._batch_bytes = batch_max_bytes
        self._linger = batch_linger_us / 1e6
        self._window = window
        self._ack_timeout = ack_timeout_ms / 1000.0
        self._close_linger = linger_ms / 1000.0
        self._heartbeat = heartbeat_ms / 1000.0
        self._on_ack = on_ack
        self._keys = keys if keys is not None else CurveKeys.from_env()

        # 8 random bytes name this producer in every task id. With CURVE the
        # broker holds each key to ids that start with its tag (the key's first
        # 8 bytes), so the producers sharing a key tell their ids apart by the
        # sequence: each starts at a random point below 2^62 (as in C).
        self._producer_id = self._keys.tag if self._keys else os.urandom(8)
        self._seq_base = int.from_bytes(os.urandom(8), "big") >> 2 if self._keys else 0
        self._id_prefix = self._producer_id.hex() + ":"
        self._writers: Dict[str, protocol.RecordWriter] = {}

        # The outbox, under _lock; _cond wakes flush() callers.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._seq = self._seq_base
        self._open = _Batch(self._seq + 1)
        self._open_since = 0.0
        self._sealed: Deque[_Batch] = collections.deque()
        self._held_tasks = 0
        self._held_bytes = 0
        self._closed = False
        self._flush_waiters = 0
        # (target seq, loop, future) of aflush() callers
        self._async_waiters: List[_Waiter] = []
        # The I/O thread publishes these under _lock when it looks at the
        # outbox: appends wake it only when it would not look again soon.
        self._in_flight = 0
        self._wake_pending = False
        self._unresolved_min = self._seq + 1  # lowest first seq of the batches it holds

        self._invalid = 0
        self._dropped = 0
        self._accepted = self._rejected = self._io_dropped = self._resent = 0
        self._bad_messages = self._broker_errors = self._unavailable = 0
        self._heard_at = 0.0

        self._wake_read, self._wake_write = _wake_pair()
        self._stop = False
        self._forked = False
        self._socket = self._open_socket()
        self._thread = threading.Thread(target=self._run, name="fling-producer", daemon=True)
        self._thread.start()
        _producers.add(self)

    # ---- sending (any thread) ---------------------------------------------------

    def send(self, name: str, payload: Payload, *, max_attempts: int = 0, timeout_ms: int = 0,
             backoff_ms: int = 0) -> str:
        """Queues a task and returns its id ("9f86d081884c7d65:42"), or "" when
        the outbox is full and overflow is "drop". Raises BadName, BadJSON,
        TooLarge (the task is invalid: nothing leaves the process), OutboxFull
        (overflow "fail") or Closed. Never waits for the network.

        payload: a dict (serialised here) or JSON text (bytes or str). Per-task
        options override the queue's settings; 0 means its default."""
        writer = self._writers.get(name)
        try:
            if writer is None:
                writer = self._writer(name)
            data = payload_bytes(payload)
            if (max_attempts or timeout_ms or backoff_ms) and not (
                    0 <= max_attempts <= 0xFFFF and 0 <= timeout_ms <= 0xFFFFFFFF
                    and 0 <= backoff_ms <= 0xFFFFFFFF):
                raise ValueError("max_attempts above 65535, or a time out of range")
        except ValueError:
            with self._lock:
                self._invalid += 1
            raise
        record = writer.record
        size = len(data) + writer.size
        wake = False
        with self._lock:
            if self._closed:
                raise Closed("created before a fork" if self._forked else "")
            if self._held_tasks >= self._max_tasks or self._held_bytes + size > self._max_bytes:
                if self._drop:
                    self._dropped += 1
                    return ""
                raise OutboxFull("%d tasks, %d bytes held" % (self._held_tasks, self._held_bytes))
            seq = self._seq = self._seq + 1
            batch = self._open
            if not batch.count:
                self._open_since = time.monotonic()
                # A first task wakes an idle I/O thread; while batches are in
                # flight it looks again at their ACK (or ack timeout) anyway.
                wake = not self._in_flight
            batch.records.append(record(seq, max_attempts, timeout_ms, backoff_ms, data))
            count = batch.count = batch.count + 1
            batch.size += size
            self._held_tasks += 1
            self._held_bytes += size
            if count >= self._batch_tasks or batch.size >= self._batch_bytes:
                self._sealed.append(batch)
                self._open = _Batch(seq + 1)
                wake = not self._in_flight
            if wake:
                wake = not self._wake_pending
                self._wake_pending = True
        if wake:
            # On an event loop (a request handler), the I/O thread is woken at
            # the end of this turn of the loop, after the response went out:
            # its work (and its hold on the GIL) is not on the request's path.
            loop = _get_running_loop()
            if loop is None:
                os.write(self._wake_write, _ONE)
            else:
                loop.call_soon(self._wake)
        return self._id_prefix + str(seq)

    def _wake(self) -> None:
        if self._wake_write >= 0:
            os.write(self._wake_write, _ONE)

    def _writer(self, name: str) -> protocol.RecordWriter:
        writer = protocol.RecordWriter(self._producer_id, check_name(name))
        if len(self._writers) < 4096:
            self._writers[name] = writer
        return writer

    # ---- flush -----------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> None:
        """Waits until the broker answered for every task sent before this call
        (accepted or refused). Raises FlushTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake()  # a wake deferred to this (blocked) event loop would wait
        with self._lock:
            target = self._seq
            self._flush_waiters += 1
            try:
                while self._min_unresolved() <= target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise FlushTimeout("%d tasks still held" % self._held_tasks)
                    self._cond.wait(left)
            finally:
                self._flush_waiters -= 1

    async def aflush(self, timeout: Optional[float] = None) -> None:
        """flush() for coroutines: waits without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            target = self._seq
            if self._min_unresolved() > target:
                return
            self._async_waiters.append((target, loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise FlushTimeout("%d tasks still held" % self._held_tasks) from None
        finally:
            with self._lock:
                self._async_waiters = [w for w in self._async_waiters if w[2] is not future]

    def _min_unresolved(self) -> int:
        """Lowest task sequence not resolved yet (under _lock)."""
        lowest = self._unresolved_min
        if self._sealed:
            lowest = min(lowest, self._sealed[0].first_seq)
        if self._open.count:
            lowest = min(lowest, self._open.first_seq)
        return min(lowest, self._seq + 1)

    # ---- life cycle --------------------------------------------------------------------

    def close(self, linger: Optional[float] = None) -> None:
        """Waits up to `linger` seconds (default linger_ms) for the outbox to be
        accepted, stops the I/O thread and closes the socket. Tasks still not
        accepted are dropped (counted; on_ack says DROPPED). Idempotent."""
        with self._lock:
            if self._closed and self._stop:
                return
            self._closed = True
        if self._thread.is_alive() and not self._forked:
            try:
                self.flush(self._close_linger if linger is None else linger)
            except FlushTimeout:
                log.warning("closing with %d tasks not accepted by the broker: dropped",
                            self._held_tasks)
        self._stop_thread()

    async def aclose(self, linger: Optional[float] = None) -> None:
        """close() for coroutines: the wait for the broker does not block the loop."""
        with self._lock:
            self._closed = True
        try:
            await self.aflush(self._close_linger if linger is None else linger)
        except FlushTimeout:
            log.warning("closing with %d tasks not accepted by the broker: dropped",
                        self._held_tasks)
        self._stop_thread()

    def _stop_thread(self) -> None:
        self._stop = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            os.write(self._wake_write, _ONE)
            self._thread.join()
        for fd in {self._wake_read, self._wake_write}:
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_read = self._wake_write = -1
        _producers.discard(self)

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "Producer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def stats(self) -> Stats:
        """The counters (cheap, any thread)."""
        return Stats(self._seq - self._seq_base, self._accepted, self._rejected,
                     self._dropped + self._io_dropped,
                     self._held_tasks, self._resent, self._invalid)

    @property
    def connected(self) -> bool:
        """True when the broker was heard from within the last 3 heartbeats."""
        return bool(self._heard_at) and (
            time.monotonic() - self._heard_at < self._heartbeat * SILENT_HEARTBEATS)

    def _after_fork(self) -> None:
        # The I/O thread did not come along: refuse sends (Closed) rather
        # than queue tasks nobody will ever deliver.
        self._forked = True
        self._closed = True

    # ---- the I/O thread ------------------------------------------------------------------

    def _open_socket(self) -> "zmq.Socket[bytes]":
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        # No connection = EAGAIN at once, not a send into a pipe that may never
        # connect: every batch stays here until its ACK.
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, protocol.MSG_BYTES_MAX)
        sock.setsockopt(zmq.HEARTBEAT_IVL, int(self._heartbeat * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(self._heartbeat * 1000) * SILENT_HEARTBEATS)
        apply_client_keys(sock, self._keys)
        try:
            sock.connect(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            raise ValueError("bad endpoint %r: %s" % (self.endpoint, exc)) from None
        return sock

    def _run(self) -> None:
        io = IoLoop(self)
        try:
            io.run()
        except Exception:  # noqa: BLE001 - a bug must not hang close() or lose the count
            log.exception("producer I/O thread failed")
        finally:
            io.drop_all()
            self._socket.close(0)


# ---- the process's default producer ---------------------------------------------------

_default: Optional[Producer] = None


def set_default_producer(producer: Optional[Producer]) -> None:
    """Makes `producer` the one fling.send() uses (None: no default)."""
    global _default
    _default = producer


def default_producer() -> Producer:
    """The producer fling.send() uses; Closed if none was set."""
    if _default is None:
        raise Closed("no default producer: use fling.lifespan() or fling.set_default_producer()")
    return _default


def send(name: str, payload: Payload, **options: int) -> str:
    """Sends through the default producer, from anywhere in the program (a
    helper deep in a request's call stack needs no producer passed down)."""
    producer = _default
    if producer is None:
        raise Closed("no default producer: use fling.lifespan() or fling.set_default_producer()")
    return producer.send(name, payload, **options)


def lifespan(endpoint: Optional[str] = None, **options: Any) -> Callable[[Any], Any]:
    """A FastAPI / Starlette lifespan: a Producer for the life of the app, the
    default producer of the process (fling.send) and app.state.fling; at
    shutdown, waits up to linger_ms for the broker to accept what was sent.

        app = FastAPI(lifespan=fling.lifespan("tcp://broker:5555"))
    """

    @asynccontextmanager
    async def _lifespan(app: Any) -> AsyncIterator[None]:
        producer = Producer(endpoint, **options)
        previous = _default
        set_default_producer(producer)
        state = getattr(app, "state", None)
        if state is not None:
            state.fling = producer
        try:
            yield
        finally:
            set_default_producer(previous)
            await producer.aclose()

    return _lifespan


@atexit.register
def _close_all() -> None:
    """A producer the program forgot to close still delivers what it was given
    (up to its linger) before the interpreter exits."""
    for producer in list(_producers):
        producer.close()


def _after_fork_in_child() -> None:
    for producer in list(_producers):
        producer._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
