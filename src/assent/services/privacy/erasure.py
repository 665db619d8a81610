"""Erasure (GDPR art. 17, CCPA deletion; Klaviyo's data-privacy deletion job): a person's personal
data removed from every table, their opt-out kept as tombstones.

One transaction: the ledger gets a `profile.erased` event (which empties the profile's consent
projection, and goes out to webhooks, the change stream and sync targets so they delete too),
the tombstones are written when the person had opted out, and store/erasure.py removes the rest.
The hash chain still verifies: it covers the ledger's personal data only through a digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, Row

from ...domain import ProfileState
from ...domain.erasure import TOMBSTONE_FIELDS, erasure_event, opted_out
from ...store import erasure as store
from ...store import projection
from ..accounts.accounts import load_account
from ..profiles.locator import Locator, find_profile
from ..shared.clock import utcnow
from ..shared.recorder import Recorded, Recorder, recording
from . import tombstones


@dataclass(frozen=True, slots=True)
class Erasure:
    profile_id: str
    opted_out: bool  # the person had opted out: their identifiers are now tombstones
    tombstones: int
    ledger_seq: int  # the seq of the `profile.erased` event
    rows: dict[str, int] = field(default_factory=dict)  # rows changed or removed, per table


def erase(engine: Engine, account_id: str, locator: Locator, *, actor: str) -> Erasure:
    """Erase the profile the locator names (NotFound when none has it)."""
    with recording(engine, account_id) as recorder:
        account = load_account(recorder.conn, account_id)
        return erase_in(recorder, find_profile(recorder.conn, account, locator), actor=actor)


def erase_in(recorder: Recorder, row: Row, *, actor: str) -> Erasure:
    """Erase one stored profile within the caller's unit of work (a retention job erases many)."""
    conn, account_id = recorder.conn, recorder.account_id
    state = projection.load(conn, account_id, {row.id: (row.email, row.phone_number)})[row.id]
    now = utcnow()
    keep = opted_out(state)
    identifiers = [(f, getattr(row, f)) for f in TOMBSTONE_FIELDS if getattr(row, f)]
    n_tombstones = tombstones.add(conn, account_id, identifiers, now) if keep else 0
    recorder.record([Recorded(row.id, ProfileState(), [erasure_event(now, actor, tombstoned=keep)])])
    seq = recorder.seq
    rows = store.erase_profile(conn, account_id, row.id, [v for _, v in identifiers])
    return Erasure(row.id, keep, n_tombstones, seq, rows)
