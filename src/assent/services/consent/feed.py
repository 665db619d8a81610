"""The consent ledger read through the API: the account's change feed, a profile's timeline
(with its state as of a time)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, cast

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


def _record(row: ledger.EventRow) -> dict[str, Any]:
    """The record of one stored event, from the decoded event (the general path)."""
    seq, profile_id, occurred_at, type, metric, payload, personal = row
    event = ledger.decode_columns(type, occurred_at, metric, payload, personal)
    return {"seq": seq, "profile_id": profile_id, **event_record(seq, event)}


def _same(at: Any) -> Any:
    return at


# A feed record in parts: seq, profile_id, occurred_at (ISO 8601), type, metric, the payload's
# fields in the record's order, personal. Records of one page with the same stored payload share
# one fields dict (never change it): a page's events often share their payload, so whoever writes
# the records out can work each shape out once. A plain tuple costs a fraction of a dict per event.
RecordParts: TypeAlias = tuple[int, str, str, str, "str | None", dict[str, Any], "dict[str, Any] | None"]
_PARTS_HEAD = frozenset(("seq", "profile_id", "occurred_at", "type", "metric", "personal"))


def record_parts(rows: Sequence[Sequence[Any]], utc: Callable[[Any], datetime | None] = _same) -> list[RecordParts]:
    """The feed's records of stored events as parts, in one pass over the rows as the driver
    returns them (`utc` reads a row's occurred_at as an aware UTC time; rows that already hold one
    need none): what _record makes, without decoding each event into a ConsentEvent. A payload is
    put in order once per distinct text and a time is read and written once per distinct stored
    value: a page's events often share both. A row the shortcut does not know (a field or value
    from_record would refuse, personal data that is not an object) takes the general path, which
    says what is wrong; a property test holds the two equal."""
    shapes: dict[str, dict[str, Any] | None] = {}
    times: dict[Any, str] = {}
    out: list[RecordParts] = []
    append = out.append
    for seq, profile_id, at, type, metric, text, personal_text in rows:
        shape = shapes.get(text, _UNSEEN)
        if shape is _UNSEEN:
            stored = _decode(text)
            shape = shapes[text] = stored_payload(stored) if isinstance(stored, dict) else None
        personal = _decode(personal_text) if personal_text else {}
        if shape is None or type not in EVENT_TYPES or not isinstance(personal, dict):
            r = _record((seq, profile_id, cast(datetime, utc(at)), type, metric, text, personal_text))
            fields = {k: v for k, v in r.items() if k not in _PARTS_HEAD}
            append((r["seq"], r["profile_id"], r["occurred_at"], r["type"], r["metric"], fields, r["personal"]))
            continue
        personal.pop("salt", None)  # it keeps the digest from confirming a guess; never shown
        when = times.get(at)
        if when is None:
            when = times[at] = cast(datetime, utc(at)).isoformat()  # occurred_at is NOT NULL
        append((seq, profile_id, when, type, metric, shape, personal))
    return out


def as_record(parts: RecordParts) -> dict[str, Any]:
    """One record as the dict it stands for: seq, profile_id, occurred_at, type, metric, the
    payload's fields, personal."""
    seq, profile_id, when, type, metric, fields, personal = parts
    return {"seq": seq, "profile_id": profile_id, "occurred_at": when, "type": type, "metric": metric,
            **fields, "personal": personal}  # fmt: skip


def records(rows: Sequence[Sequence[Any]], utc: Callable[[Any], datetime | None] = _same) -> list[dict[str, Any]]:
    """record_parts' records as dicts."""
    return [as_record(p) for p in record_parts(rows, utc)]


def feed(
    engine: Engine,
    account_id: str,
    *,
    after_seq: int,
    limit: int,
    profile_id: str | None = None,
    metric: str | None = None,
) -> list[RecordParts]:
    """A page of the account's change feed, as record parts."""
    with read_transaction(engine) as conn:
        require_account(conn, account_id)
        rows, utc = ledger.page_driver_rows(
            conn, account_id, after_seq=after_seq, limit=limit, profile_id=profile_id, metric=metric
        )
    return record_parts(rows, utc)


@dataclass(frozen=True, slots=True)
class Timeline:
    events: list[RecordParts]
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
    return Timeline(record_parts(rows, utc), at, state)
