"""Profiles' places as the jurisdiction packs read them (country, US state, time zones), kept in
`profile_places` beside the profiles so the audience SQL can join them.

A place is worked out in Python (`domain.jurisdictions.place_of`: phone number regions and time
zones need the `phonenumbers` data), from the profile's phone number, country, region and time
zone; the place keeps those four inputs as it was given them (`given_*`), so a row that no longer
matches its profile is seen as stale by comparing plain columns in SQL, and worked out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from ..domain.jurisdictions import Place
from .tables import profile_places, profiles, zone_groups

PLACE_INPUTS = ("phone_number", "country", "region", "timezone")
GIVEN = tuple(f"given_{name}" for name in PLACE_INPUTS)  # profile_places' copies of them


def current(p: FromClause, account_id: str, alias: str = "pp") -> tuple[FromClause, ColumnElement[bool]]:
    """`profile_places` as `alias` and the join condition that finds the profile's row only while
    it is current."""
    pp = profile_places.alias(alias)
    same = (pp.c[given].is_not_distinct_from(p.c[name]) for given, name in zip(GIVEN, PLACE_INPUTS, strict=True))
    return pp, and_(pp.c.account_id == account_id, pp.c.profile_id == p.c.id, *same)


def stale_count(conn: Connection, account_id: str) -> int:
    """How many of the account's profiles have a missing or stale place: one anti-join of every
    profile (a hash join on PostgreSQL), where `stale`'s LIMIT makes PostgreSQL look each
    profile's place up in the index, a nested loop three times slower when none is stale."""
    p = profiles.alias("p")
    pp, on = current(p, account_id)
    # `id >= ""`: SQLite reads the profiles by primary key (their rows), not by an index and a lookup each
    where = (p.c.account_id == account_id, p.c.id >= "", ~exists().where(on))
    return int(conn.execute(select(func.count()).where(*where)).scalar_one())


def analyze(conn: Connection) -> None:
    """Refresh the planner's statistics of `profile_places` (after many rows were written, the
    audience joins would be planned for the table as it was)."""
    conn.exec_driver_sql("ANALYZE profile_places")


def stale(conn: Connection, account_id: str, after: str, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` profiles (id order, after the id `after`) whose place is missing or stale:
    their id and place inputs (PLACE_INPUTS)."""
    p = profiles.alias("p")
    pp, on = current(p, account_id)
    q = (
        select(p.c.id, *(p.c[name] for name in PLACE_INPUTS))
        .where(p.c.account_id == account_id, p.c.id > after, ~exists().where(on))
        .order_by(p.c.id)
        .limit(limit)
    )
    return [tuple(r) for r in conn.execute(q)]


def write(conn: Connection, account_id: str, rows: Sequence[tuple[str, Sequence[str | None], Place]]) -> None:
    """Store (profile id, its PLACE_INPUTS, place) rows, replacing the profiles' older ones, and
    the zone lists they name."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    t = profile_places
    values = [
        dict(account_id=account_id, profile_id=pid, country=place.country, region=place.region, zones=place.zones,
             **dict(zip(GIVEN, given, strict=True)))
        for pid, given, place in rows
    ]  # fmt: skip
    stmt = dialect.insert(t)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.account_id, t.c.profile_id],
            set_={c: stmt.excluded[c] for c in ("country", "region", "zones", *GIVEN)},
        ),
        values,
    )
    groups = sorted({place.zones for _, _, place in rows if place.zones})
    if groups:
        conn.execute(dialect.insert(zone_groups).on_conflict_do_nothing(), [{"zones": z} for z in groups])


def forget_gone(conn: Connection, account_id: str) -> None:
    """Drop the places of profiles no longer there."""
    t = profile_places
    gone = ~exists().where(profiles.c.account_id == account_id, profiles.c.id == t.c.profile_id)
    conn.execute(delete(t).where(t.c.account_id == account_id, gone))


def groups(conn: Connection) -> list[str]:
    """Every zone list a stored place names."""
    return list(conn.execute(select(zone_groups.c.zones)).scalars())
