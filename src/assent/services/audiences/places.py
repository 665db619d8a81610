"""Keeping profiles' places current for the audience SQL (store/places.py): before an audience
that needs them is resolved, every profile whose place is missing or stale gets it worked out
again (`domain.jurisdictions.place_of`), a batch per transaction. After a bulk load the first
resolution does them all; profiles whose phone numbers share all but their last digits share a
place worked out once (domain.jurisdictions.PlaceMemo). Later ones find only the profiles changed since.
"""

from __future__ import annotations

from sqlalchemy import Engine

from ...domain.jurisdictions import PlaceMemo
from ...store import places as store
from ...store.db import read_transaction, write_transaction

BATCH = 5_000
ANALYZE_AFTER = 10_000  # places written at least, for the planner's statistics to be refreshed


def refresh(engine: Engine, account_id: str) -> int:
    """Work out the missing and stale places of the account's profiles; returns how many. One
    set-based count first: usually none is stale, and then the batches are not read at all."""
    with read_transaction(engine) as conn:
        if not store.stale_count(conn, account_id):
            return 0
    done = _refresh(engine, account_id)
    if done >= ANALYZE_AFTER:
        with write_transaction(engine) as conn:
            store.analyze(conn)
    return done


def _refresh(engine: Engine, account_id: str) -> int:
    after, done, place_of = "", 0, PlaceMemo()
    while True:
        with write_transaction(engine) as conn:
            rows = store.stale(conn, account_id, after, BATCH)
            # r: id, phone_number, country, region, timezone (store.PLACE_INPUTS)
            store.write(conn, account_id, [(r[0], r[1:], place_of(r[2], r[3], r[4], r[1])) for r in rows])
        done += len(rows)
        if len(rows) < BATCH:
            return done
        after = rows[-1][0]
