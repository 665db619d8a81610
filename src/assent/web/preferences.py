"""The preference centre, `/p/{token}`: a plain form of channels and public lists. GET only
reads; POST saves the differences. The token is the capability, so no login and no CSRF token."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..domain import DomainError
from ..services.shared.errors import NotFound
from ..services.shared.tokens import TokenError
from ..services.workflows import preferences as service
from .pages import branded, proof_from, read_form, render

MAX_BODY = 64 * 1024
MAX_FIELDS = 200  # a form has a few channels and lists; more is not a person using the page


def _page(request: Request, prefs: service.Preferences, *, status: int = 200, **extra: Any) -> Response:
    context = {
        "prefs": prefs,
        **branded(prefs.look),
        "action": request.url.path,
        "consent_text_version": service.CONSENT_TEXT_VERSION,
        "offered_only": [c.value for c in service.OFFERED_ONLY],
        **extra,
    }
    return render(request, "preferences.html", context, status)


def _problem(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "message.html", {"title": title, "message": message}, status)


def _refused(request: Request, e: Exception) -> Response:
    if isinstance(e, TokenError):
        return _problem(
            request, 400, "This link is not valid", "Use the preferences link from one of our messages as it was sent."
        )
    return _problem(request, 404, "This link no longer works", "We have no preferences stored for this link.")


def routes(engine: Engine) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            account_id, profile_id = await anyio.to_thread.run_sync(service.read_token, engine, token)
            if request.method != "POST":
                prefs = await anyio.to_thread.run_sync(service.load, engine, account_id, profile_id)
                return _page(request, prefs)
        except (TokenError, NotFound) as e:
            return _refused(request, e)

        form, _ = await read_form(request, MAX_BODY, max_fields=MAX_FIELDS, repeatable=("channel", "list", "offered"))
        wanted: service.Wanted | None = None
        proof = proof_from(request, "preference page", consent_text_version=service.CONSENT_TEXT_VERSION)
        try:
            wanted = service.Wanted(
                channels=service.channel_names([str(v) for v in form.getlist("channel")], "channel"),
                lists=frozenset(str(v) for v in form.getlist("list")),
                phone_number=str(form.get("phone_number") or "") or None,
                unsubscribe_all_email=form.get("action") == "unsubscribe_all",
                offered=service.channel_names([str(v) for v in form.getlist("offered")], "offered"),
            )
            saved = await anyio.to_thread.run_sync(service.save, engine, account_id, profile_id, wanted, proof)
        except NotFound as e:
            return _refused(request, e)
        except DomainError as e:
            # Nothing was written: show the form again as it was sent, with what went wrong.
            prefs = await anyio.to_thread.run_sync(service.load, engine, account_id, profile_id)
            message = e.message[:1].upper() + e.message[1:].rstrip(".") + "."
            return _page(
                request,
                prefs if wanted is None else service.as_asked(prefs, wanted),
                status=400,
                error=message,
                error_field=e.field,
                phone_typed=None if wanted is None else wanted.phone_number,
            )
        return _page(
            request,
            saved.preferences,
            saved=True,
            unsubscribed_all=wanted.unsubscribe_all_email,
            confirmation_needed=saved.confirmation_needed,
        )

    return [Route("/p/{token}", page, methods=["GET", "POST"])]
