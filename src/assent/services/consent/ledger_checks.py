"""Ledger checks: verify the hash chain; rebuild the projection by replaying the ledger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby

from sqlalchemy import Engine

from ...domain import ProfileState, replay
from ...store import ledger, projection
from ...store.db import read_transaction
from ..accounts.accounts import load_account
from ..shared.recorder import recording


def verify(engine: Engine, account_id: str) -> ledger.Verification:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return ledger.verify(conn, account_id)


@dataclass(frozen=True, slots=True)
class Difference:
    table: str
    row: tuple
    side: str  # "missing" from the stored projection, or "extra" in it


@dataclass(frozen=True, slots=True)
class Rebuild:
    events: int
    profiles: int
    differences: list[Difference] = field(default_factory=list)
    written: bool = False


def _replayed_rows(conn, account_id: str, progress: Callable[[int], None] | None) -> tuple[projection.Rows, int, int]:
    rows = projection.empty_rows()
    n_events = n_profiles = 0
    stream = ledger.events(conn, account_id, by_profile=True)
    for profile_id, group in groupby(stream, key=lambda s: s.profile_id):
        events = [s.event for s in group]
        n_events += len(events)
        n_profiles += 1
        projection.add_state_rows(rows, account_id, profile_id, replay(events, ProfileState()))
        if progress:
            progress(len(events))
    return rows, n_events, n_profiles


def rebuild(
    engine: Engine, account_id: str, check: bool = True, progress: Callable[[int], None] | None = None
) -> Rebuild:
    """Replay the ledger into a fresh projection. With `check`, report how it differs from the
    stored one and change nothing; without, replace the stored projection with it."""
    if check:
        with read_transaction(engine) as conn:
            load_account(conn, account_id)
            fresh, n_events, n_profiles = _replayed_rows(conn, account_id, progress)
            stored = projection.stored_rows(conn, account_id)
        differences = []
        # plain str: SQLAlchemy's quoted_name does not encode to JSON
        for name in (*projection.TABLE_NAMES, projection.SUMMARY):
            want, have = set(fresh[name]), set(stored[name])
            differences += [Difference(name, r, "missing") for r in sorted(want - have, key=repr)]
            differences += [Difference(name, r, "extra") for r in sorted(have - want, key=repr)]
        return Rebuild(n_events, n_profiles, differences)
    with recording(engine, account_id) as recorder:  # holds the account's write lock while we rebuild
        conn = recorder.conn
        load_account(conn, account_id)
        fresh, n_events, n_profiles = _replayed_rows(conn, account_id, progress)
        projection.replace_all(conn, account_id, fresh)
    return Rebuild(n_events, n_profiles, [], written=True)
