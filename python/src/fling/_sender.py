"""The producer's I/O thread (fling.producer), as producer/fling_sender.c is
the C producer's: it alone touches the DEALER socket. It takes batches from
the producer's outbox, sends them as SUBMIT (at most `window` waiting for
their ACK), resolves them when the ACK comes, resends what the broker has
not answered (same batch, same task ids: after the ack timeout, or at once
when the broker is heard again after a silence), and sends PING when idle.
Callers reach it only through the outbox (fling._outbox, under its lock) and its
wake-up fd.
"""
from __future__ import annotations

import enum
import logging
import os
import time
from typing import Callable, List, Optional, Tuple, cast

import zmq

from . import protocol
from ._outbox import Batch, Outbox
from .errors import Closed, FlingError, error_for, reason_code

log = logging.getLogger("fling.producer")

SILENT_HEARTBEATS = 3  # broker silent this many intervals = gone
# pyzmq's flags are enum.IntFlag: plain ints are cheaper in the I/O loop
POLLIN, POLLOUT, NOBLOCK, EVENTS = (int(zmq.POLLIN), int(zmq.POLLOUT), int(zmq.NOBLOCK),
                                    int(zmq.EVENTS))
RECV_BURST = 256       # messages read per wake-up
DUE_SLACK = 0.00005    # a batch due this close to now goes now (poll counts in ms)


class Ack(enum.IntEnum):
    """A task's fate, as on_ack reports it (C: fling_ack_t)."""
    ACCEPTED = 0  # the broker stored it (or had it already)
    REJECTED = 1  # the broker refused it; the error says why
    DROPPED = 2   # never delivered: closed before the broker accepted it
    DUPLICATE = 3  # its unique key is held by another task: not stored, will not run


OnAck = Callable[[str, Ack, Optional[FlingError]], None]


class _Slot:
    """A batch taken from the outbox, waiting for its ACK."""
    __slots__ = ("batch", "batch_seq", "sent_at", "resend_now")

    def __init__(self, batch: Batch, batch_seq: int):
        self.batch = batch
        self.batch_seq = batch_seq
        self.sent_at = 0.0  # last successful send; 0 = never sent
        self.resend_now = False


class IoLoop:
    """The I/O thread's state: only it touches the socket and the slots.

    Waking costs a Python service the GIL, which its requests wait for, so
    the thread wakes as seldom as its work allows, once per `idle_linger`
    when tasks come one by one: a lone task waits that long for company
    (the caller's wake-up arrives then), and after a SUBMIT the thread does
    not listen to the socket for as long, unless someone waits for the
    answers (flush, close) or the window or the outbox needs the room: ACKs
    that arrive meanwhile are read when it wakes anyway, and tasks sent
    meanwhile leave then. 0 gives the C producer's eager behaviour."""

    def __init__(self, outbox: Outbox, sock: "zmq.Socket[bytes]", wake_fd: int, *, window: int,
                 linger: float, idle_linger: float, ack_timeout: float, heartbeat: float,
                 on_ack: Optional[OnAck]):
        self.outbox = outbox
        self.sock = sock
        self.wake_fd = wake_fd
        self.window = window
        self.linger = linger
        self.idle_linger = idle_linger
        self.ack_timeout = ack_timeout
        self.heartbeat_s = heartbeat
        self.on_ack = on_ack
        self.stop = False
        self.slots: List[_Slot] = []
        self.batch_seq = 0
        self.last_send = 0.0       # any message (PING included)
        self.last_submit = 0.0
        self.heard = 0.0
        self.error_logged = 0.0
        self.blocked = False       # a SUBMIT hit EAGAIN: wait for POLLOUT
        self.ping_pending = False  # a PING hit EAGAIN
        # the counters Producer.stats() reads (only this thread writes them)
        self.accepted = self.rejected = self.dropped = self.resent = 0
        self.bad_messages = self.broker_errors = self.unavailable = 0

    def run(self) -> None:
        sock = self.sock
        poller = zmq.Poller()
        poller.register(self.wake_fd, POLLIN)
        poller.register(sock, POLLIN)
        watching = POLLIN
        while not self.stop:
            self.receive_all(sock)  # what came while we did not listen, too
            now = time.monotonic()
            due, listen = self.fill_window(now)
            self.send_due(now)
            self.heartbeat(now)
            quiet_until = self.last_submit + self.idle_linger
            listen = listen or self.blocked or now >= quiet_until
            events = (POLLIN if listen else 0) | (
                POLLOUT if self.blocked or self.ping_pending else 0)
            if events != watching:
                poller.modify(sock, events)  # 0 unregisters it
                watching = events
            if not listen:
                due = quiet_until if due < 0 else min(due, quiet_until)
            ready = dict(poller.poll(self.timeout_ms(now, due)))
            if self.wake_fd in ready:
                try:
                    os.read(self.wake_fd, 8)
                except BlockingIOError:
                    pass
            if ready.get(sock, 0) & POLLOUT:
                self.blocked = False

    # -- the window --

    def fill_window(self, now: float) -> Tuple[float, bool]:
        """Takes batches from the outbox while the window has room. Returns
        when the open batch will be due (monotonic seconds, or -1) and whether
        answers must be heard at once (someone waits, or room is short)."""
        box = self.outbox
        due = -1.0
        slots = self.slots
        with box.lock:
            box.wake_pending = False
            hurry = bool(box.flush_waiters or box.async_waiters or box.closed)
            while len(slots) < self.window:
                batch = None
                if box.sealed:
                    batch = box.sealed.popleft()
                elif box.open.count and not self.blocked:
                    # A batch waits to fill: the linger while others are in
                    # flight (as in C), the idle linger when it is alone.
                    open_due = 0.0 if hurry else box.open_since + (
                        self.linger if slots else self.idle_linger)
                    if open_due <= now + DUE_SLACK:
                        batch = box.open
                        box.open = Batch(box.seq + 1)
                    else:
                        due = open_due
                if batch is None:
                    break
                self.batch_seq += 1
                slots.append(_Slot(batch, self.batch_seq))
            self.publish()
            listen = hurry or len(slots) >= self.window or bool(box.sealed) or box.pressed()
        return due, listen

    def publish(self) -> None:
        """(under the outbox lock) What send() and flush() look at."""
        box = self.outbox
        box.in_flight = len(self.slots)
        box.unresolved_min = min((s.batch.first_seq for s in self.slots), default=box.seq + 1)

    def send_due(self, now: float) -> None:
        """Sends batches never sent; resends those whose ACK is overdue or that
        went out before the broker fell silent. Stops at the first EAGAIN."""
        for slot in self.slots:
            if self.blocked:
                return
            resend = bool(slot.sent_at) and (slot.resend_now
                                             or now - slot.sent_at >= self.ack_timeout)
            if slot.sent_at and not resend:
                continue
            batch = slot.batch
            if not batch.body:
                batch.body = b"".join(batch.records)
                batch.records = []
            try:
                self.sock.send_multipart(protocol.submit(slot.batch_seq, batch.count, batch.body,
                                                         batch.extended),
                                         NOBLOCK, copy=batch.count < 16)
            except zmq.Again:
                self.blocked = True
                return
            if resend:
                self.resent += 1
            slot.sent_at = now
            slot.resend_now = False
            self.last_send = self.last_submit = now

    def heartbeat(self, now: float) -> None:
        if not self.ping_pending and now - self.last_send < self.heartbeat_s:
            return
        self.last_send = now
        try:
            self.sock.send_multipart(protocol.ping(), NOBLOCK)
            self.ping_pending = False
        except zmq.Again:
            self.ping_pending = True

    def timeout_ms(self, now: float, due: float) -> int:
        timeout = self.last_send + self.heartbeat_s - now
        if not self.blocked:
            for slot in self.slots:
                if slot.sent_at:
                    timeout = min(timeout, slot.sent_at + self.ack_timeout - now)
            if due >= 0:
                timeout = min(timeout, due - now)
        # poll counts in ms: a linger under 1 ms waits 1 ms.
        return max(0, int(timeout * 1000 + 0.999))

    # -- receiving --

    def receive_all(self, sock: "zmq.Socket[bytes]") -> None:
        now = 0.0
        for _ in range(RECV_BURST):
            # (asking first is cheaper than the exception a recv that finds nothing raises)
            if not cast(int, sock.getsockopt(EVENTS)) & POLLIN:
                return
            try:
                frames = sock.recv_multipart(NOBLOCK)
            except zmq.Again:
                return
            if not now:
                now = time.monotonic()
                self.on_heard(now)
            try:
                msg = protocol.decode(frames, protocol.VERSION_SCHED)
            except protocol.DecodeError:
                self.bad_messages += 1
                continue
            if msg.cmd == protocol.ACK:
                self.on_ack_msg(msg)
            elif msg.cmd == protocol.ERROR:
                self.on_error(msg, now)
            # PONG and anything else: the sign of life was all we needed.

    def on_heard(self, now: float) -> None:
        """After a silence of 3 heartbeats the broker may have restarted and lost
        what it had not stored: resend every unacknowledged batch now."""
        if self.heard and now - self.heard >= self.heartbeat_s * SILENT_HEARTBEATS:
            for slot in self.slots:
                slot.resend_now = bool(slot.sent_at)
        self.heard = now

    def on_ack_msg(self, msg: protocol.Message) -> None:
        for index, slot in enumerate(self.slots):
            if slot.batch_seq == msg.batch_seq:
                break
        else:
            return  # an answer to a resend of a batch already resolved
        if msg.count != slot.batch.count:
            self.bad_messages += 1
            return
        # UNAVAILABLE: the broker could not make the batch durable or is
        # stopping; not a refusal. Keep it, resend after the ack timeout.
        if protocol.UNAVAILABLE in msg.statuses:
            self.unavailable += 1
            return
        del self.slots[index]
        self.resolve(slot.batch, msg.statuses)

    def on_error(self, msg: protocol.Message, now: float) -> None:
        self.broker_errors += 1
        if msg.refused_cmd == protocol.SUBMIT and msg.batch_seq:
            self.refuse_batch(msg)
        elif msg.reason == protocol.BAD_VERSION:
            self.refuse_extended()
        if self.error_logged and now - self.error_logged < 1.0:
            return
        self.error_logged = now
        text = "".join(c if " " <= c < "\x7f" else "?" for c in msg.text[:200].decode("latin-1"))
        log.warning("broker error %s: %s", protocol.reason_name(msg.reason), text)

    def refuse_batch(self, msg: protocol.Message) -> None:
        """FLP/1.1: an ERROR naming one of our batches refuses it whole; every
        task gets the reason, as an ACK would say, and it is not sent again.
        UNAVAILABLE alone is not an answer (as in on_ack_msg)."""
        for index, slot in enumerate(self.slots):
            if slot.batch_seq == msg.batch_seq:
                break
        else:
            return
        if msg.reason == protocol.UNAVAILABLE:
            self.unavailable += 1
            return
        # 0 and 1 would read as accepted: an ERROR is never that.
        reason = msg.reason if msg.reason > protocol.DUPLICATE else protocol.MALFORMED
        del self.slots[index]
        self.resolve(slot.batch, bytes((reason,)) * slot.batch.count)

    def refuse_extended(self) -> None:
        """ERROR(BAD_VERSION) names no batch (FLP/1 layout, SPEC.md §2.3): the
        broker does not speak FLP/1.2, so every FLP/1.2 batch sent and not
        answered is refused, each task BAD_VERSION, and not sent again (as
        in C). Plain batches are the broker's version and stay."""
        refused = [s for s in self.slots if s.sent_at and s.batch.extended]
        for slot in refused:
            self.slots.remove(slot)
            self.resolve(slot.batch, bytes((protocol.BAD_VERSION,)) * slot.batch.count)

    # -- resolving --

    def resolve(self, batch: Batch, statuses: Optional[bytes]) -> None:
        """The broker answered for every task of the batch (statuses), or we
        gave up on it (None): report, count, give its room back."""
        if statuses is None:
            self.dropped += batch.count
        else:
            accepted = statuses.count(protocol.OK) + statuses.count(protocol.DUPLICATE)
            self.accepted += accepted
            self.rejected += batch.count - accepted
        if self.on_ack is not None:
            self.report(self.on_ack, batch, statuses)
        with self.outbox.lock:
            self.publish()
            self.outbox.release(batch)

    def report(self, on_ack: OnAck, batch: Batch, statuses: Optional[bytes]) -> None:
        body = batch.body or b"".join(batch.records)
        for i, record_id in enumerate(protocol.record_ids(body)):
            task_id = protocol.task_id_text(record_id)
            try:
                if statuses is None:
                    on_ack(task_id, Ack.DROPPED, Closed())
                elif (statuses[i] == protocol.DUPLICATE and batch.keyed
                      and int.from_bytes(record_id[8:], "big") in batch.keyed):
                    on_ack(task_id, Ack.DUPLICATE, None)
                elif statuses[i] in (protocol.OK, protocol.DUPLICATE):
                    on_ack(task_id, Ack.ACCEPTED, None)
                else:
                    on_ack(task_id, Ack.REJECTED,
                           error_for(reason_code(statuses[i]), protocol.reason_name(statuses[i])))
            except Exception:  # noqa: BLE001 - a callback's bug must not stop the I/O thread
                log.exception("on_ack callback failed")

    def drop_all(self) -> None:
        """At stop: every batch still held is dropped (counted, reported)."""
        while self.slots:
            self.resolve(self.slots.pop(0).batch, None)
        while True:
            with self.outbox.lock:
                batch = self.outbox.take_all()
            if batch is None:
                break
            self.resolve(batch, None)
