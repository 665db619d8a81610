"""The double opt-in confirmation link: `GET /c/{token}` shows the request with a Confirm button,
and only the button's `POST /c/{token}` confirms (link scanners and prefetchers GET every link in
a message, so a GET never changes anything). `/c/{token}/cancel` is "this wasn't me", and
`POST /c/{token}/resend` sends a fresh link when the first one expired."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..services.consent import double_optin as service
from ..services.shared.errors import NotFound
from ..services.shared.tokens import TokenError
from .pages import branded, proof_from, render

SOURCE = "confirmation page"


def _context(link: service.Link, **extra: Any) -> dict[str, Any]:
    return {**branded(link.look), "list_name": link.list_name, **extra}


def _message(request: Request, status: int, title: str, message: str, **context: Any) -> Response:
    page = {"brand": "", "postal_address": "", "title": title, "message": message, **context}
    return render(request, "confirm_result.html", page, status)


def _invalid(request: Request) -> Response:
    return _message(
        request, 400, "This link is not valid",
        "The confirmation link may have been cut short or changed. Use the link from the email itself.",
        error=True,
    )  # fmt: skip


def _gone(request: Request) -> Response:
    return _message(request, 404, "This link is no longer valid", "There is nothing left to confirm.", error=True)


def _expired(request: Request, link: service.Link) -> Response:
    # Gone for good, but the request may still be open: offer a fresh link (410, not 404).
    return _message(
        request, 410, "This link has expired",
        "Confirmation links are valid for a limited time. We can send you a new one.",
        resend=link.status == service.PENDING, action=f"/c/{request.path_params['token']}/resend",
        error=True, **_context(link),
    )  # fmt: skip


def _confirmed(request: Request, link: service.Link, already: bool) -> Response:
    title = "You're already subscribed" if already else "You're subscribed"
    text = f"Your subscription to {link.list_name} is confirmed."
    if already:
        text = f"You confirmed your subscription to {link.list_name} before: there is nothing more to do."
    return _message(request, 200, title, text, **_context(link))


def _closed(request: Request, link: service.Link) -> Response:
    return _message(
        request, 409, "There is nothing to confirm",
        "This request is no longer open: it was cancelled, or the address it was sent to has changed. "
        "Sign up again if you would like to subscribe.",
        **_context(link),
    )  # fmt: skip


def routes(engine: Engine) -> list[BaseRoute]:
    async def read(request: Request) -> service.Link | Response:
        try:
            return await anyio.to_thread.run_sync(service.read_link, engine, request.path_params["token"])
        except TokenError:
            return _invalid(request)
        except NotFound:
            return _gone(request)

    async def confirm(request: Request) -> Response:
        link = await read(request)
        if isinstance(link, Response):
            return link
        if link.expired:
            return _expired(request, link)
        if request.method == "POST" and link.status == service.PENDING:
            proof = proof_from(request, SOURCE, message_id=link.request.message_id)
            try:
                status = await anyio.to_thread.run_sync(service.confirm, engine, link, proof)
            except NotFound:
                return _gone(request)
            return _confirmed(request, link, already=False) if status == service.CONFIRMED else _closed(request, link)
        if link.status == service.CONFIRMED:  # a second click, or a GET after confirming: idempotent
            return _confirmed(request, link, already=True)
        if link.status == service.CLOSED:
            return _closed(request, link)
        return render(request, "confirm.html", _context(link, action=request.url.path))

    async def cancel(request: Request) -> Response:
        link = await read(request)
        if isinstance(link, Response):
            return link
        # An expired link may still refuse: saying "this wasn't me" is always allowed.
        if link.status == service.CONFIRMED:
            return _message(
                request, 409, "This subscription was already confirmed",
                "To stop receiving these emails, use the unsubscribe link at the bottom of any of them.",
                **_context(link),
            )  # fmt: skip
        if link.status == service.CLOSED:
            return _message(request, 200, "Nothing to cancel", "This request is no longer open.", **_context(link))
        if request.method != "POST":  # GET and HEAD only show the page
            return render(request, "confirm_cancel.html", _context(link, action=request.url.path))
        proof = proof_from(request, SOURCE, message_id=link.request.message_id, note="this wasn't me")
        try:
            await anyio.to_thread.run_sync(service.cancel, engine, link, proof)
        except NotFound:
            return _gone(request)
        return _message(
            request, 200, "Thanks for letting us know",
            f"You won't be subscribed to {link.list_name}, and we won't ask again for this request.",
            **_context(link),
        )  # fmt: skip

    async def resend(request: Request) -> Response:
        link = await read(request)
        if isinstance(link, Response):
            return link
        try:
            outcome = await anyio.to_thread.run_sync(service.resend, engine, link)
        except NotFound:
            return _gone(request)
        if outcome == service.SENT:
            return _message(
                request, 200, "We've sent you a new link",
                f"Check your inbox for a new email asking you to confirm your subscription to {link.list_name}.",
                **_context(link),
            )  # fmt: skip
        if outcome == service.TOO_SOON:
            return _message(
                request, 429, "We've just sent you a link",
                "Check your inbox (and spam folder). You can ask for another one in a few minutes.",
                **_context(link),
            )  # fmt: skip
        if link.status == service.CONFIRMED:
            return _confirmed(request, link, already=True)
        return _closed(request, link)

    return [
        Route("/c/{token}", confirm, methods=["GET", "POST"]),
        Route("/c/{token}/cancel", cancel, methods=["GET", "POST"]),
        Route("/c/{token}/resend", resend, methods=["POST"]),
    ]
