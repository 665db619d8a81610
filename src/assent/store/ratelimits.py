"""Rate-limit windows in the database: each server process claims part of a window's budget with
one set-based upsert, and learns how much all processes have claimed so far."""

from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .db import write_transaction
from .tables import rate_limit_windows as t

Claim = tuple[str, str, int, int]  # scope, bucket, window_start, amount


def claim(engine: Engine, claims: list[Claim]) -> list[int]:
    """Add each claim's amount to its window; the windows' totals after it, in the claims' order."""
    rows = [{"scope": s, "bucket": b, "window_start": w, "used": n} for s, b, w, n in claims]
    with write_transaction(engine) as conn:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(t).values(rows)
        upsert = statement.on_conflict_do_update(
            index_elements=[t.c.scope, t.c.bucket, t.c.window_start], set_={"used": t.c.used + statement.excluded.used}
        ).returning(t.c.scope, t.c.bucket, t.c.window_start, t.c.used)
        totals = {(r.scope, r.bucket, r.window_start): r.used for r in conn.execute(upsert)}
    return [totals[(s, b, w)] for s, b, w, _ in claims]


def purge(engine: Engine, before: int) -> int:
    """Drop windows that started before `before` (Unix seconds): they can no longer be claimed."""
    with write_transaction(engine) as conn:
        return conn.execute(delete(t).where(t.c.window_start < before)).rowcount
