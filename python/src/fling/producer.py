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
import logging
import os
import threading
import time
import weakref
from asyncio import _get_running_loop
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Dict, NamedTuple, Optional, Tuple

import zmq

from . import protocol
from ._outbox import Outbox
from ._sender import SILENT_HEARTBEATS, Ack, IoLoop, OnAck
from .errors import Closed, FlushTimeout
from .keys import CurveKeys, apply_client_keys
from .task_ext import task_ext
from .validate import Payload, check_name, dict_bytes, payload_bytes

log = logging.getLogger("fling.producer")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"


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
    5,000) and the PING interval (1,000 ms). One is Python's own:
    idle_linger_us (25,000): when tasks come one by one, the I/O thread
    wakes at most once per this interval, for the tasks sent meanwhile and
    the ACKs that came (a full batch, flush() and close() do not wait). In
    a web service it then takes the GIL from the requests once per 25 ms,
    not twice per request; a task may wait that long before it leaves. At
    10 ms a FastAPI endpoint's p99 with a send was 7-15 % above the same
    endpoint without, at 25 ms within 5 % (bench/README.md, "Python"). 0
    sends each lone task at once and reads each ACK as it comes, as C does.
    on_ack(task_id, Ack, error) is called on the I/O thread once per task
    when its fate is known; it must be quick and must not call back into
    this producer. keys: CurveKeys for
    a broker with CURVE (default: from the environment, see fling.keys).
    """

    def __init__(self, endpoint: Optional[str] = None, *, outbox: int = 100_000,
                 outbox_bytes: int = 64 << 20, overflow: str = "fail",
                 batch_max_tasks: int = 256, batch_max_bytes: int = 256 << 10,
                 batch_linger_us: int = 200, idle_linger_us: int = 25_000, window: int = 16,
                 ack_timeout_ms: int = 3000, linger_ms: int = 5000, heartbeat_ms: int = 1000,
                 on_ack: Optional[OnAck] = None, keys: Optional[CurveKeys] = None):
        if overflow not in ("fail", "drop"):
            raise ValueError("overflow must be 'fail' or 'drop'")
        if not (outbox > 0 and outbox_bytes > 0 and 0 < batch_max_tasks <= protocol.BATCH_MAX
                and 0 < batch_max_bytes <= protocol.MSG_BYTES_MAX // 2
                and 0 <= batch_linger_us <= 1_000_000 and 0 <= idle_linger_us <= 1_000_000
                and 0 < window <= 1024 and ack_timeout_ms > 0 and 0 < heartbeat_ms
                and linger_ms >= 0):
            raise ValueError("producer option out of range")
        self.endpoint = endpoint or os.environ.get("FLING_PRODUCER_ENDPOINT") or DEFAULT_ENDPOINT
        self._idle_linger = idle_linger_us / 1e6
        self._close_linger = linger_ms / 1000.0
        self._heartbeat = heartbeat_ms / 1000.0
        self._keys = keys if keys is not None else CurveKeys.from_env()

        # 8 random bytes name this producer in every task id. With CURVE the
        # broker holds each key to ids that start with its tag (the key's first
        # 8 bytes), so the producers sharing a key tell their ids apart by the
        # sequence: each starts at a random point below 2^62 (as in C).
        self._producer_id = self._keys.tag if self._keys else os.urandom(8)
        seq_base = int.from_bytes(os.urandom(8), "big") >> 2 if self._keys else 0
        self._id_prefix = self._producer_id.hex() + ":"
        self._writers: Dict[str, protocol.RecordWriter] = {}
        self._outbox = Outbox(outbox, outbox_bytes, overflow == "drop", batch_max_tasks,
                              batch_max_bytes, seq_base, self._wake_for)
        self._put = self._outbox.put

        self._wake_read, self._wake_write = _wake_pair()
        self._io = IoLoop(self._outbox, self._open_socket(), self._wake_read, window=window,
                          linger=batch_linger_us / 1e6, idle_linger=self._idle_linger,
                          ack_timeout=ack_timeout_ms / 1000.0, heartbeat=self._heartbeat,
                          on_ack=on_ack)
        self._thread = threading.Thread(target=self._run, name="fling-producer", daemon=True)
        self._thread.start()
        _producers.add(self)

    # ---- sending (any thread) ---------------------------------------------------

    def send(self, name: str, payload: Payload, *, max_attempts: int = 0, timeout_ms: int = 0,
             backoff_ms: int = 0, delay_ms: int = 0, at_ms: int = 0, priority: int = 0,
             unique_key: Optional[str] = None, key_ttl_ms: int = 0) -> str:
        """Queues a task and returns its id ("9f86d081884c7d65:42"), or "" when
        the outbox is full and overflow is "drop". Raises BadName, BadJSON,
        TooLarge (the task is invalid: nothing leaves the process), OutboxFull
        (overflow "fail") or Closed. Never waits for the network.

        payload: a dict (serialised here) or JSON text (bytes or str). Per-task
        options override the queue's settings; 0 means its default.

        Scheduling (proto/SPEC.md §6.8; the broker must speak FLP/1.2, else
        the task is refused with VersionTooOld): delay_ms (held that long
        after the broker accepts it) or at_ms (held until this UTC time, ms
        since the epoch, e.g. int(datetime.timestamp() * 1000)); priority
        0-9 within its name (9 first); unique_key (1-128 printable ASCII
        bytes, no space): while a task with the key is held, or for
        key_ttl_ms after it ended, another send with it is answered
        Ack.DUPLICATE and does not run."""
        if delay_ms or at_ms or priority or unique_key is not None:
            return self._send_ext(name, payload, max_attempts, timeout_ms, backoff_ms,
                                  delay_ms, at_ms, priority, unique_key, key_ttl_ms)
        writer = self._writers.get(name)
        try:
            if writer is None:
                writer = self._writer(name)
            data = dict_bytes(payload) if type(payload) is dict else payload_bytes(payload)
            if (max_attempts or timeout_ms or backoff_ms) and not (
                    0 <= max_attempts <= 0xFFFF and 0 <= timeout_ms <= 0xFFFFFFFF
                    and 0 <= backoff_ms <= 0xFFFFFFFF):
                raise ValueError("max_attempts above 65535, or a time out of range")
        except ValueError:
            self._outbox.refused()
            raise
        seq = self._put(writer, data, max_attempts, timeout_ms, backoff_ms)
        return self._id_prefix + str(seq) if seq else ""

    def _send_ext(self, name: str, payload: Payload, max_attempts: int, timeout_ms: int,
                  backoff_ms: int, delay_ms: int, at_ms: int, priority: int,
                  unique_key: Optional[str], key_ttl_ms: int) -> str:
        """send() for a task with extensions: checked like the C library's
        (fling_task_ext_problem), then an FLP/1.2 batch of its own."""
        try:
            writer = self._writers.get(name) or self._writer(name)
            data = dict_bytes(payload) if type(payload) is dict else payload_bytes(payload)
            if not (0 <= max_attempts <= 0xFFFF and 0 <= timeout_ms <= 0xFFFFFFFF
                    and 0 <= backoff_ms <= 0xFFFFFFFF):
                raise ValueError("max_attempts above 65535, or a time out of range")
            key = None
            if unique_key is not None:
                try:
                    key = unique_key.encode("ascii")
                except UnicodeEncodeError:
                    raise ValueError("unique key empty, above 128 bytes or not printable ASCII "
                                     "without spaces") from None
            ext = task_ext(delay_ms, at_ms, priority, key, key_ttl_ms)
        except ValueError:
            self._outbox.refused()
            raise
        seq = self._outbox.put_ext(writer, data, max_attempts, timeout_ms, backoff_ms, ext,
                                   key is not None)
        return self._id_prefix + str(seq) if seq else ""

    def _wake_for(self, urgent: bool) -> None:
        """The outbox asks for the I/O thread. On an event loop (a request
        handler) the wake-up waits: for the end of this turn of the loop if
        a batch is full, else for the idle linger, so that the I/O thread's
        work (and its hold on the GIL) is off the request's path and one
        wake-up carries the tasks of many requests."""
        loop = _get_running_loop()
        if loop is None:
            os.write(self._wake_write, _ONE)
        elif urgent:
            loop.call_soon(self._wake)
        else:
            loop.call_later(self._idle_linger, self._wake)

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
        box = self._outbox
        with box.lock:
            target = box.seq
            box.flush_waiters += 1
        self._wake()  # now, not after a linger: someone waits
        with box.lock:
            try:
                while box.min_unresolved() <= target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise FlushTimeout("%d tasks still held" % box.held_tasks)
                    box.cond.wait(left)
            finally:
                box.flush_waiters -= 1

    async def aflush(self, timeout: Optional[float] = None) -> None:
        """flush() for coroutines: waits without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        box = self._outbox
        with box.lock:
            target = box.seq
            if box.min_unresolved() > target:
                return
            box.async_waiters.append((target, loop, future))
        self._wake()
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise FlushTimeout("%d tasks still held" % box.held_tasks) from None
        finally:
            with box.lock:
                box.async_waiters = [w for w in box.async_waiters if w[2] is not future]

    # ---- life cycle --------------------------------------------------------------------

    def close(self, linger: Optional[float] = None) -> None:
        """Waits up to `linger` seconds (default linger_ms) for the outbox to be
        accepted, stops the I/O thread and closes the socket. Tasks still not
        accepted are dropped (counted; on_ack says DROPPED). Idempotent."""
        box = self._outbox
        with box.lock:
            if box.closed and self._io.stop:
                return
            box.closed = True
        if self._thread.is_alive() and not box.forked:
            try:
                self.flush(self._close_linger if linger is None else linger)
            except FlushTimeout:
                log.warning("closing with %d tasks not accepted by the broker: dropped",
                            box.held_tasks)
        self._stop_thread()

    async def aclose(self, linger: Optional[float] = None) -> None:
        """close() for coroutines: the wait for the broker does not block the loop."""
        box = self._outbox
        with box.lock:
            box.closed = True
        try:
            await self.aflush(self._close_linger if linger is None else linger)
        except FlushTimeout:
            log.warning("closing with %d tasks not accepted by the broker: dropped",
                        box.held_tasks)
        self._stop_thread()

    def _stop_thread(self) -> None:
        self._io.stop = True
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
        box, io = self._outbox, self._io
        return Stats(box.seq - box.seq_base, io.accepted, io.rejected, box.dropped + io.dropped,
                     box.held_tasks, io.resent, box.invalid)

    @property
    def connected(self) -> bool:
        """True when the broker was heard from within the last 3 heartbeats."""
        heard = self._io.heard
        return bool(heard) and time.monotonic() - heard < self._heartbeat * SILENT_HEARTBEATS

    def _after_fork(self) -> None:
        # The I/O thread did not come along: refuse sends (Closed) rather
        # than queue tasks nobody will ever deliver.
        self._outbox.forked = True
        self._outbox.closed = True

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
        io = self._io
        try:
            io.run()
        except Exception:  # noqa: BLE001 - a bug must not hang close() or lose the count
            log.exception("producer I/O thread failed")
        finally:
            io.drop_all()
            io.sock.close(0)


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


def send(name: str, payload: Payload, **options: Any) -> str:
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
