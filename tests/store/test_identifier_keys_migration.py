"""Migration 0026: a profile's identifiers stay unique within the account, but each unique key holds
only the profiles that have the identifier. The rows, the other indexes and (on SQLite) the
table's WITHOUT ROWID layout come through the upgrade whole, and back through the downgrade."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from assent.services.accounts import accounts
from assent.store.db import _alembic_config, make_engine, upgrade
from tests.conftest import BACKENDS, database_at

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IDENTIFIERS = ("email", "phone_number", "external_id")
INSERT = text(
    "INSERT INTO profiles (account_id, id, email, phone_number, external_id, properties, created_at, updated_at)"
    " VALUES (:a, :p, :e, :n, :x, '{}', :t, :t)"
)


@pytest.fixture(params=BACKENDS)
def old_db(request, tmp_path) -> Iterator[str]:
    """A database at revision 0025, when the identifiers' keys were unique constraints."""
    with database_at(request.param, tmp_path, "0025") as url:
        yield url


def _rows(conn) -> list[tuple]:
    return [
        tuple(r) for r in conn.execute(text("SELECT id, email, phone_number, external_id FROM profiles ORDER BY id"))
    ]


def _entries(conn, name: str) -> int | None:
    """How many entries the index holds (PostgreSQL), or None on SQLite."""
    if conn.dialect.name == "sqlite":
        return None
    conn.execute(text("ANALYZE profiles"))
    return conn.execute(text("SELECT reltuples::int FROM pg_class WHERE relname = :n"), {"n": name}).scalar()


def _refused(engine, **values) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(INSERT, {"p": "Z" * 26, "e": None, "n": None, "x": None, "t": NOW, **values})
    except IntegrityError:
        return True
    return False


def test_identifier_keys_hold_only_profiles_with_the_identifier_and_stay_unique(old_db) -> None:
    engine = make_engine(old_db)
    a = accounts.create_account(engine, "A", "US").account.id
    people = [
        ("P" * 26, "p@example.com", None, None),
        ("Q" * 26, None, "+14155550100", None),
        ("R" * 26, "r@example.com", "+14155550101", "crm-1"),
        ("S" * 26, None, None, "crm-2"),
    ]
    with engine.begin() as conn:
        for pid, email, phone, external in people:
            conn.execute(INSERT, {"a": a, "p": pid, "e": email, "n": phone, "x": external, "t": NOW})
        before = _rows(conn)
    upgrade(engine)
    with engine.connect() as conn:
        assert _rows(conn) == before
        if conn.dialect.name == "sqlite":
            table = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'profiles'")).scalar()
            assert "WITHOUT ROWID" in table and "UNIQUE" not in table
            names = set(conn.execute(text("SELECT name FROM sqlite_master WHERE tbl_name = 'profiles'")).scalars())
            assert {"ix_profiles_created", "ix_profiles_updated", "ix_profiles_import_digest"} <= names
        else:
            assert _entries(conn, "uq_profiles_account_id_phone_number") == 2  # not four: two have none
    for field, taken in (("e", "p@example.com"), ("n", "+14155550100"), ("x", "crm-1")):
        assert _refused(engine, a=a, **{field: taken}), field
    assert not _refused(engine, a=a)  # a profile with no identifier at all is still no conflict

    # And back: the constraints again, the same rows.
    with engine.connect() as conn:
        command.downgrade(_alembic_config(conn), "0025")
        conn.commit()
        assert _rows(conn) == sorted([*before, ("Z" * 26, None, None, None)])
        if conn.dialect.name == "sqlite":
            table = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'profiles'")).scalar()
            assert "WITHOUT ROWID" in table and all(f"uq_profiles_account_id_{c}" in table for c in IDENTIFIERS)
    assert _refused(engine, a=a, p="Y" * 26, e="r@example.com")
    engine.dispose()
