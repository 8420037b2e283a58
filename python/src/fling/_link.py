"""The Python worker's connection to the broker (proto/SPEC.md §5.2, §4.5-4.9,
§6.1), on the worker's event loop, as worker/fling_link.c does it for C.

One DEALER socket. READY, then nothing until the broker answers: WELCOME
registers us (and names the broker's heartbeat, which we follow when it is
shorter than ours); an ERROR naming READY refuses us, for good unless it
says UNAVAILABLE. Any message from the broker proves it alive; after 3
heartbeat intervals of silence, on ERROR(UNKNOWN_PEER) or on BYE, the socket
is thrown away and a new one (a new routing id for the broker) registers
again, then sends HOLDING with every task still in our hands, so the broker
leases them back to us instead of running them elsewhere.

Every RESULT carries a result_seq and is kept until a RESULT_ACK covers it
(its effects are durable at the broker); after registering again the worker
sends every RESULT it still keeps, unchanged. So a task that finished while
the broker was away, or whose RESULT died with a broker, does not run a
second time. Kept RESULTs are bounded (UNACKED_BYTES): past it the oldest
are forgotten (counted), and those tasks may run again.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from typing import Any, Deque, Dict, List, Optional, Protocol, Tuple, cast

import zmq

from . import protocol
from ._stats import Stats
from .app import App, Task
from .keys import apply_client_keys

log = logging.getLogger("fling.worker")

SILENT_BEATS = 3          # broker gone after this many silent intervals
READ_BURST = 256          # messages per callback, so timers still get a turn
UNACKED_BYTES = 4 << 20   # RESULT bodies kept for a resend, at most (as the C worker)
# pyzmq's flags are enum.IntFlag: plain ints are cheaper on the hot path
POLLIN, NOBLOCK, EVENTS = int(zmq.POLLIN), int(zmq.NOBLOCK), int(zmq.EVENTS)
# a READY refused for one of these would be refused again: stop (SPEC.md §5.2 rule 1)
FINAL_REFUSALS = (protocol.MALFORMED, protocol.BAD_FIELD, protocol.BAD_TASK,
                  protocol.BAD_VERSION, protocol.FORBIDDEN)


class Owner(Protocol):
    """What the link needs of the engine that owns it (fling._worker.Engine):
    the link is below the engine and hands it what the broker sends."""

    loop: asyncio.AbstractEventLoop
    app: App
    stats: Stats
    running: Dict[Task, None]
    draining: bool
    in_callback: bool

    def capacity(self) -> Tuple[Tuple[int, int], Tuple[int, int]]: ...

    def accept(self, record: protocol.Record, now: float) -> None: ...

    def end_turn(self) -> None: ...

    def refused(self) -> None: ...


class Link:
    def __init__(self, engine: Owner, options: Any):
        self.e = engine
        self.o = options
        self.loop: asyncio.AbstractEventLoop = engine.loop
        self.own_heartbeat = options.heartbeat_ms / 1000.0
        self.heartbeat = self.own_heartbeat  # the shorter of ours and the broker's
        self.sock: Optional[zmq.Socket[bytes]] = None
        self.fd = -1
        self.registered = False  # WELCOME received on this socket
        self.ever_registered = False
        self.reconnect_pending = False
        self.resend_pending = False
        self.last_recv = self.last_send = self.last_connect = 0.0
        self.failed_connects = 0
        self.result_seq = 0  # RESULTs numbered from 1, never reused while we run
        # (result_seq, count, body) of every RESULT not acknowledged, oldest first
        self.unacked: Deque[Tuple[int, int, bytes]] = collections.deque()
        self.unacked_bytes = 0
        self.unacked_results = 0
        self.beat_timer: Optional[asyncio.TimerHandle] = None
        self.read_scheduled = False
        self.announced_pool = -1

    # ---- socket ---------------------------------------------------------------------

    def connect(self) -> None:
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, protocol.MSG_BYTES_MAX)
        apply_client_keys(sock, self.o.keys)
        sock.connect(self.o.endpoint)
        self.sock = sock
        self.fd = cast(int, sock.getsockopt(zmq.FD))
        self.loop.add_reader(self.fd, self.on_readable)
        self.registered = False
        self.reconnect_pending = False
        self.last_connect = self.last_recv = time.monotonic()
        self.send_ready()
        # Right behind READY, not after WELCOME: the broker claims these back
        # before the end of the turn that registers us, when it may lease us
        # work; after WELCOME a task we still run could come back and run twice.
        self.send_holding()
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
        the message is dropped (counted); a RESULT stays kept for a resend."""
        if self.sock is None:
            self.e.stats.send_failures += 1
            return False
        try:
            self.sock.send_multipart(frames, NOBLOCK, copy=len(frames[-1]) < 65536)
        except zmq.ZMQError as exc:
            self.e.stats.send_failures += 1
            log.debug("send to broker failed: %s", exc)
            return False
        self.last_send = time.monotonic()
        # The socket's fd only signals edges: a send may consume the one that
        # said a message waits, so look at the socket itself.
        if not self.read_scheduled and cast(int, self.sock.getsockopt(EVENTS)) & POLLIN:
            self.read_scheduled = True
            self.loop.call_soon(self.on_readable)
        return True

    # ---- what we send ---------------------------------------------------------------------

    def send_ready(self) -> None:
        e = self.e
        capacity, slots = e.capacity()
        names = [(h.cls, h.name.encode()) for h in e.app.handlers.values()]
        worker_name = self.o.name.encode("utf-8", "replace")[:protocol.NAME_MAX]
        worker_name = bytes(c for c in worker_name if c >= 0x20 and c != 0x7F)
        self.send(protocol.ready(capacity, slots, os.getpid(), worker_name, names))
        self.announced_pool = slots[protocol.POOL]

    def send_holding(self) -> None:
        """Every task still in our hands (running or waiting), oldest first: the
        broker leases them back in this order and counts the oldest as the
        running ones if we die (SPEC.md §4.11, §6.4)."""
        leases = [protocol.encode_lease(t.record.id, t.record.attempt) for t in self.e.running]
        for at in range(0, len(leases), protocol.BATCH_MAX):
            chunk = leases[at:at + protocol.BATCH_MAX]
            self.send(protocol.holding(len(chunk), b"".join(chunk)))
        self.e.stats.holding_sent += len(leases)

    def send_results(self, results: List[bytes]) -> None:
        """One RESULT, kept until acknowledged; not registered (yet, or any
        more): only kept, it goes out after WELCOME."""
        self.result_seq += 1
        body = b"".join(results)
        self.keep(self.result_seq, len(results), body)
        if self.registered and not self.send(protocol.result(self.result_seq, len(results), body)):
            self.resend_pending = True

    def keep(self, seq: int, count: int, body: bytes) -> None:
        self.unacked.append((seq, count, body))
        self.unacked_bytes += len(body)
        self.unacked_results += count
        while self.unacked_bytes > UNACKED_BYTES and len(self.unacked) > 1:
            _, lost, old = self.unacked.popleft()
            self.unacked_bytes -= len(old)
            self.unacked_results -= lost
            self.e.stats.results_forgotten += lost

    def resend_unacked(self) -> None:
        """Every RESULT not acknowledged, unchanged, oldest first: the broker
        applies those it still can and ignores the rest (SPEC.md §4.9)."""
        self.resend_pending = False
        for seq, count, body in self.unacked:
            if not self.send(protocol.result(seq, count, body)):
                self.resend_pending = True  # at the high-water mark: the rest at the next beat
                return
            self.e.stats.results_resent += count

    def send_capacity_zero(self) -> None:
        self.send(protocol.capacity((0, 0)))

    def send_bye(self) -> None:
        self.send(protocol.bye())

    def announce_capacity(self) -> None:
        """CAPACITY when the pool's capacity changed (stuck threads)."""
        capacity, slots = self.e.capacity()
        if slots[protocol.POOL] != self.announced_pool and self.registered:
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
            if not cast(int, sock.getsockopt(EVENTS)) & POLLIN:
                break  # (asking is cheaper than the exception of an empty recv)
            try:
                frames = sock.recv_multipart(NOBLOCK)
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
            # A worker sends no ERROR: drop it and count it; the broker's lease
            # deadlines take back whatever it carried.
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
        elif cmd == protocol.RESULT_ACK:
            self.on_result_ack(msg.result_seq)
        elif cmd == protocol.WELCOME:
            self.on_welcome(msg)
        elif cmd == protocol.ERROR:
            self.on_error(msg)
        elif cmd == protocol.BYE:
            self.reconnect("broker said BYE")
        elif cmd != protocol.PONG:  # a PONG is a sign of life, as any message is
            log.debug("ignored %s from the broker", protocol.COMMAND_NAMES.get(cmd, cmd))

    def on_result_ack(self, seq: int) -> None:
        while self.unacked and self.unacked[0][0] <= seq:
            _, count, body = self.unacked.popleft()
            self.unacked_bytes -= len(body)
            self.unacked_results -= count

    def on_welcome(self, msg: protocol.Message) -> None:
        """READY accepted. The broker's heartbeat bounds ours: a worker that
        pinged less often than the broker expects would be declared dead."""
        self.failed_connects = 0
        broker = msg.heartbeat_ms / 1000.0
        self.heartbeat = min(self.own_heartbeat, broker) if broker else self.own_heartbeat
        if self.registered:
            log.debug("WELCOME again: registration replaced")
            return
        self.registered = True
        log.info("%s with broker at %s heartbeat_ms=%d broker_heartbeat_ms=%d "
                 "worker_timeout_ms=%d", "re-registered" if self.ever_registered else "registered",
                 self.o.endpoint, self.heartbeat * 1000, msg.heartbeat_ms, msg.worker_timeout_ms)
        self.ever_registered = True
        self.resend_unacked()
        if self.e.draining:
            self.send_capacity_zero()  # registered during a drain: take nothing new
        if self.o.ready_fd is not None:
            try:
                os.write(self.o.ready_fd, b"ready\n")
                os.close(self.o.ready_fd)
            except OSError:
                pass
            self.o.ready_fd = None

    def on_error(self, msg: protocol.Message) -> None:
        text = msg.text[:300].decode("utf-8", "replace")
        # BAD_VERSION comes in the FLP/1 layout, which cannot name READY: before
        # WELCOME it can only answer our READY (a broker that speaks FLP/1 only).
        if msg.refused_cmd == protocol.READY or (msg.reason == protocol.BAD_VERSION
                                                 and not self.registered):
            self.on_ready_refused(msg.reason, text)
            return
        if msg.reason != protocol.UNKNOWN_PEER:
            log.warning("broker refused a %s: %s %s", protocol.COMMAND_NAMES.get(msg.refused_cmd,
                                                                                  "message"),
                        protocol.reason_name(msg.reason), text[:200])
            return
        if not self.registered:
            return  # an answer to something sent before our READY: WELCOME follows
        # At most one new socket per heartbeat interval: a broker that keeps
        # refusing us cannot make us spin.
        if time.monotonic() - self.last_connect >= self.heartbeat:
            self.reconnect("broker does not know us")
        else:
            self.reconnect_pending = True

    def on_ready_refused(self, reason: int, text: str) -> None:
        """A READY refused for what it says would be refused again: stop,
        loudly. Refused for want of something at the broker: again later."""
        if reason not in FINAL_REFUSALS:
            log.warning("broker cannot register us now (%s %s): trying again",
                        protocol.reason_name(reason), text)
            self.reconnect_pending = True
            return
        log.error("broker refused our READY: %s %s; stopping", protocol.reason_name(reason), text)
        self.e.refused()

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
        """Every interval: register again after a silence (or a refusal that
        may pass), else, once registered, PING if either side has been quiet
        for half an interval (a worker that only sends RESULTs must still hear
        the broker)."""
        self.beat_timer = self.loop.call_later(self.heartbeat, self.on_heartbeat)
        now = time.monotonic()
        self.e.in_callback = True
        if self.reconnect_pending:
            self.reconnect("broker does not know us" if self.registered else "registering again")
        elif now - self.last_recv >= SILENT_BEATS * self.heartbeat:
            self.reconnect("no answer for %d heartbeats" % SILENT_BEATS if self.registered
                           else "no WELCOME")
        elif self.registered:
            if self.resend_pending:
                self.resend_unacked()
            half = self.heartbeat / 2
            if now - self.last_send >= half or now - self.last_recv >= half:
                self.send(protocol.ping())
        self.e.end_turn()
