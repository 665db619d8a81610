"""The staff console, under /console: server-rendered pages for a brand's staff (profiles and
their consent, actions with a recorded reason, lists, imports, analytics), working without
JavaScript. Signing in is by staff user (services.staff), never by API key."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from ...services.shared.ratelimits import Windows
from . import analytics, auth, imports, lists, profiles, settings

STATIC = Path(__file__).parent / "static"


async def stylesheet(request: Request) -> Response:
    return FileResponse(STATIC / "console.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})  # fmt: skip


def routes(engine: Engine, windows: Windows) -> list[BaseRoute]:
    return [
        Route("/console/static/console.css", stylesheet),
        *auth.routes(engine, windows),
        *profiles.routes(engine),
        *lists.routes(engine),
        *imports.routes(engine),
        *analytics.routes(engine),
        *settings.routes(engine),
    ]
