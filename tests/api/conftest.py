"""A real Assent server on a loopback port, on SQLite and on PostgreSQL, and clients for it.

Each test module gets one server per backend (started in a thread, spoken to over TCP); each test
gets a fresh account, so tests never see each other's data."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from assent.server import create_app
from assent.services.accounts import accounts
from assent.store.db import make_engine, upgrade
from assent.wire.ratelimit import RateLimiter
from tests.conftest import BACKENDS

REVISION = "2026-10-15"


@dataclass
class Server:
    base_url: str
    engine: Engine
    db_url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(engine: Engine, limiter: RateLimiter | None = None) -> tuple[str, uvicorn.Server, threading.Thread]:
    port = _free_port()
    app = create_app(engine, limiter=limiter or RateLimiter(scale=0))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def stop_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory) -> Iterator[Server]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'assent.db'}"
        engine = make_engine(url)
        upgrade(engine)
    else:
        url = request.getfixturevalue("pg_database")
        engine = make_engine(url)
    base, uv, thread = start_server(engine)
    yield Server(base, engine, url)
    stop_server(uv, thread)
    engine.dispose()


class Client(httpx.Client):
    """httpx with the headers Klaviyo's clients send."""

    account_id: str
    api_key: str


def make_client(base_url: str, api_key: str, account_id: str = "") -> Client:
    client = Client(
        base_url=base_url,
        headers={
            "Authorization": f"Klaviyo-API-Key {api_key}",
            "revision": REVISION,
            "Accept": "application/vnd.api+json",
            "Content-Type": "application/vnd.api+json",
        },
        timeout=60,
    )
    client.account_id = account_id
    client.api_key = api_key
    return client


@pytest.fixture
def api(server) -> Iterator[Client]:
    """A client with a full-access key of a fresh account."""
    new = accounts.create_account(server.engine, "API test brand", "US")
    with make_client(server.base_url, new.api_key, new.account.id) as client:
        yield client


@pytest.fixture
def other_api(server) -> Iterator[Client]:
    """A client of another account on the same server (for tenancy tests)."""
    new = accounts.create_account(server.engine, "Another brand", "US")
    with make_client(server.base_url, new.api_key, new.account.id) as client:
        yield client
