"""FLP/1.1, the fling wire protocol (proto/SPEC.md): the one Python codec.

Every frame a Python producer or worker sends is built here and every frame
it receives is parsed here, as proto/fling_proto.c does for C. Golden vectors
written by the C codec hold the two to the same bytes and the same refusals
(tests/python/test_codec_golden.py).

Integers on the wire are unsigned big-endian. Decoding never trusts the peer:
every length is checked against the frame it sits in, and a bad message
raises DecodeError with the reason the C decoder gives for it.

Versions (SPEC.md §2.3): this package speaks FLP/1.1 (version byte 2), as
fling's C producer and worker do. The decoder also reads FLP/1 (version
byte 1), as the C decoder does: a broker answers ERROR(BAD_VERSION) in the
FLP/1 layout.
"""
from __future__ import annotations

import re
import struct
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

VERSION = 2      # FLP/1.1, what this package sends
VERSION_SCHED = 3  # FLP/1.2: a SUBMIT whose records carry task extensions (SPEC.md §3.6)
VERSION_MIN = 1  # FLP/1, still decoded

# Commands (SPEC.md §4).
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
WELCOME = 14     # FLP/1.1
RESULT_ACK = 15  # FLP/1.1
_CMD_MAX = 16

# Reasons: ACK status bytes and ERROR codes (SPEC.md §3.5).
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

# Outcomes of a task (SPEC.md §3.2).
DONE = 0
RETRY = 1
FAIL = 2
RELEASED = 3
TIMEOUT = 4
_OUTCOME_MAX = 5

# Handler classes (SPEC.md §3.4).
LOOP = 0
POOL = 1

# Limits (SPEC.md §2.4).
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
    ADMIN: "ADMIN", ADMIN_REPLY: "ADMIN_REPLY", HOLDING: "HOLDING", WELCOME: "WELCOME",
    RESULT_ACK: "RESULT_ACK",
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


# ---- task records (SPEC.md §3.1) --------------------------------------------

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

    __slots__ = ("_pack", "_name", "_overhead", "size")

    def __init__(self, producer_id: bytes, name: bytes):
        n = len(name)
        # L, producer id, seq, attempt, max_attempts, timeout_ms, backoff_ms, N, name, 0, P
        self._pack = struct.Struct(">I8sQHHIIB%dsxI" % n).pack
        self._name = (producer_id, name, n)
        self._overhead = 35 + n
        self.size = RECORD_OVERHEAD + n  # a record's bytes beyond its payload

    def record(self, seq: int, max_attempts: int, timeout_ms: int, backoff_ms: int,
               payload: bytes, ext: bytes = b"") -> bytes:
        """`ext`: task_ext()'s bytes, at the record's end (FLP/1.2 only)."""
        producer_id, name, n = self._name
        p = len(payload)
        return b"".join((self._pack(self._overhead + p + len(ext), producer_id, seq, 0,
                                    max_attempts, timeout_ms, backoff_ms, n, name, p),
                         payload, b"\0", ext))


def record_ids(body: bytes) -> List[bytes]:
    """The task ids of records this process wrote (trusted: no checks), with
    or without extensions: each is a length prefix, then the 16-byte id."""
    ids = []
    offset, end = 0, len(body)
    while offset < end:
        ids.append(body[offset + 4:offset + 20])
        offset += _U32.unpack_from(body, offset)[0] + 4
    return ids


def _records(body: bytes, count: int, submitted: bool) -> Tuple[List[Record], List[int]]:
    """The records of a SUBMIT or DISPATCH body, checked as fling_proto.c checks
    them: each record's length prefix must frame it (at least 35 bytes, within
    the body) and they must fill the body exactly, count of them. The content
    of a framed record (lengths, zero bytes, name; in a SUBMIT also attempt 0
    and a sequence other than 0) refuses a DISPATCH whole, but in a SUBMIT
    only that record: its status says why (SPEC.md §4.1). Returns the sound
    records and one status per record (OK, BAD_TASK or TOO_LARGE)."""
    records: List[Record] = []
    statuses: List[int] = []
    end = len(body)
    offset = 0
    last_name = b""  # a batch mostly repeats one name: check it once
    unpack = _RECORD_HEAD.unpack_from
    while offset < end:
        avail = end - offset
        total = _U32.unpack_from(body, offset)[0] + 4 if avail >= 4 else 0
        if avail < RECORD_OVERHEAD or total < RECORD_OVERHEAD or total > avail:
            raise DecodeError(MALFORMED if submitted else BAD_TASK,
                              "task records: a length prefix runs past the body or under 35")
        _, task_id, attempt, max_attempts, timeout_ms, backoff_ms, n = unpack(body, offset)
        status = OK
        name_at = offset + _RECORD_HEAD_SIZE
        if RECORD_OVERHEAD + n > total:
            status = BAD_TASK
        else:
            (p,) = _U32.unpack_from(body, name_at + n + 1)
            payload_at = name_at + n + 5
            name = body[name_at:name_at + n]
            if p > PAYLOAD_MAX:
                status = TOO_LARGE
            elif (RECORD_OVERHEAD + n + p != total or body[name_at + n] != 0
                  or body[payload_at + p] != 0):
                status = BAD_TASK
            elif name != last_name and not _NAME.match(name):
                status = BAD_TASK
            elif submitted and (attempt != 0 or task_id[8:] == _ZERO_SEQ):
                status = BAD_TASK
        if status != OK:
            if not submitted:
                raise DecodeError(status, "task record")
        else:
            last_name = name
            records.append(Record(task_id, attempt, max_attempts, timeout_ms, backoff_ms,
                                  name.decode("ascii"), body[payload_at:payload_at + p]))
        statuses.append(status)
        offset += total
    if len(statuses) != count:
        raise DecodeError(MALFORMED, "task records: their number is not the count field")
    return records, statuses


_ZERO_SEQ = bytes(8)


# ---- result records (SPEC.md §3.2) -------------------------------------------

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


# ---- leases (SPEC.md §3.3) -----------------------------------------------------

_LEASE = struct.Struct(">16sH")


def encode_lease(task_id: bytes, attempt: int) -> bytes:
    return _LEASE.pack(task_id, attempt)


# ---- messages ----------------------------------------------------------------


class Message:
    """A decoded message. Which fields mean something depends on `cmd`:

    SUBMIT: batch_seq, count, records (the sound ones), statuses (one per record:
            OK, or BAD_TASK / TOO_LARGE for a record refused on its own)
    ACK: batch_seq, count, statuses (bytes)
    DISPATCH: count, records;   HOLDING: count, leases
    RESULT: result_seq (FLP/1.1; 0 in FLP/1), count, results
    RESULT_ACK: result_seq;   WELCOME: heartbeat_ms, worker_timeout_ms
    READY: capacity, slots, pid, worker_name, names [(class, name)]
    CAPACITY: capacity, slots (dicts keyed by LOOP / POOL)
    ERROR: reason, refused_cmd and batch_seq (FLP/1.1: the command refused and
           its batch_seq or result_seq, 0 when none), text
    ADMIN, ADMIN_REPLY: text
    """

    __slots__ = ("cmd", "version", "batch_seq", "result_seq", "count", "records", "statuses",
                 "results", "leases", "capacity", "slots", "pid", "worker_name", "names",
                 "reason", "refused_cmd", "text", "heartbeat_ms", "worker_timeout_ms")

    def __init__(self, cmd: int, version: int = VERSION):
        self.cmd = cmd
        self.version = version
        self.batch_seq = 0
        self.result_seq = 0
        self.count = 0
        self.records: List[Record] = []
        self.statuses: Any = b""
        self.results: List[Result] = []
        self.leases: List[Tuple[bytes, int]] = []
        self.capacity = {LOOP: 0, POOL: 0}
        self.slots = {LOOP: 0, POOL: 0}
        self.pid = 0
        self.worker_name = b""
        self.names: List[Tuple[int, str]] = []
        self.reason = 0
        self.refused_cmd = 0
        self.text = b""
        self.heartbeat_ms = 0
        self.worker_timeout_ms = 0


# Frames (header included) and the exact size of the fields frame (0: any),
# in FLP/1.1; FLP/1 differs in ERROR and RESULT only (_FIELDS_V1).
_SHAPE = {
    SUBMIT: (3, 12), ACK: (3, 12), PING: (1, 0), PONG: (1, 0), READY: (4, 22),
    DISPATCH: (3, 4), RESULT: (3, 12), CAPACITY: (2, 16), BYE: (1, 0), ERROR: (3, 11),
    ADMIN: (2, 0), ADMIN_REPLY: (2, 0), HOLDING: (3, 4), WELCOME: (2, 8), RESULT_ACK: (2, 8),
}
_FIELDS_V1 = {ERROR: 2, RESULT: 4}
_SEQ_COUNT = struct.Struct(">QI")
_READY_FIELDS = struct.Struct(">IIIHII")  # pool cap, loop cap, pid, names, pool slots, loop slots
_CAPACITY_FIELDS = struct.Struct(">IIII")  # pool cap, loop cap, pool slots, loop slots
_ERROR_FIELDS = struct.Struct(">HBQ")      # reason, command refused, batch_seq / result_seq
_WELCOME_FIELDS = struct.Struct(">II")     # heartbeat_ms, worker_timeout_ms
_WORKER_NAME_BAD = re.compile(rb"[\x00-\x1f\x7f]")


def _count(value: int) -> int:
    if value == 0 or value > BATCH_MAX:
        raise DecodeError(BAD_FIELD, "count must be 1 to 1000")
    return value


def _capacity(msg: Message, pool_cap: int, loop_cap: int, pool_slots: int,
              loop_slots: int) -> None:
    if pool_slots > pool_cap or loop_slots > loop_cap:
        raise DecodeError(BAD_FIELD, "slots above capacity")
    msg.capacity = {POOL: pool_cap, LOOP: loop_cap}
    msg.slots = {POOL: pool_slots, LOOP: loop_slots}


def _ready_names(body: bytes, count: int) -> List[Tuple[int, str]]:
    names = []
    offset, end = 0, len(body)
    while offset < end:
        if end - offset < 2 or end - offset < 2 + body[offset + 1]:
            raise DecodeError(MALFORMED, "READY names: an entry runs past the end of its frame")
        if body[offset] > POOL:
            raise DecodeError(BAD_FIELD, "READY names: class must be 0 (loop) or 1 (pool)")
        name = body[offset + 2:offset + 2 + body[offset + 1]]
        if not _NAME.match(name):
            raise DecodeError(BAD_TASK, "READY names: a task name is empty or not [A-Za-z0-9._:-]")
        names.append((body[offset], name.decode("ascii")))
        offset += 2 + len(name)
    if len(names) != count:
        raise DecodeError(MALFORMED, "READY names: their number is not name_count")
    return names


def decode(frames: Sequence[bytes], max_version: int = VERSION) -> Message:
    """Decodes one message (without a ROUTER's routing frame), FLP/1.1 or FLP/1.
    Raises DecodeError with the reason fling_msg_decode gives, checked in its
    order. max_version VERSION_SCHED: also FLP/1.2, whose frames are FLP/1.1's
    (the answers a producer gets to its FLP/1.2 SUBMITs); the records of an
    FLP/1.2 SUBMIT are not read here (a record with extensions is BAD_TASK)."""
    if len(frames) > FRAMES_MAX:
        raise DecodeError(MALFORMED, "more than 16 frames")
    if not frames:
        raise DecodeError(BAD_SIGNATURE, "empty message")
    header = frames[0]
    if len(header) != 4 or header[0] != 0x46 or header[1] != 0x4C:
        raise DecodeError(BAD_SIGNATURE)
    version, cmd = header[2], header[3]
    if not VERSION_MIN <= version <= max_version:
        raise DecodeError(BAD_VERSION, "versions 1 and 2 are spoken")
    if cmd == 0 or cmd >= _CMD_MAX or (version == 1 and cmd >= WELCOME):
        raise DecodeError(BAD_COMMAND)
    if sum(len(f) for f in frames) > MSG_BYTES_MAX:
        raise DecodeError(TOO_LARGE, "message above 8 MiB")
    frame_count, fields_size = _SHAPE[cmd]
    if len(frames) != frame_count:
        raise DecodeError(MALFORMED, "frame count for %s" % COMMAND_NAMES[cmd])
    msg = Message(cmd, version)
    if frame_count == 1:
        return msg
    fields = bytes(frames[1])
    if version == 1:
        fields_size = _FIELDS_V1.get(cmd, fields_size)
    if fields_size and len(fields) != fields_size:
        raise DecodeError(MALFORMED, "fields frame of the wrong size")
    if cmd in (ADMIN, ADMIN_REPLY):
        msg.text = fields
    elif cmd == CAPACITY:
        _capacity(msg, *_CAPACITY_FIELDS.unpack(fields))
    elif cmd == WELCOME:
        msg.heartbeat_ms, msg.worker_timeout_ms = _WELCOME_FIELDS.unpack(fields)
    elif cmd == RESULT_ACK:
        msg.result_seq = _U64.unpack(fields)[0]
    else:
        _decode_body(msg, fields, frames)
    return msg


def _decode_body(msg: Message, fields: bytes, frames: Sequence[bytes]) -> None:
    cmd = msg.cmd
    body = bytes(frames[2])
    if cmd in (SUBMIT, ACK):
        msg.batch_seq, count = _SEQ_COUNT.unpack(fields)
        msg.count = _count(count)
        if cmd == ACK:
            if len(body) != count:
                raise DecodeError(MALFORMED, "ACK: not one status byte per task")
            msg.statuses = body
        else:
            msg.records, msg.statuses = _records(body, count, submitted=True)
    elif cmd == DISPATCH:
        msg.count = _count(_U32.unpack(fields)[0])
        msg.records, _ = _records(body, msg.count, submitted=False)
    elif cmd == RESULT:
        if msg.version >= 2:
            msg.result_seq, count = _SEQ_COUNT.unpack(fields)
        else:
            (count,) = _U32.unpack(fields)
        msg.count = _count(count)
        msg.results = _results(body, msg.count)
    elif cmd == HOLDING:
        msg.count = _count(_U32.unpack(fields)[0])
        if len(body) != msg.count * LEASE_SIZE:
            raise DecodeError(MALFORMED, "HOLDING: body is not count x 18 bytes")
        msg.leases = [_LEASE.unpack_from(body, i * LEASE_SIZE) for i in range(msg.count)]
    elif cmd == READY:
        pool_cap, loop_cap, msg.pid, count, pool_slots, loop_slots = _READY_FIELDS.unpack(fields)
        if count == 0 or count > NAMES_MAX:
            raise DecodeError(BAD_FIELD, "READY: name_count must be 1 to 256")
        msg.count = count
        _capacity(msg, pool_cap, loop_cap, pool_slots, loop_slots)
        if len(body) > NAME_MAX or _WORKER_NAME_BAD.search(body):
            raise DecodeError(BAD_FIELD, "READY: worker name longer than 127 bytes or with "
                                         "control characters")
        msg.worker_name = body
        msg.names = _ready_names(bytes(frames[3]), count)
    elif cmd == ERROR:
        if msg.version >= 2:
            msg.reason, msg.refused_cmd, msg.batch_seq = _ERROR_FIELDS.unpack(fields)
        else:
            (msg.reason,) = _U16.unpack(fields)
        if len(body) > ERROR_TEXT_MAX:
            raise DecodeError(MALFORMED, "ERROR: text above 1024 bytes")
        msg.text = body


# ---- encoders: each returns the frames of one message, FLP/1.1 -------------------

_HEADERS = [bytes((0x46, 0x4C, VERSION, cmd)) for cmd in range(_CMD_MAX)]


_SUBMIT_SCHED = bytes((0x46, 0x4C, VERSION_SCHED, SUBMIT))


def submit(batch_seq: int, count: int, records: bytes, extended: bool = False) -> List[bytes]:
    """`extended`: the records carry task extensions, so the SUBMIT is
    FLP/1.2 (version byte 3); a plain batch stays FLP/1.1 byte for byte."""
    return [_SUBMIT_SCHED if extended else _HEADERS[SUBMIT], _SEQ_COUNT.pack(batch_seq, count),
            records]


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


def result(result_seq: int, count: int, results: bytes) -> List[bytes]:
    """RESULT number `result_seq` (a worker counts its RESULTs from 1)."""
    return [_HEADERS[RESULT], _SEQ_COUNT.pack(result_seq, count), results]


def result_ack(result_seq: int) -> List[bytes]:
    return [_HEADERS[RESULT_ACK], _U64.pack(result_seq)]


def welcome(heartbeat_ms: int, worker_timeout_ms: int) -> List[bytes]:
    return [_HEADERS[WELCOME], _WELCOME_FIELDS.pack(heartbeat_ms, worker_timeout_ms)]


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


def error(reason: int, refused_cmd: int = 0, batch_seq: int = 0, text: bytes = b"",
          version: int = VERSION) -> List[bytes]:
    """ERROR in `version`'s layout: FLP/1 carries the reason and text only."""
    header = bytes((0x46, 0x4C, version, ERROR))
    if version == 1:
        return [header, _U16.pack(reason), text]
    return [header, _ERROR_FIELDS.pack(reason, refused_cmd, batch_seq), text]


def admin(json_text: bytes) -> List[bytes]:
    return [_HEADERS[ADMIN], json_text]


def admin_reply(json_text: bytes) -> List[bytes]:
    return [_HEADERS[ADMIN_REPLY], json_text]
