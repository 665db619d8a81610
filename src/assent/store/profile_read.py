"""One profile and its current state, read with the raw driver: the hot path of
GET /api/profiles/{id}, where SQLAlchemy's statement execution and result processing cost more
than the two indexed look-ups. The driver keeps both statements prepared (sqlite3's statement
cache; psycopg prepares a statement after a few executions)."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from ..domain import ProfileState
from ..domain.profile import PROFILE_FIELDS
from . import projection

COLUMNS = ("id", *PROFILE_FIELDS, "properties", "created_at", "updated_at", "last_event_at")


class ProfileRow(NamedTuple):
    """The profile's columns the views read, by name (as a SQLAlchemy row of `profiles` has them)."""

    id: str
    email: str | None
    phone_number: str | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    organization: str | None
    title: str | None
    locale: str | None
    image: str | None
    address1: str | None
    address2: str | None
    city: str | None
    region: str | None
    zip: str | None
    country: str | None
    timezone: str | None
    latitude: str | None
    longitude: str | None
    ip: str | None
    properties: str
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime | None


assert ProfileRow._fields == COLUMNS, "ProfileRow must follow the profiles table's columns"


class _Dialect(NamedTuple):
    sqlite: bool
    profile_sql: str
    state_sql: str
    # The profile's row and its state's rows in one statement, so one snapshot without a BEGIN and
    # a COMMIT. SQLite: the profile's row ('profile', then COLUMNS) and the state's rows (the state
    # statement's columns, padded with NULLs). PostgreSQL, whose UNION wants one type a column: each
    # state row beside the profile's columns (the profile's alone, and NULLs, when it has none).
    both_sql: str


@functools.cache
def _dialect(name: str) -> _Dialect:
    sqlite = name == "sqlite"

    def bind(n: str) -> str:
        return f":{n}" if sqlite else f"%({n})s"

    profile_sql = (
        f"SELECT {', '.join(COLUMNS)} FROM profiles "
        f"WHERE account_id = {bind('account_id')} AND id = {bind('profile_id')}"
    )
    state_sql = projection.one_profile_sql(bind)
    if sqlite:
        pad = ", NULL" * (1 + len(COLUMNS) - _STATE_WIDTH)
        both_sql = f"SELECT 'profile', {profile_sql[7:]} UNION ALL {state_sql.replace(' FROM ', f'{pad} FROM ')}"
    else:
        columns = ", ".join(f"profiles.{c}" for c in COLUMNS)
        both_sql = (
            f"SELECT {columns}, state.* FROM profiles LEFT JOIN LATERAL ({state_sql}) AS state ON true"
            f" WHERE profiles.account_id = {bind('account_id')} AND profiles.id = {bind('profile_id')}"
        )
    return _Dialect(sqlite, profile_sql, state_sql, both_sql)


_STATE_WIDTH = 11  # (kind, profile_id, text, text, text, time, time, text, text, text, bool)


@functools.lru_cache(maxsize=4096)
def _sqlite_text_time(value: str) -> datetime:
    # SQLite holds UTC times as naive ISO text (see tables.UTCDateTime). A profile's times are often
    # one and the same (created, updated, its consents' times): each is parsed once.
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _sqlite_time(value: str | None) -> datetime | None:
    return None if value is None else _sqlite_text_time(value)


def _pg_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


_kept = threading.local()


def _sqlite_connection(engine: Engine) -> tuple[PoolProxiedConnection, bool]:
    """A SQLite connection for these reads, and whether it is kept checked out of the pool between
    them. Only the thread running the server's event loop keeps one (the check-out and check-in cost
    more than the read; between reads it holds no transaction, so it blocks no writer and no
    checkpoint): there is one such thread a process, whereas keeping one in each of the dozens of
    handler threads would empty the pool and leave every other request waiting on it. A new pool
    (after engine.dispose()) or another engine takes a new one, giving the old one back."""
    if not _on_event_loop():
        return engine.raw_connection(), False
    kept = getattr(_kept, "slot", None)
    if kept is not None:
        if kept[0] is engine.pool:
            return cast(PoolProxiedConnection, kept[1]), True
        _drop_kept()
    pooled = engine.raw_connection()
    _kept.slot = (engine.pool, pooled)
    return pooled, True


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _drop_kept() -> None:
    kept = getattr(_kept, "slot", None)
    _kept.slot = None
    if kept is not None:
        kept[1].close()  # back to its pool, which rolls back whatever is left open


@contextmanager
def driver_read(engine: Engine) -> Iterator[Any]:
    """A DB-API cursor in one read transaction (one snapshot for both statements); a driver error
    comes out as SQLAlchemy's (a DataError stays a DataError), as from any other read."""
    sqlite = engine.dialect.name == "sqlite"
    pooled, kept = _sqlite_connection(engine) if sqlite else (engine.raw_connection(), False)
    failed = True
    try:
        raw: Any = pooled.driver_connection
        cur = raw.cursor()
        try:
            if sqlite:
                cur.execute("BEGIN DEFERRED")
            yield cur
            if sqlite:
                cur.execute("COMMIT")
            else:
                raw.commit()
            failed = False
        except engine.dialect.loaded_dbapi.Error as e:
            raise DBAPIError.instance(None, None, e, engine.dialect.loaded_dbapi.Error) from e
        finally:
            cur.close()
    finally:
        if not kept:
            pooled.close()  # back to the pool, which rolls back whatever is left open
        elif failed:
            _drop_kept()


def get(
    engine: Engine, account_id: str, profile_id: str, *, with_state: bool
) -> tuple[ProfileRow, ProfileState | None] | None:
    """The profile's row, and its state when asked; None when the account has no such profile."""
    d = _dialect(engine.dialect.name)
    params = {"account_id": account_id, "profile_id": profile_id}
    if d.sqlite and _on_event_loop():
        pooled, _ = _sqlite_connection(engine)
        cur = pooled.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cur.execute(d.both_sql if with_state else d.profile_sql, params)
            fetched = cur.fetchall()
        except engine.dialect.loaded_dbapi.Error as e:
            _drop_kept()
            raise DBAPIError.instance(None, None, e, engine.dialect.loaded_dbapi.Error) from e
        finally:
            cur.close()
        found = _split(fetched, with_state)
    elif not d.sqlite:
        with _statement(engine) as cur:
            cur.execute(d.both_sql if with_state else d.profile_sql, params)
            found = _beside(cur.fetchall(), with_state)
    else:
        with driver_read(engine) as cur:
            found = _read(cur, d, params, with_state, _sqlite_time)
    if found is None:
        return None
    row, rows = found
    if rows is None:
        return row, None
    return row, projection.states(rows, {row.id: (row.email, row.phone_number)})[row.id]


@contextmanager
def _statement(engine: Engine) -> Iterator[Any]:
    """PostgreSQL: a DB-API cursor for one statement in autocommit (its own snapshot, and no BEGIN
    and COMMIT round trips); a driver error comes out as SQLAlchemy's."""
    pooled = engine.raw_connection()
    raw: Any = pooled.driver_connection
    dbapi = engine.dialect.loaded_dbapi
    try:
        raw.autocommit = True
        with raw.cursor() as cur:
            yield cur
    except dbapi.Error as e:
        raise DBAPIError.instance(None, None, e, dbapi.Error) from e
    finally:
        try:
            raw.autocommit = False  # as the pool hands its connections out
        finally:
            pooled.close()


def _beside(fetched: list[tuple[Any, ...]], with_state: bool) -> tuple[ProfileRow, list[tuple[Any, ...]] | None] | None:
    """_read's answer from the rows of PostgreSQL's both_sql (or profile_sql's alone)."""
    if not fetched:
        return None
    row = _profile_row(fetched[0][: len(COLUMNS)], _pg_time)
    if not with_state:
        return row, None
    n = len(COLUMNS)
    rows = [
        (kind, pid, a, b, c, _pg_time(t1), _pg_time(t2), e, f, g, h)
        for kind, pid, a, b, c, t1, t2, e, f, g, h in (r[n : n + _STATE_WIDTH] for r in fetched)
        if kind is not None
    ]
    return row, rows


def _split(fetched: list[tuple[Any, ...]], with_state: bool) -> tuple[ProfileRow, list[tuple[Any, ...]] | None] | None:
    """_read's answer from the rows of the SQLite statement: both_sql's, or profile_sql's alone."""
    if not with_state:
        return None if not fetched else (_profile_row(fetched[0], _sqlite_time), None)
    profile = None
    rows = []
    for r in fetched:
        if r[0] == "profile":
            profile = _profile_row(r[1:], _sqlite_time)
        else:
            kind, pid, a, b, c, t1, t2, e, f, g, h = r[:_STATE_WIDTH]
            rows.append(
                (kind, pid, a, b, c, _sqlite_time(t1), _sqlite_time(t2), e, f, g, None if h is None else bool(h))
            )
    return None if profile is None else (profile, rows)


def _profile_row(found: tuple[Any, ...], time: Callable[[Any], datetime | None]) -> ProfileRow:
    *fields, created, updated, last_event = found
    return ProfileRow._make((*fields, time(created), time(updated), time(last_event)))


def _read(
    cur: Any, d: _Dialect, params: dict[str, str], with_state: bool, time: Callable[[Any], datetime | None]
) -> tuple[ProfileRow, list[tuple[Any, ...]] | None] | None:
    cur.execute(d.profile_sql, params)
    found = cur.fetchone()
    if found is None:
        return None
    row = _profile_row(found, time)
    if not with_state:
        return row, None
    cur.execute(d.state_sql, params)
    rows = [
        (kind, pid, a, b, c, time(t1), time(t2), e, f, g, None if h is None else bool(h))
        for kind, pid, a, b, c, t1, t2, e, f, g, h in cur.fetchall()
    ]
    return row, rows
