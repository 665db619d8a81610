"""Profiles: look-ups by id and identifier."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Row, insert, select, update

from . import bulk
from .tables import profiles

IDENTIFIERS = ("email", "phone_number", "external_id")


def get(conn: Connection, account_id: str, profile_id: str) -> Row | None:
    return conn.execute(
        select(profiles).where(profiles.c.account_id == account_id, profiles.c.id == profile_id)
    ).first()


def find(conn: Connection, account_id: str, field: str, value: str) -> Row | None:
    if field == "id":
        return get(conn, account_id, value)
    if field not in IDENTIFIERS:
        raise ValueError(f"not an identifier: {field}")
    return conn.execute(select(profiles).where(profiles.c.account_id == account_id, profiles.c[field] == value)).first()


def ids_matching(conn: Connection, account_id: str, field: str, values: Iterable[str]) -> set[str]:
    """Ids of the profiles whose `field` is one of `values`: one query, answered from the index."""
    values = list(set(values))
    if not values:
        return set()
    return set(conn.execute(bulk.select_matching(conn, profiles, account_id, field, values, ("id",))).scalars())


def get_many(conn: Connection, account_id: str, ids: Iterable[str]) -> list[Row]:
    ids = list(ids)
    return list(conn.execute(bulk.select_matching(conn, profiles, account_id, "id", ids))) if ids else []


def insert_one(conn: Connection, values: dict) -> None:
    conn.execute(insert(profiles).values(**values))


def set_fields(conn: Connection, account_id: str, profile_id: str, values: dict) -> None:
    conn.execute(
        update(profiles).where(profiles.c.account_id == account_id, profiles.c.id == profile_id).values(**values)
    )
