"""FLP/1.1 (and FLP/1) spoken on raw ZeroMQ sockets, for the conformance
tests of label `protocol`.

Written from proto/SPEC.md, not from the C code, as an independent
implementer would write it: struct for the fields, pyzmq DEALER sockets for
the transport. It shares nothing with proto/fling_proto.c, so a test that
passes here shows that the spec, not the codec, says what the broker does.

pyzmq comes from Debian's python3-zmq (tools/install-deps). When the Python
that CTest found cannot import it (a pyenv Python, say), the test is run
again under /usr/bin/python3, which can; without either it skips (exit 77)
with one line saying how to get it.
"""
import json
import os
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
from fling_harness import skip  # noqa: E402

try:
    import zmq  # noqa: E402
except ImportError:
    SYSTEM_PYTHON = "/usr/bin/python3"
    if (os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON)
            and os.access(SYSTEM_PYTHON, os.X_OK)
            and subprocess.run([SYSTEM_PYTHON, "-c", "import zmq"], capture_output=True).returncode == 0):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON] + sys.argv)
    skip("pyzmq (ZeroMQ for Python) cannot be imported",
         "tools/install-deps (Debian package python3-zmq)")

VERSION = 2  # FLP/1.1
COMMANDS = ["", "SUBMIT", "ACK", "PING", "PONG", "READY", "DISPATCH", "RESULT", "CAPACITY", "BYE",
            "ERROR", "ADMIN", "ADMIN_REPLY", "HOLDING", "WELCOME", "RESULT_ACK"]
CMD = {name: code for code, name in enumerate(COMMANDS) if name}
REASONS = {0: "OK", 1: "DUPLICATE", 2: "QUEUE_FULL", 3: "STORE_FULL", 4: "UNAVAILABLE",
           5: "BAD_TASK", 6: "TOO_LARGE", 20: "BAD_SIGNATURE", 21: "BAD_VERSION",
           22: "BAD_COMMAND", 23: "MALFORMED", 24: "BAD_FIELD", 25: "BAD_STATE",
           26: "UNKNOWN_PEER", 27: "FORBIDDEN"}
REASON = {name: code for code, name in REASONS.items()}
OUTCOME = {"DONE": 0, "RETRY": 1, "FAIL": 2, "RELEASED": 3, "TIMEOUT": 4}
LOOP, POOL = 0, 1


def header(cmd, version=VERSION):
    return b"FL" + bytes([version, CMD[cmd] if isinstance(cmd, str) else cmd])


def task_id(producer, seq):
    return struct.pack(">QQ", producer, seq)


def id_text(raw):
    producer, seq = struct.unpack(">QQ", raw)
    return "%016x:%d" % (producer, seq)


def record(producer, seq, name, payload, attempt=0, max_attempts=0, timeout_ms=0, backoff_ms=0):
    """A task record (SPEC.md §3.1): u32 length of the rest, then
    the fields. name and payload are bytes or str."""
    name = name.encode() if isinstance(name, str) else name
    payload = payload.encode() if isinstance(payload, str) else payload
    rest = (task_id(producer, seq) + struct.pack(">HHII", attempt, max_attempts, timeout_ms, backoff_ms)
            + struct.pack(">B", len(name)) + name + b"\0"
            + struct.pack(">I", len(payload)) + payload + b"\0")
    return struct.pack(">I", len(rest)) + rest


def extend(rec, extensions):
    """A record with FLP/1.2 extensions appended (SPEC.md §3.6): each a
    (type, value bytes) pair; the length prefix grows to cover them."""
    tail = b"".join(struct.pack(">BB", t, len(v)) + v for t, v in extensions)
    return struct.pack(">I", len(rec) - 4 + len(tail)) + rec[4:] + tail


def submit(batch_seq, records, version=VERSION, count=None):
    return [header("SUBMIT", version), struct.pack(">QI", batch_seq, len(records) if count is None else count),
            b"".join(records)]


def ready(names, loop=(0, 0), pool=(0, 0), pid=0, worker_name=b"w", version=VERSION):
    """READY; names: [(name, class)]; loop, pool: (capacity, slots)."""
    worker_name = worker_name.encode() if isinstance(worker_name, str) else worker_name
    fields = struct.pack(">IIIHII", pool[0], loop[0], pid, len(names), pool[1], loop[1])
    packed = b""
    for name, cls in names:
        name = name.encode() if isinstance(name, str) else name
        packed += struct.pack(">BB", cls, len(name)) + name
    return [header("READY", version), fields, worker_name, packed]


def result_record(raw_id, attempt, outcome, retry_delay_ms=0, error=b""):
    outcome = OUTCOME[outcome] if isinstance(outcome, str) else outcome
    return raw_id + struct.pack(">HBIH", attempt, outcome, retry_delay_ms, len(error)) + error


def result(result_seq, results, version=VERSION):
    fields = struct.pack(">QI", result_seq, len(results)) if version >= 2 else struct.pack(">I", len(results))
    return [header("RESULT", version), fields, b"".join(results)]


def lease(raw_id, attempt):
    return raw_id + struct.pack(">H", attempt)


def holding(leases, version=VERSION):
    return [header("HOLDING", version), struct.pack(">I", len(leases)), b"".join(leases)]


def capacity(loop=(0, 0), pool=(0, 0), version=VERSION):
    return [header("CAPACITY", version), struct.pack(">IIII", pool[0], loop[0], pool[1], loop[1])]


def simple(cmd, version=VERSION):
    return [header(cmd, version)]


def admin(request, version=VERSION):
    return [header("ADMIN", version), json.dumps(request).encode()]


class Msg:
    """A decoded message: .cmd (name), .version and the command's fields."""

    def __init__(self, frames):
        self.frames = frames
        head = frames[0]
        if len(head) != 4 or head[:2] != b"FL":
            raise ValueError("bad signature: %r" % head)
        self.version = head[2]
        self.cmd = COMMANDS[head[3]] if head[3] < len(COMMANDS) else "?%d" % head[3]
        getattr(self, "_" + self.cmd.lower(), lambda: None)()

    def _ack(self):
        self.batch_seq, self.count = struct.unpack(">QI", self.frames[1])
        self.statuses = [REASONS.get(b, str(b)) for b in self.frames[2]]
        assert len(self.statuses) == self.count, "ACK: one status byte per task"

    def _submit(self):
        self.batch_seq, self.count = struct.unpack(">QI", self.frames[1])

    def _error(self):
        fields = self.frames[1]
        self.reason = REASONS.get(struct.unpack(">H", fields[:2])[0])
        self.refused = None
        self.batch_seq = None
        if self.version >= 2:
            assert len(fields) == 11, "FLP/1.1 ERROR fields are 11 bytes"
            code, self.batch_seq = struct.unpack(">BQ", fields[2:])
            self.refused = COMMANDS[code] if 0 < code < len(COMMANDS) else None
        else:
            assert len(fields) == 2, "FLP/1 ERROR fields are 2 bytes"
        self.text = self.frames[2].decode(errors="replace")

    def _welcome(self):
        self.heartbeat_ms, self.worker_timeout_ms = struct.unpack(">II", self.frames[1])

    def _result_ack(self):
        (self.result_seq,) = struct.unpack(">Q", self.frames[1])

    def _dispatch(self):
        (self.count,) = struct.unpack(">I", self.frames[1])
        body, self.tasks = self.frames[2], []
        while body:
            (length,) = struct.unpack(">I", body[:4])
            rec, body = body[4:4 + length], body[4 + length:]
            attempt, max_attempts, timeout_ms, backoff_ms, n = struct.unpack(">HHIIB", rec[16:29])
            name = rec[29:29 + n]
            (p,) = struct.unpack(">I", rec[30 + n:34 + n])
            self.tasks.append(dict(id=rec[:16], attempt=attempt, max_attempts=max_attempts,
                                   timeout_ms=timeout_ms, backoff_ms=backoff_ms, name=name.decode(),
                                   payload=rec[34 + n:34 + n + p]))
        assert len(self.tasks) == self.count

    def _admin_reply(self):
        self.json = json.loads(self.frames[1])

    def __repr__(self):
        keys = [k for k in vars(self) if k not in ("frames",)]
        return "<%s %s>" % (self.cmd, ", ".join("%s=%r" % (k, getattr(self, k)) for k in keys))


class Peer:
    """One DEALER socket on a broker endpoint, as a client would open it."""

    def __init__(self, endpoint, immediate=True):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if immediate:
            self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.sock.connect(endpoint)
        self.endpoint = endpoint

    def send(self, frames, timeout=5.0):
        """Sends without blocking; retries EAGAIN (not connected yet) until timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.send_multipart(frames, flags=zmq.DONTWAIT)
                return
            except zmq.Again:
                if time.monotonic() > deadline:
                    raise TimeoutError("could not send to %s" % self.endpoint)
                time.sleep(0.01)

    def recv(self, timeout=5.0):
        """The next message, decoded, or None after timeout seconds."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return Msg(self.sock.recv_multipart())

    def expect(self, cmd, timeout=5.0, skip=("PONG",)):
        """The next message of command `cmd`, skipping `skip` ones; fails on any other."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            msg = self.recv(max(left, 0))
            if msg is None:
                raise AssertionError("no %s within %.1fs" % (cmd, timeout))
            if msg.cmd == cmd:
                return msg
            if msg.cmd not in skip:
                raise AssertionError("expected %s, got %r" % (cmd, msg))

    def silence(self, timeout=0.5):
        """Asserts nothing arrives for `timeout` seconds."""
        msg = self.recv(timeout)
        assert msg is None, "expected no answer, got %r" % msg

    def close(self):
        self.sock.close(0)


def stats(endpoint):
    peer = Peer(endpoint)
    try:
        peer.send(admin({"op": "stats"}))
        return peer.expect("ADMIN_REPLY").json
    finally:
        peer.close()
