"""Push tokens: a profile's devices, looked up by id, token or profile, and paged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, exists, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..domain.push_tokens import ACTIVE
from . import bulk, paging
from .conditions import OPERATORS
from .rows import AnyRow
from .tables import push_tokens

# What GET /api/push-tokens filters on (each with `equals`).
FILTER_COLUMNS = {
    "id": push_tokens.c.id,
    "profile.id": push_tokens.c.profile_id,
    "enablement_status": push_tokens.c.enablement_status,
    "platform": push_tokens.c.platform,
}


def has_active(account_id: Any, profile_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: the profile has an AUTHORIZED push token (decide()'s push_token_rule)."""
    t = push_tokens
    return exists().where(
        t.c.account_id == account_id, t.c.profile_id == profile_id, t.c.enablement_status.in_(sorted(ACTIVE))
    )


def get(conn: Connection, account_id: str, token_id: str) -> AnyRow | None:
    t = push_tokens
    return conn.execute(select(t).where(t.c.account_id == account_id, t.c.id == token_id)).first()


def by_token(conn: Connection, account_id: str, token: str) -> AnyRow | None:
    t = push_tokens
    return conn.execute(select(t).where(t.c.account_id == account_id, t.c.token == token)).first()


def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(push_tokens).values(**values))


def update_token(conn: Connection, account_id: str, token_id: str, values: dict[str, Any]) -> None:
    t = push_tokens
    conn.execute(update(t).where(t.c.account_id == account_id, t.c.id == token_id).values(**values))


def delete_token(conn: Connection, account_id: str, token_id: str) -> None:
    t = push_tokens
    conn.execute(delete(t).where(t.c.account_id == account_id, t.c.id == token_id))


def of_profiles(conn: Connection, account_id: str, profile_ids: Iterable[str]) -> list[AnyRow]:
    """The tokens of these profiles, oldest first."""
    ids = list(set(profile_ids))
    if not ids:
        return []
    t = push_tokens
    q = select(t).where(t.c.account_id == account_id, t.c.profile_id.in_(ids)).order_by(t.c.id)
    return list(conn.execute(q))


def active_counts(
    conn: Connection, account_id: str, profile_ids: Iterable[str], statuses: Iterable[str]
) -> dict[str, int]:
    """How many tokens of each profile have one of `statuses` (profiles with none are left out):
    one statement with one bound parameter, however many profiles, answered from the
    (account, profile, status) index."""
    ids, wanted = list(set(profile_ids)), set(statuses)
    if not ids:
        return {}
    q = bulk.select_matching(conn, push_tokens, account_id, "profile_id", ids, ("profile_id", "enablement_status"))
    counts: dict[str, int] = {}
    for pid, status in conn.execute(q):
        if status in wanted:
            counts[pid] = counts.get(pid, 0) + 1
    return counts


def all_active_counts(conn: Connection, account_id: str, statuses: Iterable[str]) -> dict[str, int]:
    """`active_counts` for every profile of the account that has such a token: one grouped query."""
    t = push_tokens
    q = (
        select(t.c.profile_id, func.count())
        .where(t.c.account_id == account_id, t.c.enablement_status.in_(list(statuses)))
        .group_by(t.c.profile_id)
    )
    return {pid: int(n) for pid, n in conn.execute(q)}


def page_tokens(
    conn: Connection,
    account_id: str,
    conditions: Sequence[tuple[str, str, Any]],
    *,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
) -> paging.Page[AnyRow]:
    """A page of the account's tokens in id (creation) order, filtered by `FILTER_COLUMNS`."""
    t = push_tokens
    query = select(t).where(t.c.account_id == account_id)
    for op, field, value in conditions:
        query = query.where(OPERATORS[op](FILTER_COLUMNS[field], value))
    return paging.page(
        conn, query, [t.c.id], descending=False, limit=limit, after=after, before=before, key=lambda r: (r.id,)
    )
