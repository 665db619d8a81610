"""The consent ledger read through the API: the account's change feed, a profile's timeline
(with its state as of a time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import Engine

from ...domain import ProfileState
from ...domain.events import EVENT_TYPES, stored_payload
from ...store import ledger
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts.accounts import require_account
from ..profiles.reading import current_state, event_record, state_as_of
from ..shared.clock import utcnow
from ..shared.errors import NotFound

_decode = msgspec.json.decode
_UNSEEN: Any = object()
_HEAD = dict.fromkeys(("seq", "profile_id", "occurred_at", "type", "metric"))  # a record's first keys, in order


def _record(row: ledger.EventRow) -> dict[str, Any]:
    """The record of one stored event, from the decoded event (the general path)."""
    seq, profile_id, occurred_at, type, metric, payload, personal = row
    event = ledger.decode_columns(type, occurred_at, metric, payload, personal)
    return {"seq": seq, "profile_id": profile_id, **event_record(seq, event)}


def _same(at: Any) -> Any:
    return at


def records(rows: Sequence[Sequence[Any]], utc: Callable[[Any], datetime | None] = _same) -> list[dict[str, Any]]:
    """The feed's records of stored events, in one pass over the rows as the driver returns them
    (`utc` reads a row's occurred_at as an aware UTC time; rows that already hold one need none):
    what _record makes, without decoding each event into a ConsentEvent. A payload is put in order
    once per distinct text, as a record with every key in place that each of its events copies and
    fills in (copying a dict costs a fraction of building one), and a time is read and written once
    per distinct stored value: a page's events often share both. A row the shortcut does not know
    (a field or value from_record would refuse, personal data that is not an object) takes the
    general path, which says what is wrong; a property test holds the two equal."""
    shapes: dict[str, dict[str, Any] | None] = {}
    times: dict[Any, str] = {}
    out: list[dict[str, Any]] = []
    append = out.append
    for seq, profile_id, at, type, metric, text, personal_text in rows:
        shape = shapes.get(text, _UNSEEN)
        if shape is _UNSEEN:
            stored = _decode(text)
            payload = stored_payload(stored) if isinstance(stored, dict) else None
            shape = shapes[text] = None if payload is None else {**_HEAD, **payload, "personal": None}
        personal = _decode(personal_text) if personal_text else {}
        if shape is None or type not in EVENT_TYPES or not isinstance(personal, dict):
            when_at = cast(datetime, utc(at))  # occurred_at is NOT NULL
            append(_record((seq, profile_id, when_at, type, metric, text, personal_text)))
            continue
        personal.pop("salt", None)  # it keeps the digest from confirming a guess; never shown
        when = times.get(at)
        if when is None:
            when = times[at] = cast(datetime, utc(at)).isoformat()
        record = shape.copy()
        record["seq"], record["profile_id"], record["occurred_at"] = seq, profile_id, when
        record["type"], record["metric"], record["personal"] = type, metric, personal
        append(record)
    return out


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
        require_account(conn, account_id)
        rows, utc = ledger.page_driver_rows(
            conn, account_id, after_seq=after_seq, limit=limit, profile_id=profile_id, metric=metric
        )
    return records(rows, utc)


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
        rows, utc = ledger.page_driver_rows(
            conn, account_id, after_seq=after_seq, limit=limit, profile_id=profile_id, until=as_of
        )
    return Timeline(records(rows, utc), at, state)
