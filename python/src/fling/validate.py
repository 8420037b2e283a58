"""Task validation: the C library's rules (producer/fling_validate.h), applied
in the caller's thread before a task is queued, so nothing invalid leaves
the process.

- name: 1-127 bytes of [A-Za-z0-9._:-]                         -> BadName
- payload: at most 1 MiB                                          -> TooLarge
- payload: one JSON object (RFC 8259), valid UTF-8, no duplicate keys, no
  NUL (raw or \\u0000), no lone surrogate escape, nesting at most 64 deep,
  integers within a signed 64-bit integer, reals that do not overflow a
  double, nothing after the object                                -> BadJSON

A dict payload is serialised here (compact, keys sorted) and only looked at
again where the text could break a rule; bytes (or str) payloads are JSON
text and get the full check. tests/python/test_codec_golden.py holds this
module to the C check's verdicts on the same inputs.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

from . import protocol
from .errors import BadJSON, BadName, TooLarge

DEPTH_MAX = 64
PAYLOAD_MAX = protocol.PAYLOAD_MAX

Payload = Union[Dict[str, Any], bytes, bytearray, memoryview, str]

# ---- names ---------------------------------------------------------------------

_names: Dict[str, bytes] = {}  # valid names seen, for the hot path
_NAMES_CACHED = 4096


def check_name(name: str) -> bytes:
    """The name's bytes, or BadName."""
    cached = _names.get(name)
    if cached is not None:
        return cached
    if not isinstance(name, str):
        raise BadName("the name must be a str, not %s" % type(name).__name__)
    raw = name.encode("utf-8", "replace")
    if not protocol.name_valid(raw):
        raise BadName(repr(name)[:160])
    if len(_names) < _NAMES_CACHED:
        _names[name] = raw
    return raw


# ---- JSON text: the full check ---------------------------------------------------


class _Refused(Exception):
    """Raised by the decoder hooks; becomes BadJSON."""


def _pairs(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused("duplicate object key %s" % json.dumps(key)[:80])
            seen.add(key)
    return obj


_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1


def _int(text: str) -> int:
    # More than 20 characters cannot fit; int() of thousands of digits is slow.
    if len(text) > 20 or not _INT_MIN <= int(text) <= _INT_MAX:
        raise _Refused("integer out of range: %s" % text[:40])
    return 0


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused("real number overflow: %s" % text[:40])
    return 0.0


def _constant(text: str) -> Any:
    raise _Refused("invalid token %s" % text)


_decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_int, parse_float=_float,
                            parse_constant=_constant)
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.S)


def _check_escapes(text: str) -> None:
    """\\u0000 and surrogate escapes that do not pair up are refused (jansson's
    rules; Python's decoder accepts both)."""
    expect_low_at = -1
    for match in _ESCAPE.finditer(text):
        if expect_low_at >= 0:
            code = int(match.group(1), 16) if match.group(1) else -1
            if match.start() != expect_low_at or not 0xDC00 <= code <= 0xDFFF:
                raise _Refused("invalid Unicode surrogate pair")
            expect_low_at = -1
            continue
        if match.group(1) is None:
            continue
        code = int(match.group(1), 16)
        if code == 0:
            raise _Refused("\\u0000 is not allowed")
        if 0xD800 <= code <= 0xDBFF:
            expect_low_at = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            raise _Refused("invalid Unicode low surrogate")
    if expect_low_at >= 0:
        raise _Refused("invalid Unicode surrogate pair")


def _depth(root: Any) -> int:
    """Deepest nesting of objects and arrays (the root object counts 1)."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > DEPTH_MAX:
                break
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return deepest


def check_json(data: bytes) -> None:
    """Checks JSON text; raises TooLarge or BadJSON with the reason."""
    if len(data) > PAYLOAD_MAX:
        raise TooLarge("payload above 1 MiB")
    nul = data.find(b"\0")
    if nul >= 0:
        raise BadJSON("NUL byte in payload (byte %d)" % nul)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJSON("invalid UTF-8 at byte %d" % exc.start) from None
    try:
        root = _decoder.decode(text)
        if "\\" in text:
            _check_escapes(text)
    except _Refused as exc:
        raise BadJSON(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise BadJSON("%s at line %d column %d (char %d)"
                      % (exc.msg, exc.lineno, exc.colno, exc.pos)) from None
    except RecursionError:
        raise BadJSON("nesting deeper than %d" % DEPTH_MAX) from None
    if not isinstance(root, dict):
        raise BadJSON("top level is not an object")
    if _depth(root) > DEPTH_MAX:
        raise BadJSON("nesting deeper than %d" % DEPTH_MAX)


# ---- payloads ----------------------------------------------------------------------

def _not_serialisable(obj: Any) -> Any:
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


Encode = Callable[[Any, int], Sequence[str]]


def _encoder(sort_keys: bool) -> Encode:
    """json's C encoder made once, not per call as JSONEncoder.encode makes it
    (half of a small dict's cost): encode(obj, 0) gives the text in pieces.
    JSONEncoder where that C encoder is missing or writes anything else. No
    cycle check: a cycle ends in RecursionError."""
    reference = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                                 sort_keys=sort_keys).encode
    probe = {"b": [1, -2.5e300, None, True, "\u00e9\n\"\\"], "a": {}}
    try:
        from json.encoder import (c_encode_basestring,  # type: ignore[attr-defined]
                                  c_make_encoder)
        encode: Encode = c_make_encoder(None, _not_serialisable, c_encode_basestring, None, ":",
                                        ",", sort_keys, False, False)
        if "".join(encode(probe, 0)) == reference(probe):
            return encode
    except (ImportError, TypeError, ValueError):
        pass
    return lambda obj, _: (reference(obj),)


_encode_sorted = _encoder(sort_keys=True)
_encode_plain = _encoder(sort_keys=False)
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_DIGITS = b"0123456789"
_join = "".join


def dict_bytes(payload: Dict[Any, Any]) -> bytes:
    """A dict's JSON text, checked: send()'s hot path."""
    try:
        text = _join(_encode_sorted(payload, 0))
        data = text.encode("utf-8")
    except TypeError as exc:
        # Keys of mixed types cannot be sorted; they may also collide as
        # text ({1: .., "1": ..}): serialise as given and check it all.
        try:
            data = _join(_encode_plain(payload, 0)).encode("utf-8")
        except (TypeError, ValueError, RecursionError):
            raise BadJSON(str(exc)[:200]) from None
        check_json(data)
        return data
    except ValueError as exc:  # NaN, a cycle, a lone surrogate
        raise BadJSON(str(exc)[:200]) from None
    except RecursionError:
        raise BadJSON("nesting deeper than %d" % DEPTH_MAX) from None
    # Sorted keys cannot repeat, Python floats are finite and the encoder
    # writes valid JSON: only the size, depth, huge integers and \u0000
    # remain, and the text shows where they might be. 65 levels take at
    # least 130 characters; an integer out of range, 19 digits in a row
    # (counting digits first is a fifth of the cost of the regex). Each test
    # here is the cheapest of those measured (str's `in`, not bytes').
    size = len(data)
    if size > 2 * DEPTH_MAX + 1:
        if size > PAYLOAD_MAX:
            raise TooLarge("payload above 1 MiB")
        if text.count("{") + text.count("[") > DEPTH_MAX:
            check_json(data)
            return data
    if "\\u0000" in text or (size - len(data.translate(None, _DIGITS)) >= 19
                               and _LONG_DIGITS.search(text) is not None):
        check_json(data)
    return data


def payload_bytes(payload: Payload) -> bytes:
    """The JSON text of a payload, checked: a dict is serialised; bytes-like
    and str payloads are JSON text. Raises BadJSON or TooLarge."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = bytes(payload)
    elif isinstance(payload, str):
        try:
            data = payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadJSON("invalid Unicode at char %d" % exc.start) from None
    elif isinstance(payload, dict):
        return dict_bytes(payload)
    else:
        raise BadJSON("a payload is a dict or JSON text, not %s" % type(payload).__name__)
    check_json(data)
    return data


def validate_task(name: str, payload: Payload) -> None:
    """Checks a task without sending it (fling_task_validate)."""
    check_name(name)
    payload_bytes(payload)
