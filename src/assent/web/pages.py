"""Rendering the public pages, and the proof a page request carries."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import Message, Receive

from ..domain import Proof
from ..services.accounts.settings import Look
from ..wire.bodies import read_limited
from ..wire.documents import error_response
from ..wire.errors import ApiError

log = logging.getLogger("assent.web")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def branded(look: Look) -> dict[str, Any]:
    """What the public pages' layout shows of the brand (name, postal address, logo, colour)."""
    return {"brand": look.brand, "postal_address": look.postal_address, "look": look}


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    # Pages that act on a token must not be framed or cached by shared caches.
    headers = {"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return templates.TemplateResponse(request, template, context or {}, status_code=status, headers=headers)


# Paths that machines call: they are answered in their own forms (JSON:API, plain text), never a page.
MACHINE_PATHS = ("/api/", "/client/", "/webhooks/")


def speaks_html(request: Request) -> bool:
    """Whether an unknown address is answered with a page: a browser asked (it accepts HTML) for a
    path outside the machines' ones. Any other client gets the API's JSON:API error."""
    return "text/html" in request.headers.get("accept", "") and not (request.url.path + "/").startswith(MACHINE_PATHS)


async def page_not_found(request: Request, exc: Exception) -> Response:
    """A page, not a JSON document, for a wrong link followed in a browser (console or public)."""
    if getattr(exc, "status_code", 404) == 405:
        title, message = "This page cannot do that", "Go back and use the page's own links and buttons."
        return render(request, "message.html", {"title": title, "message": message}, 405)
    title, message = "Page not found", "There is no page at this address. Check the link you followed."
    return render(request, "message.html", {"title": title, "message": message}, 404)


def proof_from(request: Request, source: str, **extra: Any) -> Proof:
    """Who did it and from where: the page, the IP and the user agent (personal data, kept apart)."""
    return Proof(
        source=source,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        **extra,
    )


class Refused(Exception):
    """A body a public page or webhook cannot take (too large, unreadable, a NUL character):
    answered with `status` by `refused`, logged as one warning line, never a traceback."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.id = str(uuid.uuid4())


def no_nul(name: str, value: str) -> str:
    """`value`, or Refused when it (or its field's name) holds a NUL character: PostgreSQL cannot
    store one, so it is refused the same way on every backend."""
    if "\x00" in value or "\x00" in name:
        raise Refused(400, f"The field {name!r} may not contain the NUL character.", name)
    return value


async def read_form(
    request: Request, limit: int, *, max_fields: int, max_files: int = 0, repeatable: Collection[str] | None = None
) -> tuple[FormData, bytes]:
    """The posted form (url-encoded or multipart) and its raw bytes, read through the one bounded
    body reader; Refused when too large, unreadable, or holding a NUL character, and (unless
    `repeatable` is None) when a field not in `repeatable` is given more than once."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in FORM_TYPES:
        raise Refused(415, "Send the form as application/x-www-form-urlencoded or multipart/form-data.")
    raw = await read_limited(request, limit)
    if raw is None:
        raise Refused(413, f"The request body is over {limit // 1024} KB.")
    form = await parse_form(request, raw, limit, max_fields=max_fields, max_files=max_files, repeatable=repeatable)
    return form, raw


async def parse_form(
    request: Request,
    raw: bytes,
    limit: int,
    *,
    max_fields: int,
    max_files: int = 0,
    repeatable: Collection[str] | None = None,
) -> FormData:
    """The form in `raw` (already read), as read_form checks it. A public form's field given twice
    (two emails) is refused rather than one of them taken: what a filter or a log read first may
    not be what would be written."""
    if request.headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded"):
        # The parser would quietly turn bytes that are not UTF-8 into U+FFFD (a valid address
        # character): refuse them, as a JSON body's are.
        try:
            for pair in raw.split(b"&"):
                unquote_to_bytes(pair.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "The form is not valid UTF-8.") from None
    try:
        form = await Request(request.scope, replay(raw)).form(
            max_files=max_files, max_fields=max_fields, max_part_size=limit
        )
    except (HTTPException, UnicodeDecodeError, ValueError) as e:
        raise Refused(400, f"The form could not be read: {getattr(e, 'detail', e)}") from None
    seen: set[str] = set()
    for name, value in form.multi_items():
        no_nul(name, value if isinstance(value, str) else value.filename or "")
        if repeatable is not None and name in seen and name not in repeatable:
            raise Refused(400, f"The form gives the field {name[:100]} more than once.", name[:100])
        seen.add(name)
    return form


def replay(body: bytes) -> Receive:
    """A receive channel that gives `body` again, for the form parser after the size check."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def refused(request: Request, exc: Exception) -> Response:
    """The answer to Refused, in the form the caller speaks: plain text to a webhook, a JSON:API
    error to the signup API's JSON, a page to a person (a form posted to the signup API too)."""
    assert isinstance(exc, Refused)
    log.warning("refused %s %s (error id %s): %s", request.method, request.url.path, exc.id, exc.message)
    path = request.url.path
    if path.startswith("/webhooks/"):
        return PlainTextResponse(exc.message, status_code=exc.status)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if path.startswith("/client/") and ctype not in FORM_TYPES:  # a browser's form post gets a page
        code = {413: "too_large", 415: "unsupported_media_type"}.get(exc.status, "invalid")
        error = ApiError(exc.status, code, exc.message, pointer="/")
        error.id = exc.id
        response = error_response([error])
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
    return render(
        request, "message.html", {"title": "This request could not be read", "message": exc.message}, exc.status
    )
