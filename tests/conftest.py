"""Fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ASSENT_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test). A
fresh database is created for the session and dropped after it. With CI=true an unreachable
PostgreSQL fails the run; elsewhere its tests are skipped with a message saying how to enable them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from assent.services.accounts import accounts
from assent.store.db import _alembic_config, database_url, make_engine, upgrade

PG_ADMIN_URL = os.environ.get("ASSENT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres"]


def _admin_engine() -> Engine:
    return create_engine(database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


def _pg_available() -> str | None:
    try:
        with _admin_engine().connect() as conn:
            conn.execute(text("select 1"))
        return None
    except Exception as e:  # noqa: BLE001 — any failure to connect means "not available"
        return str(e).strip().splitlines()[0]


@contextmanager
def database_at(backend: str, tmp_path: Path, revision: str) -> Iterator[str]:
    """The URL of a new database migrated only up to `revision` (to test a later migration's
    upgrade of what it holds), dropped afterwards on PostgreSQL."""
    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'old.db'}", None
    else:
        if (problem := _pg_available()) is not None:
            pytest.skip(f"PostgreSQL is not reachable: {problem}")
        drop = f"assent_test_old_{secrets.token_hex(4)}"
        with _admin_engine().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{drop}"'))
        url = make_url(database_url(PG_ADMIN_URL)).set(database=drop).render_as_string(hide_password=False)
    engine = make_engine(url)
    with engine.connect() as conn:
        command.upgrade(_alembic_config(conn), revision)
        conn.commit()
    engine.dispose()
    try:
        yield url
    finally:
        if drop:
            with _admin_engine().connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for this session."""
    problem = _pg_available()
    if problem:
        message = (
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({problem}). Start it, or point "
            "ASSENT_TEST_POSTGRES_URL at a server where this user may create databases."
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    name = f"assent_test_{secrets.token_hex(4)}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(database_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A migrated database URL on each backend (SQLite: a fresh file per test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'assent.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    return request.getfixturevalue("pg_database")


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def account_id(engine) -> str:
    """A fresh account: tests on the shared PostgreSQL database never see each other's data."""
    return accounts.create_account(engine, "Test brand", "US").account.id
