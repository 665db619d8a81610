"""The raw-driver bulk writes store what they are given: a column that is None in every row of a
batch is written as NULL by the statement itself on SQLite (binding None costs the driver more
than a string), and a batch whose rows differ in which columns are None stores each row as given.
On PostgreSQL the same holds in a pipeline, where rows travel as JSON and a column with one value
in every row as a parameter of its own. Every test runs on SQLite and on PostgreSQL, in a pipeline
and out of one."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from assent.domain.profile import PROFILE_FIELDS
from assent.domain.summary import NO_SUMMARY
from assent.store import bulk
from assent.store.db import pipeline, write_transaction
from assent.store.tables import profiles

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
WRITTEN = ("id", "email", "phone_number", "first_name", "city", "properties", "created_at")


def _row(account_id: str, pid: str, **values) -> tuple:
    given = {f: None for f in bulk.PROFILE_ROW} | {"account_id": account_id, "id": pid, "properties": "{}",
                                                   "created_at": NOW, "updated_at": NOW} | values  # fmt: skip
    return tuple(given[f] for f in bulk.PROFILE_ROW)


def _stored(engine, account_id: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(*(profiles.c[c] for c in WRITTEN)).where(profiles.c.account_id == account_id))
        return {r.id: tuple(r) for r in rows}


def _pipelined(conn, pipelined: bool):
    return pipeline(conn) if pipelined else nullcontext()


@pytest.mark.parametrize("pipelined", [False, True], ids=["alone", "pipelined"])
def test_inserts_keep_every_value_whichever_columns_are_none(engine, account_id, pipelined):
    rows = [
        _row(account_id, "P1", email="a@example.com"),
        _row(account_id, "P2", email="b@example.com", first_name="Bo"),
        _row(account_id, "P3", phone_number="+12025550123", city="Paris", properties='{"k": 1}'),
    ]
    with write_transaction(engine) as conn, _pipelined(conn, pipelined):
        bulk.insert_profiles(conn, rows[:1])  # a batch of one: most columns None in every row
        bulk.insert_profiles(conn, rows[1:])  # None in some rows, a value in others
    assert _stored(engine, account_id) == {
        "P1": ("P1", "a@example.com", None, None, None, "{}", NOW),
        "P2": ("P2", "b@example.com", None, "Bo", None, "{}", NOW),
        "P3": ("P3", None, "+12025550123", None, "Paris", '{"k": 1}', NOW),
    }


@pytest.mark.parametrize("pipelined", [False, True], ids=["alone", "pipelined"])
def test_inserts_keep_values_that_every_row_shares(engine, account_id, pipelined):
    later = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    rows = [
        _row(account_id, f"P{i}", email=f"{i}@example.com", city="Lyon", first_name="Al" if i else None,
             properties='{"same": "\\u00e9 \\"q\\""}', created_at=later)
        for i in range(3)
    ]  # fmt: skip
    with write_transaction(engine) as conn, _pipelined(conn, pipelined):
        bulk.insert_profiles(conn, rows)
    assert _stored(engine, account_id) == {
        f"P{i}": (f"P{i}", f"{i}@example.com", None, "Al" if i else None, "Lyon", '{"same": "\\u00e9 \\"q\\""}', later)
        for i in range(3)
    }


@pytest.mark.parametrize("pipelined", [False, True], ids=["alone", "pipelined"])
def test_updates_clear_and_set_whichever_columns_are_none(engine, account_id, pipelined):
    with write_transaction(engine) as conn:
        bulk.insert_profiles(conn, [
            _row(account_id, "P1", email="a@example.com", first_name="Al", city="Rome"),
            _row(account_id, "P2", email="b@example.com", first_name="Bo"),
        ])  # fmt: skip

    def update(pid: str, **values) -> tuple:
        row = _row(account_id, pid, **values)
        fields_and_properties = row[2 : 3 + len(PROFILE_FIELDS)]
        return (*fields_and_properties, NOW, None, None, *NO_SUMMARY, account_id, pid)

    with write_transaction(engine) as conn, _pipelined(conn, pipelined):
        # first_name None in every row (cleared in both), city None in one only
        bulk.update_profiles(
            conn, [update("P1", email="a@example.com", city="Oslo"), update("P2", email="c@example.com")]
        )
    assert _stored(engine, account_id) == {
        "P1": ("P1", "a@example.com", None, None, "Oslo", "{}", NOW),
        "P2": ("P2", "c@example.com", None, None, None, "{}", NOW),
    }
