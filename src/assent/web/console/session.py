"""Who is signed in to the console: a signed session cookie, its CSRF token, idle expiry, and the
login rate limit.

The cookie holds the account, the user, the user's password generation, the session's CSRF token and
when it started, signed with the installation's secret (services.tokens, salt `assent.console.session`).
It is re-signed on every page, so `max_age` is the idle timeout; a session also ends IDLE_SECONDS after
the last page, at MAX_SESSION_SECONDS after login, when the password changes, or at logout, which
also records the session as ended on the server, so a copied cookie stops working too. It is
HttpOnly, SameSite=Lax, and Secure when the request came over https (directly or through a proxy
that says so). API keys are never read here, and the API never reads this cookie."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from ...config import settings
from ...services.console import staff
from ...services.console.staff import StaffUser
from ...services.shared import tokens

COOKIE = "assent_console"
LOGIN_CSRF_COOKIE = "assent_console_login"
SESSION_KIND = "console.session"
MAX_SESSION_SECONDS = 12 * 3600


def idle_seconds() -> int:
    return settings().console_idle_minutes * 60


@dataclass(frozen=True, slots=True)
class Session:
    user: StaffUser
    csrf: str
    started: int
    account_name: str

    def data(self) -> dict[str, Any]:
        return {"a": self.user.account_id, "u": self.user.id, "g": self.user.generation, "c": self.csrf,
                "s": self.started}  # fmt: skip


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/console", httponly=True, samesite="lax", secure=secure(request)
    )


def start(engine: Engine, request: Request, response: Response, user: StaffUser) -> None:
    """Sign `user` in: a new session (with a new CSRF token) in the cookie."""
    data = {"a": user.account_id, "u": user.id, "g": user.generation, "c": secrets.token_urlsafe(24),
            "s": int(time.time())}  # fmt: skip
    set_cookie(response, request, COOKIE, tokens.make_token(engine, SESSION_KIND, data), idle_seconds())
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console")


def refresh(engine: Engine, request: Request, response: Response, session: Session) -> None:
    """Re-sign the session, so that the idle timeout counts from this page."""
    set_cookie(response, request, COOKIE, tokens.make_token(engine, SESSION_KIND, session.data()), idle_seconds())


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console")


async def current(engine: Engine, request: Request) -> Session | None:
    """The request's session, or None (no cookie, forged, idle too long, too old, user gone or
    password changed since)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = tokens.read_token(engine, SESSION_KIND, raw, max_age_seconds=idle_seconds())
    except tokens.TokenError:
        return None
    started = data.get("s")
    if not isinstance(started, int) or time.time() - started > MAX_SESSION_SECONDS:
        return None
    found = await anyio.to_thread.run_sync(
        staff.session_user, engine, str(data.get("a")), str(data.get("u")), str(data.get("c")))  # fmt: skip
    if found is None:
        return None
    user, name = found
    if not user.active or not secrets.compare_digest(user.generation, str(data.get("g"))):
        return None
    return Session(user, str(data.get("c")), started, name)


async def sign_out(engine: Engine, session: Session, response: Response) -> None:
    """End the session on the server (its id is its CSRF token) and in the browser."""
    expires = datetime.fromtimestamp(session.started + MAX_SESSION_SECONDS, UTC)
    await anyio.to_thread.run_sync(staff.end_session, engine, session.user.account_id, session.csrf, expires)
    end(response)


def csrf_ok(expected: str | None, form_value: object) -> bool:
    # compare_digest refuses str holding non-ASCII characters: compare the UTF-8 bytes.
    return (
        bool(expected)
        and isinstance(form_value, str)
        and secrets.compare_digest((expected or "").encode(), form_value.encode("utf-8", "surrogatepass"))
    )


def login_csrf(request: Request) -> str:
    """The token of the login (and invite) forms, before any session: the form's hidden field must
    match this cookie (double submit)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
