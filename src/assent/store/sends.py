"""Reported message sends: recorded once each, counted per profile in a window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from .rows import AnyRow
from .tables import message_sends


def insert_sends(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Insert the rows in one statement; a message already recorded for a profile and channel is
    left as it was. Returns the (profile id, channel, message id) of the rows that were new."""
    if not rows:
        return set()
    t = message_sends
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(t).on_conflict_do_nothing().returning(t.c.profile_id, t.c.channel, t.c.message_id)
    return {(r.profile_id, r.channel, r.message_id) for r in conn.execute(statement, list(rows))}


def sent_at_between(
    conn: Connection, account_id: str, profile_id: str, channel: str, purpose: str, since: datetime, until: datetime
) -> tuple[datetime, ...]:
    """When the profile was sent messages on this channel and purpose, in (since, until]: one
    index range scan (ix_message_sends_window)."""
    t = message_sends
    q = select(t.c.sent_at).where(
        t.c.account_id == account_id,
        t.c.profile_id == profile_id,
        t.c.channel == channel,
        t.c.purpose == purpose,
        t.c.sent_at > since,
        t.c.sent_at <= until,
    )
    return tuple(conn.execute(q.order_by(t.c.sent_at)).scalars())


def list_sends(
    conn: Connection,
    account_id: str,
    *,
    profile_id: str | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[AnyRow]:
    """The account's reported sends (or one profile's), newest first, at most `limit`."""
    t = message_sends
    q = select(t).where(t.c.account_id == account_id)
    if profile_id is not None:
        q = q.where(t.c.profile_id == profile_id)
    if channel is not None:
        q = q.where(t.c.channel == channel)
    if since is not None:
        q = q.where(t.c.sent_at > since)
    return list(conn.execute(q.order_by(t.c.sent_at.desc(), t.c.profile_id, t.c.message_id).limit(limit)))
