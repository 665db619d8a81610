"""Webhooks and the queue of what is still to be sent to each."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update

from . import bulk
from .db import driver_rows, later
from .rows import AnyRow
from .tables import webhook_deliveries as deliveries
from .tables import webhooks

DELIVERY_COLUMNS = ("account_id", "webhook_id", "seq", "topic", "payload", "attempts", "next_attempt_at", "created_at")


def add(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(webhooks).values(**row))


def get(conn: Connection, account_id: str, webhook_id: str) -> AnyRow | None:
    q = select(webhooks).where(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
    return conn.execute(q).first()


def listing(conn: Connection, account_id: str) -> list[AnyRow]:
    q = select(webhooks).where(webhooks.c.account_id == account_id).order_by(webhooks.c.created_at, webhooks.c.id)
    return list(conn.execute(q))


def change(conn: Connection, account_id: str, webhook_id: str, values: dict[str, Any]) -> bool:
    result = conn.execute(
        update(webhooks)
        .where(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
        .values(**values)
        .execution_options(preserve_rowcount=True)
    )
    return result.rowcount == 1


def remove(conn: Connection, account_id: str, webhook_id: str) -> bool:
    """Delete the webhook and what was still queued for it."""
    conn.execute(delete(deliveries).where(deliveries.c.account_id == account_id, deliveries.c.webhook_id == webhook_id))
    result = conn.execute(
        delete(webhooks)
        .where(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
        .execution_options(preserve_rowcount=True)
    )
    return result.rowcount == 1


def enabled(conn: Connection, account_id: str) -> list[tuple[str, str]]:
    """The account's enabled webhooks, as (id, topics): who gets a change recorded now. Every
    write asks, so it is one bare-driver statement."""
    sql = "SELECT id, topics FROM webhooks WHERE account_id = ? AND enabled"
    return [(wid, topics) for wid, topics in driver_rows(conn, sql, (account_id,))]


def enabled_later(conn: Connection, account_id: str) -> Callable[[], list[tuple[str, str]]]:
    """enabled(), asked later (db.later): in a pipeline it goes out with what else is queued."""
    found = later(conn, "SELECT id, topics FROM webhooks WHERE account_id = ? AND enabled", (account_id,))
    return lambda: [(wid, topics) for wid, topics in found()]


def enqueue(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Queue deliveries, as tuples in DELIVERY_COLUMNS' order."""
    if rows:
        bulk.insert_rows(conn, deliveries, DELIVERY_COLUMNS, rows)


def due(conn: Connection, now: datetime, limit: int = 100) -> list[AnyRow]:
    """Enabled webhooks, not leased to a deliverer, with a delivery due: (account_id, webhook_id)."""
    has_due = exists().where(
        deliveries.c.account_id == webhooks.c.account_id,
        deliveries.c.webhook_id == webhooks.c.id,
        deliveries.c.next_attempt_at <= now,
    )
    q = (
        select(webhooks.c.account_id, webhooks.c.id)
        .where(webhooks.c.enabled, or_(webhooks.c.claimed_until.is_(None), webhooks.c.claimed_until < now), has_due)
        .limit(limit)
    )
    return list(conn.execute(q))


def claim(conn: Connection, account_id: str, webhook_id: str, now: datetime, until: datetime) -> AnyRow | None:
    """Lease the webhook to this deliverer until `until`; its row, or None when another has it or
    it is disabled."""
    result = conn.execute(
        update(webhooks)
        .where(
            webhooks.c.account_id == account_id,
            webhooks.c.id == webhook_id,
            webhooks.c.enabled,
            or_(webhooks.c.claimed_until.is_(None), webhooks.c.claimed_until < now),
        )
        .values(claimed_until=until)
        .execution_options(preserve_rowcount=True)
    )
    return get(conn, account_id, webhook_id) if result.rowcount == 1 else None


def extend(conn: Connection, account_id: str, webhook_id: str, until: datetime | None) -> None:
    """Move the lease's end (None releases it)."""
    conn.execute(
        update(webhooks)
        .where(webhooks.c.account_id == account_id, webhooks.c.id == webhook_id)
        .values(claimed_until=until)
    )


def head(conn: Connection, account_id: str, webhook_id: str, limit: int) -> list[AnyRow]:
    """The webhook's queued deliveries, oldest ledger event first."""
    q = (
        select(deliveries)
        .where(deliveries.c.account_id == account_id, deliveries.c.webhook_id == webhook_id)
        .order_by(deliveries.c.seq)
        .limit(limit)
    )
    return list(conn.execute(q))


def delivered(conn: Connection, account_id: str, webhook_id: str, seq: int) -> None:
    conn.execute(
        delete(deliveries).where(
            deliveries.c.account_id == account_id, deliveries.c.webhook_id == webhook_id, deliveries.c.seq == seq
        )
    )


def failed(
    conn: Connection, account_id: str, webhook_id: str, seq: int, *, next_attempt_at: datetime,
    failing_since: datetime, error: str,
) -> None:  # fmt: skip
    conn.execute(
        update(deliveries)
        .where(deliveries.c.account_id == account_id, deliveries.c.webhook_id == webhook_id, deliveries.c.seq == seq)
        .values(
            attempts=deliveries.c.attempts + 1,
            next_attempt_at=next_attempt_at,
            failing_since=failing_since,
            last_error=error,
        )
    )


def queued(conn: Connection, account_id: str, webhook_ids: Sequence[str]) -> dict[str, tuple[int, AnyRow | None]]:
    """Per webhook: how many deliveries are queued, and the first of them (None when none)."""
    if not webhook_ids:
        return {}
    scope = and_(deliveries.c.account_id == account_id, deliveries.c.webhook_id.in_(webhook_ids))
    q = select(deliveries.c.webhook_id, func.count()).where(scope).group_by(deliveries.c.webhook_id)
    counts: dict[str, int] = {row[0]: row[1] for row in conn.execute(q)}
    out: dict[str, tuple[int, AnyRow | None]] = {}
    for webhook_id in webhook_ids:
        first = head(conn, account_id, webhook_id, 1) if counts.get(webhook_id) else []
        out[webhook_id] = (int(counts.get(webhook_id, 0)), first[0] if first else None)
    return out
