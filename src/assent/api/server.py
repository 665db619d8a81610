"""Running the API under uvicorn: `assent serve`."""

from __future__ import annotations

import os

import uvicorn
from starlette.applications import Starlette

from ..config import DATABASE_URL_ENV, SERVED_URL_ENV, listen_url
from .app import create_app


def app_from_env() -> Starlette:
    """The app for each uvicorn worker process (the database comes from ASSENT_DATABASE_URL)."""
    return create_app()


def serve(db_url: str, host: str, port: int, workers: int) -> None:
    # The worker processes read these: the database, and the address links are built from when
    # ASSENT_PUBLIC_URL is not set.
    os.environ[DATABASE_URL_ENV] = db_url
    os.environ[SERVED_URL_ENV] = listen_url(host, port)
    uvicorn.run(
        "assent.api.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # a line per request costs more than many requests do
        proxy_headers=True,
    )
