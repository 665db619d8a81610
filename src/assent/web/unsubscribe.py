"""The unsubscribe link: `POST /u/{token}` with `List-Unsubscribe=One-Click` is RFC 8058's
one-click (unsubscribes at once, 200, no redirect, no cookie, no login); `GET /u/{token}` is the
page that asks, and a plain form POST from it unsubscribes from the list or from all email
marketing, with an optional reason. A GET never changes anything: link scanners and prefetchers
follow every link in a message."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..domain import DomainError
from ..services.shared.errors import NotFound
from ..services.shared.tokens import TokenError
from ..services.workflows import preferences
from ..services.workflows import unsubscribe as service
from ..wire.bodies import read_limited
from .pages import Refused, branded, no_nul, parse_form, proof_from, render

MAX_BODY = 64 * 1024  # a one-click body is 26 bytes; the page's form at most a few hundred
_HEADERS = {"Cache-Control": "no-store"}


def _plain(text: str, status: int = 200) -> Response:
    # The one-click answer: a tiny body, no redirect, no cookie (RFC 8058 §3.2).
    return PlainTextResponse(text + "\n", status_code=status, headers=_HEADERS)


def _error(request: Request, status: int, title: str, message: str, context: dict[str, Any] | None = None) -> Response:
    page = {"title": title, "message": message, "brand": "", "postal_address": "", **(context or {})}
    return render(request, "message.html", page, status)


def _invalid(request: Request) -> Response:
    return _error(
        request, 400, "This link is not valid",
        "The unsubscribe link may have been cut short or changed. Use the link from the email itself, "
        "or reply to the email and ask to be unsubscribed.",
    )  # fmt: skip


def _gone(request: Request) -> Response:
    return _error(
        request, 404, "Nothing to unsubscribe", "This address is no longer on file: no more email will be sent to it."
    )


async def _form(request: Request) -> tuple[dict[str, str], bytes]:
    """The posted fields (url-encoded or multipart) and the raw body (Refused when too large)."""
    raw = await read_limited(request, MAX_BODY)
    if raw is None:
        raise Refused(413, "The request body is too large.")
    try:
        # A field given twice (two scopes) is refused. The one-click pair sent twice alike still
        # unsubscribes: it has one meaning, and a receiver that sends a message's List-Unsubscribe-Post
        # pair may send it twice when a sender doubled that header; refusing would lose an opt-out.
        form = await parse_form(request, raw, MAX_BODY, max_fields=20, max_files=4, repeatable=("List-Unsubscribe",))
    except Refused as e:
        if e.field is not None:  # a NUL character: refused, not ignored
            raise
        return {}, raw  # a malformed multipart body: read as no fields (a bare one-click body counts)
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):  # a part sent with a filename: its text
            value = no_nul(name, (await value.read(MAX_BODY)).decode("utf-8", "replace"))
        if fields.setdefault(name, value) != value:  # two values: none is clearly the one meant
            await form.close()
            raise Refused(400, f"The form gives the field {name} more than once.", name)
    await form.close()
    return fields, raw


def _is_one_click(fields: dict[str, str], raw: bytes) -> bool:
    # The field as a mailbox provider sends it (multipart or url-encoded), or the bare body of a
    # sender that names no content type. The page's own form never carries it.
    return fields.get("List-Unsubscribe") == "One-Click" or raw.strip() == service.ONE_CLICK_BODY.encode()


def _page_context(engine: Engine, token: str) -> dict[str, Any]:
    """The page's context; runs in a worker thread (it reads the database). TokenError, NotFound."""
    data = service.read(engine, token)
    recipient = service.describe(engine, data)
    return {
        "recipient": recipient,
        **branded(recipient.look),
        "reasons": service.REASONS,
        "preferences_url": "/p/" + preferences.make_token(engine, data["a"], data["p"]),
    }


def routes(engine: Engine) -> list[BaseRoute]:
    async def show(request: Request, token: str, error: str | None = None, status: int = 200) -> Response:
        try:
            context = await anyio.to_thread.run_sync(_page_context, engine, token)
        except TokenError:
            return _invalid(request)
        except NotFound:
            return _gone(request)
        context.update(action=request.url.path, error=error)
        return render(request, "unsubscribe.html", context, status)

    async def act(request: Request, token: str) -> Response:
        fields, raw = await _form(request)
        if _is_one_click(fields, raw):
            proof = proof_from(request, "one-click")
            try:
                await anyio.to_thread.run_sync(lambda: service.one_click(engine, service.read(engine, token), proof))
            except TokenError:
                return _plain("This unsubscribe link is not valid.", 400)
            except NotFound:
                # The profile was erased since the send: there is nobody left to send to.
                return _plain("Nothing to unsubscribe.")
            return _plain("You have been unsubscribed.")
        scope = fields.get("scope")
        if scope is None:  # shows the invalid-link page instead when the token is bad
            return await show(request, token, "Choose what to unsubscribe from.", 400)
        proof = proof_from(request, "unsubscribe page")

        def unsubscribe() -> tuple[service.Unsubscribed, dict[str, Any]]:
            data = service.read(engine, token)
            done = service.unsubscribe_from(engine, data, scope, fields.get("reason"), proof, note=fields.get("note"))
            return done, _page_context(engine, token)

        try:
            done, context = await anyio.to_thread.run_sync(unsubscribe)
        except TokenError:
            return _invalid(request)
        except NotFound:
            return _gone(request)
        except DomainError as e:
            return await show(request, token, e.message, 400)
        context.update(done=done, action=request.url.path)
        return render(request, "unsubscribe_done.html", context)

    async def endpoint(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            return await act(request, token)
        return await show(request, token)

    return [Route("/u/{token}", endpoint, methods=["GET", "POST"])]
