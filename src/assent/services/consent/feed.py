"""The consent ledger read through the API: the account's change feed, a profile's timeline
(with its state as of a time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from ...domain import ProfileState
from ...store import ledger
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts.accounts import load_account
from ..profiles.reading import current_state, event_record, state_as_of
from ..shared.clock import utcnow
from ..shared.errors import NotFound


def _record(stored: ledger.StoredEvent) -> dict[str, Any]:
    return {"profile_id": stored.profile_id, **event_record(stored.seq, stored.event)}


def feed(
    engine: Engine,
    account_id: str,
    *,
    after_seq: int,
    limit: int,
    profile_id: str | None = None,
    metric: str | None = None,
) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        events = ledger.page_events(
            conn, account_id, after_seq=after_seq, limit=limit, profile_id=profile_id, metric=metric
        )
        return [_record(s) for s in events]


@dataclass(frozen=True, slots=True)
class Timeline:
    events: list[dict[str, Any]]
    as_of: datetime
    state: ProfileState  # the profile's consent state as of `as_of`


def profile_timeline(
    engine: Engine, account_id: str, profile_id: str, *, after_seq: int, limit: int, as_of: datetime | None
) -> Timeline:
    with read_transaction(engine) as conn:
        row = profile_store.get(conn, account_id, profile_id)
        if row is None:
            raise NotFound("id", "no profile in this account has this id", profile_id)
        now = utcnow()
        at = now if as_of is None or as_of > now else as_of
        state = current_state(conn, account_id, row) if at is now else state_as_of(conn, account_id, row, at)
        events = ledger.page_events(
            conn, account_id, after_seq=after_seq, limit=limit, profile_id=profile_id, until=as_of
        )
        return Timeline([_record(s) for s in events], at, state)
