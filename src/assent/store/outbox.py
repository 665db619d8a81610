"""The outbox: messages to send, and what became of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, insert, select, update

from .tables import outbox


def add(conn: Connection, row: dict) -> None:
    conn.execute(insert(outbox).values(**row))


def pending(conn: Connection, limit: int = 100) -> list[Row]:
    q = select(outbox).where(outbox.c.status == "queued").order_by(outbox.c.created_at).limit(limit)
    return list(conn.execute(q))


def mark(conn: Connection, account_id: str, message_id: str, status: str, now: datetime, error: str | None) -> None:
    conn.execute(
        update(outbox)
        .where(outbox.c.account_id == account_id, outbox.c.id == message_id)
        .values(
            status=status,
            attempts=outbox.c.attempts + 1,
            last_error=error,
            sent_at=now if status == "sent" else None,
        )
    )


def listing(conn: Connection, account_id: str | None, limit: int) -> list[Row]:
    q = select(outbox).order_by(outbox.c.created_at.desc()).limit(limit)
    if account_id is not None:
        q = q.where(outbox.c.account_id == account_id)
    return list(conn.execute(q))


def recent(conn: Connection, account_id: str, recipient: str, kind: str, since: datetime) -> list[Row]:
    """Messages of one kind to one recipient created since `since` (for rate limits)."""
    q = select(outbox).where(
        outbox.c.account_id == account_id,
        outbox.c.recipient == recipient,
        outbox.c.kind == kind,
        outbox.c.created_at >= since,
    )
    return list(conn.execute(q))
