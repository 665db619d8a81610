"""Targets for `assent sync`: a SQLite file, a fresh PostgreSQL database and a fresh MariaDB (or
MySQL) database per test, on the servers the development machines run. MariaDB comes from
ASSENT_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/); unreachable, its tests are skipped
with a message (with CI=true they fail)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import pymysql
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL, _admin_engine, _pg_available

MYSQL_ADMIN_URL = os.environ.get("ASSENT_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/")
TARGETS = ["sqlite", "postgres", "mariadb"]


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _mysql_admin():
    parts = urlsplit(MYSQL_ADMIN_URL)
    return pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                           user=parts.username or "root", password=parts.password or "", autocommit=True)  # fmt: skip


@pytest.fixture
def pg_target() -> Iterator[str]:
    """A fresh, empty PostgreSQL database to mirror into."""
    problem = _pg_available()
    if problem:
        _unavailable(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({problem})")
    name = f"assent_sync_{secrets.token_hex(4)}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def mysql_target() -> Iterator[str]:
    """A fresh, empty MariaDB/MySQL database to mirror into."""
    try:
        admin = _mysql_admin()
    except pymysql.err.MySQLError as e:
        _unavailable(f"MariaDB is not reachable at {MYSQL_ADMIN_URL} ({e}); set ASSENT_TEST_MYSQL_URL")
    name = f"assent_sync_{secrets.token_hex(4)}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    parts = urlsplit(MYSQL_ADMIN_URL)
    yield f"mysql://{parts.netloc}/{name}"
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.close()


@pytest.fixture(params=TARGETS)
def target_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    if request.param == "postgres":
        return request.getfixturevalue("pg_target")
    return request.getfixturevalue("mysql_target")
