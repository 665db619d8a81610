"""The ledger read in order by its consumers (sync to a database, the change stream, webhooks):
the account's events after a seq, as typed values, with the head they were read under.

A consumer keeps the last seq it applied and asks for what follows; events are never changed or
removed once written, so reading again after the same seq gives the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ...domain import ConsentEvent
from ...store import ledger
from ...store.db import read_transaction
from ..profiles.reading import event_record
from ..shared.errors import NotFound


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    seq: int
    profile_id: str
    event: ConsentEvent

    def record(self, account_id: str) -> dict[str, Any]:
        """The event as a JSON-ready object: the fields the API's change feed shows, with the
        account and profile it belongs to."""
        return {"account_id": account_id, "profile_id": self.profile_id, **event_record(self.seq, self.event)}


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[LedgerEvent]
    head: int  # the account's last seq when the page was read

    @property
    def last_seq(self) -> int | None:
        return self.events[-1].seq if self.events else None


def head_seq(engine: Engine, account_id: str) -> int:
    """The account's last seq (0 before its first event)."""
    with read_transaction(engine) as conn:
        seq = ledger.head_seq(conn, account_id)
    if seq is None:
        raise NotFound("account", "no such account", account_id)
    return seq


def events_after(engine: Engine, account_id: str, after_seq: int, limit: int = 1000) -> EventPage:
    """Up to `limit` of the account's events with seq > `after_seq`, in seq order."""
    with read_transaction(engine) as conn:
        stored = ledger.page_events(conn, account_id, after_seq=after_seq, limit=limit)
        head = ledger.head_seq(conn, account_id)  # read after the page: never below its last seq
        if head is None:
            raise NotFound("account", "no such account", account_id)
    return EventPage([LedgerEvent(s.seq, s.profile_id, s.event) for s in stored], head)
