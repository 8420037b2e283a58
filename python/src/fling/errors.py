"""fling's errors: the C library's codes (proto/fling_error.h) as exceptions.

Each exception carries `code`, the same number the C library puts in errno,
and the same text as fling_strerror(), so a log line from a Python service
reads like one from a C service. The classes also derive from the built-in
exception a Python caller would expect (ValueError for a task that is not
valid, TimeoutError for a flush that ran out of time).
"""
from __future__ import annotations

import errno as _errno

from . import protocol

EBASE = 0x464C0000  # "FL"
EBADNAME = EBASE + 1
EBADJSON = EBASE + 2
ETOOLARGE = EBASE + 3
EQUEUEFULL = EBASE + 4
ESTOREFULL = EBASE + 5
EUNAVAILABLE = EBASE + 6
EPROTO = EBASE + 7
# EBASE + 8 is not used: a full outbox is EAGAIN, as in C
ECLOSED = EBASE + 9
EFORBIDDEN = EBASE + 10
EVERSION = EBASE + 11
EBADTASK = EBASE + 12

_TEXTS = {
    EBADNAME: "invalid task name (1-127 bytes of A-Z a-z 0-9 . _ : -)",
    EBADJSON: "payload is not a valid JSON object",
    ETOOLARGE: "payload too large",
    EQUEUEFULL: "broker refused the task: queue full",
    ESTOREFULL: "broker refused the task: store full",
    EUNAVAILABLE: "broker refused the task: broker unavailable",
    EPROTO: "protocol error",
    ECLOSED: "producer is closing",
    EFORBIDDEN: "broker refused: this key may not do that (SECURITY.md)",
    EVERSION: "broker refused the task: it does not speak FLP/1.2, which a delay, a due time, "
              "a priority or a unique key needs (upgrade the broker)",
    EBADTASK: "broker refused the task (BAD_TASK): a name it does not know "
              "(--refuse-unknown-names) or an option it does not support",
    _errno.EAGAIN: "resource temporarily unavailable (outbox full)",
    _errno.ETIMEDOUT: "Connection timed out",
}


def strerror(code: int) -> str:
    """The text fling_strerror() gives for a fling code (or EAGAIN, ETIMEDOUT)."""
    return _TEXTS.get(code) or _errno.errorcode.get(code, "error %d" % code)


class FlingError(Exception):
    """Base class of every fling error. `code` is the C library's errno value."""

    code = EPROTO

    def __init__(self, detail: str = ""):
        text = strerror(self.code)
        super().__init__("%s: %s" % (text, detail) if detail else text)
        self.detail = detail


class InvalidTask(FlingError, ValueError):
    """A task that fails validation: nothing leaves the process."""


class BadName(InvalidTask):
    code = EBADNAME


class BadJSON(InvalidTask):
    code = EBADJSON


class TooLarge(InvalidTask):
    code = ETOOLARGE


class OutboxFull(FlingError):
    """send() with overflow="fail" while the outbox holds its limit (C: EAGAIN)."""
    code = _errno.EAGAIN


class Closed(FlingError):
    """The producer is closing or closed."""
    code = ECLOSED


class FlushTimeout(FlingError, TimeoutError):
    """flush() ran out of time before the broker answered for every task."""
    code = _errno.ETIMEDOUT


class Refused(FlingError):
    """The broker refused a task (reported per task to on_ack, never raised
    by send()): QueueFull, StoreFull, Unavailable or ProtocolError."""


class QueueFull(Refused):
    code = EQUEUEFULL


class StoreFull(Refused):
    code = ESTOREFULL


class Unavailable(Refused):
    code = EUNAVAILABLE


class ProtocolError(Refused):
    code = EPROTO


class Forbidden(Refused):
    code = EFORBIDDEN


class VersionTooOld(Refused):
    code = EVERSION


class BadTask(Refused):
    code = EBADTASK


_BY_CODE = {cls.code: cls for cls in (BadName, BadJSON, TooLarge, QueueFull, StoreFull,
                                      Unavailable, ProtocolError, Forbidden, VersionTooOld,
                                      BadTask)}

# fling_reason_errno(): the code a broker refusal (an ACK status) maps to.
_REASON_CODES = {
    protocol.OK: 0,
    protocol.DUPLICATE: 0,
    protocol.QUEUE_FULL: EQUEUEFULL,
    protocol.STORE_FULL: ESTOREFULL,
    protocol.UNAVAILABLE: EUNAVAILABLE,
    protocol.BAD_TASK: EBADTASK,
    protocol.TOO_LARGE: ETOOLARGE,
    protocol.FORBIDDEN: EFORBIDDEN,
    protocol.BAD_VERSION: EVERSION,
}


def reason_code(reason: int) -> int:
    """The fling code for an ACK status or ERROR reason (0 = accepted)."""
    return _REASON_CODES.get(reason, EPROTO)


def error_for(code: int, detail: str = "") -> FlingError:
    """An exception instance for a fling code."""
    return _BY_CODE.get(code, ProtocolError)(detail)
