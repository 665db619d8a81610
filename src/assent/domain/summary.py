"""A profile's consent summary: what the audience rules read from its projection, digested.

Counting an audience over a million profiles reads, per profile, its consent status for a few
(channel, purpose) pairs, whether its email consent is confirmed, when an implied consent lapses,
its global suppressions and whether a double opt-in is pending. The summary holds exactly those,
in the profile's own row (its `consent_*` columns), written with the projection, so the database
reads one row per profile instead of grouping suppressions and probing consents and pending
opt-ins per pair, or joining a second row per profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .channels import ALL_CHANNEL_PURPOSES, Channel, ConsentStatus, Purpose, SuppressionReason
from .implied import IMPLIED_METHODS, SOFT_OPT_IN, implied_consent_expires
from .state import ProfileState

# The summary's status columns, one per (channel, purpose): "consent_email_marketing"...
STATUS_COLUMNS: tuple[tuple[Channel, Purpose, str], ...] = tuple(
    (c, p, f"consent_{c.value}_{p.value}") for c, p in ALL_CHANNEL_PURPOSES
)
# The channels with a marketing purpose, each with an implied-consent expiry column.
MARKETING_CHANNELS: tuple[Channel, ...] = tuple(c for c, p in ALL_CHANNEL_PURPOSES if p is Purpose.MARKETING)
# Bit of each global suppression reason in `suppressed`, of each pair in `pending`.
SUPPRESSION_BITS: dict[SuppressionReason, int] = {r: 1 << i for i, r in enumerate(SuppressionReason)}
# Every channel and purpose has a bit: a pending row is read as it is stored, valid pair or not.
PENDING_BITS: dict[tuple[Channel, Purpose], int] = {
    (c, p): 1 << i for i, (c, p) in enumerate((c, p) for c in Channel for p in Purpose)
}


def status_column(channel: Channel, purpose: Purpose) -> str:
    return f"consent_{channel.value}_{purpose.value}"


def expiry_column(channel: Channel) -> str:
    return f"consent_{channel.value}_implied_expires"


UNCONFIRMED_COLUMN = "consent_email_unconfirmed"
SUPPRESSED_COLUMN = "consent_suppressed"
PENDING_COLUMN = "consent_pending"
# Every column of the summary, in the order of ConsentSummary.values(); all NULL: no summary.
SUMMARY_COLUMNS: tuple[str, ...] = (
    *(name for _, _, name in STATUS_COLUMNS),
    UNCONFIRMED_COLUMN,
    *(expiry_column(c) for c in MARKETING_CHANNELS),
    SUPPRESSED_COLUMN,
    PENDING_COLUMN,
)


@dataclass(frozen=True, slots=True)
class ConsentSummary:
    """`statuses`: the stored status per STATUS_COLUMNS (None: no consent row); `email_unconfirmed`:
    email marketing SUBSCRIBED neither by double opt-in nor as a soft opt-in (double_optin_rule);
    `expires`: per MARKETING_CHANNELS, when the marketing consent's implied basis lapses (None:
    express or none); `suppressed`, `pending`: bitmasks of SUPPRESSION_BITS and PENDING_BITS (a
    double opt-in pending for the pair, on any list or none)."""

    statuses: tuple[str | None, ...]
    email_unconfirmed: bool
    expires: tuple[datetime | None, ...]
    suppressed: int
    pending: int

    def values(self, time: Callable[[datetime | None], Any]) -> tuple[Any, ...]:
        """The summary in SUMMARY_COLUMNS order, its times through `time` (the stored form)."""
        return (*self.statuses, self.email_unconfirmed, *(time(t) for t in self.expires), self.suppressed,
                self.pending)  # fmt: skip


NO_SUMMARY: tuple[None, ...] = (None,) * len(SUMMARY_COLUMNS)  # a profile with no consent, suppression nor pending

_STATUS_AT = {(c, p): i for i, (c, p, _) in enumerate(STATUS_COLUMNS)}
_EXPIRY_AT = {c: i for i, c in enumerate(MARKETING_CHANNELS)}


def summarize(state: ProfileState) -> ConsentSummary | None:
    """The state's summary; None when it has no consent, suppression nor pending opt-in (the
    audience rules then read what they read of a profile with no row: never subscribed). It goes
    over the state's own rows (a profile has a few), not over every pair: it runs per profile
    written, imports included."""
    if not (state.consents or state.suppressions or state.pending):
        return None
    statuses: list[str | None] = [None] * len(STATUS_COLUMNS)
    expires: list[datetime | None] = [None] * len(MARKETING_CHANNELS)
    unconfirmed = False
    for key, c in state.consents.items():
        statuses[_STATUS_AT[key]] = c.status.value
        channel, purpose = key
        if purpose is Purpose.MARKETING:
            if channel is Channel.EMAIL:
                unconfirmed = c.status is ConsentStatus.SUBSCRIBED and c.method != SOFT_OPT_IN and not c.double_optin
            if c.method in IMPLIED_METHODS:
                expires[_EXPIRY_AT[channel]] = implied_consent_expires(c)
    suppressed = 0
    for reason in state.suppressions:
        suppressed |= SUPPRESSION_BITS[reason]
    pending = 0
    for ch, p, _ in state.pending:
        pending |= PENDING_BITS[(ch, p)]
    return ConsentSummary(tuple(statuses), unconfirmed, tuple(expires), suppressed, pending)
