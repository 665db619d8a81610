"""Provider events already handled (webhook receipts): a replayed delivery changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .tables import webhook_receipts


def claim(conn: Connection, account_id: str, provider: str, event_id: str, now: datetime) -> bool:
    """Record the event as handled; True only for the first claim.

    Run it in the transaction that applies the event: a rollback releases the claim, and a
    concurrent claim of the same event waits on the key and then sees it taken."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(webhook_receipts)
        .values(account_id=account_id, provider=provider, event_id=event_id, received_at=now)
        .on_conflict_do_nothing()
        # SQLAlchemy reports an INSERT's row count only when asked (else -1 on PostgreSQL).
        .execution_options(preserve_rowcount=True)
    )
    return conn.execute(statement).rowcount == 1
