"""The console's list and segment pages: each with its count; one's members, and who of them a send
could reach now, by reason."""

from __future__ import annotations

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...domain import DomainError
from ...services.console import lists as views
from ...services.lists.lists import BadCursor
from ...services.shared.errors import NotFound
from .common import guarded, page, refused
from .session import Session


async def _reach(engine: Engine, request: Request, s: Session, kind: str) -> tuple[views.Reach | None, str | None]:
    """The breakdown for the send asked in the query (email marketing campaign by default)."""
    q = request.query_params
    try:
        found = await anyio.to_thread.run_sync(
            views.reach, engine, s.user.account_id, kind, request.path_params["id"], q.get("channel", "email"),
            q.get("purpose", "marketing"), q.get("via", "campaign"))  # fmt: skip
    except DomainError as e:
        return None, f"{e.field} {e.message}."
    return found, None


def routes(engine: Engine) -> list[BaseRoute]:
    async def overview(request: Request, s: Session, form: FormData | None) -> Response:
        found = await anyio.to_thread.run_sync(views.overview, engine, s.user.account_id)
        return page(request, s, "lists.html", {"lists": found, "nav": "lists"})

    async def members(request: Request, s: Session, form: FormData | None) -> Response:
        after = request.query_params.get("after")
        try:
            found = await anyio.to_thread.run_sync(
                views.members, engine, s.user.account_id, request.path_params["id"], after)  # fmt: skip
        except NotFound:
            return refused(request, s, 404, "No such list", "This account has no list with this id.")
        except BadCursor:
            return refused(request, s, 400, "This page link is not valid", "Start again from the list's first page.")
        reach, error = await _reach(engine, request, s, "list")
        return page(request, s, "list.html", {"l": found, "nav": "lists", "after": after, "reach": reach,
                                              "reach_error": error})  # fmt: skip

    async def segment_overview(request: Request, s: Session, form: FormData | None) -> Response:
        found = await anyio.to_thread.run_sync(views.segment_overview, engine, s.user.account_id)
        return page(request, s, "segments.html", {"segments": found, "nav": "segments"})

    async def segment(request: Request, s: Session, form: FormData | None) -> Response:
        after = request.query_params.get("after")
        try:
            found = await anyio.to_thread.run_sync(
                views.segment_members, engine, s.user.account_id, request.path_params["id"], after)  # fmt: skip
        except NotFound:
            return refused(request, s, 404, "No such segment", "This account has no segment with this id.")
        except (BadCursor, DomainError):
            return refused(request, s, 400, "This page link is not valid", "Start again from the segment's first page.")
        reach, error = await _reach(engine, request, s, "segment")
        return page(request, s, "segment.html", {"g": found, "nav": "segments", "after": after, "reach": reach,
                                                 "reach_error": error})  # fmt: skip

    return [
        Route("/console/lists", guarded(engine, overview)),
        Route("/console/lists/{id}", guarded(engine, members)),
        Route("/console/segments", guarded(engine, segment_overview)),
        Route("/console/segments/{id}", guarded(engine, segment)),
    ]
