"""Consecutive soft bounces per profile (the `soft_bounces` counter)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .tables import profiles, soft_bounces


def count_soft_bounce(conn: Connection, account_id: str, profile_id: str, at: datetime) -> int:
    """Add one soft bounce that happened at `at`; returns the consecutive count now.

    One upsert, so concurrent bounces of one profile never lose an increment. `last_at` keeps the
    latest bounce time, so a delivery reported out of order cannot clear a newer bounce."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    t = soft_bounces
    statement = dialect_insert(t).values(account_id=account_id, profile_id=profile_id, count=1, last_at=at)
    upsert = statement.on_conflict_do_update(
        index_elements=[t.c.account_id, t.c.profile_id],
        set_={
            "count": t.c.count + 1,
            "last_at": case((statement.excluded.last_at > t.c.last_at, statement.excluded.last_at), else_=t.c.last_at),
        },
    ).returning(t.c.count)
    return int(conn.execute(upsert).scalar_one())


def reset_soft_bounces(
    conn: Connection, account_id: str, profile_id: str, delivered_at: datetime | None = None
) -> bool:
    """Clear the counter: by a delivery at `delivered_at` (only if no bounce came later), or
    unconditionally (`None`, e.g. once the address is suppressed). True when a counter was cleared."""
    t = soft_bounces
    statement = delete(t).where(t.c.account_id == account_id, t.c.profile_id == profile_id)
    if delivered_at is not None:
        statement = statement.where(t.c.last_at <= delivered_at)
    return conn.execute(statement).rowcount > 0


def counted_profiles(conn: Connection, account_id: str, emails: Iterable[str]) -> dict[str, str]:
    """{email: profile id} of the profiles with these addresses that have soft bounces counted."""
    p, t = profiles, soft_bounces
    wanted = list(dict.fromkeys(emails))
    out: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        q = (
            select(p.c.email, p.c.id)
            .join(t, (t.c.account_id == p.c.account_id) & (t.c.profile_id == p.c.id))
            .where(p.c.account_id == account_id, p.c.email.in_(wanted[start : start + 500]))
        )
        out.update({row.email: row.id for row in conn.execute(q)})
    return out
