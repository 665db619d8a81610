"""Profiles' places as the jurisdiction packs read them (country, US state, time zones), kept in
the profiles' own rows (`place_*`) so the audience SQL reads them without a join.

A place is worked out in Python (`domain.jurisdictions.place_of`: phone number regions and time
zones need the `phonenumbers` data), from the profile's phone number, country, region and time
zone; the row keeps those four inputs as they were then (`placed_*`), so a place that no longer
matches its profile is seen as stale by comparing plain columns of the same row, and worked out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from ..domain.jurisdictions import Place
from . import bulk
from .tables import profiles, zone_groups

PLACE_INPUTS = ("phone_number", "country", "region", "timezone")
GIVEN = tuple(f"placed_{name}" for name in PLACE_INPUTS)  # the profile's copies of them, as placed
PLACE = ("place_country", "place_region", "place_zones")


def current(p: FromClause) -> ColumnElement[bool]:
    """Whether the profile `p` has a place worked out from its present inputs."""
    same = (p.c[given].is_not_distinct_from(p.c[name]) for given, name in zip(GIVEN, PLACE_INPUTS, strict=True))
    return and_(p.c.placed.is_(True), *same)


def stale_count(conn: Connection, account_id: str) -> int:
    """How many of the account's profiles have a missing or stale place: one pass over their rows."""
    p = profiles
    # `id >= ""`: SQLite reads the profiles by primary key (their rows), not by an index and a lookup each
    where = (p.c.account_id == account_id, p.c.id >= "", ~current(p))
    return int(conn.execute(select(func.count()).where(*where)).scalar_one())


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics of the profiles (after many places were written, the
    audience counts would be planned for the place columns as they were)."""
    conn.exec_driver_sql("ANALYZE profiles")


def stale(conn: Connection, account_id: str, after: str, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` profiles (id order, after the id `after`) whose place is missing or stale:
    their id and place inputs (PLACE_INPUTS)."""
    p = profiles
    q = (
        select(p.c.id, *(p.c[name] for name in PLACE_INPUTS))
        .where(p.c.account_id == account_id, p.c.id > after, ~current(p))
        .order_by(p.c.id)
        .limit(limit)
    )
    return [tuple(r) for r in conn.execute(q)]


def write(conn: Connection, account_id: str, rows: Sequence[tuple[str, Sequence[str | None], Place]]) -> None:
    """Store (profile id, its PLACE_INPUTS, place) rows in the profiles' rows, and the zone lists
    they name. Only the place columns are written: the profile itself is not changed."""
    if not rows:
        return
    values = [(True, place.country, place.region, place.zones, *given, account_id, pid) for pid, given, place in rows]
    bulk.update_rows(conn, profiles, ("account_id", "id"), ("placed", *PLACE, *GIVEN), values, purpose="place")
    groups = sorted({place.zones for _, _, place in rows if place.zones})
    if groups:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(zone_groups).on_conflict_do_nothing(), [{"zones": z} for z in groups])


def groups(conn: Connection) -> list[str]:
    """Every zone list a stored place names."""
    return list(conn.execute(select(zone_groups.c.zones)).scalars())
