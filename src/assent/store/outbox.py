"""The outbox: messages to send, and what became of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from .rows import AnyRow
from .tables import outbox


def add(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(outbox).values(**row))


def _deliverable(stale_before: datetime) -> ColumnElement[bool]:
    # Queued, or taken by a deliverer that never finished (its process died mid-send).
    return or_(outbox.c.status == "queued", and_(outbox.c.status == "sending", outbox.c.claimed_at < stale_before))


def pending(conn: Connection, stale_before: datetime, limit: int = 100) -> list[AnyRow]:
    q = select(outbox).where(_deliverable(stale_before)).order_by(outbox.c.created_at).limit(limit)
    return list(conn.execute(q))


def claim(conn: Connection, account_id: str, message_id: str, now: datetime, stale_before: datetime) -> bool:
    """Take the message for sending; False when another deliverer has it."""
    result = conn.execute(
        update(outbox)
        .where(outbox.c.account_id == account_id, outbox.c.id == message_id, _deliverable(stale_before))
        .values(status="sending", claimed_at=now)
        .execution_options(preserve_rowcount=True)
    )
    return result.rowcount == 1


def mark(conn: Connection, account_id: str, message_id: str, status: str, now: datetime, error: str | None) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.account_id == account_id, outbox.c.id == message_id)
        .values(
            status=status,
            attempts=outbox.c.attempts + 1,
            last_error=error,
            sent_at=now if status == "sent" else None,
            claimed_at=None,
        )
    )


def listing(conn: Connection, account_id: str | None, limit: int) -> list[AnyRow]:
    q = select(outbox).order_by(outbox.c.created_at.desc()).limit(limit)
    if account_id is not None:
        q = q.where(outbox.c.account_id == account_id)
    return list(conn.execute(q))


def recent(conn: Connection, account_id: str, recipient: str, kind: str, since: datetime) -> list[AnyRow]:
    """Messages of one kind to one recipient created since `since` (for rate limits)."""
    q = select(outbox).where(
        outbox.c.account_id == account_id,
        outbox.c.recipient == recipient,
        outbox.c.kind == kind,
        outbox.c.created_at >= since,
    )
    return list(conn.execute(q))
