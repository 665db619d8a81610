"""JSON:API error documents, as Klaviyo writes them: `errors[]` with id, status, code, title,
detail and, where one field is at fault, `source.pointer` or `source.parameter`."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import msgspec

from ..domain import DomainError
from ..services.shared.errors import Conflict, IdentityConflict, NotFound

TITLES = {
    400: "Invalid input.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "Not acceptable.",
    409: "Conflict.",
    413: "Request entity too large.",
    415: "Unsupported media type.",
    429: "Request was throttled.",
    500: "A server error occurred.",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter
        self.meta = meta
        self.headers = headers or {}
        self.title = title or TITLES.get(status, "Error.")
        self.id = str(uuid.uuid4())  # the client's handle on it, and what the server log names

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }
        source = {k: v for k, v in (("pointer", self.pointer), ("parameter", self.parameter)) if v is not None}
        if source:
            error["source"] = source
        error["links"] = {}
        if self.meta:
            error["meta"] = self.meta
        return error


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    return ApiError(400, "invalid", detail, pointer=pointer, parameter=parameter)


def not_found(what: str, value: str, *, pointer: str | None = None) -> ApiError:
    """A missing resource: by default its id came in the URL's path, so the source is that path
    parameter, `id` (JSON:API's source.parameter), not a place in a body; an id a body gave is
    pointed at with `pointer` (say /data/id)."""
    parameter = None if pointer is not None else "id"
    return ApiError(404, "not_found", f"A {what} with id {value} does not exist.", pointer=pointer, parameter=parameter)


def from_domain(e: DomainError, base: str = "/data/attributes") -> ApiError:
    """A domain or service error as an API error; `base` is where the error's field sits in the body."""
    # An error about one item of a job keeps the code (and so the status) of what went wrong.
    status = (
        404 if isinstance(e, NotFound) or e.code == "not_found"
        else 409 if isinstance(e, Conflict) or e.code in (Conflict.code, IdentityConflict.code, "erased_identifier")
        else 400
    )  # fmt: skip
    detail = f"{e.field}: {e.message}" + ("" if e.value is None else f" (got {e.value!r})")
    field = e.field.replace(".", "/")
    return ApiError(status, e.code, detail, pointer=f"{base}/{field}" if base else f"/{field}")


_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]|(\[\.\.\.\])")


def _segments(path: str) -> list[str | int | None]:
    """msgspec's path as keys, indexes and None for `[...]` (a dict's value, its key unsaid)."""
    return [name or (int(index) if index else None) for name, index, _ in _PATH_PART.findall(path.removeprefix("$"))]


def _escaped(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def pointer_of(path: str, raw: bytes | None = None) -> str:
    """msgspec's `$.data.attributes.profiles.data[0]` as a JSON pointer `/data/attributes/profiles/data/0`.
    A dict's value (`[...]`: msgspec does not say its key) is looked for in `raw`; without it, or
    when not found, the pointer names the dict."""
    segments = _segments(path)
    if None in segments:
        found = _key_at(raw, segments) if raw is not None else None
        segments = found if found is not None else segments[: segments.index(None)]
    return "".join(f"/{_escaped(s)}" for s in segments if s is not None) or "/"


class _Number(str):
    """A number as written, so that its text is decoded again as it came."""


def _as_written(value: Any) -> Any:
    if isinstance(value, _Number):
        return msgspec.Raw(value.encode())
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    return value


def _refused(value: Any) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(_as_written(value)))
    except (msgspec.ValidationError, msgspec.DecodeError):
        return True
    return False


def _key_at(raw: bytes, segments: list[str | int | None]) -> list[str | int | None] | None:
    """`segments` with each `[...]` replaced by the key whose value msgspec refuses on its own
    (a number out of range); None when there is not exactly such a path."""
    try:
        document = json.loads(raw, parse_float=_Number, parse_int=_Number)
    except (ValueError, RecursionError):
        return None

    def walk(value: Any, rest: list[str | int | None], done: list[str | int | None]) -> list[str | int | None] | None:
        if not rest:
            return done if _refused(value) else None
        head, tail = rest[0], rest[1:]
        if head is None:
            if not isinstance(value, dict):
                return None
            for key, item in value.items():
                found = walk(item, tail, [*done, key])
                if found is not None:
                    return found
            return None
        try:
            return walk(value[head], tail, [*done, head])
        except (KeyError, IndexError, TypeError):
            return None

    return walk(document, segments, [])


def from_validation(e: msgspec.ValidationError, raw: bytes | None = None) -> ApiError:
    message = str(e)
    text, _, path = message.rpartition(" - at `")
    if not text:
        return invalid(message, pointer="/")
    pointer = pointer_of(path.rstrip("`"), raw)
    unknown = _UNKNOWN_FIELD.fullmatch(text)
    if unknown is not None:  # point at the key itself: a misspelt channel or purpose is named
        pointer = f"{pointer.rstrip('/')}/{unknown.group(1).replace('~', '~0').replace('/', '~1')}"
    where = path.rstrip("`") if "[...]" not in path else "$" + pointer.replace("/", ".")
    return invalid(f"{text} at {where}", pointer=pointer)


_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.*)`", re.DOTALL)
