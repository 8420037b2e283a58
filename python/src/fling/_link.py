"""The Python worker's connection to the broker (proto/SPEC.md §5.2, §6.1), on
the worker's event loop, as worker/fling_link.c does it for C.

One DEALER socket. READY, then PING: the PONG proves the broker took the
READY, since it answers in order. Any message from the broker proves it
alive; after 3 heartbeat intervals of silence, on ERROR(UNKNOWN_PEER) or on
BYE, the socket is thrown away and a new one (a new routing id for the
broker) sends READY again, then HOLDING with every task still in our hands,
so the broker leases them back to us instead of running them elsewhere.

Results are kept until the broker has them for sure: a RESULT counts as
delivered once a PONG answers a PING sent after it on the same socket (a
broker that restarted answers that PING with ERROR(UNKNOWN_PEER), never
PONG). Results not confirmed when the link is replaced are sent again after
the new READY; the broker applies those for tasks it parked at its restart
under the same attempt (SPEC.md §6.5) and ignores the rest. So a task that
finished while the broker was away does not run a second time.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Deque, List, Optional, Tuple

import zmq

from . import protocol
from .keys import apply_client_keys

if TYPE_CHECKING:
    from ._worker import Engine

log = logging.getLogger("fling.worker")

SILENT_BEATS = 3           # broker gone after this many silent intervals
READ_BURST = 256           # messages per callback, so timers still get a turn
CONFIRM_DELAY = 0.05       # a PING at most this long after a RESULT, to confirm it
UNCONFIRMED_MAX = 200_000  # results kept for a resend, at most


class Link:
    def __init__(self, engine: "Engine", options: Any):
        self.e = engine
        self.o = options
        self.loop: asyncio.AbstractEventLoop = engine.loop
        self.heartbeat = options.heartbeat_ms / 1000.0
        self.sock: Optional[zmq.Socket] = None
        self.fd = -1
        self.registered = False
        self.ever_registered = False
        self.reconnect_pending = False
        self.last_recv = self.last_send = self.last_connect = 0.0
        self.failed_connects = 0
        self.pings = 0  # PINGs sent on this socket
        self.pongs = 0  # PONGs received on it
        # (the PING whose PONG confirms them, results), oldest first
        self.unconfirmed: Deque[Tuple[int, List[bytes]]] = collections.deque()
        self.unconfirmed_count = 0
        self.confirm_timer: Optional[asyncio.TimerHandle] = None
        self.beat_timer: Optional[asyncio.TimerHandle] = None
        self.read_scheduled = False
        self.announced_pool = -1

    # ---- socket ---------------------------------------------------------------------

    def connect(self) -> None:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, protocol.MSG_BYTES_MAX)
        apply_client_keys(sock, self.o.keys)
        sock.connect(self.o.endpoint)
        self.sock = sock
        self.fd = sock.getsockopt(zmq.FD)
        self.loop.add_reader(self.fd, self.on_readable)
        self.registered = False
        self.reconnect_pending = False
        self.last_connect = self.last_recv = time.monotonic()
        self.pings = self.pongs = 0
        self.send_ready()
        if self.beat_timer is None:
            self.beat_timer = self.loop.call_later(self.heartbeat, self.on_heartbeat)

    def close(self, linger_ms: int = 0) -> None:
        if self.sock is None:
            return
        self.loop.remove_reader(self.fd)
        # linger 0 would discard a final RESULT and BYE
        self.sock.setsockopt(zmq.LINGER, linger_ms)
        self.sock.close()
        self.sock = None
        self.registered = False
        if linger_ms and self.beat_timer is not None:  # the final close
            self.beat_timer.cancel()
            self.beat_timer = None

    def send(self, frames: List[bytes]) -> bool:
        """Never blocks: at the high-water mark the broker is not reading and
        the message is dropped (counted); a RESULT stays unconfirmed."""
        if self.sock is None:
            self.e.stats.send_failures += 1
            return False
        try:
            self.sock.send_multipart(frames, zmq.NOBLOCK, copy=len(frames[-1]) < 65536)
        except zmq.ZMQError as exc:
            self.e.stats.send_failures += 1
            log.debug("send to broker failed: %s", exc)
            return False
        self.last_send = time.monotonic()
        # The socket's fd only signals edges: a send may consume the one that
        # said a message waits, so look at the socket itself.
        if not self.read_scheduled and self.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            self.read_scheduled = True
            self.loop.call_soon(self.on_readable)
        return True

    def ping(self) -> None:
        self.pings += 1
        self.send(protocol.ping())

    # ---- what we send ---------------------------------------------------------------------

    def send_ready(self) -> None:
        e = self.e
        capacity, slots = e.capacity()
        names = [(h.cls, h.name.encode()) for h in e.app.handlers.values()]
        worker_name = self.o.name.encode("utf-8", "replace")[:protocol.NAME_MAX].replace(b"\0", b"")
        self.send(protocol.ready(capacity, slots, os.getpid(), worker_name, names))
        self.announced_pool = slots[protocol.POOL]
        self.send_holding()
        self.resend_unconfirmed()
        if e.draining:
            self.send_capacity_zero()  # a READY during a drain: take nothing new
        self.ping()

    def send_holding(self) -> None:
        """SPEC.md §5.2: name every task still in our hands (running or waiting),
        oldest first: the broker leases them back in this order and counts the
        oldest as the running ones if we die (§6.4)."""
        leases = [protocol.encode_lease(t.record.id, t.record.attempt) for t in self.e.running]
        for at in range(0, len(leases), protocol.BATCH_MAX):
            chunk = leases[at:at + protocol.BATCH_MAX]
            self.send(protocol.holding(len(chunk), b"".join(chunk)))
        self.e.stats.holding_sent += len(leases)

    def send_results(self, results: List[bytes]) -> None:
        self.send(protocol.result(len(results), b"".join(results)))
        self.unconfirmed.append((self.pings + 1, results))
        self.unconfirmed_count += len(results)
        while self.unconfirmed_count > UNCONFIRMED_MAX:
            self.unconfirmed_count -= len(self.unconfirmed.popleft()[1])
        if self.confirm_timer is None:
            self.confirm_timer = self.loop.call_later(CONFIRM_DELAY, self.on_confirm_timer)

    def resend_unconfirmed(self) -> None:
        """After a new READY: results the old socket may have lost, again."""
        results = [r for _, batch in self.unconfirmed for r in batch]
        self.unconfirmed.clear()
        self.unconfirmed_count = 0
        for at in range(0, len(results), protocol.BATCH_MAX):
            self.send_results(results[at:at + protocol.BATCH_MAX])
        self.e.stats.results_resent += len(results)

    def on_confirm_timer(self) -> None:
        self.confirm_timer = None
        if self.unconfirmed and self.pings < self.unconfirmed[-1][0]:
            self.ping()

    def send_capacity_zero(self) -> None:
        self.send(protocol.capacity((0, 0)))

    def send_bye(self) -> None:
        self.send(protocol.bye())

    def announce_capacity(self) -> None:
        """CAPACITY when the pool's capacity changed (stuck threads)."""
        capacity, slots = self.e.capacity()
        if slots[protocol.POOL] != self.announced_pool:
            self.send(protocol.capacity(capacity, slots))
            self.announced_pool = slots[protocol.POOL]

    # ---- what we receive -------------------------------------------------------------------

    def on_readable(self) -> None:
        self.read_scheduled = False
        sock = self.sock
        e = self.e
        e.in_callback = True
        for _ in range(READ_BURST):
            if self.sock is not sock or sock is None:
                break  # a message replaced the socket
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.last_recv = time.monotonic()
            self.handle(frames)
        else:
            if not self.read_scheduled:  # more may wait: after the others' turn
                self.read_scheduled = True
                self.loop.call_soon(self.on_readable)
        e.end_turn()

    def handle(self, frames: List[bytes]) -> None:
        try:
            msg = protocol.decode(frames)
        except protocol.DecodeError as exc:
            # The spec gives workers no ERROR to send: drop it and count it.
            if self.e.stats.bad_messages % 1000 == 0:
                log.warning("dropped a bad message from the broker: %s (%d so far)",
                            protocol.reason_name(exc.reason), self.e.stats.bad_messages + 1)
            self.e.stats.bad_messages += 1
            return
        cmd = msg.cmd
        if cmd == protocol.DISPATCH:
            now = self.last_recv
            accept = self.e.accept
            for record in msg.records:
                accept(record, now)
        elif cmd == protocol.PONG:
            self.on_pong()
        elif cmd == protocol.ERROR:
            self.on_error(msg)
        elif cmd == protocol.BYE:
            self.reconnect("broker said BYE")
        else:
            log.debug("ignored %s from the broker", protocol.COMMAND_NAMES.get(cmd, cmd))

    def on_pong(self) -> None:
        self.failed_connects = 0
        self.pongs += 1
        while self.unconfirmed and self.unconfirmed[0][0] <= self.pongs:
            self.unconfirmed_count -= len(self.unconfirmed.popleft()[1])
        if self.registered:
            return
        self.registered = True
        log.info("%s with broker at %s", "re-registered" if self.ever_registered else "registered",
                 self.o.endpoint)
        self.ever_registered = True
        if self.o.ready_fd is not None:
            try:
                os.write(self.o.ready_fd, b"ready\n")
                os.close(self.o.ready_fd)
            except OSError:
                pass
            self.o.ready_fd = None

    def on_error(self, msg: protocol.Message) -> None:
        if msg.reason != protocol.UNKNOWN_PEER:
            text = msg.text[:200].decode("utf-8", "replace")
            log.warning("broker refused a message: %s %s", protocol.reason_name(msg.reason), text)
            return
        # At most one new socket per heartbeat interval: a broker that keeps
        # refusing us cannot make us spin.
        if time.monotonic() - self.last_connect >= self.heartbeat:
            self.reconnect("broker does not know us")
        else:
            self.reconnect_pending = True

    # ---- liveness ----------------------------------------------------------------------------

    def reconnect(self, why: str) -> None:
        self.e.stats.reconnects += 1
        self.failed_connects += 1
        # A broker that stays away would print a line every few seconds.
        if self.failed_connects == 1:
            log.warning("broker lost (%s), reconnecting to %s", why, self.o.endpoint)
        elif self.failed_connects % 10 == 0:
            log.warning("still no broker at %s after %d attempts (%s)", self.o.endpoint,
                        self.failed_connects, why)
        else:
            log.debug("broker lost (%s), reconnecting", why)
        self.close(0)
        self.connect()

    def on_heartbeat(self) -> None:
        """Every interval: reconnect after a silence, else PING if either side
        has been quiet for half an interval (a worker that only sends RESULTs
        must still hear the broker)."""
        self.beat_timer = self.loop.call_later(self.heartbeat, self.on_heartbeat)
        now = time.monotonic()
        self.e.in_callback = True
        if self.reconnect_pending:
            self.reconnect("broker does not know us")
        elif now - self.last_recv >= SILENT_BEATS * self.heartbeat:
            self.reconnect("no answer for %d heartbeats" % SILENT_BEATS)
        elif (now - self.last_send >= self.heartbeat / 2
              or now - self.last_recv >= self.heartbeat / 2):
            self.ping()
        self.e.end_turn()
