"""The console's list pages: every list with its count, and a list's members."""

from __future__ import annotations

import anyio.to_thread
from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...services.console import lists as views
from ...services.lists.lists import BadCursor
from ...services.shared.errors import NotFound
from .common import guarded, page, refused
from .session import Session


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
        return page(request, s, "list.html", {"l": found, "nav": "lists", "after": after})

    return [
        Route("/console/lists", guarded(engine, overview)),
        Route("/console/lists/{id}", guarded(engine, members)),
    ]
