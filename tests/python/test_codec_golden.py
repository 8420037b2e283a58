"""One truth for the wire: the Python codec (fling.protocol) and validation
(fling.validate) against the C codec and the C producer's checks.

C -> Python: golden/flp.jsonl holds what tests/python/fling_golden.c writes
(every command built by the C encoders in FLP/1.1, and in FLP/1 where its
frames differ; hand-made messages with the C decoder's reason, or its
record-by-record verdict for a SUBMIT; task ids). The C program must still write exactly that
file, and Python must decode each vector as C does, re-encode the good ones
to the same bytes, and refuse the bad ones for the same reason.

Python -> C: messages the Python encoders build, and thousands of mutations
of every vector, go to `fling_golden decode`; C's reading must equal
Python's. Names and payloads (hand-made edge cases and generated ones) go to
`fling_golden validate`; C's errno must equal the code of Python's verdict.

To refresh the file after a deliberate wire change (a new FLP revision):
    build/bin/fling_golden write > tests/python/golden/flp.jsonl
"""
import json
import os
import random
import subprocess

import pytest

from fling import errors, protocol as p, validate

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_FILE = os.path.join(HERE, "golden", "flp.jsonl")
GOLDEN_BIN = os.environ.get("FLING_GOLDEN") or os.path.join(HERE, "..", "..", "build", "bin",
                                                             "fling_golden")


def golden_lines():
    with open(GOLDEN_FILE) as f:
        return [json.loads(line) for line in f]


def vectors(kind):
    return [v for v in golden_lines() if v["kind"] == kind]


def c_tool(mode, lines):
    """Runs fling_golden MODE with one input line per item; its output lines."""
    if not os.access(GOLDEN_BIN, os.X_OK):
        pytest.skip("fling_golden not built (set FLING_GOLDEN)")
    out = subprocess.run([GOLDEN_BIN, mode], input="".join(line + "\n" for line in lines),
                         capture_output=True, text=True, timeout=120, check=True).stdout
    result = out.splitlines()
    assert len(result) == len(lines), "fling_golden answered %d of %d lines" % (len(result), len(lines))
    return result


def frames_line(frames):
    return " ".join(f.hex() if f else "-" for f in frames)


# ---- the rendering both sides share (fling_golden.c s_render) --------------------------


def classes(values):
    return {"loop": values[p.LOOP], "pool": values[p.POOL]}


def record_json(r):
    return {"id": r.id.hex(), "attempt": r.attempt, "max_attempts": r.max_attempts,
            "timeout_ms": r.timeout_ms, "backoff_ms": r.backoff_ms, "name": r.name,
            "payload": r.payload.hex()}


def render(msg):
    out = {"cmd": msg.cmd, "version": msg.version}
    if msg.cmd == p.SUBMIT:
        sound = iter(msg.records)
        out.update(batch_seq=str(msg.batch_seq), count=msg.count,
                   records=[record_json(next(sound)) if status == p.OK else {"status": status}
                            for status in msg.statuses])
    elif msg.cmd == p.DISPATCH:
        out.update(count=msg.count, records=[record_json(r) for r in msg.records])
    elif msg.cmd == p.ACK:
        out.update(batch_seq=str(msg.batch_seq), count=msg.count, statuses=msg.statuses.hex())
    elif msg.cmd == p.RESULT:
        out.update(result_seq=str(msg.result_seq), count=msg.count)
        out["results"] = [{"id": r.id.hex(), "attempt": r.attempt, "outcome": r.outcome,
                           "retry_delay_ms": r.retry_delay_ms, "error": r.error.hex()}
                          for r in msg.results]
    elif msg.cmd == p.RESULT_ACK:
        out["result_seq"] = str(msg.result_seq)
    elif msg.cmd == p.WELCOME:
        out.update(heartbeat_ms=msg.heartbeat_ms, worker_timeout_ms=msg.worker_timeout_ms)
    elif msg.cmd == p.HOLDING:
        out["count"] = msg.count
        out["leases"] = [{"id": i.hex(), "attempt": a} for i, a in msg.leases]
    elif msg.cmd == p.READY:
        out.update(count=msg.count, pid=msg.pid, worker_name=msg.worker_name.hex(),
                   names=[{"class": c, "name": n} for c, n in msg.names],
                   capacity=classes(msg.capacity), slots=classes(msg.slots))
    elif msg.cmd == p.CAPACITY:
        out.update(capacity=classes(msg.capacity), slots=classes(msg.slots))
    elif msg.cmd == p.ERROR:
        out.update(reason=msg.reason, refused_cmd=msg.refused_cmd, batch_seq=str(msg.batch_seq),
                   text=msg.text.hex())
    elif msg.cmd in (p.ADMIN, p.ADMIN_REPLY):
        out["text"] = msg.text.hex()
    return out


def verdict(frames):
    """What the Python decoder makes of frames, in fling_golden decode's form."""
    try:
        return {"msg": render(p.decode(frames))}
    except p.DecodeError as exc:
        return {"reason": exc.reason}


def reencode(m):
    """The frames Python's encoders build from a rendered message (FLP/1.1; for
    an FLP/1 vector, its header's version byte set to 1), or None where the
    rendering cannot be re-encoded (a SUBMIT record refused on its own, an
    FLP/1 RESULT: this package never sends either)."""
    if m["version"] == 1 and m["cmd"] == p.ERROR:
        return p.error(m["reason"], text=bytes.fromhex(m["text"]), version=1)
    if m["version"] == 1 and m["cmd"] == p.RESULT:
        return None
    frames = encode_v2(m)
    if frames is not None and m["version"] == 1:
        frames[0] = frames[0][:2] + b"\x01" + frames[0][3:]
    return frames


def encode_v2(m):
    cmd = m["cmd"]
    pair = lambda d: (d["loop"], d["pool"])  # noqa: E731
    if cmd in (p.SUBMIT, p.DISPATCH):
        if any("status" in r for r in m["records"]):
            return None
        body = b"".join(p.encode_record(bytes.fromhex(r["id"]), r["attempt"], r["max_attempts"],
                                        r["timeout_ms"], r["backoff_ms"], r["name"].encode(),
                                        bytes.fromhex(r["payload"])) for r in m["records"])
        if cmd == p.SUBMIT:
            return p.submit(int(m["batch_seq"]), m["count"], body)
        return p.dispatch(m["count"], body)
    if cmd == p.ACK:
        return p.ack(int(m["batch_seq"]), bytes.fromhex(m["statuses"]))
    if cmd == p.RESULT:
        return p.result(int(m["result_seq"]), m["count"], b"".join(
            p.encode_result(bytes.fromhex(r["id"]), r["attempt"], r["outcome"],
                            r["retry_delay_ms"], bytes.fromhex(r["error"])) for r in m["results"]))
    if cmd == p.RESULT_ACK:
        return p.result_ack(int(m["result_seq"]))
    if cmd == p.WELCOME:
        return p.welcome(m["heartbeat_ms"], m["worker_timeout_ms"])
    if cmd == p.HOLDING:
        return p.holding(m["count"], b"".join(p.encode_lease(bytes.fromhex(x["id"]), x["attempt"])
                                              for x in m["leases"]))
    if cmd == p.READY:
        return p.ready(pair(m["capacity"]), pair(m["slots"]), m["pid"],
                       bytes.fromhex(m["worker_name"]),
                       [(n["class"], n["name"].encode()) for n in m["names"]])
    if cmd == p.CAPACITY:
        return p.capacity(pair(m["capacity"]), pair(m["slots"]))
    if cmd == p.ERROR:
        return p.error(m["reason"], m["refused_cmd"], int(m["batch_seq"]), bytes.fromhex(m["text"]))
    if cmd in (p.ADMIN, p.ADMIN_REPLY):
        return (p.admin if cmd == p.ADMIN else p.admin_reply)(bytes.fromhex(m["text"]))
    return {p.PING: p.ping, p.PONG: p.pong, p.BYE: p.bye}[cmd]()


# ---- C -> Python ----------------------------------------------------------------------


def test_c_still_writes_the_committed_vectors():
    if not os.access(GOLDEN_BIN, os.X_OK):
        pytest.skip("fling_golden not built (set FLING_GOLDEN)")
    fresh = subprocess.run([GOLDEN_BIN, "write"], capture_output=True, text=True, check=True,
                           timeout=60).stdout.splitlines()
    with open(GOLDEN_FILE) as f:
        committed = f.read().splitlines()
    changed = [a for a, b in zip(fresh, committed) if a != b]
    assert len(fresh) == len(committed) and not changed, (
        "the C codec writes other vectors than %s (first difference: %s); if the wire changed "
        "on purpose, refresh the file" % (GOLDEN_FILE, (changed or ["length"])[0][:300]))


def test_every_message_kind_and_refusal_is_covered():
    good = {v["msg"]["cmd"] for v in vectors("good")}
    assert good == set(p.COMMAND_NAMES), "no vector for %s" % (set(p.COMMAND_NAMES) - good)
    reasons = {v["reason"] for v in vectors("bad")}
    assert {p.BAD_TASK, p.TOO_LARGE, p.BAD_SIGNATURE, p.BAD_VERSION, p.BAD_COMMAND, p.MALFORMED,
            p.BAD_FIELD} <= reasons
    statuses = {r.get("status") for v in vectors("good") if v["msg"]["cmd"] == p.SUBMIT
                for r in v["msg"]["records"]}
    assert {p.BAD_TASK, p.TOO_LARGE} <= statuses, "SUBMIT records refused on their own"
    versions = {v["msg"]["version"] for v in vectors("good")}
    assert versions == {1, 2}


@pytest.mark.parametrize("vector", vectors("good"), ids=lambda v: v["name"])
def test_good_vector_decodes_and_reencodes(vector):
    frames = [bytes.fromhex(f) for f in vector["frames"]]
    assert render(p.decode(frames)) == vector["msg"]
    again = reencode(vector["msg"])
    assert again is None or again == frames


@pytest.mark.parametrize("vector", vectors("bad"), ids=lambda v: v["name"])
def test_bad_vector_is_refused_for_the_same_reason(vector):
    frames = [bytes.fromhex(f) for f in vector["frames"]]
    with pytest.raises(p.DecodeError) as refused:
        p.decode(frames)
    assert refused.value.reason == vector["reason"], p.reason_name(refused.value.reason)


def test_task_ids_format_and_parse_as_in_c():
    for v in vectors("id"):
        assert p.task_id_text(bytes.fromhex(v["id"])) == v["text"]
        assert p.task_id_parse(v["text"]) == bytes.fromhex(v["id"])
    for v in vectors("id_parse"):
        if v["ok"]:
            assert p.task_id_parse(v["text"]).hex() == v["id"]
        else:
            with pytest.raises(ValueError):
                p.task_id_parse(v["text"])


def test_record_writer_matches_encode_record():
    writer = p.RecordWriter(bytes.fromhex("9f86d081884c7d65"), b"email.welcome")
    for seq, payload in ((1, b"{}"), ((1 << 64) - 1, b'{"user":42}')):
        task_id = bytes.fromhex("9f86d081884c7d65") + seq.to_bytes(8, "big")
        assert writer.record(seq, 5, 1000, 200, payload) == p.encode_record(
            task_id, 0, 5, 1000, 200, b"email.welcome", payload)


# ---- Python -> C ------------------------------------------------------------------------


def python_messages(rng):
    """Messages built by the Python encoders, with random field values."""
    ident = lambda: rng.randbytes(16)  # noqa: E731
    names = [b"a", b"email.welcome", b"x" * 127, b"A-Z_a:z.0-9"]
    msgs = [p.ping(), p.pong(), p.bye(), p.admin(b'{"op":"stats"}'), p.admin_reply(b"{}"),
            p.error(p.UNKNOWN_PEER, p.RESULT, 7, b"send READY"),
            p.error(p.BAD_VERSION, text=b"1 and 2", version=1), p.capacity((0, 0)),
            p.capacity((2000, 16), (1000, 8)), p.welcome(1000, 3000),
            p.result_ack((1 << 64) - 1)]
    for _ in range(40):
        n = rng.randint(1, 5)
        records = b"".join(p.encode_record(ident(), rng.randrange(1 << 16), rng.randrange(1 << 16),
                                           rng.randrange(1 << 32), rng.randrange(1 << 32),
                                           rng.choice(names), b'{"i":%d}' % rng.randrange(10 ** 9))
                           for _ in range(n))
        msgs.append(p.submit(rng.randrange(1 << 64), n, records))
        msgs.append(p.dispatch(n, records))
        msgs.append(p.ack(rng.randrange(1 << 64), bytes(rng.choice((0, 1, 2, 3, 4, 5, 6))
                                                        for _ in range(n))))
        results = b"".join(p.encode_result(ident(), rng.randrange(1 << 16), rng.randrange(5),
                                           rng.randrange(1 << 32),
                                           rng.randbytes(rng.choice((0, 3, 1024))))
                           for _ in range(n))
        msgs.append(p.result(rng.randrange(1 << 64), n, results))
        msgs.append(p.holding(n, b"".join(p.encode_lease(ident(), rng.randrange(1 << 16))
                                          for _ in range(n))))
        msgs.append(p.ready((rng.randrange(1 << 32), 8), (5, 8), rng.randrange(1 << 32),
                            b"w-%d" % rng.randrange(1000), [(rng.randrange(2), rng.choice(names))
                                                            for _ in range(n)]))
    return msgs


def test_c_decodes_what_python_encodes():
    msgs = python_messages(random.Random(18))
    answers = c_tool("decode", [frames_line(m) for m in msgs])
    for frames, answer in zip(msgs, answers):
        assert "msg" in json.loads(answer), "C refused a Python message: %s %s" % (answer, frames)
        assert json.loads(answer) == verdict(frames)


def mutate(frames, rng):
    frames = [bytearray(f) for f in frames]
    choice = rng.randrange(8)
    if choice == 0 and frames:  # flip a byte
        f = rng.choice(frames)
        if f:
            f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
    elif choice == 1 and frames:  # cut a frame short
        f = rng.choice(frames)
        del f[rng.randrange(len(f) + 1):]
    elif choice == 2:  # drop or add a frame
        if frames and rng.random() < 0.5:
            del frames[rng.randrange(len(frames))]
        else:
            frames.insert(rng.randrange(len(frames) + 1), bytearray(rng.randbytes(rng.randrange(5))))
    elif choice == 3 and frames:  # overwrite a length or count field with an edge value
        f = rng.choice(frames)
        if len(f) >= 4:
            at = rng.randrange(len(f) - 3)
            f[at:at + 4] = rng.choice((0, 1, 1000, 1001, 0x100001, 0xFFFFFFFF)).to_bytes(4, "big")
    elif choice == 4 and frames:  # set a byte to an edge value
        f = rng.choice(frames)
        if f:
            f[rng.randrange(len(f))] = rng.choice((0, 1, 2, 5, 127, 128, 255, 0x20, 0x3A))
    elif choice == 5 and frames:  # append junk
        rng.choice(frames).extend(rng.randbytes(rng.randrange(1, 30)))
    elif choice == 6 and frames:  # another command in the header
        frames[0][3:4] = bytes([rng.randrange(16)])
    return [bytes(f) for f in frames]


def test_c_and_python_agree_on_mutated_messages():
    rng = random.Random(1818)
    seeds = [[bytes.fromhex(f) for f in v["frames"]] for v in golden_lines() if "frames" in v]
    seeds += python_messages(rng)[:60]
    cases = []
    for _ in range(6000):
        frames = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            frames = mutate(frames, rng)
        cases.append(frames)
    answers = c_tool("decode", [frames_line(f) for f in cases])
    disagree = [(f, a, verdict(f)) for f, a in zip(cases, answers) if json.loads(a) != verdict(f)]
    assert not disagree, "%d disagreements, first: frames=%s C=%s Python=%s" % (
        len(disagree), [x.hex() for x in disagree[0][0]], disagree[0][1], disagree[0][2])


def test_message_above_8_mib_is_too_large_on_both_sides():
    frames = [bytes.fromhex("464c0203"), b"\0" * (p.MSG_BYTES_MAX - 3)]
    assert verdict(frames) == {"reason": p.TOO_LARGE}
    assert json.loads(c_tool("decode", [frames_line(frames)])[0]) == {"reason": p.TOO_LARGE}
    frames[1] = frames[1][:-1]  # exactly 8 MiB: the frame count is what is wrong
    assert verdict(frames) == {"reason": p.MALFORMED}
    assert json.loads(c_tool("decode", [frames_line(frames)])[0]) == {"reason": p.MALFORMED}


# ---- validation: the C producer's rules -------------------------------------------------

NAMES = [b"a", b"email.welcome", b"x" * 127, b"x" * 128, b"", b"has space", b"caf\xc3\xa9",
         b"A-Z_a:z.0-9", b"slash/no", b"tab\t", b"@", b"semi;colon"]

PAYLOADS = [
    b"{}", b" {} ", b"\t{\n}\r\n", b"{\"a\":1}", b"[]", b"1", b"\"s\"", b"null", b"true", b"",
    b" ", b"{", b"}", b"{}{}", b"{} x", b"{\"a\":1,}", b"{\"a\" 1}", b"{'a':1}", b"{a:1}",
    b"{\"a\":1,\"a\":2}", b"{\"a\":1,\"\\u0061\":2}", b"{\"a\":{\"a\":1},\"b\":{\"a\":2}}",
    b"{\"\":1}", b"{\"\":1,\"\":2}", b"{\"a\":NaN}", b"{\"a\":Infinity}", b"{\"a\":-Infinity}",
    b"{\"a\":01}", b"{\"a\":-0}", b"{\"a\":1.}", b"{\"a\":.5}", b"{\"a\":1e}", b"{\"a\":1e+}",
    b"{\"a\":1E5}", b"{\"a\":-1.5e-3}", b"{\"a\":+1}", b"{\"a\":0x10}",
    b"{\"a\":9223372036854775807}", b"{\"a\":9223372036854775808}",
    b"{\"a\":-9223372036854775808}", b"{\"a\":-9223372036854775809}",
    b"{\"a\":100000000000000000000000}", b"{\"a\":1.7976931348623157e308}",
    b"{\"a\":1.7976931348623158e308}", b"{\"a\":1.8e308}", b"{\"a\":-1.8e308}", b"{\"a\":1e-400}",
    b"{\"a\":" + b"1" * 309 + b".0}", b"{\"a\":" + b"9" * 400 + b"}",
    b"{\"a\":\"\\u0000\"}", b"{\"a\":\"\0\"}", b"{\"a\":1}\0", b"{\"a\":\"\\ud800\"}",
    b"{\"a\":\"\\udc00\"}", b"{\"a\":\"\\ud83d\\ude00\"}", b"{\"a\":\"\\ud83d\\u0041\"}",
    b"{\"a\":\"\\ud83d x\\ude00\"}", b"{\"a\":\"\\\\ud800\"}", b"{\"a\":\"\\\\\\ud800\"}",
    b"{\"a\":\"\\x\"}", b"{\"a\":\"\\u12\"}", b"{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
    b"{\"a\":\"\x01\"}", b"{\"a\":\"\x1f\"}", b"{\"a\":\"\x7f\"}", b"{\"a\":\"\t\"}",
    b"{\"a\":\"\xc3\xa9\"}", b"{\"a\":\"\xc0\x80\"}", b"{\"a\":\"\xed\xa0\x80\"}",
    b"{\"a\":\"\xf4\x90\x80\x80\"}", b"{\"a\":\"\xf0\x9f\x98\x80\"}", b"{\"a\":\"\xe2\x80\"}",
    b"{\"a\":\"\xff\"}", b"\xef\xbb\xbf{}", b"{\"\xc3\xa9\":1}", b"{\"a\":[1,2,[3,{}]]}",
    b"{\"a\":[1,]}", b"{\"a\":[,1]}", b"{\"a\":tru}", b"{\"a\":nulll}", b"{\"a\":True}",
    b"\x0c{}", b"{}\x0b", b"{\"a\"\x0c:1}", b"{\"a\":\"b\"\"c\"}", b"{\"a\":1 2}",
    b"{\"a\":\xc2\xa0 1}", b"{\"k\":" + b"[" * 63 + b"]" * 63 + b"}",
    b"{\"k\":" + b"[" * 64 + b"]" * 64 + b"}", b"{\"k\":" + b"{\"k\":" * 63 + b"1" + b"}" * 64,
    b"{\"k\":" + b"{\"k\":" * 62 + b"1" + b"}" * 63, b"[" * 100000 + b"]" * 100000,
    b"{\"a\":\"" + b"x" * ((1 << 20) - 8) + b"\"}", b"{\"a\":\"" + b"x" * ((1 << 20) - 7) + b"\"}",
]


def python_code(name, payload):
    try:
        validate.check_name(name.decode("utf-8", "replace"))
        validate.payload_bytes(payload)
    except errors.FlingError as exc:
        return exc.code
    return 0


def random_json(rng, depth=0):
    """JSON-like text, valid and not: the shapes the rules are about."""
    pick = rng.random()
    if depth > 3 or pick < 0.3:
        return rng.choice([b"1", b"-0", b"0.5e10", b"9223372036854775807", b"9223372036854775808",
                           b"-9223372036854775809", b"1e308", b"2e308", b"true", b"null", b"nul",
                           b"\"s\"", b"\"\\u0000\"", b"\"\\ud800\\udc00\"", b"\"\\udc00\"",
                           b"\"\xc3\xa9\"", b"\"\xc3\"", b"\"\x1f\"", b"01", b"NaN", b"\"\\ud800\""])
    if pick < 0.65:
        keys = [rng.choice([b"a", b"b", b"\\u0061", b"", b"\xc3\xa9", b"a\\\"b"])
                for _ in range(rng.randrange(4))]
        body = b",".join(b"\"%s\":%s" % (k, random_json(rng, depth + 1)) for k in keys)
        return b"{" + body + b"}"
    return b"[" + b",".join(random_json(rng, depth + 1) for _ in range(rng.randrange(4))) + b"]"


def test_validation_agrees_with_c():
    rng = random.Random(64)
    cases = [(name, b"{}") for name in NAMES] + [(b"ok", payload) for payload in PAYLOADS]
    for _ in range(4000):
        text = random_json(rng)
        if rng.random() < 0.8:
            text = b"{\"k\":" + text + b"}"
        if rng.random() < 0.1:
            text += rng.choice([b" ", b"\n", b"x", b"}", b"\0"])
        cases.append((b"ok", text))
    answers = c_tool("validate", ["%s %s" % (n.hex() or "-", pl.hex() or "-") for n, pl in cases])
    disagree = [(n, pl, int(a), python_code(n, pl)) for (n, pl), a in zip(cases, answers)
                if int(a) != python_code(n, pl)]
    assert not disagree, "%d disagreements, first: name=%r payload=%r C=%s Python=%s" % (
        len(disagree), disagree[0][0], disagree[0][1][:200], disagree[0][2], disagree[0][3])
    verdicts = {int(a) for a in answers}
    assert {0, errors.EBADNAME, errors.EBADJSON, errors.ETOOLARGE} <= verdicts


DICTS = [
    {}, {"user": 42}, {"a": [1, 2.5, None, True, "é", "\u2028"]}, {"b": 1, "a": 2},
    {"big": (1 << 63) - 1}, {"big": 1 << 63}, {"neg": -(1 << 63)}, {"neg": -(1 << 63) - 1},
    {"digits": "12345678901234567890"}, {"nul": "a\0b"}, {"lit": "\\u0000"},
    {"deep63": {"k": json.loads("[" * 62 + "]" * 62)}}, {"deep64": {"k": json.loads("[" * 63 + "]" * 63)}},
    {"deep65": {"k": json.loads("[" * 64 + "]" * 64)}}, {"f": 1e308}, {"f": -0.0},
    {1: "int key"}, {1: "a", "1": "b"}, {True: 1, "true": 2}, {None: 1}, {"x": {"y": {"z": {}}}},
    {"big": "x" * ((1 << 20) - 12)}, {"big": "x" * ((1 << 20) - 11)}, {"emoji": "\U0001F600"},
]


@pytest.mark.parametrize("index", range(len(DICTS)))
def test_dict_payloads_agree_with_c(index):
    """A dict is serialised by Python; what it accepts C must accept, byte for
    byte, and what it refuses must be refused for the reason C gives the
    same text (serialised without the fast path's shortcuts)."""
    payload = DICTS[index]
    try:
        data = validate.payload_bytes(payload)
        code = 0
    except errors.FlingError as exc:
        code, data = exc.code, json.dumps(payload, ensure_ascii=False,
                                          separators=(",", ":")).encode("utf-8", "surrogatepass")
    answer = int(c_tool("validate", ["%s %s" % (b"ok".hex(), data.hex())])[0])
    assert answer == code, "C %s, Python %s for %r" % (answer, code, data[:100])


def test_dict_payloads_python_alone_refuses():
    for payload in ({"nan": float("nan")}, {"inf": float("inf")}, {"set": {1}},
                    {"bad": "\ud800"}, {"obj": object()}):
        with pytest.raises(errors.BadJSON):
            validate.payload_bytes(payload)
    cycle = {}
    cycle["self"] = cycle
    with pytest.raises(errors.BadJSON):
        validate.payload_bytes(cycle)
    with pytest.raises(errors.BadJSON):
        validate.payload_bytes([1, 2])
    with pytest.raises(errors.BadName):
        validate.check_name(None)
