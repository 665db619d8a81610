"""JSON:API error documents, as Klaviyo writes them: `errors[]` with id, status, code, title,
detail and, where one field is at fault, `source.pointer` or `source.parameter`."""

from __future__ import annotations

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


_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def pointer_of(path: str) -> str:
    """msgspec's `$.data.attributes.profiles.data[0]` as a JSON pointer `/data/attributes/profiles/data/0`."""
    return "".join(f"/{name or index}" for name, index in _PATH_PART.findall(path.removeprefix("$"))) or "/"


def from_validation(e: msgspec.ValidationError) -> ApiError:
    message = str(e)
    text, _, path = message.rpartition(" - at `")
    if not text:
        return invalid(message, pointer="/")
    pointer = pointer_of(path.rstrip("`"))
    unknown = _UNKNOWN_FIELD.fullmatch(text)
    if unknown is not None:  # point at the key itself: a misspelt channel or purpose is named
        pointer = f"{pointer.rstrip('/')}/{unknown.group(1).replace('~', '~0').replace('/', '~1')}"
    return invalid(f"{text} at {path.rstrip('`')}", pointer=pointer)


_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(.*)`", re.DOTALL)
