"""A page of an account's profiles with no filter, in a listing's order, and the projection rows
of the page's profiles, read with the bare driver: the hot path of paging every profile (a sync
job walking GET /api/profiles), where SQLAlchemy's statement building, execution and row
processing cost more than the keyset scan itself. The same keyset as store.paging.page, the same
rows (store.profile_read.ProfileRow), the same states (projection.states)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from msgspec.json import decode as _decode
from sqlalchemy import Engine

from ..domain import ProfileState
from . import bulk, projection
from .db import driver_cursor, driver_utc
from .paging import Page, page_of
from .profile_read import COLUMNS, ProfileRow, driver_read
from .rows import SortKey

# Each listing sort's columns, as SQL; the last one is unique (store.profiles.SORT_COLUMNS).
SORT_SQL: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "created": ("created_at", "id"),
    "updated": ("updated_at", "id"),
    "email": ("COALESCE(email, '')", "id"),
}
_UNREAD: Any = object()
_TIMES = COLUMNS.index("created_at")  # the columns from here on are times (created, updated, last event)
_new = tuple.__new__
_TIME_SORTS = frozenset({"created", "updated"})  # whose first key is a time (ISO text in a cursor)


def _beyond(columns: Sequence[str], descending: bool, mark: str) -> tuple[str, int]:
    """Rows whose key comes after the bound values in the order: (a, b) > (x, y) written out, as
    store.paging writes it (every backend plans it with the index); and how many values it binds,
    in order a, a, b."""
    head, *rest = columns
    beyond = f"{head} {'<' if descending else '>'} {mark}"
    if not rest:
        return beyond, 1
    inner, n = _beyond(rest, descending, mark)
    return f"({beyond} OR ({head} = {mark} AND {inner}))", n + 2


@functools.cache
def _page_sql(dialect: str, sort: str, descending: bool, after: bool, before: bool) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    columns = SORT_SQL[sort]
    where = [f"account_id = {mark}"]
    if after:
        where.append(_beyond(columns, descending, mark)[0])
    if before:
        where.append(_beyond(columns, not descending, mark)[0])
    order_desc = descending != before
    order = ", ".join(f"{c} DESC" if order_desc else c for c in columns)
    # On SQLite a row is one JSON array's text (see _states_sql): one column read, not 24.
    selected = f"json_array({', '.join(COLUMNS)})" if dialect == "sqlite" else ", ".join(COLUMNS)
    return f"SELECT {selected} FROM profiles WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {mark}"


def _bound(dialect: str, sort: str, key: Sequence[Any]) -> list[Any]:
    """A cursor's key as the keyset condition binds it: (a, a, b) for (a, b); a time as the driver
    stores it."""
    values = list(key)
    if sort in _TIME_SORTS:
        at = datetime.fromisoformat(values[0]) if isinstance(values[0], str) else values[0]
        values[0] = bulk.db_time(dialect, at)
    return [values[0]] if len(values) == 1 else [values[0], values[0], *values[1:]]


def page(
    conn: Any,
    account_id: str,
    sort: str,
    *,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    key: Callable[[Any], SortKey],
) -> Page[ProfileRow]:
    """store.paging.page of every profile of the account in the order of `sort` (a key of
    SORT_SQL): the same rows, the same neighbours. `after` and `before` are sort keys with times
    as a cursor carries them (times as ISO text)."""
    with driver_cursor(conn) as cur:
        return _page(cur, conn.dialect.name, account_id, sort, descending, limit, after, before, key)


def _page(
    cur: Any,
    dialect: str,
    account_id: str,
    sort: str,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
    key: Callable[[Any], SortKey],
) -> Page[ProfileRow]:
    sql = _page_sql(dialect, sort, descending, after is not None, before is not None)
    params: list[Any] = [account_id]
    if after is not None:
        params += _bound(dialect, sort, after)
    if before is not None:
        params += _bound(dialect, sort, before)
    params.append(limit + 1)
    cur.execute(sql, params)
    found = cur.fetchall()
    if dialect == "sqlite":
        found = [_decode(text) for (text,) in found]
    utc = driver_utc(dialect)
    times: dict[Any, Any] = {None: None}  # each stored time read once per page: a page's often repeat
    rows = []
    for row in found:
        created, updated, last = row[_TIMES:]
        c = times.get(created, _UNREAD)
        if c is _UNREAD:
            c = times[created] = utc(created)
        u = times.get(updated, _UNREAD)
        if u is _UNREAD:
            u = times[updated] = utc(updated)
        t = times.get(last, _UNREAD)
        if t is _UNREAD:
            t = times[last] = utc(last)
        rows.append(_new(ProfileRow, (*row[:_TIMES], c, u, t)))  # ProfileRow._make, without its checks
    return page_of(rows, limit, after is not None, before is not None, key)


@functools.cache
def _states_sql(dialect: str, contiguous: bool) -> str:
    """The projection's statement for the bare driver. On SQLite its rows are packed (the profile
    id, then the rest as one JSON array's text): the sqlite3 module lets go of the GIL and SQLite
    takes its mutex for every column it reads, which cost more than the array's text and its
    decoding, and a page's alike rows are found alike by their text, decoded once."""
    if dialect == "sqlite":
        return projection.range_sql(dialect, True) if contiguous else projection.load_sql(dialect, True)
    named = projection.range_sql(dialect) if contiguous else projection.load_sql(dialect)
    for name in ("values", "account_id", "first", "last"):
        named = named.replace(f":{name}", f"%({name})s")
    return named


def states(conn: Any, account_id: str, rows: Sequence[ProfileRow]) -> dict[str, ProfileState]:
    """projection.load of the page's profiles, with the bare driver: one statement. Profiles whose
    projection rows are the same (say, subscribed to email by one import) share one made state's
    parts: each distinct set of rows is typed and made into a state once per page, and the others
    get a ProfileState of those very parts with their own email and phone number (so a document
    built from a state can be made once per page for the states sharing parts)."""
    if not rows:
        return {}
    with driver_cursor(conn) as cur:
        return _states(cur, conn.dialect.name, account_id, rows, None)


def _states(
    cur: Any, dialect: str, account_id: str, rows: Sequence[ProfileRow], id_range: tuple[str, str] | None
) -> dict[str, ProfileState]:
    """states() on a cursor. `id_range` (least, greatest in the database's order) when `rows` are
    every profile of the account whose id lies in it (a page in id order, read in the same
    transaction): their projection rows are then read as one range of ids."""
    if not rows:
        return {}
    if id_range is not None:
        params = {"first": id_range[0], "last": id_range[1], "account_id": account_id}
    else:
        params = {"values": bulk.values_param([r.id for r in rows]), "account_id": account_id}
    cur.execute(_states_sql(dialect, id_range is not None), params)
    found = cur.fetchall()
    packed = dialect == "sqlite"
    pid_at = 0 if packed else 1
    mine: dict[str, list[Any]] = {}
    for row in found:
        of = mine.get(row[pid_at])
        if of is None:
            mine[row[pid_at]] = [row[1] if packed else row[:1] + row[2:]]  # the row without the profile id
        else:
            of.append(row[1] if packed else row[:1] + row[2:])
    utc = driver_utc(dialect)
    made: dict[tuple[Any, ...], ProfileState] = {}
    out: dict[str, ProfileState] = {}
    for r in rows:
        own = mine.get(r.id)
        parts = () if own is None else tuple(own)
        shared = made.get(parts)
        if shared is None:
            typed = [
                (kind, r.id, a, b, c, utc(t1), utc(t2), d, e, f, None if g is None else bool(g))
                for kind, a, b, c, t1, t2, d, e, f, g in (map(_decode, parts) if packed else parts)
            ]
            out[r.id] = made[parts] = projection.states(typed, {r.id: (r.email, r.phone_number)})[r.id]
        else:
            out[r.id] = shared.readdressed(r.email, r.phone_number)
    return out


def walk(
    engine: Engine,
    account_id: str,
    sort: str,
    *,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
    key: Callable[[Any], SortKey],
    with_states: bool,
) -> tuple[Page[ProfileRow], dict[str, ProfileState]] | None:
    """page() and, when asked, states() of its rows, in one read transaction on the bare driver's
    connection (on the event loop's thread, the one it keeps: a SQLAlchemy transaction costs more
    than the account check does); None when there is no such account."""
    dialect = engine.dialect.name
    mark = "?" if dialect == "sqlite" else "%s"
    with driver_read(engine) as cur:
        cur.execute(f"SELECT 1 FROM accounts WHERE id = {mark}", (account_id,))
        if cur.fetchone() is None:
            return None
        found = _page(cur, dialect, account_id, sort, descending, limit, after, before, key)
        rows = found.rows
        if not with_states or not rows:
            return found, {}
        # A page in id order holds every profile of the account between its first and last ids.
        ends = (rows[-1].id, rows[0].id) if descending else (rows[0].id, rows[-1].id)
        return found, _states(cur, dialect, account_id, rows, ends if sort == "id" else None)
