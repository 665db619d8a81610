"""Lists and their members."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from . import paging
from .conditions import OPERATORS
from .rows import AnyRow, AnySelect
from .tables import list_members, lists, pending_optins, profiles

# A filter condition as the API checked it: (operator, field, value), the value already typed.
Condition = tuple[str, str, Any]

LIST_SORT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "created": lists.c.created_at,
    "updated": lists.c.updated_at,
    "name": lists.c.name,
    "id": lists.c.id,
}
_LIST_FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {**LIST_SORT_COLUMNS}
_MEMBER_FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "email": profiles.c.email,
    "phone_number": profiles.c.phone_number,
    "joined_group_at": list_members.c.joined_at,
}


class UnknownField(ValueError):
    """A condition on a field this query cannot filter on: a programming error upstream."""


def _clause(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    compare = OPERATORS.get(op)
    if compare is None:
        raise UnknownField(f"operator {op!r} is not mapped to SQL here")
    return compare(column, value)


def _where(query: AnySelect, table: dict[str, ColumnElement[Any]], conditions: Sequence[Condition]) -> AnySelect:
    for op, field, value in conditions:
        if field not in table:
            raise UnknownField(f"cannot filter on {field!r} here")
        query = query.where(_clause(table[field], op, value))
    return query


def insert_list(
    conn: Connection, account_id: str, id: str, name: str, opt_in_process: str, now: datetime, public: bool = False
) -> None:
    conn.execute(
        insert(lists).values(
            account_id=account_id, id=id, name=name, opt_in_process=opt_in_process, created_at=now, updated_at=now,
            public=public,
        )
    )  # fmt: skip


def get_list(conn: Connection, account_id: str, list_id: str) -> AnyRow | None:
    return conn.execute(select(lists).where(lists.c.account_id == account_id, lists.c.id == list_id)).first()


def _member_count() -> ColumnElement[Any]:
    return (
        select(func.count())
        .where(list_members.c.account_id == lists.c.account_id, list_members.c.list_id == lists.c.id)
        .scalar_subquery()
    )


def all_lists(conn: Connection, account_id: str) -> list[AnyRow]:
    q = (
        select(lists, _member_count().label("profile_count"))
        .where(lists.c.account_id == account_id)
        .order_by(lists.c.created_at)
    )
    return list(conn.execute(q))


def member_count(conn: Connection, account_id: str, list_id: str) -> int:
    q = select(func.count()).where(list_members.c.account_id == account_id, list_members.c.list_id == list_id)
    return conn.execute(q).scalar_one()


def update_list(conn: Connection, account_id: str, list_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(lists).where(lists.c.account_id == account_id, lists.c.id == list_id).values(**values))


def delete_list(conn: Connection, account_id: str, list_id: str) -> None:
    """Delete the list row only: its members leave through the ledger first, and its list
    suppressions stay as history."""
    conn.execute(delete(lists).where(lists.c.account_id == account_id, lists.c.id == list_id))


def list_columns(sort: str) -> list[ColumnElement[Any]]:
    """The keyset columns for a list sort: the sorted column, then the id to make the key unique."""
    column = LIST_SORT_COLUMNS[sort]
    return [column] if column is lists.c.id else [column, lists.c.id]


def page_lists(
    conn: Connection,
    account_id: str,
    conditions: Sequence[Condition],
    *,
    sort: str,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    with_count: bool = False,
) -> paging.Page[AnyRow]:
    columns = list_columns(sort)
    wanted: list[Any] = [lists]
    if with_count:
        wanted.append(_member_count().label("profile_count"))
    query = _where(select(*wanted).where(lists.c.account_id == account_id), _LIST_FILTER_COLUMNS, conditions)
    names = [c.name for c in columns]
    return paging.page(
        conn,
        query,
        columns,
        descending=descending,
        limit=limit,
        after=after,
        before=before,
        key=lambda r: tuple(getattr(r, n) for n in names),
    )


MEMBER_COLUMNS: list[ColumnElement[Any]] = [list_members.c.joined_at, list_members.c.profile_id]


def page_members(
    conn: Connection,
    account_id: str,
    list_id: str,
    conditions: Sequence[Condition],
    *,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    full: bool = True,
) -> paging.Page[AnyRow]:
    """One page of a list's members ordered by when they joined; rows are whole profiles plus
    `joined_at` (or, without `full`, only `id` and `joined_at`)."""
    wanted: list[Any] = [profiles, list_members.c.joined_at] if full else [profiles.c.id, list_members.c.joined_at]
    query = (
        select(*wanted)
        .select_from(
            list_members.join(
                profiles,
                and_(profiles.c.account_id == list_members.c.account_id, profiles.c.id == list_members.c.profile_id),
            )
        )
        .where(list_members.c.account_id == account_id, list_members.c.list_id == list_id)
    )
    query = _where(query, _MEMBER_FILTER_COLUMNS, conditions)
    return paging.page(
        conn,
        query,
        MEMBER_COLUMNS,
        descending=descending,
        limit=limit,
        after=after,
        before=before,
        key=lambda r: (r.joined_at, r.id),
    )


def member_ids(conn: Connection, account_id: str, list_id: str) -> list[str]:
    q = select(list_members.c.profile_id).where(
        list_members.c.account_id == account_id, list_members.c.list_id == list_id
    )
    return list(conn.execute(q).scalars())


def pending_ids(conn: Connection, account_id: str, list_id: str) -> list[str]:
    """Profiles with a double opt-in waiting on this list."""
    q = (
        select(pending_optins.c.profile_id)
        .where(pending_optins.c.account_id == account_id, pending_optins.c.list_id == list_id)
        .distinct()
    )
    return list(conn.execute(q).scalars())


def lists_of_profile(conn: Connection, account_id: str, profile_id: str) -> list[AnyRow]:
    """The lists a profile is a member of, oldest list first."""
    q = (
        select(lists)
        .select_from(
            lists.join(
                list_members,
                and_(list_members.c.account_id == lists.c.account_id, list_members.c.list_id == lists.c.id),
            )
        )
        .where(list_members.c.account_id == account_id, list_members.c.profile_id == profile_id)
        .order_by(lists.c.created_at, lists.c.id)
    )
    return list(conn.execute(q))


def public_lists(conn: Connection, account_id: str) -> list[AnyRow]:
    """The lists people may join or leave themselves (in the preference centre), by name."""
    q = (
        select(lists)
        .where(lists.c.account_id == account_id, lists.c.public.is_(True))
        .order_by(lists.c.name, lists.c.id)
    )
    return list(conn.execute(q))


def set_public(conn: Connection, account_id: str, list_id: str, public: bool) -> int:
    q = update(lists).where(lists.c.account_id == account_id, lists.c.id == list_id).values(public=public)
    return conn.execute(q).rowcount
