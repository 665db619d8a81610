"""Access requests (GDPR art. 15, CCPA right to know): everything Assent holds about one person,
as one value — the profile, its consent state, every ledger event of it with the personal data
and the hashes that prove it, its lists and segments, its activity events, reported sends and
push tokens (a device token identifies a person's phone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine

from ...store import access as store
from ...store import ledger
from ...store.db import read_transaction
from ..accounts.accounts import load_account
from ..lists.lists import profile_lists
from ..lists.lookup import MailingList
from ..lists.segments import Segment, profile_segments
from ..profiles.locator import Locator, find_profile
from ..profiles.reading import current_state, event_record
from ..profiles.views import ProfileView, profile_view
from ..push.tokens import PushToken
from ..push.tokens import of_profiles as push_tokens_of
from ..shared.clock import utcnow


@dataclass(frozen=True, slots=True)
class DataExport:
    exported_at: datetime
    profile: ProfileView  # with its consent state
    consent_events: list[dict[str, Any]]  # the ledger's records, each with seq, hash and prev_hash
    lists: list[MailingList]
    segments: list[Segment]
    activity: list[dict[str, Any]]
    sends: list[dict[str, Any]]
    push_tokens: list[PushToken]


def export_data(engine: Engine, account_id: str, locator: Locator) -> DataExport:
    """What the account holds about the profile the locator names (NotFound when none has it)."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = find_profile(conn, account, locator)
        view = profile_view(row, current_state(conn, account_id, row))
        hashes = store.event_hashes(conn, account_id, row.id)
        consent_events = []
        for s in ledger.events(conn, account_id, profile_id=row.id):
            h = hashes[s.seq]
            proof = {"prev_hash": h.prev_hash, "hash": h.hash, "personal_digest": h.personal_digest}
            consent_events.append({**event_record(s.seq, s.event), "proof": proof})
        activity = [
            {"id": r.id, "metric": r.metric, "time": r.occurred_at.isoformat(),
             "properties": msgspec.json.decode(r.properties or "{}"), "value": r.value,
             "value_currency": r.value_currency, "unique_id": r.unique_id}
            for r in store.activity(conn, account_id, row.id)
        ]  # fmt: skip
        sends = [
            {"channel": r.channel, "purpose": r.purpose, "message_id": r.message_id, "sent_at": r.sent_at.isoformat()}
            for r in store.sends(conn, account_id, row.id)
        ]
    return DataExport(
        exported_at=utcnow(),
        profile=view,
        consent_events=consent_events,
        lists=profile_lists(engine, account_id, row.id),
        segments=profile_segments(engine, account_id, row.id),
        activity=activity,
        sends=sends,
        push_tokens=push_tokens_of(engine, account_id, [row.id]),
    )
