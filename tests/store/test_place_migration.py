"""Migration 0017 moves a place's inputs from one key text to plain columns, set-based, on SQLite
and PostgreSQL: a current place keeps its place and gets its profile's inputs, a stale one (its
profile moved, or is gone) is dropped, to be worked out again. Migration 0019 then moves the
places kept into their profiles' rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from assent.services.accounts import accounts
from assent.store.db import make_engine, upgrade
from assent.store.tables import profiles
from tests.conftest import BACKENDS, database_at

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SEP = "\x1f"


@pytest.fixture(params=BACKENDS)
def old_db(request, tmp_path) -> Iterator[str]:
    """A database at revision 0016, when a place kept its inputs as one key."""
    with database_at(request.param, tmp_path, "0016") as url:
        yield url


def test_current_places_keep_their_inputs_in_columns_and_stale_ones_go(old_db) -> None:
    engine = make_engine(old_db)
    a = accounts.create_account(engine, "A", "US").account.id
    people = {
        "P" * 26: ("+14155550100", "US", "CA", "America/Los_Angeles"),
        "Q" * 26: (None, "DE", None, None),
        "R" * 26: ("+33612345678", "FR", None, None),  # moved since its place was worked out
    }
    keys = {
        "P" * 26: SEP.join(("+14155550100", "US", "CA", "America/Los_Angeles")),
        "Q" * 26: SEP.join(("", "DE", "", "")),
        "R" * 26: SEP.join(("+33612345678", "GB", "", "")),
        "S" * 26: SEP.join(("", "US", "", "")),  # its profile is gone
    }
    with engine.begin() as conn:
        for pid, (phone, country, region, zone) in people.items():
            conn.execute(insert(profiles).values(account_id=a, id=pid, phone_number=phone, country=country,
                                                 region=region, timezone=zone, properties="{}", created_at=NOW,
                                                 updated_at=NOW))  # fmt: skip
        for pid, key in keys.items():
            conn.execute(text("INSERT INTO profile_places (account_id, profile_id, place_key, country, region, zones) "
                              "VALUES (:a, :p, :k, :c, NULL, 'Europe/Berlin')"),
                         {"a": a, "p": pid, "k": key, "c": key.split(SEP)[1]})  # fmt: skip
    upgrade(engine)
    p = profiles
    with engine.connect() as conn:
        rows = conn.execute(select(p.c.id, p.c.placed, p.c.place_country, p.c.place_zones, p.c.placed_phone_number,
                                   p.c.placed_country, p.c.placed_region, p.c.placed_timezone)
                            .order_by(p.c.id)).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("P" * 26, True, "US", "Europe/Berlin", *people["P" * 26]),
        ("Q" * 26, True, "DE", "Europe/Berlin", *people["Q" * 26]),
        ("R" * 26, None, None, None, None, None, None, None),  # moved: to be placed again
    ]
    with engine.connect() as conn:
        assert "profile_places" not in conn.dialect.get_table_names(conn)
    engine.dispose()
