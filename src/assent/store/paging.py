"""Keyset (cursor) paging: a page after or before a sort key, in one indexed query."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, and_, or_
from sqlalchemy.sql.elements import ColumnElement

from .rows import AnyRow, AnySelect, SortKey
from .tables import UTCDateTime

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of rows (or of the values a service made of them) and its neighbours' keys."""

    rows: list[T]
    first: SortKey | None  # the sort key of the first row, for a `prev` cursor
    last: SortKey | None  # and of the last, for a `next` cursor
    has_next: bool
    has_prev: bool


def _after(columns: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Rows whose key comes after `values` in the order: (a, b) > (x, y) written out, as every
    backend plans it with the index."""
    head, *rest = columns
    beyond: ColumnElement[bool] = head < values[0] if descending else head > values[0]
    if not rest:
        return beyond
    return or_(beyond, and_(head == values[0], _after(rest, values[1:], descending)))


def holds_time(column: ColumnElement[Any]) -> bool:
    """Whether a sort column holds times (a cursor carries them as ISO text)."""
    return isinstance(getattr(column, "type", None), UTCDateTime)


def key_values(columns: Sequence[ColumnElement[Any]], values: Sequence[Any]) -> SortKey:
    """A cursor's values typed for the columns (times travel as ISO text)."""
    out = []
    for column, value in zip(columns, values, strict=True):
        if isinstance(getattr(column, "type", None), UTCDateTime) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out.append(value)
    return tuple(out)


def page(
    conn: Connection,
    query: AnySelect,
    columns: Sequence[ColumnElement[Any]],
    *,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    key: Callable[[AnyRow], SortKey],
) -> Page[AnyRow]:
    """One page of `query` ordered by `columns` (the last one unique), after or before a key;
    `key` reads a row's values of `columns`."""
    backwards = before is not None
    order_desc = descending != backwards
    if after is not None:
        query = query.where(_after(columns, key_values(columns, after), descending))
    if before is not None:
        query = query.where(_after(columns, key_values(columns, before), not descending))
    query = query.order_by(*(c.desc() if order_desc else c.asc() for c in columns)).limit(limit + 1)
    return page_of(list(conn.execute(query)), limit, after is not None, backwards, key)


def page_of(rows: list[T], limit: int, after: bool, before: bool, key: Callable[[T], SortKey]) -> Page[T]:
    """The page of up to limit + 1 rows read in the keyset's order (reversed when reading
    `before` a key): the extra row only says there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    if before:
        rows.reverse()
    return Page(
        rows,
        key(rows[0]) if rows else None,
        key(rows[-1]) if rows else None,
        has_next=more if not before else True,
        has_prev=after if not before else more,
    )
