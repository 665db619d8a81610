"""Migration 0023 keeps with each import digest a ledger seq instead of a count of the profile's
events, set-based, on SQLite and PostgreSQL: a digest that still holds (as many events as when the
row was taken) gets the account's ledger head; one that no longer holds is cleared. And back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import select, text

from assent.services.accounts import accounts
from assent.store import profiles as profile_store
from assent.store.db import _alembic_config, make_engine, upgrade
from assent.store.tables import profiles
from tests.conftest import BACKENDS, database_at

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def old_db(request, tmp_path) -> Iterator[str]:
    """A database at revision 0022, when a digest was kept with a count of events."""
    with database_at(request.param, tmp_path, "0022") as url:
        yield url


def test_a_digest_that_holds_keeps_the_ledger_head_and_one_that_does_not_is_cleared(old_db) -> None:
    engine = make_engine(old_db)
    a = accounts.create_account(engine, "A", "US").account.id
    taken = {  # profile -> (digest, its events when it took the row, its events now)
        "P" * 26: ("p" * 32, 1, 1),
        "Q" * 26: ("q" * 32, 1, 2),  # an event since
        "R" * 26: ("r" * 32, 0, 0),  # a row that wrote no event
        "S" * 26: (None, None, 1),  # never imported
    }
    seq = 0
    with engine.begin() as conn:
        for pid, (digest, then, now) in taken.items():
            conn.execute(text("INSERT INTO profiles (account_id, id, properties, created_at, updated_at, import_digest,"
                              " import_events) VALUES (:a, :p, '{}', :t, :t, :d, :n)"),
                         {"a": a, "p": pid, "t": NOW, "d": digest, "n": then})  # fmt: skip
            for _ in range(now):
                seq += 1
                conn.execute(text("INSERT INTO consent_events (account_id, seq, profile_id, occurred_at, type, payload,"
                                  " personal_digest, prev_hash, hash) VALUES (:a, :s, :p, :t, 'x', '{}', '', '', '')"),
                             {"a": a, "s": seq, "p": pid, "t": NOW})  # fmt: skip
        conn.execute(text("UPDATE accounts SET ledger_seq = :s WHERE id = :a"), {"s": seq, "a": a})
    upgrade(engine)
    p = profiles
    with engine.connect() as conn:
        rows = conn.execute(select(p.c.id, p.c.import_digest, p.c.import_seq).order_by(p.c.id)).all()
    assert [tuple(r) for r in rows] == [
        ("P" * 26, "p" * 32, 4),
        ("Q" * 26, None, None),
        ("R" * 26, "r" * 32, 4),
        ("S" * 26, None, None),
    ]
    with engine.begin() as conn:
        held = profile_store.unchanged_imports(conn, a, ["p" * 32, "q" * 32, "r" * 32])
        assert held == {"p" * 32: "P" * 26, "r" * 32: "R" * 26}
        conn.execute(text("INSERT INTO consent_events (account_id, seq, profile_id, occurred_at, type, payload,"
                          " personal_digest, prev_hash, hash) VALUES (:a, 5, :p, :t, 'x', '{}', '', '', '')"),
                     {"a": a, "p": "P" * 26, "t": NOW})  # fmt: skip
        assert profile_store.unchanged_imports(conn, a, ["p" * 32, "r" * 32]) == {"r" * 32: "R" * 26}

    # And back: a digest that holds gets its profile's count of events again.
    with engine.connect() as conn:
        command.downgrade(_alembic_config(conn), "0022")
        conn.commit()
        rows = conn.execute(text("SELECT id, import_digest, import_events FROM profiles ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("P" * 26, None, None),
        ("Q" * 26, None, None),
        ("R" * 26, "r" * 32, 0),
        ("S" * 26, None, None),
    ]
    engine.dispose()
