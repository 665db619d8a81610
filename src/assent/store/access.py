"""Access requests: the rows about one profile that no other read gives whole — the ledger's
hashes of its events (their proof), its activity events and the sends reported for it."""

from __future__ import annotations

from sqlalchemy import Connection, select

from .ledger import of_profile
from .rows import AnyRow
from .tables import consent_events, events, message_sends, metrics


def event_hashes(conn: Connection, account_id: str, profile_id: str) -> dict[int, AnyRow]:
    """seq -> (prev_hash, hash, personal_digest) of the profile's ledger events."""
    t = consent_events
    q = select(t.c.seq, t.c.prev_hash, t.c.hash, t.c.personal_digest).where(*of_profile(account_id, profile_id))
    return {row.seq: row for row in conn.execute(q.order_by(t.c.seq))}  # ordered: see of_profile


def activity(conn: Connection, account_id: str, profile_id: str) -> list[AnyRow]:
    """The profile's posted events with their metric's name, oldest first."""
    q = (
        select(
            events.c.id,
            metrics.c.name.label("metric"),
            events.c.occurred_at,
            events.c.properties,
            events.c.value,
            events.c.value_currency,
            events.c.unique_id,
        )  # fmt: skip
        .join(metrics, (metrics.c.account_id == events.c.account_id) & (metrics.c.id == events.c.metric_id))
        .where(events.c.account_id == account_id, events.c.profile_id == profile_id)
        .order_by(events.c.occurred_at, events.c.id)
    )
    return list(conn.execute(q))


def sends(conn: Connection, account_id: str, profile_id: str) -> list[AnyRow]:
    t = message_sends
    q = select(t.c.channel, t.c.purpose, t.c.message_id, t.c.sent_at).where(
        t.c.account_id == account_id, t.c.profile_id == profile_id
    )
    return list(conn.execute(q.order_by(t.c.sent_at, t.c.message_id)))
