"""What every console page shares: the signed-in guard (login redirect, CSRF check, role check),
rendering in the console's layout, and reading a posted form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ...services.console.staff import Forbidden
from ..pages import read_form, render
from . import session as sessions
from .session import Session

MAX_BODY = 64 * 1024
MAX_FIELDS = 50

Handler = Callable[[Request, Session, FormData | None], Awaitable[Response]]


def page(request: Request, s: Session | None, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(request, f"console/{template}", {"session": s, "path": request.url.path, **context}, status)


def refused(request: Request, s: Session | None, status: int, title: str, message: str) -> Response:
    return page(request, s, "message.html", {"title": title, "message": message}, status)


def guarded(engine: Engine, handler: Handler, *, write: bool = False, max_body: int = MAX_BODY,
            max_files: int = 0) -> Callable[[Request], Awaitable[Response]]:  # fmt: skip
    """`handler` for a signed-in user: anyone else is sent to the login page. A POST must carry the
    session's CSRF token (403 otherwise); with `write`, a viewer is refused (403) before anything runs."""

    async def endpoint(request: Request) -> Response:
        s = await sessions.current(engine, request)
        if s is None:
            if request.method != "GET":
                sessions_gone = refused(request, None, 403, "Your session has ended", "Sign in again, then retry.")
                sessions.end(sessions_gone)
                return sessions_gone
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)
            sessions.end(response)
            return response
        form = None
        if request.method == "POST":
            form, _ = await read_form(request, max_body, max_fields=MAX_FIELDS, max_files=max_files)
            if not sessions.csrf_ok(s.csrf, form.get("csrf")):
                return refused(request, s, 403, "This form has expired",
                               "The form was not sent from this session. Go back, reload the page and try again.")
        if write and not s.user.can_change:
            return refused(request, s, 403, "You can look but not change",
                           f"Your role is {s.user.role}: ask an owner or editor to make this change.")
        try:
            response = await handler(request, s, form)
        except Forbidden as e:
            return refused(request, s, 403, "You can look but not change", e.message)
        ours = sessions.COOKIE.encode() + b"="
        if not any(k == b"set-cookie" and v.startswith(ours) for k, v in response.raw_headers):
            sessions.refresh(engine, request, response, s)  # unless the handler ended or replaced the session
        return response

    return endpoint


def text(form: FormData | None, name: str) -> str:
    value = form.get(name) if form is not None else None
    return value.strip() if isinstance(value, str) else ""
