"""The console's profile pages: search, the profile (consent panel, identifiers, properties, lists,
pending opt-ins, timeline, as of a past date), the actions with their confirmation and reason,
and the decision tester."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...domain import DomainError
from ...domain.instants import in_utc
from ...services.consent import double_optin
from ...services.console import actions
from ...services.console import profiles as views
from ...services.console.staff import Forbidden
from ...services.shared.errors import NotFound
from .common import guarded, page, refused, text
from .session import Session

# What each action's confirmation page says, and what the profile page says once it is done.
ACTIONS: dict[str, tuple[str, str]] = {
    "subscribe": ("Subscribe", "Consent recorded."),
    "unsubscribe": ("Unsubscribe", "Unsubscribed."),
    "suppress": ("Suppress email", "Email suppressed."),
    "unsuppress": ("Lift the manual suppression", "Manual suppression lifted."),
    "remove-list-suppression": ("Remove the list suppression", "List suppression removed."),
    "resend": ("Resend the confirmation email", "Confirmation email queued."),
    "identifier": ("Change an identifier", "Identifier changed."),
}
# What it says instead when the ledger already had it so (no event was written).
UNCHANGED = {
    "subscribe": "Already so: the consent was recorded before; nothing changed.",
    "unsubscribe": "Already so: the profile was not subscribed; nothing changed.",
    "suppress": "Already so: email was suppressed before; nothing changed.",
    "unsuppress": "Already so: there was no manual suppression to lift; nothing changed.",
    "remove-list-suppression": "Already so: there was no list suppression to remove; nothing changed.",
}
RESEND_ANSWERS = {
    double_optin.SENT: "Confirmation email queued.",
    double_optin.TOO_SOON: "A confirmation email went out less than five minutes ago; nothing was sent.",
    double_optin.NOT_PENDING: "Nothing is waiting for confirmation; nothing was sent.",
}


def parse_as_of(value: str) -> datetime | None:
    """A date (end of that day, UTC) or date and time; None when empty. DomainError when unreadable."""
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(datetime.fromisoformat(value).date(), time.max, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DomainError("as_of", "give a date as YYYY-MM-DD or YYYY-MM-DDTHH:MM", value) from None
    return in_utc(parsed, "as_of")  # DomainError when off the calendar in UTC


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def _ctx(request: Request, s: Session, reason: str) -> actions.StaffContext:
    return actions.StaffContext(
        s.user, reason, request.client.host if request.client else None, request.headers.get("user-agent")
    )


def routes(engine: Engine) -> list[BaseRoute]:
    async def home(request: Request, s: Session, form: FormData | None) -> Response:
        return RedirectResponse("/console/profiles", status_code=303)

    async def search(request: Request, s: Session, form: FormData | None) -> Response:
        q = request.query_params.get("q", "")
        n = _int(request.query_params.get("page"), 1)
        found = await anyio.to_thread.run_sync(views.search, engine, s.user.account_id, q, n)
        return page(request, s, "profiles.html", {"found": found, "nav": "profiles"})

    async def load(request: Request, s: Session, as_of: datetime | None) -> views.ProfileView:
        pid = request.path_params["id"]
        return await anyio.to_thread.run_sync(views.profile, engine, s.user.account_id, pid, as_of)

    async def profile(request: Request, s: Session, form: FormData | None) -> Response:
        raw = request.query_params.get("as_of", "")
        error = None
        try:
            as_of = parse_as_of(raw)
        except DomainError as e:
            as_of, error = None, e.message
        try:
            view = await load(request, s, as_of)
        except NotFound:
            return refused(request, s, 404, "No such profile", "This account has no profile with this id.")
        done = request.query_params.get("done", "")
        return page(request, s, "profile.html", {
            "p": view, "as_of_text": raw, "as_of_error": error, "nav": "profiles", "done": done[:300],
        }, 400 if error else 200)  # fmt: skip

    async def confirm(request: Request, s: Session, form: FormData | None, error: str | None = None,
                      error_field: str | None = None, status: int = 400) -> Response:  # fmt: skip
        action = request.path_params["action"]
        if action not in ACTIONS:
            return refused(request, s, 404, "No such action", "Go back to the profile and pick one of its actions.")
        try:
            view = await load(request, s, None)
        except NotFound:
            return refused(request, s, 404, "No such profile", "This account has no profile with this id.")
        source = form if form is not None else request.query_params
        values = {k: source.get(k) or "" for k in ("channel", "purpose", "list", "field", "value", "basis",
                                                    "evidence", "reason")}  # fmt: skip
        return page(request, s, "confirm.html", {
            "p": view, "action": action, "title": ACTIONS[action][0], "v": values, "bases": actions.CONSENT_BASES,
            "error": error, "error_field": error_field, "nav": "profiles",
        }, status if error else 200)  # fmt: skip

    async def act(request: Request, s: Session, form: FormData | None) -> Response:
        action, pid = request.path_params["action"], request.path_params["id"]
        if action not in ACTIONS:
            return refused(request, s, 404, "No such action", "Go back to the profile and pick one of its actions.")
        ctx = _ctx(request, s, text(form, "reason"))
        channel, purpose, list_id = text(form, "channel"), text(form, "purpose") or "marketing", text(form, "list")
        done = ACTIONS[action][1]
        try:
            changed = None
            if action == "subscribe":
                changed = await anyio.to_thread.run_sync(lambda: actions.subscribe(
                    engine, ctx, pid, channel, purpose, text(form, "basis"), text(form, "evidence"),
                    list_id or None))  # fmt: skip
            elif action == "unsubscribe":
                changed = await anyio.to_thread.run_sync(
                    actions.unsubscribe, engine, ctx, pid, channel, purpose, list_id or None)  # fmt: skip
            elif action == "suppress":
                changed = await anyio.to_thread.run_sync(actions.suppress, engine, ctx, pid)
            elif action == "unsuppress":
                changed = await anyio.to_thread.run_sync(actions.unsuppress, engine, ctx, pid)
            elif action == "remove-list-suppression":
                changed = await anyio.to_thread.run_sync(actions.remove_list_suppression, engine, ctx, pid, list_id)
            elif action == "resend":
                answer = await anyio.to_thread.run_sync(actions.resend_confirmation, engine, ctx, pid, list_id)
                done = RESEND_ANSWERS[answer]
            else:
                await anyio.to_thread.run_sync(
                    actions.change_identifier, engine, ctx, pid, text(form, "field"), text(form, "value"))  # fmt: skip
        except NotFound as e:
            if e.field in ("id", "profile"):
                return refused(request, s, 404, "No such profile", "This account has no profile with this id.")
            return await confirm(request, s, form, _sentence(e), e.field, 404)
        except Forbidden:
            raise
        except DomainError as e:
            return await confirm(request, s, form, _sentence(e), e.field)
        if changed is not None and not changed.events:
            done = UNCHANGED[action]
        return RedirectResponse(f"/console/profiles/{pid}?{urlencode({'done': done})}", status_code=303)

    async def decide(request: Request, s: Session, form: FormData | None) -> Response:
        try:
            view = await load(request, s, None)
        except NotFound:
            return refused(request, s, 404, "No such profile", "This account has no profile with this id.")
        q = request.query_params
        asked: dict[str, Any] = {"channel": q.get("channel", "sms"), "purpose": q.get("purpose", "marketing"),
                                 "via": q.get("via", "campaign"), "list": q.get("list", "")}  # fmt: skip
        result, error = None, None
        if "channel" in q:
            try:
                a = asked
                result = await anyio.to_thread.run_sync(lambda: actions.test_decision(
                    engine, s.user, view.id, a["channel"], a["purpose"], a["via"], a["list"]))  # fmt: skip
            except DomainError as e:
                error = _sentence(e)
        return page(request, s, "decide.html", {"p": view, "asked": asked, "result": result, "error": error,
                                                "nav": "profiles"}, 400 if error else 200)  # fmt: skip

    async def action_page(request: Request, s: Session, form: FormData | None) -> Response:
        return await (act(request, s, form) if request.method == "POST" else confirm(request, s, None))

    read = guarded(engine, action_page)
    write = guarded(engine, action_page, write=True)

    async def action_route(request: Request) -> Response:
        return await (write if request.method == "POST" else read)(request)

    return [
        Route("/console", guarded(engine, home)),
        Route("/console/profiles", guarded(engine, search)),
        Route("/console/profiles/{id}", guarded(engine, profile)),
        Route("/console/profiles/{id}/decide", guarded(engine, decide)),
        Route("/console/profiles/{id}/do/{action}", action_route, methods=["GET", "POST"]),
    ]


def _sentence(e: DomainError) -> str:
    """`reason: say why…` as a sentence a person reads: `Reason: say why….`"""
    field = (e.field or "").replace("_", " ").capitalize()
    message = e.message.rstrip(".")
    return f"{field}: {message}." if field else f"{message[:1].upper()}{message[1:]}."
