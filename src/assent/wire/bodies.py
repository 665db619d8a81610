"""Reading request bodies, safely: every body is read through read_limited (the API's, the public
pages' and the webhooks'), and every JSON body (the API's and the public signup's) is turned from
bytes into a typed document by decode.

Before msgspec sees a byte the body's nesting depth is bounded (deep nesting would otherwise
recurse until Python gives up), and after it no string may hold a NUL character: PostgreSQL
refuses NUL in text and JSONB, so it is refused on every backend alike, with the pointer of the
string that holds it. An object may not repeat a key either: msgspec (like most parsers) keeps
the last value while a validator, a WAF or a log reading the first sees another document, so a
repeated key is refused with its pointer. Each refusal is an ApiError (400, or 413 for size,
checked by the reader)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..services.shared.nesting import MAX_DEPTH as MAX_DEPTH
from ..services.shared.nesting import too_deep as too_deep
from .documents import error_response
from .errors import ApiError, from_validation, invalid

log = logging.getLogger("assent.api.bodies")

_GENERIC = msgspec.json.Decoder()
_ENCODE = msgspec.json.Encoder()


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it passes `limit` bytes: a declared length over it is refused
    before a byte is read, and a streamed body is read no further than the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def nul_pointer(value: Any, at: str = "") -> str | None:
    """The JSON pointer of the first string (or object key) holding a NUL character, if any."""
    if isinstance(value, str):
        return (at or "/") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{at}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if "\x00" in str(key):
                return here
            found = nul_pointer(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_pointer(item, f"{at}/{i}")
            if found:
                return found
    return None


_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def lone_surrogate(raw: bytes) -> tuple[str, int] | None:
    """The first \\uD800-\\uDFFF escape in `raw` that is not half of a pair, and its byte offset."""
    pending = None  # a high surrogate's escape waiting for its low half right after it
    for m in _ESCAPE.finditer(raw):
        value = int(m.group(1), 16) if m.group(1) else -1
        if pending is not None:
            if 0xDC00 <= value <= 0xDFFF and m.start() == pending.end():
                pending = None
                continue
            return pending.group(0).decode(), pending.start()
        if 0xD800 <= value <= 0xDBFF:
            pending = m
        elif 0xDC00 <= value <= 0xDFFF:
            return m.group(0).decode(), m.start()
    return None if pending is None else (pending.group(0).decode(), pending.start())


def _colons(raw: bytes) -> int:
    """The colons of a JSON text, escaped ones included: one per object key, plus those inside
    strings (an escaped backslash before "u003a" makes this count high, never low)."""
    escaped = raw.count(b"\\u003a") + raw.count(b"\\u003A") if b"\\u003" in raw else 0
    return raw.count(b":") + escaped


def repeated_key(raw: bytes, generic: Any) -> str | None:
    """The JSON pointer of the first repeated object key in `raw` (valid JSON), None when no
    object repeats a key. `generic` is `raw` decoded without a type, where a repeated key left
    one entry: re-encoded, it has a key (and its colon) fewer than `raw`, and no more colons in
    strings. So equal counts (the cost: one count of each text, in C) mean no repeat; only
    when they differ is the text parsed again, pair by pair, to find where."""
    if _colons(raw) == _ENCODE.encode(generic).count(b":"):
        return None
    try:
        pairs = json.loads(raw, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):  # msgspec read it; should json not, there is no pointer to give
        return "/"
    return _first_repeat(pairs, "")


class _Pairs(list[tuple[str, Any]]):
    """An object as json.loads read it: its pairs in order, repeats kept."""


def _first_repeat(value: Any, at: str) -> str | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, _ in value:
            if key in seen:
                return f"{at}/{key.replace('~', '~0').replace('/', '~1')}"
            seen.add(key)
        items = [(f"{at}/{k.replace('~', '~0').replace('/', '~1')}", v) for k, v in value]
    elif isinstance(value, list):
        items = [(f"{at}/{i}", v) for i, v in enumerate(value)]
    else:
        return None
    for here, item in items:
        found = _first_repeat(item, here)
        if found is not None:
            return found
    return None


def refuse(status: int, code: str, detail: str, *, pointer: str | None = "/") -> ApiError:
    """A refusal of a hostile or broken body: one warning line naming the error's id (also the
    id the client sees), never a traceback."""
    error = ApiError(status, code, detail, pointer=pointer)
    log.warning("refused request body (error id %s): %s %s", error.id, code, detail)
    return error


async def client_gone(request: Request, exc: Exception) -> Response:
    """The handler of ClientDisconnect, for every route: the client closed the connection before
    its body arrived whole (a dropped line, a slow client giving up). Nothing was decoded, so
    nothing was written, and nobody is left to answer: one warning line, not a traceback."""
    error = ApiError(400, "parse_error", "The connection closed before the body arrived whole.")
    log.warning("%s %s: the client closed the connection before its body arrived (error id %s)",
                request.method, request.url.path, error.id)  # fmt: skip
    return error_response([error])


async def read_document(request: Request, limit: int, type_: Any) -> Any:
    """A JSON body (the API's, the public signup's) read through read_limited and decoded into
    `type_`: a 413 past `limit`, else what decode refuses."""
    raw = await read_limited(request, limit)
    if raw is None:
        size = f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit // 1024} KB"
        raise refuse(413, "too_large", f"The body is over {size}.", pointer=None)
    return decode(raw, type_)


def decode(raw: bytes, type_: Any) -> Any:
    """`raw` decoded into `type_`, or an ApiError naming the pointer of what is wrong."""
    if not raw.strip():
        raise invalid("The request needs a JSON:API document in its body.", pointer="/")
    if too_deep(raw):
        raise refuse(400, "too_deep", f"The body nests objects and arrays more than {MAX_DEPTH} deep.")
    try:
        document = msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as e:
        raise from_validation(e, raw) from None
    except msgspec.DecodeError as e:
        lone = lone_surrogate(raw)
        if lone is not None:  # msgspec says "truncated" or "malformed": say what it is
            raise refuse(400, "parse_error", f"The body is not valid JSON: a string holds a lone UTF-16 surrogate "
                         f"({lone[0]} at byte {lone[1]}), which no Unicode text may; send the character itself "
                         "or both halves of its escaped pair.") from None  # fmt: skip
        raise refuse(400, "parse_error", f"The body is not valid JSON: {e}") from None
    except UnicodeDecodeError as e:
        raise refuse(400, "parse_error", f"The body is not valid UTF-8 (byte {e.start}).") from None
    except RecursionError:  # unreachable after too_deep(); kept so no input can turn into a 500
        raise refuse(400, "too_deep", f"The body nests objects and arrays more than {MAX_DEPTH} deep.") from None
    try:
        generic = _GENERIC.decode(raw)
    except msgspec.DecodeError as e:  # what the typed decode skipped unread (an unknown field's value)
        raise refuse(400, "parse_error", f"The body is not valid JSON: {e}") from None
    repeated = repeated_key(raw, generic)
    if repeated is not None:
        raise refuse(400, "invalid", "An object repeats this key: give each key once.", pointer=repeated)
    # A NUL can only arrive escaped (a raw one is malformed JSON); look for where only then.
    if b"\\u0000" in raw:
        pointer = nul_pointer(generic)
        if pointer is not None:
            raise refuse(400, "invalid", "A string may not contain the NUL character (\\u0000).", pointer=pointer)
    return document
