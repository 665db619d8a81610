"""The composition: the ASGI app built from the API and the public pages, with the adapters the
services are handed (the outbox's SMTP sender, the webhooks' HTTP sender, where rate-limit
counters live), and `assent serve` running it under uvicorn.

It is the one module that knows both `api` and `web`, and the services' adapters in
`integrations`; neither side of it imports the other (see the import-linter contracts)."""

from __future__ import annotations

import gc
import os
import signal
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from . import web
from .api import app as api
from .api import catalog
from .config import DATABASE_URL_ENV, SERVED_URL_ENV, listen_url, settings
from .integrations import mailer, webhook_sender
from .integrations.redis_windows import RedisWindows
from .services.shared import outbox
from .services.shared.ratelimits import DatabaseWindows, Windows
from .services.webhooks import delivery as webhook_delivery
from .store.db import make_engine, require_migrated
from .web.pages import page_not_found, speaks_html
from .wire import bodies, connections
from .wire.connections import ConnectionBalancing
from .wire.ratelimit import RateLimiter

# The outbox delivers email through this process's SMTP sender (ASSENT_SMTP_URL, read per send).
outbox.use_sender(mailer.send_configured)
# Webhooks go out over this process's HTTP sender (signed, SSRF-checked; settings read per send).
webhook_delivery.use_sender(webhook_sender.send_configured)


def shared_windows(engine: Engine) -> Windows:
    """Where rate-limit counters live, so every server process counts against one budget: Redis
    when ASSENT_REDIS_URL is set, else the database."""
    url = settings().redis_url
    return RedisWindows(url) if url else DatabaseWindows(engine)


ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def either_page_or_api(api_handler: ExceptionHandler) -> ExceptionHandler:
    """An unknown address or method: a page for a browser, the API's JSON:API error for the rest."""

    async def handler(request: Request, exc: Exception) -> Response:
        if speaks_html(request):
            return await page_not_found(request, exc)
        return await api_handler(request, exc)

    return handler


YOUNG_OBJECTS_BEFORE_COLLECTING = 50_000  # the collector's first threshold while serving


def create_app(
    engine: Engine | None = None, *, url: str | None = None, limiter: RateLimiter | None = None, lean: bool = True
) -> Starlette:
    """The app; `lean=False` leaves out the API's lean path (api.LeanReads), whose answers must be
    the very answers of the general one (a property test compares the two)."""
    engine = engine or make_engine(url)
    require_migrated(engine)
    windows = shared_windows(engine)
    served = api.make_api(engine, limiter or RateLimiter(windows=windows))
    routes = api.routes(served) + web.routes(engine, windows)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Long-lived objects made at start-up need not be walked by every collection (fewer pauses).
        gc.collect()
        gc.freeze()
        # A bulk job makes some thousands of objects and frees nearly all of them itself once it is
        # done; at the default threshold (700) the collector walked each several times on the way,
        # promoting them while the job still held them, some 5-10% of a job's CPU.
        thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_OBJECTS_BEFORE_COLLECTING, *thresholds[1:])
        connections.announce()
        try:
            async with catalog.background(engine):
                yield
        finally:
            gc.set_threshold(*thresholds)

    return Starlette(
        routes=routes,
        exception_handlers={
            **api.NOT_FOUND_HANDLERS,
            404: either_page_or_api(api.NOT_FOUND_HANDLERS[404]),
            405: either_page_or_api(api.NOT_FOUND_HANDLERS[405]),
            **web.EXCEPTION_HANDLERS,
            ClientDisconnect: bodies.client_gone,
            Exception: api.SERVER_ERROR_HANDLER,
        },  # fmt: skip
        middleware=[Middleware(ConnectionBalancing), *([Middleware(api.LeanReads, api=served)] if lean else [])],
        lifespan=lifespan,
    )


def app_from_env() -> Starlette:
    """The app for each uvicorn worker process (the database comes from ASSENT_DATABASE_URL)."""
    return create_app()


def serve(db_url: str, host: str, port: int, workers: int) -> None:
    # The worker processes read these: the database, and the address links are built from when
    # ASSENT_PUBLIC_URL is not set.
    os.environ[DATABASE_URL_ENV] = db_url
    os.environ[SERVED_URL_ENV] = listen_url(host, port)
    # Once it has shut down, uvicorn raises again the signal that stopped it: SIGTERM's default
    # action (a service manager's stop) would end the process before the folder below is removed.
    # It is raised again once the folder is gone, so the process still ends as that signal says.
    signal.signal(signal.SIGTERM, _stop)
    try:
        with tempfile.TemporaryDirectory(prefix="assent-connections-") as spread:
            if workers > 1:  # where the processes tell each other how busy they are (wire/connections.py)
                os.environ[connections.DIRECTORY_ENV] = spread
            _run_uvicorn(host, port, workers)
    except _Stopped as stopped:
        signal.signal(stopped.number, signal.SIG_DFL)
        signal.raise_signal(stopped.number)


class _Stopped(BaseException):
    def __init__(self, number: int) -> None:
        self.number = number


def _stop(number: int, _frame: object) -> None:
    raise _Stopped(number)


def _run_uvicorn(host: str, port: int, workers: int) -> None:
    uvicorn.run(
        "assent.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # a line per request costs more than many requests do
        proxy_headers=True,
        # uvicorn restarts a worker that misses a 5 s health ping; a busy machine can hold a healthy
        # worker's pong that long (seen at startup under load), and a restart drops its requests.
        timeout_worker_healthcheck=30,
    )
