"""Message sends the brand reports, so that frequency caps count them (and, later, analytics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from ...domain import Channel, DomainError, Purpose
from ...domain.instants import earlier
from ...store import sends as store
from ...store.db import read_transaction, write_transaction
from ..accounts.accounts import load_account
from ..profiles.locator import Locator, find_profile
from ..shared.clock import utcnow

# A send reported as happening later than this is a clock or input error, not a send.
FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SendReport:
    locator: Locator
    channel: Channel
    purpose: Purpose
    message_id: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class RecordedSend:
    profile_id: str
    report: SendReport
    new: bool  # False: this message was already recorded for this profile and channel


class SendRejected(Exception):
    """Report `index` of a batch was refused (and nothing was recorded)."""

    def __init__(self, index: int, error: DomainError) -> None:
        super().__init__(str(error))
        self.index, self.error = index, error


def record_sends(engine: Engine, account_id: str, reports: list[SendReport]) -> list[RecordedSend]:
    """Record the sends in one transaction: all, or (on an unknown profile or bad input) none."""
    now = utcnow()
    with write_transaction(engine) as conn:
        account = load_account(conn, account_id)
        rows = []
        for i, r in enumerate(reports):
            try:
                if not r.message_id.strip() or len(r.message_id) > 200:
                    raise DomainError("message_id", "is 1 to 200 characters", r.message_id)
                sent_at = r.sent_at.isoformat()
                if r.sent_at.tzinfo is None:
                    raise DomainError("sent_at", "needs a time zone (Z or an offset such as +02:00)", sent_at)
                if r.sent_at > now + FUTURE_SLACK:
                    raise DomainError("sent_at", "is in the future: report a send once it is made", sent_at)
                profile = find_profile(conn, account, r.locator)
            except DomainError as e:
                raise SendRejected(i, e) from None
            rows.append(dict(account_id=account.id, profile_id=profile.id, channel=r.channel.value,
                             message_id=r.message_id, purpose=r.purpose.value, sent_at=r.sent_at,
                             recorded_at=now))  # fmt: skip
        new = store.insert_sends(conn, rows)
        return [
            RecordedSend(row["profile_id"], r, (row["profile_id"], row["channel"], row["message_id"]) in new)
            for row, r in zip(rows, reports, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class StoredSend:
    profile_id: str
    channel: Channel
    purpose: Purpose
    message_id: str
    sent_at: datetime
    recorded_at: datetime


def list_sends(
    engine: Engine,
    account_id: str,
    locator: Locator | None = None,
    *,
    channel: Channel | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[StoredSend]:
    """The sends reported for the account, or for the profile `locator` names, newest first."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        profile_id = find_profile(conn, account, locator).id if locator is not None else None
        rows = store.list_sends(conn, account.id, profile_id=profile_id, channel=channel.value if channel else None,
                                since=since, limit=limit)  # fmt: skip
        return [
            StoredSend(r.profile_id, Channel(r.channel), Purpose(r.purpose), r.message_id, r.sent_at, r.recorded_at)
            for r in rows
        ]


def recent_sends(
    conn: Connection, account_id: str, profile_id: str, channel: Channel, purpose: Purpose, now: datetime,
    window: timedelta,
) -> tuple[datetime, ...]:  # fmt: skip
    """The profile's reported sends on this channel and purpose in the `window` before `now`."""
    return store.sent_at_between(conn, account_id, profile_id, channel.value, purpose.value, earlier(now, window), now)
