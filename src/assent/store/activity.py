"""Activity: the metrics API clients name and the events they post, and the consent ledger's
metric-bearing events read beside them as one timeline."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    String,
    Table,
    Text,
    cast,
    func,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import ColumnElement

from .paging import Page, page
from .rows import AnyRow, AnySelect, SortKey
from .tables import consent_events, events, metrics, profiles

LEDGER_PREFIX = "consent-"  # ledger events' ids: the prefix, then the seq zero-padded to SEQ_DIGITS
SEQ_DIGITS = 12

TIME_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[Any]]] = {
    "greater-than": operator.gt,
    "greater-or-equal": operator.ge,
    "less-than": operator.lt,
    "less-or-equal": operator.le,
}


def _insert(conn: Connection) -> Callable[[Table], PgInsert | SqliteInsert]:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


# --- metrics ------------------------------------------------------------------------------------


def metric_by_name(conn: Connection, account_id: str, name: str) -> AnyRow | None:
    return conn.execute(select(metrics).where(metrics.c.account_id == account_id, metrics.c.name == name)).first()


def get_metric(conn: Connection, account_id: str, metric_id: str) -> AnyRow | None:
    return conn.execute(select(metrics).where(metrics.c.account_id == account_id, metrics.c.id == metric_id)).first()


def metrics_by_ids(conn: Connection, account_id: str, ids: Iterable[str]) -> list[AnyRow]:
    ids = list(set(ids))
    if not ids:
        return []
    return list(conn.execute(select(metrics).where(metrics.c.account_id == account_id, metrics.c.id.in_(ids))))


def ensure_metric(
    conn: Connection, account_id: str, new_id: str, name: str, service: str | None, now: datetime
) -> AnyRow:
    """The account's metric of this name, created (with `new_id`) on first use. Concurrent first
    uses agree on one row: the unique (account, name) index decides, and the loser reads it."""
    row = metric_by_name(conn, account_id, name)
    if row is not None:
        return row
    values = dict(account_id=account_id, id=new_id, name=name, service=service, created_at=now, updated_at=now)
    conn.execute(_insert(conn)(metrics).values(**values).on_conflict_do_nothing())
    row = metric_by_name(conn, account_id, name)
    assert row is not None  # inserted, or inserted by the transaction that won
    return row


def metrics_page(
    conn: Connection,
    account_id: str,
    *,
    api_only: bool,
    service: str | None,
    limit: int,
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
) -> Page[AnyRow]:
    """Stored metrics in id order (ids are ULIDs: creation order). `service` keeps those of one
    service; `api_only` those of the default one (no service, or "api")."""
    q = select(metrics).where(metrics.c.account_id == account_id)
    if api_only:
        q = q.where(or_(metrics.c.service.is_(None), func.lower(metrics.c.service) == "api"))
    elif service is not None:
        q = q.where(metrics.c.service == service)
    return page(conn, q, [metrics.c.id], descending=False, limit=limit, after=after, before=before, key=_id_key)


def _id_key(row: AnyRow) -> SortKey:
    return (row.id,)


# --- events -------------------------------------------------------------------------------------


def insert_event(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert an event unless one with its (profile, metric, unique_id) is stored; True if inserted."""
    result = conn.execute(_insert(conn)(events).values(**values).on_conflict_do_nothing())
    return result.rowcount == 1


def touch_last_event(conn: Connection, account_id: str, profile_id: str, at: datetime) -> None:
    """profiles.last_event_at becomes `at` unless it is later already (events may come out of order)."""
    p = profiles.c
    conn.execute(
        update(profiles)
        .where(p.account_id == account_id, p.id == profile_id, or_(p.last_event_at.is_(None), p.last_event_at < at))
        .values(last_event_at=at)
    )


def ledger_event_id(seq: int) -> str:
    return f"{LEDGER_PREFIX}{seq:0{SEQ_DIGITS}d}"


def ledger_seq(event_id: str) -> int | None:
    """The seq a ledger event id names, or None if the id is not one."""
    digits = event_id.removeprefix(LEDGER_PREFIX)
    if digits == event_id or len(digits) != SEQ_DIGITS or not digits.isdigit():
        return None
    return int(digits)


def _ledger_id_column(conn: Connection) -> ColumnElement[Any]:
    """ledger_event_id(seq) in SQL: the id the timeline sorts and pages ledger events by."""
    seq = consent_events.c.seq
    if conn.dialect.name == "sqlite":
        text = func.printf(f"{LEDGER_PREFIX}%0{SEQ_DIGITS}d", seq)
    else:
        text = func.concat(LEDGER_PREFIX, func.lpad(cast(seq, Text), SEQ_DIGITS, "0"))
    return type_coerce(text, String)


def _posted(account_id: str) -> AnySelect:
    e = events.c
    return select(
        e.id.label("id"),
        e.occurred_at.label("occurred_at"),
        e.profile_id.label("profile_id"),
        e.metric_id.label("metric_id"),
        cast(null(), String).label("metric"),
        e.properties.label("properties"),
        e.value.label("value"),
        e.value_currency.label("value_currency"),
    ).where(e.account_id == account_id)


def _ledger(conn: Connection, account_id: str) -> AnySelect:
    c = consent_events.c
    return select(
        _ledger_id_column(conn).label("id"),
        c.occurred_at.label("occurred_at"),
        c.profile_id.label("profile_id"),
        cast(null(), String).label("metric_id"),
        c.metric.label("metric"),
        c.payload.label("properties"),
        cast(null(), Float).label("value"),
        cast(null(), String).label("value_currency"),
    ).where(c.account_id == account_id, c.metric.is_not(None))


def _timeline_key(row: AnyRow) -> SortKey:
    return (row.occurred_at, row.id)


def timeline_page(
    conn: Connection,
    account_id: str,
    *,
    metric_id: str | None,
    ledger_metrics: Sequence[str] | None,
    posted: bool,
    profile_id: str | None,
    times: Sequence[tuple[str, datetime]],
    descending: bool,
    limit: int,
    after: Sequence[Any] | None,
    before: Sequence[Any] | None,
) -> Page[AnyRow]:
    """One page of the account's timeline: posted events (when `posted`; of `metric_id` if given)
    and ledger events that have a metric (of `ledger_metrics` if given; none if it is empty),
    in (occurred_at, id) order, as one UNION ALL query. Rows have id, occurred_at, profile_id,
    metric_id (posted events) or metric (the ledger's metric name), properties, value, value_currency."""
    branches: list[AnySelect] = []
    if posted:
        q = _posted(account_id)
        if metric_id is not None:
            q = q.where(events.c.metric_id == metric_id)
        if profile_id is not None:
            q = q.where(events.c.profile_id == profile_id)
        for op, at in times:
            q = q.where(TIME_OPERATORS[op](events.c.occurred_at, at))
        branches.append(q)
    if ledger_metrics is None or ledger_metrics:
        q = _ledger(conn, account_id)
        if ledger_metrics:
            q = q.where(consent_events.c.metric.in_(list(ledger_metrics)))
        if profile_id is not None:
            q = q.where(consent_events.c.profile_id == profile_id)
        for op, at in times:
            q = q.where(TIME_OPERATORS[op](consent_events.c.occurred_at, at))
        branches.append(q)
    if not branches:
        return Page([], None, None, has_next=False, has_prev=False)
    timeline = (union_all(*branches) if len(branches) > 1 else branches[0]).subquery("timeline")
    query = select(timeline)
    columns = [timeline.c.occurred_at, timeline.c.id]
    return page(conn, query, columns, descending=descending, limit=limit, after=after, before=before, key=_timeline_key)


def get_event(conn: Connection, account_id: str, event_id: str) -> AnyRow | None:
    """One timeline row by its id (a posted event's, or a ledger event's with a metric)."""
    seq = ledger_seq(event_id)
    if seq is not None:
        q = _ledger(conn, account_id).where(consent_events.c.seq == seq)
    else:
        q = _posted(account_id).where(events.c.id == event_id)
    return conn.execute(q).first()
