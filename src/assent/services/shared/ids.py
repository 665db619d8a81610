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


# Random parts drawn from the OS a few hundred at a time: one system call per id cost more than
# the rest of making it, and each call lets go of the interpreter lock, so a bulk job making ids
# beside a busy writer thread waited to get it back every time. Each random byte gives one
# character, its low five bits (256 is a multiple of 32, so each is uniform): 16 bytes make the
# 80 random bits, turned into Crockford base32 by one bytes.translate, in C (base64.b32encode
# works five bytes at a time in Python). list.pop hands each part out once, whatever thread asks;
# a forked child starts with none, so it never repeats its parent's.
_FIVE_BITS = bytes(_CROCKFORD.encode()[b & 31] for b in range(256))
_RANDOM: list[str] = []
os.register_at_fork(after_in_child=_RANDOM.clear)


def _random_parts(raw: bytes) -> list[str]:
    """Each 16 bytes of `raw` as an id's random part: 16 Crockford base32 characters, one for the
    low five bits of each byte."""
    text = raw.translate(_FIVE_BITS).decode()
    return [text[i : i + 16] for i in range(0, len(text), 16)]


def _random80() -> str:
    while True:
        try:
            return _RANDOM.pop()
        except IndexError:
            _RANDOM.extend(_random_parts(os.urandom(16 * 256)))


def new_id() -> str:
    return _time_part(time.time_ns() // 1_000_000) + _random80()
