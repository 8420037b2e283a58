"""FLP/1, the fling wire protocol (proto/SPEC.md): the one Python codec.

Every frame a Python producer or worker sends is built here and every frame
it receives is parsed here, as proto/fling_proto.c does for C. Golden vectors
written by the C codec hold the two to the same bytes and the same refusals
(tests/python/test_codec_golden.py).

Integers on the wire are unsigned big-endian. Decoding never trusts the peer:
every length is checked against the frame it sits in, and a bad message
raises DecodeError with the reason the C decoder gives for it.
"""
from __future__ import annotations

import re
import struct
from typing import List, NamedTuple, Optional, Sequence, Tuple

VERSION = 1

# Commands (SPEC.md §3).
SUBMIT = 1
ACK = 2
PING = 3
PONG = 4
READY = 5
DISPATCH = 6
RESULT = 7
CAPACITY = 8
BYE = 9
ERROR = 10
ADMIN = 11
ADMIN_REPLY = 12
HOLDING = 13
_CMD_MAX = 14

# Reasons: ACK status bytes and ERROR codes (SPEC.md §3.11).
OK = 0
DUPLICATE = 1
QUEUE_FULL = 2
STORE_FULL = 3
UNAVAILABLE = 4
BAD_TASK = 5
TOO_LARGE = 6
BAD_SIGNATURE = 20
BAD_VERSION = 21
BAD_COMMAND = 22
MALFORMED = 23
BAD_FIELD = 24
BAD_STATE = 25
UNKNOWN_PEER = 26
FORBIDDEN = 27

# Outcomes of a task (SPEC.md §3.7).
DONE = 0
RETRY = 1
FAIL = 2
RELEASED = 3
TIMEOUT = 4
_OUTCOME_MAX = 5

# Handler classes (SPEC.md §3.5).
LOOP = 0
POOL = 1

# Limits (SPEC.md §4.4).
NAME_MAX = 127
PAYLOAD_MAX = 1 << 20
BATCH_MAX = 1000
FRAMES_MAX = 16
MSG_BYTES_MAX = 8 << 20
ERROR_TEXT_MAX = 1024
NAMES_MAX = 256
TASK_ID_SIZE = 16
RECORD_OVERHEAD = 39
RESULT_OVERHEAD = 25
LEASE_SIZE = 18

COMMAND_NAMES = {
    SUBMIT: "SUBMIT", ACK: "ACK", PING: "PING", PONG: "PONG", READY: "READY",
    DISPATCH: "DISPATCH", RESULT: "RESULT", CAPACITY: "CAPACITY", BYE: "BYE", ERROR: "ERROR",
    ADMIN: "ADMIN", ADMIN_REPLY: "ADMIN_REPLY", HOLDING: "HOLDING",
}
REASON_NAMES = {
    OK: "OK", DUPLICATE: "DUPLICATE", QUEUE_FULL: "QUEUE_FULL", STORE_FULL: "STORE_FULL",
    UNAVAILABLE: "UNAVAILABLE", BAD_TASK: "BAD_TASK", TOO_LARGE: "TOO_LARGE",
    BAD_SIGNATURE: "BAD_SIGNATURE", BAD_VERSION: "BAD_VERSION", BAD_COMMAND: "BAD_COMMAND",
    MALFORMED: "MALFORMED", BAD_FIELD: "BAD_FIELD", BAD_STATE: "BAD_STATE",
    UNKNOWN_PEER: "UNKNOWN_PEER", FORBIDDEN: "FORBIDDEN",
}
OUTCOME_NAMES = {DONE: "DONE", RETRY: "RETRY", FAIL: "FAIL", RELEASED: "RELEASED",
                 TIMEOUT: "TIMEOUT"}


def reason_name(reason: int) -> str:
    return REASON_NAMES.get(reason, "UNKNOWN_REASON")


class DecodeError(Exception):
    """A message or record that FLP/1 refuses; `reason` is the SPEC.md §3.11 code."""

    def __init__(self, reason: int, text: str = ""):
        super().__init__("%s%s" % (reason_name(reason), ": " + text if text else ""))
        self.reason = reason


# ---- task ids (SPEC.md §4.1) ------------------------------------------------

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_ID_TEXT = re.compile(r"([0-9a-f]{16}):(0|[1-9][0-9]{0,19})\Z")


def task_id_text(task_id: bytes) -> str:
    """The text form of a 16-byte id: 16 lowercase hex digits, ':', the
    decimal sequence ("9f86d081884c7d65:42")."""
    return "%s:%d" % (task_id[:8].hex(), _U64.unpack_from(task_id, 8)[0])


def task_id_parse(text: str) -> bytes:
    """The 16 bytes of an id's text form; ValueError if it is not one (one
    text per id: no leading zeros, no empty sequence, at most 2^64 - 1)."""
    match = _ID_TEXT.match(text)
    if not match or int(match.group(2)) >= 1 << 64:
        raise ValueError("not a task id: %r" % (text,))
    return bytes.fromhex(match.group(1)) + _U64.pack(int(match.group(2)))


# ---- names ------------------------------------------------------------------

_NAME = re.compile(rb"[A-Za-z0-9._:\-]{1,127}\Z")


def name_valid(name: bytes) -> bool:
    """1 to 127 bytes of [A-Za-z0-9._:-]."""
    return _NAME.match(name) is not None


# ---- task records (SPEC.md §4.1) --------------------------------------------

# L, id, attempt, max_attempts, timeout_ms, backoff_ms, N
_RECORD_HEAD = struct.Struct(">I16sHHIIB")
_RECORD_HEAD_SIZE = _RECORD_HEAD.size  # 33


class Record(NamedTuple):
    """One task as it travels in SUBMIT and DISPATCH."""
    id: bytes            # 16 bytes: producer id + sequence
    attempt: int         # 0 from producers; 1, 2, ... when dispatched
    max_attempts: int    # 0 = the queue's default
    timeout_ms: int      # 0 = the queue's default
    backoff_ms: int      # 0 = the queue's default
    name: str
    payload: bytes


def record_size(name_size: int, payload_size: int) -> int:
    return RECORD_OVERHEAD + name_size + payload_size


def encode_record(task_id: bytes, attempt: int, max_attempts: int, timeout_ms: int,
                  backoff_ms: int, name: bytes, payload: bytes) -> bytes:
    """One record's bytes. The caller checked the name and payload."""
    n, p = len(name), len(payload)
    return b"".join((_RECORD_HEAD.pack(35 + n + p, task_id, attempt, max_attempts, timeout_ms,
                                       backoff_ms, n),
                     name, b"\0", _U32.pack(p), payload, b"\0"))


class RecordWriter:
    """Builds records for one producer id and one name: the fixed part is a
    struct of its own, so a record costs one pack and one join (the
    producer's hot path)."""

    __slots__ = ("_pack", "_name", "_overhead")

    def __init__(self, producer_id: bytes, name: bytes):
        n = len(name)
        # L, producer id, seq, attempt, max_attempts, timeout_ms, backoff_ms, N, name, 0, P
        self._pack = struct.Struct(">I8sQHHIIB%dsxI" % n).pack
        self._name = (producer_id, name, n)
        self._overhead = 35 + n

    def record(self, seq: int, max_attempts: int, timeout_ms: int, backoff_ms: int,
               payload: bytes) -> bytes:
        producer_id, name, n = self._name
        p = len(payload)
        return b"".join((self._pack(self._overhead + p, producer_id, seq, 0, max_attempts,
                                    timeout_ms, backoff_ms, n, name, p), payload, b"\0"))


def _records(body: bytes, count: int) -> List[Record]:
    """Every record of a SUBMIT or DISPATCH body, checked as fling_record_next
    checks them; they must fill the body exactly."""
    out: List[Record] = []
    end = len(body)
    offset = 0
    last_name = b""  # a batch mostly repeats one name: check it once
    unpack = _RECORD_HEAD.unpack_from
    while offset < end:
        avail = end - offset
        if avail < RECORD_OVERHEAD:
            raise DecodeError(BAD_TASK, "record shorter than its fixed part")
        size, task_id, attempt, max_attempts, timeout_ms, backoff_ms, n = unpack(body, offset)
        total = size + 4
        if total < RECORD_OVERHEAD or total > avail:
            raise DecodeError(BAD_TASK, "record length beyond the frame")
        if RECORD_OVERHEAD + n > total:
            raise DecodeError(BAD_TASK, "name beyond the record")
        name_at = offset + _RECORD_HEAD_SIZE
        (p,) = _U32.unpack_from(body, name_at + n + 1)
        if p > PAYLOAD_MAX:
            raise DecodeError(TOO_LARGE, "payload above 1 MiB")
        if RECORD_OVERHEAD + n + p != total:
            raise DecodeError(BAD_TASK, "record length and its fields disagree")
        payload_at = name_at + n + 5
        if body[name_at + n] != 0 or body[payload_at + p] != 0:
            raise DecodeError(BAD_TASK, "missing zero byte")
        name = body[name_at:name_at + n]
        if name != last_name:
            if not _NAME.match(name):
                raise DecodeError(BAD_TASK, "invalid task name")
            last_name = name
        out.append(Record(task_id, attempt, max_attempts, timeout_ms, backoff_ms,
                          name.decode("ascii"), body[payload_at:payload_at + p]))
        offset += total
    if len(out) != count:
        raise DecodeError(MALFORMED, "record count disagrees with the body")
    return out


# ---- result records (SPEC.md §4.2) -------------------------------------------

_RESULT_HEAD = struct.Struct(">16sHBIH")  # id, attempt, outcome, retry_delay_ms, E


class Result(NamedTuple):
    id: bytes
    attempt: int
    outcome: int
    retry_delay_ms: int = 0
    error: bytes = b""


def encode_result(task_id: bytes, attempt: int, outcome: int, retry_delay_ms: int = 0,
                  error: bytes = b"") -> bytes:
    """One result record; the error text is cut at 1,024 bytes, as in C."""
    error = error[:ERROR_TEXT_MAX]
    return _RESULT_HEAD.pack(task_id, attempt, outcome, retry_delay_ms, len(error)) + error


def _results(body: bytes, count: int) -> List[Result]:
    out: List[Result] = []
    end = len(body)
    offset = 0
    while offset < end:
        avail = end - offset
        if avail < RESULT_OVERHEAD:
            raise DecodeError(MALFORMED, "result shorter than its fixed part")
        task_id, attempt, outcome, delay, e = _RESULT_HEAD.unpack_from(body, offset)
        if e > ERROR_TEXT_MAX or RESULT_OVERHEAD + e > avail:
            raise DecodeError(MALFORMED, "error text beyond the frame")
        if outcome >= _OUTCOME_MAX:
            raise DecodeError(BAD_FIELD, "unknown outcome")
        start = offset + RESULT_OVERHEAD
        out.append(Result(task_id, attempt, outcome, delay, body[start:start + e]))
        offset = start + e
    if len(out) != count:
        raise DecodeError(MALFORMED, "result count disagrees with the body")
    return out


# ---- leases (SPEC.md §4.3) -----------------------------------------------------

_LEASE = struct.Struct(">16sH")


def encode_lease(task_id: bytes, attempt: int) -> bytes:
    return _LEASE.pack(task_id, attempt)


# ---- messages ----------------------------------------------------------------


class Message:
    """A decoded message. Which fields mean something depends on `cmd`:

    SUBMIT, ACK: batch_seq, count; SUBMIT records; ACK statuses (bytes)
    DISPATCH: count, records;   RESULT: count, results;   HOLDING: count, leases
    READY: capacity, slots, pid, worker_name, names [(class, name)]
    CAPACITY: capacity, slots (dicts keyed by LOOP / POOL)
    ERROR: reason, text;   ADMIN, ADMIN_REPLY: text
    """

    __slots__ = ("cmd", "version", "batch_seq", "count", "records", "statuses", "results",
                 "leases", "capacity", "slots", "pid", "worker_name", "names", "reason", "text")

    def __init__(self, cmd: int):
        self.cmd = cmd
        self.version = VERSION
        self.batch_seq = 0
        self.count = 0
        self.records: List[Record] = []
        self.statuses = b""
        self.results: List[Result] = []
        self.leases: List[Tuple[bytes, int]] = []
        self.capacity = {LOOP: 0, POOL: 0}
        self.slots = {LOOP: 0, POOL: 0}
        self.pid = 0
        self.worker_name = b""
        self.names: List[Tuple[int, str]] = []
        self.reason = 0
        self.text = b""


# Frames (header included) and the exact size of the fields frame (0: any).
_SHAPE = {
    SUBMIT: (3, 12), ACK: (3, 12), PING: (1, 0), PONG: (1, 0), READY: (4, 22),
    DISPATCH: (3, 4), RESULT: (3, 4), CAPACITY: (2, 16), BYE: (1, 0), ERROR: (3, 2),
    ADMIN: (2, 0), ADMIN_REPLY: (2, 0), HOLDING: (3, 4),
}
_SEQ_COUNT = struct.Struct(">QI")
_READY_FIELDS = struct.Struct(">IIIHII")  # pool cap, loop cap, pid, names, pool slots, loop slots
_CAPACITY_FIELDS = struct.Struct(">IIII")  # pool cap, loop cap, pool slots, loop slots


def _count(value: int) -> int:
    if value == 0 or value > BATCH_MAX:
        raise DecodeError(BAD_FIELD, "count out of range")
    return value


def _capacity(msg: Message, pool_cap: int, loop_cap: int, pool_slots: int,
              loop_slots: int) -> None:
    if pool_slots > pool_cap or loop_slots > loop_cap:
        raise DecodeError(BAD_FIELD, "more slots than capacity")
    msg.capacity = {POOL: pool_cap, LOOP: loop_cap}
    msg.slots = {POOL: pool_slots, LOOP: loop_slots}


def _ready_names(body: bytes, count: int) -> List[Tuple[int, str]]:
    names = []
    offset, end = 0, len(body)
    while offset < end:
        if end - offset < 2 or body[offset] > POOL or end - offset < 2 + body[offset + 1]:
            raise DecodeError(MALFORMED, "READY names malformed")
        name = body[offset + 2:offset + 2 + body[offset + 1]]
        if not _NAME.match(name):
            raise DecodeError(MALFORMED, "invalid name in READY")
        names.append((body[offset], name.decode("ascii")))
        offset += 2 + len(name)
    if len(names) != count:
        raise DecodeError(MALFORMED, "READY name count disagrees")
    return names


def decode(frames: Sequence[bytes]) -> Message:
    """Decodes one message (without a ROUTER's routing frame). Raises
    DecodeError with the reason fling_msg_decode gives, checked in its order."""
    if len(frames) > FRAMES_MAX or not frames:
        raise DecodeError(MALFORMED, "frame count")
    header = frames[0]
    if len(header) != 4 or header[0] != 0x46 or header[1] != 0x4C:
        raise DecodeError(BAD_SIGNATURE)
    if sum(len(f) for f in frames) > MSG_BYTES_MAX:
        raise DecodeError(TOO_LARGE, "message above 8 MiB")
    if header[2] != VERSION:
        raise DecodeError(BAD_VERSION)
    cmd = header[3]
    if cmd == 0 or cmd >= _CMD_MAX:
        raise DecodeError(BAD_COMMAND)
    frame_count, fields_size = _SHAPE[cmd]
    if len(frames) != frame_count:
        raise DecodeError(MALFORMED, "frame count for %s" % COMMAND_NAMES[cmd])
    msg = Message(cmd)
    if frame_count == 1:
        return msg
    fields = bytes(frames[1])
    if fields_size and len(fields) != fields_size:
        raise DecodeError(MALFORMED, "fields size")
    if cmd in (ADMIN, ADMIN_REPLY):
        msg.text = fields
        return msg
    if cmd == CAPACITY:
        pool_cap, loop_cap, pool_slots, loop_slots = _CAPACITY_FIELDS.unpack(fields)
        _capacity(msg, pool_cap, loop_cap, pool_slots, loop_slots)
        return msg
    body = bytes(frames[2])
    if cmd in (SUBMIT, ACK):
        msg.batch_seq, count = _SEQ_COUNT.unpack(fields)
        msg.count = _count(count)
        if cmd == ACK:
            if len(body) != count:
                raise DecodeError(MALFORMED, "ACK statuses disagree with count")
            msg.statuses = body
        else:
            msg.records = _records(body, count)
    elif cmd in (DISPATCH, RESULT, HOLDING):
        msg.count = _count(_U32.unpack(fields)[0])
        if cmd == DISPATCH:
            msg.records = _records(body, msg.count)
        elif cmd == RESULT:
            msg.results = _results(body, msg.count)
        else:
            if len(body) != msg.count * LEASE_SIZE:
                raise DecodeError(MALFORMED, "HOLDING body size")
            msg.leases = [_LEASE.unpack_from(body, i * LEASE_SIZE) for i in range(msg.count)]
    elif cmd == READY:
        pool_cap, loop_cap, msg.pid, count, pool_slots, loop_slots = _READY_FIELDS.unpack(fields)
        if count == 0 or count > NAMES_MAX:
            raise DecodeError(BAD_FIELD, "name count out of range")
        msg.count = count
        _capacity(msg, pool_cap, loop_cap, pool_slots, loop_slots)
        if len(body) > NAME_MAX or 0 in body:
            raise DecodeError(BAD_FIELD, "worker name")
        msg.worker_name = body
        msg.names = _ready_names(bytes(frames[3]), count)
    elif cmd == ERROR:
        msg.reason = _U16.unpack(fields)[0]
        msg.text = body
    return msg


# ---- encoders: each returns the frames of one message ---------------------------

_HEADERS = [bytes((0x46, 0x4C, VERSION, cmd)) for cmd in range(_CMD_MAX)]


def submit(batch_seq: int, count: int, records: bytes) -> List[bytes]:
    return [_HEADERS[SUBMIT], _SEQ_COUNT.pack(batch_seq, count), records]


def ack(batch_seq: int, statuses: bytes) -> List[bytes]:
    return [_HEADERS[ACK], _SEQ_COUNT.pack(batch_seq, len(statuses)), statuses]


def ping() -> List[bytes]:
    return [_HEADERS[PING]]


def pong() -> List[bytes]:
    return [_HEADERS[PONG]]


def bye() -> List[bytes]:
    return [_HEADERS[BYE]]


def dispatch(count: int, records: bytes) -> List[bytes]:
    return [_HEADERS[DISPATCH], _U32.pack(count), records]


def result(count: int, results: bytes) -> List[bytes]:
    return [_HEADERS[RESULT], _U32.pack(count), results]


def holding(count: int, leases: bytes) -> List[bytes]:
    return [_HEADERS[HOLDING], _U32.pack(count), leases]


def ready(capacity: Tuple[int, int], slots: Optional[Tuple[int, int]], pid: int,
          worker_name: bytes, names: Sequence[Tuple[int, bytes]]) -> List[bytes]:
    """capacity and slots are (loop, pool); slots None means the same as
    capacity (no prefetch). names: (class, name) pairs."""
    slots = slots or capacity
    fields = _READY_FIELDS.pack(capacity[POOL], capacity[LOOP], pid, len(names), slots[POOL],
                                slots[LOOP])
    packed = b"".join(bytes((cls, len(name))) + name for cls, name in names)
    return [_HEADERS[READY], fields, worker_name[:NAME_MAX], packed]


def capacity(capacity: Tuple[int, int], slots: Optional[Tuple[int, int]] = None) -> List[bytes]:
    """capacity and slots are (loop, pool), as for ready()."""
    slots = slots or capacity
    return [_HEADERS[CAPACITY],
            _CAPACITY_FIELDS.pack(capacity[POOL], capacity[LOOP], slots[POOL], slots[LOOP])]


def error(reason: int, text: bytes = b"") -> List[bytes]:
    return [_HEADERS[ERROR], _U16.pack(reason), text]


def admin(json_text: bytes) -> List[bytes]:
    return [_HEADERS[ADMIN], json_text]


def admin_reply(json_text: bytes) -> List[bytes]:
    return [_HEADERS[ADMIN_REPLY], json_text]
