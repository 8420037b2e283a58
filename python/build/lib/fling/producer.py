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
import enum
import logging
import os
import threading
import time
import weakref
from asyncio import _get_running_loop
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Deque, Dict, List, NamedTuple, Optional

import zmq

from . import protocol
from .errors import Closed, FlushTimeout, FlingError, OutboxFull, error_for, reason_code
from .keys import CurveKeys, apply_client_keys
from .validate import Payload, check_name, payload_bytes

log = logging.getLogger("fling.producer")

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
SILENT_HEARTBEATS = 3  # broker silent this many intervals = gone
# pyzmq's flags are enum.IntFlag: plain ints are cheaper in the I/O loop
POLLIN, POLLOUT, NOBLOCK, EVENTS = (int(zmq.POLLIN), int(zmq.POLLOUT), int(zmq.NOBLOCK),
                                    int(zmq.EVENTS))
RECV_BURST = 256       # messages read per wake-up


class Ack(enum.IntEnum):
    """A task's fate, as on_ack reports it (C: fling_ack_t)."""
    ACCEPTED = 0  # the broker stored it (or had it already)
    REJECTED = 1  # the broker refused it; the error says why
    DROPPED = 2   # never delivered: closed before the broker accepted it


OnAck = Callable[[str, Ack, Optional[FlingError]], None]


class Stats(NamedTuple):
    sent: int      # send() calls that queued a task
    accepted: int  # tasks the broker accepted
    rejected: int  # tasks the broker refused
    dropped: int   # tasks dropped by the overflow policy or at close
    queued: int    # tasks in the outbox now, unacknowledged included
    resent: int    # batches sent again after an ack timeout or a silence
    invalid: int   # send() calls refused by validation


class _Batch:
    __slots__ = ("records", "body", "count", "size", "first_seq")

    def __init__(self, first_seq: int):
        self.records: List[bytes] = []
        self.body = b""
        self.count = 0
        self.size = 0
        self.first_seq = first_seq


class _Slot:
    """A batch taken from the outbox, waiting for its ACK."""
    __slots__ = ("batch", "batch_seq", "sent_at", "resend_now")

    def __init__(self, batch: _Batch, batch_seq: int):
        self.batch = batch
        self.batch_seq = batch_seq
        self.sent_at = 0.0  # last successful send; 0 = never sent
        self.resend_now = False


def _wake_pair():
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

        # 8 random bytes name this producer in every task id. With CURVE they
        # are the key's tag (the broker refuses any other id from that key),
        # and the sequence starts at a random point below 2^62, so processes
        # sharing a key do not reuse each other's ids.
        if self._keys is not None:
            self._producer_id = self._keys.tag
            self._seq_base = int.from_bytes(os.urandom(8), "big") >> 2
        else:
            self._producer_id = os.urandom(8)
            self._seq_base = 0
        self._id_prefix = self._producer_id.hex() + ":"
        self._writers: Dict[str, protocol.RecordWriter] = {}

        # The outbox, under _lock; _cond wakes flush() callers.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._seq = self._seq_base
        self._open = _Batch(self._seq_base + 1)
        self._open_since = 0.0
        self._sealed: Deque[_Batch] = collections.deque()
        self._held_tasks = 0
        self._held_bytes = 0
        self._closed = False
        self._flush_waiters = 0
        self._async_waiters: List[tuple] = []  # (target seq, loop, future)
        # The I/O thread publishes these under _lock when it looks at the
        # outbox: appends wake it only when it would not look again soon.
        self._in_flight = 0
        self._wake_pending = False
        self._unresolved_min = self._seq_base + 1  # lowest first seq of the batches it holds

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
                wake = self._in_flight < self._window
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
        return Stats(self._seq - self._seq_base, self._accepted, self._rejected, self._dropped + self._io_dropped,
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

    def _open_socket(self) -> zmq.Socket:
        sock = zmq.Context.instance().socket(zmq.DEALER)
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
        io = _IoLoop(self)
        try:
            io.run()
        except Exception:  # noqa: BLE001 - a bug must not hang close() or lose the count
            log.exception("producer I/O thread failed")
        finally:
            io.drop_all()
            self._socket.close(0)


class _IoLoop:
    """The I/O thread's state: only it touches the socket and the slots."""

    def __init__(self, producer: Producer):
        self.p = producer
        self.slots: List[_Slot] = []
        self.batch_seq = 0
        self.last_send = 0.0
        self.heard = 0.0
        self.error_logged = 0.0
        self.blocked = False       # a SUBMIT hit EAGAIN: wait for POLLOUT
        self.ping_pending = False  # a PING hit EAGAIN

    def run(self) -> None:
        p = self.p
        sock = p._socket
        poller = zmq.Poller()
        poller.register(sock, POLLIN)
        poller.register(p._wake_read, POLLIN)
        watching = POLLIN
        while not p._stop:
            now = time.monotonic()
            due = self.fill_window(now)
            self.send_due(now)
            self.heartbeat(now)
            events = POLLIN | (POLLOUT if self.blocked or self.ping_pending else 0)
            if events != watching:
                poller.modify(sock, events)
                watching = events
            ready = dict(poller.poll(self.timeout_ms(now, due)))
            if p._wake_read in ready:
                try:
                    os.read(p._wake_read, 8)
                except BlockingIOError:
                    pass
            revents = ready.get(sock, 0)
            if revents & POLLIN:
                self.receive_all(sock)
            if revents & POLLOUT:
                self.blocked = False

    # -- the window --

    def fill_window(self, now: float) -> float:
        """Takes batches from the outbox while the window has room; returns when
        the open batch will be due (monotonic seconds), or -1."""
        p = self.p
        due = -1.0
        with p._lock:
            p._wake_pending = False
            while len(self.slots) < p._window:
                batch = None
                if p._sealed:
                    batch = p._sealed.popleft()
                elif p._open.count and not self.blocked:
                    # Nothing in flight: go now; else let it fill for the linger.
                    open_due = p._open_since + (p._linger if self.slots else 0.0)
                    if open_due <= now:
                        batch = p._open
                        p._open = _Batch(p._seq + 1)
                    else:
                        due = open_due
                if batch is None:
                    break
                self.batch_seq += 1
                self.slots.append(_Slot(batch, self.batch_seq))
            p._in_flight = len(self.slots)
            p._unresolved_min = min((s.batch.first_seq for s in self.slots), default=p._seq + 1)
        return due

    def send_due(self, now: float) -> None:
        """Sends batches never sent; resends those whose ACK is overdue or that
        went out before the broker fell silent. Stops at the first EAGAIN."""
        p = self.p
        for slot in self.slots:
            if self.blocked:
                return
            resend = bool(slot.sent_at) and (slot.resend_now
                                             or now - slot.sent_at >= p._ack_timeout)
            if slot.sent_at and not resend:
                continue
            batch = slot.batch
            if not batch.body:
                batch.body = b"".join(batch.records)
                batch.records = []
            try:
                p._socket.send_multipart(protocol.submit(slot.batch_seq, batch.count, batch.body),
                                         NOBLOCK, copy=batch.count < 16)
            except zmq.Again:
                self.blocked = True
                return
            if resend:
                p._resent += 1
            slot.sent_at = now
            slot.resend_now = False
            self.last_send = now

    def heartbeat(self, now: float) -> None:
        p = self.p
        if not self.ping_pending and now - self.last_send < p._heartbeat:
            return
        self.last_send = now
        try:
            p._socket.send_multipart(protocol.ping(), NOBLOCK)
            self.ping_pending = False
        except zmq.Again:
            self.ping_pending = True

    def timeout_ms(self, now: float, due: float) -> int:
        p = self.p
        timeout = self.last_send + p._heartbeat - now
        if not self.blocked:
            for slot in self.slots:
                if slot.sent_at:
                    timeout = min(timeout, slot.sent_at + p._ack_timeout - now)
            if due >= 0:
                timeout = min(timeout, due - now)
        # poll counts in ms: a linger under 1 ms waits 1 ms.
        return max(0, int(timeout * 1000 + 0.999))

    # -- receiving --

    def receive_all(self, sock: zmq.Socket) -> None:
        now = time.monotonic()
        for _ in range(RECV_BURST):
            # (asking first is cheaper than the exception a recv that finds nothing raises)
            if not sock.getsockopt(EVENTS) & POLLIN:
                return
            try:
                frames = sock.recv_multipart(NOBLOCK)
            except zmq.Again:
                return
            self.on_heard(now)
            try:
                msg = protocol.decode(frames)
            except protocol.DecodeError:
                self.p._bad_messages += 1
                continue
            if msg.cmd == protocol.ACK:
                self.on_ack(msg)
            elif msg.cmd == protocol.ERROR:
                self.on_error(msg, now)
            # PONG and anything else: the sign of life was all we needed.

    def on_heard(self, now: float) -> None:
        """After a silence of 3 heartbeats the broker may have restarted and lost
        what it had not stored: resend every unacknowledged batch now."""
        p = self.p
        if self.heard and now - self.heard >= p._heartbeat * SILENT_HEARTBEATS:
            for slot in self.slots:
                slot.resend_now = bool(slot.sent_at)
        self.heard = now
        p._heard_at = now

    def on_ack(self, msg: protocol.Message) -> None:
        p = self.p
        for index, slot in enumerate(self.slots):
            if slot.batch_seq == msg.batch_seq:
                break
        else:
            return  # an answer to a resend of a batch already resolved
        if msg.count != slot.batch.count:
            p._bad_messages += 1
            return
        # UNAVAILABLE: the broker could not make the batch durable or is
        # stopping; not a refusal. Keep it, resend after the ack timeout.
        if protocol.UNAVAILABLE in msg.statuses:
            p._unavailable += 1
            return
        del self.slots[index]
        self.resolve(slot.batch, msg.statuses)

    def on_error(self, msg: protocol.Message, now: float) -> None:
        self.p._broker_errors += 1
        if msg.refused_cmd == protocol.SUBMIT and msg.batch_seq:
            self.refuse_batch(msg)
        if self.error_logged and now - self.error_logged < 1.0:
            return
        self.error_logged = now
        text = "".join(c if " " <= c < "\x7f" else "?" for c in msg.text[:200].decode("latin-1"))
        log.warning("broker error %s: %s", protocol.reason_name(msg.reason), text)

    def refuse_batch(self, msg: protocol.Message) -> None:
        """FLP/1.1: an ERROR naming one of our batches refuses it whole; every
        task gets the reason, as an ACK would say, and it is not sent again.
        UNAVAILABLE alone is not an answer (as in on_ack)."""
        for index, slot in enumerate(self.slots):
            if slot.batch_seq == msg.batch_seq:
                break
        else:
            return
        if msg.reason == protocol.UNAVAILABLE:
            self.p._unavailable += 1
            return
        # 0 and 1 would read as accepted: an ERROR is never that.
        reason = msg.reason if msg.reason > protocol.DUPLICATE else protocol.MALFORMED
        del self.slots[index]
        self.resolve(slot.batch, bytes((reason,)) * slot.batch.count)

    # -- resolving --

    def resolve(self, batch: _Batch, statuses: Optional[bytes]) -> None:
        """The broker answered for every task of the batch (statuses), or we
        gave up on it (None): report, count, give its room back."""
        p = self.p
        if statuses is None:
            p._io_dropped += batch.count
        else:
            accepted = statuses.count(protocol.OK) + statuses.count(protocol.DUPLICATE)
            p._accepted += accepted
            p._rejected += batch.count - accepted
        if p._on_ack is not None:
            self.report(batch, statuses)
        with p._lock:
            p._held_tasks -= batch.count
            p._held_bytes -= batch.size
            p._in_flight = len(self.slots)
            p._unresolved_min = min((s.batch.first_seq for s in self.slots), default=p._seq + 1)
            if p._flush_waiters:
                p._cond.notify_all()
            if p._async_waiters:
                lowest = p._min_unresolved()
                for target, loop, future in p._async_waiters:
                    if target < lowest:
                        try:
                            loop.call_soon_threadsafe(_set_done, future)
                        except RuntimeError:  # that loop is closed: nobody waits
                            pass

    def report(self, batch: _Batch, statuses: Optional[bytes]) -> None:
        body = batch.body or b"".join(batch.records)
        records = protocol.decode(protocol.dispatch(batch.count, body)).records
        for i, record in enumerate(records):
            task_id = protocol.task_id_text(record.id)
            try:
                if statuses is None:
                    self.p._on_ack(task_id, Ack.DROPPED, Closed())
                elif statuses[i] in (protocol.OK, protocol.DUPLICATE):
                    self.p._on_ack(task_id, Ack.ACCEPTED, None)
                else:
                    self.p._on_ack(task_id, Ack.REJECTED,
                                   error_for(reason_code(statuses[i]),
                                             protocol.reason_name(statuses[i])))
            except Exception:  # noqa: BLE001 - a callback's bug must not stop the I/O thread
                log.exception("on_ack callback failed")

    def drop_all(self) -> None:
        """At stop: every batch still held is dropped (counted, reported)."""
        p = self.p
        while self.slots:
            self.resolve(self.slots.pop(0).batch, None)
        while True:
            with p._lock:
                if p._sealed:
                    batch = p._sealed.popleft()
                elif p._open.count:
                    batch, p._open = p._open, _Batch(p._seq + 1)
                else:
                    break
            self.resolve(batch, None)


def _set_done(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


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
