"""Opt-out analytics over the ledger and the reported events, in SQL: counts per day or week,
unsubscribe reasons, and opt-outs per message id. Every query reads one account's rows in a time
range through the (account_id, occurred_at) indexes of consent_events and events; the JSON of an
event's payload is only read for the rows a count needs it from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, String, Subquery, and_, case, cast, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from .tables import consent_events, events, message_sends, metrics

SUPPRESSION_ADDED = "suppression.added"


def _json_text(conn: Connection, column: Any, *path: str) -> ColumnElement[Any]:
    """The text at `path` in a JSON text column, on either backend (NULL when absent)."""
    if conn.dialect.name == "postgresql":
        return func.json_extract_path_text(cast(column, JSON), *[literal(p, String) for p in path])
    return func.json_extract(column, "$." + ".".join(path))


def _bucket(conn: Connection, column: Any, every: str) -> ColumnElement[Any]:
    """The day (or the Monday of the week) of a UTC time, as YYYY-MM-DD text."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.date_trunc(every, func.timezone("UTC", column)), "YYYY-MM-DD")
    return func.date(column) if every == "day" else func.date(column, "weekday 0", "-6 days")


def ledger_counts(
    conn: Connection,
    account_id: str,
    start: datetime,
    end: datetime,
    every: str,
    metrics_counted: Sequence[str],
) -> list[tuple[str, str, str | None, int]]:
    """(bucket, metric or event type, suppression reason, count) for the events whose metric is one
    of `metrics_counted`, and every suppression added, in [start, end)."""
    t = consent_events
    bucket = _bucket(conn, t.c.occurred_at, every).label("bucket")
    kind = case((t.c.type == SUPPRESSION_ADDED, t.c.type), else_=t.c.metric).label("kind")
    reason = case((t.c.type == SUPPRESSION_ADDED, _json_text(conn, t.c.payload, "reason")), else_=None).label("reason")
    q = (
        select(bucket, kind, reason, func.count().label("n"))
        .where(t.c.account_id == account_id, t.c.occurred_at >= start, t.c.occurred_at < end)
        .where((t.c.metric.in_(list(metrics_counted))) | (t.c.type == SUPPRESSION_ADDED))
        .group_by(bucket, kind, reason)
    )
    return [(r.bucket, r.kind, r.reason, r.n) for r in conn.execute(q)]


def unsubscribe_reasons(
    conn: Connection, account_id: str, start: datetime, end: datetime, metric_names: Sequence[str], limit: int = 50
) -> list[tuple[str | None, str | None, int]]:
    """(reason chosen, free text, count) of the opt-outs in [start, end), most frequent first."""
    t = consent_events
    chosen = _json_text(conn, t.c.payload, "context", "reason").label("chosen")
    note = _json_text(conn, t.c.payload, "context", "note").label("note")
    q = (
        select(chosen, note, func.count().label("n"))
        .where(t.c.account_id == account_id, t.c.occurred_at >= start, t.c.occurred_at < end)
        .where(t.c.metric.in_(list(metric_names)))
        .group_by(chosen, note)
        .order_by(func.count().desc(), chosen.is_(None), chosen, note)  # a given reason before none
        .limit(limit)
    )
    return [(r.chosen, r.note, r.n) for r in conn.execute(q)]


def optouts_by_message(
    conn: Connection, account_id: str, start: datetime, end: datetime, metric_names: Sequence[str], limit: int = 50
) -> list[tuple[str, int]]:
    """(message id, opt-outs attributed to it) in [start, end), most first."""
    t = consent_events
    message = _json_text(conn, t.c.payload, "context", "message_id").label("message")
    q = (
        select(message, func.count().label("n"))
        .where(t.c.account_id == account_id, t.c.occurred_at >= start, t.c.occurred_at < end)
        .where(t.c.metric.in_(list(metric_names)), message.is_not(None))
        .group_by(message)
        .order_by(func.count().desc(), message)
        .limit(limit)
    )
    return [(r.message, r.n) for r in conn.execute(q)]


def _reported(conn: Connection, account_id: str, start: datetime, end: datetime, metric_name: str,
              channel: str) -> Subquery:  # fmt: skip
    """(sent_at, message id) of every message reported sent on `channel` in [start, end): the rows of
    POST /api/message-sends, and the events of the metric `metric_name` ("Received Email") that
    report no send already there (same profile and message id), so a send reported both ways
    counts once."""
    s = message_sends
    recorded = select(s.c.sent_at.label("sent_at"), s.c.message_id.label("message")).where(
        s.c.account_id == account_id, s.c.channel == channel, s.c.sent_at >= start, s.c.sent_at < end
    )
    message = _json_text(conn, events.c.properties, "message_id")
    already = (
        select(literal(1))
        .where(s.c.account_id == events.c.account_id, s.c.profile_id == events.c.profile_id,
               s.c.channel == channel, s.c.message_id == message)  # fmt: skip
        .exists()
    )
    evented = (
        select(events.c.occurred_at.label("sent_at"), message.label("message"))
        .select_from(events.join(metrics, and_(metrics.c.account_id == events.c.account_id,
                                               metrics.c.id == events.c.metric_id)))  # fmt: skip
        .where(events.c.account_id == account_id, metrics.c.name == metric_name)
        .where(events.c.occurred_at >= start, events.c.occurred_at < end, ~already)
    )
    return union_all(recorded, evented).subquery("reported")


def sends(
    conn: Connection, account_id: str, start: datetime, end: datetime, every: str, metric_name: str, channel: str
) -> list[tuple[str, int]]:
    """(bucket, messages reported sent on `channel`)."""
    reported = _reported(conn, account_id, start, end, metric_name, channel)
    bucket = _bucket(conn, reported.c.sent_at, every).label("bucket")
    q = select(bucket, func.count().label("n")).select_from(reported).group_by(bucket)
    return [(r.bucket, r.n) for r in conn.execute(q)]


def sends_by_message(
    conn: Connection, account_id: str, start: datetime, end: datetime, metric_name: str, channel: str,
    messages: Sequence[str],
) -> dict[str, int]:  # fmt: skip
    """Messages reported sent on `channel` per message id, for `messages`."""
    if not messages:
        return {}
    reported = _reported(conn, account_id, start, end, metric_name, channel)
    q = (
        select(reported.c.message, func.count().label("n"))
        .where(reported.c.message.in_(list(messages)))
        .group_by(reported.c.message)
    )
    return {r.message: r.n for r in conn.execute(q)}
