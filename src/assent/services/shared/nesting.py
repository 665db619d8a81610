"""How deep JSON text nests objects and arrays, bounded before any parser sees it: a parser recurses
once per level, so deep enough nesting would exhaust Python's stack. The API refuses bodies over
MAX_DEPTH (wire.bodies) and an import refuses NDJSON lines over it (imports.rows), with the same check."""

from __future__ import annotations

import re

MAX_DEPTH = 64  # objects and arrays inside one another; a Klaviyo document needs about ten
_OPENS = (ord("["), ord("{"))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 4096


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests objects and arrays more than `limit` deep, in linear time with
    no recursion. Brackets inside strings do not count: escaped backslashes and quotes are removed
    first, so the remaining quotes delimit the strings."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    depth = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = brackets[start : start + _CHUNK]
        opens = chunk.count(b"[") + chunk.count(b"{")
        if depth + opens <= limit:  # cannot pass the limit inside this chunk
            depth += 2 * opens - len(chunk)
            continue
        for c in chunk:
            depth += 1 if c in _OPENS else -1
            if depth > limit:
                return True
    return False


_TOKENS = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?|[\[\]{}]', re.DOTALL)


def deepest_key(text: str, limit: int = MAX_DEPTH) -> str | None:
    """The key of the top-level object whose value first nests past `limit` (for a message naming
    it), or None when that is not a key's value (an array, or text that is not an object)."""
    depth, key = 0, None
    for m in _TOKENS.finditer(text):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return key
        elif token in "]}":
            depth -= 1
        elif depth == 1 and m.group(2) is not None:
            key = m.group(1)
    return None
