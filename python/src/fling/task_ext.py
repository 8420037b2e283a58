"""FLP/1.2 task extensions (proto/SPEC.md §3.6): what a producer asks of the
broker beyond FLP/1.1 (a delay or a due time, a priority, a unique key), in
the one encoding the spec allows; proto/fling_task_ext.c is C's."""
from __future__ import annotations

import re
import struct
from typing import Optional

PRIORITY_MAX = 9
UNIQUE_KEY_MAX = 128
_EXT_DELAY = struct.Struct(">BBI")
_EXT_DUE_AT = struct.Struct(">BBQ")
_EXT_UNIQUE = struct.Struct(">BBI")
_KEY = re.compile(rb"[!-~]{1,128}\Z")


def task_ext(delay_ms: int = 0, due_at_ms: int = 0, priority: int = 0,
             unique_key: Optional[bytes] = None, key_ttl_ms: int = 0) -> bytes:
    """The extensions of one record, in the one encoding the spec allows
    (increasing type order; a default is an absent extension): b"" for a
    plain task. Raises ValueError with the C library's text for what
    fling_task_ext_problem() refuses, and for values out of their field."""
    if delay_ms and due_at_ms:
        raise ValueError("a delay and a due time are mutually exclusive")
    if not 0 <= priority <= PRIORITY_MAX:
        raise ValueError("priority above 9")
    if not (0 <= delay_ms <= 0xFFFFFFFF and 0 <= due_at_ms < 1 << 64
            and 0 <= key_ttl_ms <= 0xFFFFFFFF):
        raise ValueError("a delay, due time or key TTL out of range")
    if unique_key is not None and not _KEY.match(unique_key):
        raise ValueError("unique key empty, above 128 bytes or not printable ASCII without "
                         "spaces")
    parts = []
    if delay_ms:
        parts.append(_EXT_DELAY.pack(1, 4, delay_ms))
    if due_at_ms:
        parts.append(_EXT_DUE_AT.pack(2, 8, due_at_ms))
    if priority:
        parts.append(bytes((3, 1, priority)))
    if unique_key is not None:
        parts.append(_EXT_UNIQUE.pack(4, 4 + len(unique_key), key_ttl_ms) + unique_key)
    return b"".join(parts)
