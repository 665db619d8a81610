"""Signing in and out of the console, and accepting an invite (setting a password)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ...domain import DomainError
from ...services.console import staff
from ...services.shared.ratelimits import Windows
from ...services.shared.tokens import TokenError
from ...wire.ratelimit import RateLimiter, Throttled, take
from ..pages import read_form
from . import session as sessions
from .common import MAX_BODY, guarded, page, refused, text

# Sign-in attempts, counted across server processes like the API's limits: per client address and
# email a minute, per client address a minute (many emails tried from one place), and per email a
# quarter hour (one account tried from many places).
LOGIN_PER_MINUTE = 10
LOGIN_PER_ADDRESS = 60
LOGIN_PER_EMAIL = 30


def _next(value: str) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    try:
        parts = urlsplit(value)
    except ValueError:  # not a URL (an unclosed IPv6 bracket): no path of ours either
        return "/console"
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or value.startswith("//"):
        return "/console"
    return value


def _form_page(request: Request, template: str, context: dict, status: int = 200) -> Response:
    token = sessions.login_csrf(request)
    response = page(request, None, template, {"csrf": token, **context}, status)
    sessions.set_cookie(response, request, sessions.LOGIN_CSRF_COOKIE, token, 3600)
    return response


def routes(engine: Engine, windows: Windows) -> list[BaseRoute]:
    limiter = RateLimiter(scale=1, windows=windows)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            if await sessions.current(engine, request) is not None:
                return RedirectResponse(_next(request.query_params.get("next", "/console")), status_code=303)
            return _form_page(request, "login.html", {"next": _next(request.query_params.get("next", "/console"))})
        form, _ = await read_form(request, MAX_BODY, max_fields=10)
        if not sessions.csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), form.get("csrf")):
            return refused(request, None, 403, "This form has expired", "Reload the sign-in page and try again.")
        email, password, target = text(form, "email"), form.get("password"), _next(text(form, "next"))
        client = request.client.host if request.client else "unknown"
        try:
            who = hashlib.sha256(email.lower().encode()).hexdigest()[:24]  # a bucket name of bounded length
            await take(limiter, "", f"console-login:{client}:{who}", ((60, LOGIN_PER_MINUTE),))
            await take(limiter, "", f"console-login:{client}", ((60, LOGIN_PER_ADDRESS),))
            await take(limiter, "", f"console-login-email:{who}", ((900, LOGIN_PER_EMAIL),))
        except Throttled as e:
            response = _form_page(request, "login.html", {"next": target, "email": email,
                                  "error": f"Too many attempts. Try again in {e.retry} seconds."}, 429)  # fmt: skip
            response.headers["Retry-After"] = str(e.retry)
            return response
        user = None
        if isinstance(password, str) and email:
            user = await anyio.to_thread.run_sync(staff.authenticate, engine, email, password)
        if user is None:
            return _form_page(request, "login.html", {"next": target, "email": email,
                              "error": "That email and password do not match a console user."}, 400)  # fmt: skip
        response = RedirectResponse(target, status_code=303)
        sessions.start(engine, request, response, user)
        return response

    async def logout(request: Request, s: sessions.Session, form: object) -> Response:
        response = RedirectResponse("/console/login?signed_out=1", status_code=303)
        await sessions.sign_out(engine, s, response)
        return response

    async def invite(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            user = await anyio.to_thread.run_sync(staff.read_invite, engine, token)
        except TokenError as e:
            return refused(request, None, 400, "This invite link does not work",
                           f"{e.message[:1].upper()}{e.message[1:]}. Ask an owner for a new one.")  # fmt: skip
        if request.method == "GET":
            return _form_page(request, "invite.html", {"user": user})
        form, _ = await read_form(request, MAX_BODY, max_fields=10)
        if not sessions.csrf_ok(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), form.get("csrf")):
            return refused(request, None, 403, "This form has expired", "Reload the page and try again.")
        password, again = form.get("password"), form.get("password_again")
        if not isinstance(password, str) or password != again:
            return _form_page(request, "invite.html", {"user": user, "error": "The two passwords differ."}, 400)
        try:
            user = await anyio.to_thread.run_sync(staff.accept_invite, engine, token, password)
        except (DomainError, TokenError) as e:
            return _form_page(request, "invite.html", {"user": user, "error": f"Password: {e.message}."}, 400)
        response = RedirectResponse("/console", status_code=303)
        sessions.start(engine, request, response, user)
        return response

    return [
        Route("/console/login", login, methods=["GET", "POST"]),
        Route("/console/logout", guarded(engine, logout), methods=["POST"]),
        Route("/console/invite/{token}", invite, methods=["GET", "POST"]),
    ]
