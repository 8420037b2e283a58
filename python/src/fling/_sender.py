"""The producer's I/O thread (fling.producer), as producer/fling_sender.c is
the C producer's: it alone touches the DEALER socket. It takes batches from
the producer's outbox, sends them as SUBMIT (at most `window` waiting for
their ACK), resolves them when the ACK comes, resends what the broker has
not answered (same batch, same task ids: after the ack timeout, or at once
when the broker is heard again after a silence), and sends PING when idle.
Callers reach it only through the outbox (under the producer's lock) and its
wake-up fd.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from typing import TYPE_CHECKING, List, Optional, cast

import zmq

from . import protocol
from .errors import Closed, error_for, reason_code

if TYPE_CHECKING:
    from .producer import Producer

log = logging.getLogger("fling.producer")

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


class IoLoop:
    """The I/O thread's state: only it touches the socket and the slots."""

    def __init__(self, producer: "Producer"):
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

    def receive_all(self, sock: "zmq.Socket[bytes]") -> None:
        now = time.monotonic()
        for _ in range(RECV_BURST):
            # (asking first is cheaper than the exception a recv that finds nothing raises)
            if not cast(int, sock.getsockopt(EVENTS)) & POLLIN:
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
        on_ack = self.p._on_ack
        assert on_ack is not None
        body = batch.body or b"".join(batch.records)
        records = protocol.decode(protocol.dispatch(batch.count, body)).records
        for i, record in enumerate(records):
            task_id = protocol.task_id_text(record.id)
            try:
                if statuses is None:
                    on_ack(task_id, Ack.DROPPED, Closed())
                elif statuses[i] in (protocol.OK, protocol.DUPLICATE):
                    on_ack(task_id, Ack.ACCEPTED, None)
                else:
                    on_ack(task_id, Ack.REJECTED,
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

