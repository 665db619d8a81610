"""Erasure, the pure part: the tombstone digest of an identifier, and the error of a write that
would bring an erased, opted-out person back without a new explicit consent.

A tombstone is an HMAC-SHA256 of (account, identifier kind, normalised value) under the
installation's erasure key: it can confirm a given address was erased, but cannot be turned back
into the address without the key.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
from datetime import datetime
from types import MappingProxyType

from .channels import ConsentStatus, SuppressionReason
from .errors import DomainError
from .events import ConsentEvent, EventType
from .state import ProfileState

# The identifiers a tombstone is kept for (normalised as profiles store them).
TOMBSTONE_FIELDS = ("email", "phone_number", "external_id")


def tombstone_digest(key: bytes, account_id: str, field: str, value: str) -> str:
    return hmac.new(key, f"{account_id}\x1f{field}\x1f{value}".encode(), hashlib.sha256).hexdigest()


class ErasedIdentifier(DomainError):
    """An identifier of a person who was erased after opting out, given by a path that is not a
    new explicit consent (an import, an API subscribe or profile create, an event)."""

    code = "erased_identifier"

    MESSAGE = (
        "this person's data was erased after they opted out; they can only come back by a new explicit "
        "consent of their own (a signup form, an SMS keyword from the number)"
    )

    def __init__(self, field: str, message: str = MESSAGE, value: object = None) -> None:
        super().__init__(field, message, value)


# Suppressions that are the person's own opt-out (a bounce or an invalid address is not).
_OPT_OUT_SUPPRESSIONS = frozenset(
    {SuppressionReason.UNSUBSCRIBE, SuppressionReason.SPAM_COMPLAINT, SuppressionReason.USER_SUPPRESSED}
)


def opted_out(state: ProfileState) -> bool:
    """Whether the person had opted out of anything (a channel, a list) or was suppressed by the
    brand: what an erasure must keep as a tombstone, so the opt-out survives the data."""
    return (
        any(c.status is ConsentStatus.UNSUBSCRIBED for c in state.consents.values())
        or any(r in _OPT_OUT_SUPPRESSIONS for r in state.suppressions)
        or bool(state.list_suppressions)
    )


def erasure_event(now: datetime, actor: str, *, tombstoned: bool) -> ConsentEvent:
    """The ledger's record that a profile's personal data was erased (it holds none itself)."""
    return ConsentEvent(
        EventType.PROFILE_ERASED,
        now,
        outcome="opt_out_kept" if tombstoned else "erased",
        context=MappingProxyType({"actor": actor}),
    )


def months_before(at: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the day clamped to the month's length)."""
    index = at.year * 12 + at.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))
