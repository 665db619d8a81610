"""Reading request bodies, safely: every body is read through read_limited (the API's, the public
pages' and the webhooks'), and every JSON body (the API's and the public signup's) is turned from
bytes into a typed document by decode.

Before msgspec sees a byte the body's nesting depth is bounded (deep nesting would otherwise
recurse until Python gives up), and after it no string may hold a NUL character: PostgreSQL
refuses NUL in text and JSONB, so it is refused on every backend alike, with the pointer of the
string that holds it. Each refusal is an ApiError (400, or 413 for size, checked by the reader)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.requests import Request

from ..services.shared.nesting import MAX_DEPTH as MAX_DEPTH
from ..services.shared.nesting import too_deep as too_deep
from .errors import ApiError, from_validation, invalid

log = logging.getLogger("assent.api.bodies")


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


def refuse(status: int, code: str, detail: str, *, pointer: str | None = "/") -> ApiError:
    """A refusal of a hostile or broken body: one warning line naming the error's id (also the
    id the client sees), never a traceback."""
    error = ApiError(status, code, detail, pointer=pointer)
    log.warning("refused request body (error id %s): %s %s", error.id, code, detail)
    return error


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
        raise from_validation(e) from None
    except msgspec.DecodeError as e:
        raise refuse(400, "parse_error", f"The body is not valid JSON: {e}") from None
    except UnicodeDecodeError as e:
        raise refuse(400, "parse_error", f"The body is not valid UTF-8 (byte {e.start}).") from None
    except RecursionError:  # unreachable after too_deep(); kept so no input can turn into a 500
        raise refuse(400, "too_deep", f"The body nests objects and arrays more than {MAX_DEPTH} deep.") from None
    # A NUL can only arrive escaped (a raw one is malformed JSON); look for where only then.
    if b"\\u0000" in raw:
        pointer = nul_pointer(msgspec.json.decode(raw))
        if pointer is not None:
            raise refuse(400, "invalid", "A string may not contain the NUL character (\\u0000).", pointer=pointer)
    return document
