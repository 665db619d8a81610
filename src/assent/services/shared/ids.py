"""Identifiers: 26-character ULIDs (48-bit millisecond time, 80 random bits, Crockford base32),
sortable by creation time, like Klaviyo's profile ids. Bulk imports make millions, so the
encoding goes ten bits at a time through a table."""

from __future__ import annotations

import functools
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # every 10-bit value as two characters


@functools.lru_cache(maxsize=1)
def _time_part(ms: int) -> str:
    return "".join(_PAIRS[(ms >> shift) & 1023] for shift in (40, 30, 20, 10, 0))  # 50 bits: 2 zero, then ms


def new_id() -> str:
    r = int.from_bytes(os.urandom(10), "big")
    p = _PAIRS
    return _time_part(time.time_ns() // 1_000_000) + "".join(
        (p[r >> 70], p[(r >> 60) & 1023], p[(r >> 50) & 1023], p[(r >> 40) & 1023],
         p[(r >> 30) & 1023], p[(r >> 20) & 1023], p[(r >> 10) & 1023], p[r & 1023])
    )  # fmt: skip
