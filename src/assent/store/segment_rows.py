"""Saved segments: their rows (name, definition text, flags), and the ids a definition may name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from . import paging
from .conditions import OPERATORS
from .rows import AnyRow
from .tables import lists, metrics, segments

Condition = tuple[str, str, Any]  # (operator, field, value) as the API checked it

SEGMENT_SORT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "created": segments.c.created_at,
    "updated": segments.c.updated_at,
    "name": segments.c.name,
    "id": segments.c.id,
}
_FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {
    **SEGMENT_SORT_COLUMNS,
    "is_active": segments.c.is_active,
    "is_starred": segments.c.is_starred,
}


def insert_segment(
    conn: Connection, account_id: str, segment_id: str, name: str, definition: str, is_starred: bool, now: datetime
) -> None:
    conn.execute(
        insert(segments).values(
            account_id=account_id, id=segment_id, name=name, definition=definition, is_starred=is_starred,
            is_active=True, created_at=now, updated_at=now,
        )
    )  # fmt: skip


def get_segment(conn: Connection, account_id: str, segment_id: str) -> AnyRow | None:
    q = select(segments).where(segments.c.account_id == account_id, segments.c.id == segment_id)
    return conn.execute(q).first()


def all_segments(conn: Connection, account_id: str) -> list[AnyRow]:
    q = select(segments).where(segments.c.account_id == account_id).order_by(segments.c.created_at, segments.c.id)
    return list(conn.execute(q))


def update_segment(conn: Connection, account_id: str, segment_id: str, values: dict[str, Any]) -> None:
    q = update(segments).where(segments.c.account_id == account_id, segments.c.id == segment_id)
    conn.execute(q.values(**values))


def delete_segment(conn: Connection, account_id: str, segment_id: str) -> None:
    conn.execute(delete(segments).where(segments.c.account_id == account_id, segments.c.id == segment_id))


def page_segments(
    conn: Connection,
    account_id: str,
    conditions: Sequence[Condition],
    *,
    sort: str,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
) -> paging.Page[AnyRow]:
    column = SEGMENT_SORT_COLUMNS[sort]
    columns = [column] if column is segments.c.id else [column, segments.c.id]
    query = select(segments).where(segments.c.account_id == account_id)
    for op, name, value in conditions:
        query = query.where(OPERATORS[op](_FILTER_COLUMNS[name], value))
    names = [c.name for c in columns]
    return paging.page(
        conn, query, columns, descending=descending, limit=limit, after=after, before=before,
        key=lambda r: tuple(getattr(r, n) for n in names),
    )  # fmt: skip


def list_ids(conn: Connection, account_id: str) -> set[str]:
    return set(conn.execute(select(lists.c.id).where(lists.c.account_id == account_id)).scalars())


def metric_ids(conn: Connection, account_id: str) -> set[str]:
    return set(conn.execute(select(metrics.c.id).where(metrics.c.account_id == account_id)).scalars())
