"""How deep JSON text nests objects and arrays, bounded before any parser sees it: a parser recurses
once per level, so deep enough nesting would exhaust Python's stack. The API refuses bodies over
MAX_DEPTH (wire.bodies) and an import refuses NDJSON lines over it (imports.rows), with the same check."""

from __future__ import annotations

import re

MAX_DEPTH = 64  # objects and arrays inside one another; a Klaviyo document needs about ten
_OPENS = (ord("["), ord("{"))
_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_CHUNK = 4096


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests objects and arrays more than `limit` deep, in linear time with
    no recursion. Brackets inside strings do not count: escaped backslashes and quotes are removed
    first, so the remaining quotes delimit the strings."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only quotes and brackets, with the quotes that touch dropped in pairs: a string holding no
    # bracket, or the end of one string and the start of the next with no bracket between them.
    # Either way no bracket changes sides, and the quotes left still alternate open and close.
    marks = raw.translate(None, _NOT_MARKS).replace(b'""', b"")
    brackets = b"".join(marks.split(b'"')[::2]) if b'"' in marks else marks
    return _deeper_than(brackets, limit)


def _deeper_than(brackets: bytes, limit: int) -> bool:
    """Whether the brackets nest more than `limit` deep. Each pass drops the innermost pairs, "{}"
    then "[]", so it lowers well-formed nesting by two levels at most: brackets gone within
    limit // 2 passes nest no deeper than `limit` (a JSON document's usual case, in a few passes
    at the speed of bytes.replace). Otherwise they are counted one by one."""
    rest = brackets
    for _ in range(limit // 2):
        shorter = rest.replace(b"{}", b"").replace(b"[]", b"")
        if not shorter:
            return False
        if len(shorter) == len(rest):
            break  # nothing pairs any more: mismatched brackets, counted below
        rest = shorter
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
