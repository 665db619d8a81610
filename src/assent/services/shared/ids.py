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


# Random parts drawn from the OS a few hundred at a time: one system call per id cost more than the
# rest of making it, and each call lets go of the interpreter lock, so a bulk job making ids beside a
# busy writer thread waited to get it back every time. list.pop hands each out once, whatever thread
# asks; a forked child starts with none, so it never repeats its parent's.
_RANDOM: list[int] = []
os.register_at_fork(after_in_child=_RANDOM.clear)


def _random80() -> int:
    while True:
        try:
            return _RANDOM.pop()
        except IndexError:
            raw = os.urandom(10 * 256)
            _RANDOM.extend(int.from_bytes(raw[i : i + 10], "big") for i in range(0, len(raw), 10))


def new_id() -> str:
    r = _random80()
    p = _PAIRS
    return _time_part(time.time_ns() // 1_000_000) + "".join(
        (p[r >> 70], p[(r >> 60) & 1023], p[(r >> 50) & 1023], p[(r >> 40) & 1023],
         p[(r >> 30) & 1023], p[(r >> 20) & 1023], p[(r >> 10) & 1023], p[r & 1023])
    )  # fmt: skip
