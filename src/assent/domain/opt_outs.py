"""A file import is not the person's consent: it never undoes their opt-out.

A brand's file (an export of another tool, last year's customer list) says what the brand knew
when it was made. A person who opted out since (an SMS STOP, an unsubscribe link, a spam
complaint, leaving a list) is not opted back in by importing it again (nor in Klaviyo): only the
person's own new consent (a form, a confirmation, a keyword), or the Subscribe API that asserts
it, subscribes them again. An import row that itself dates the consent after the opt-out (a
historical import's `consented_at`) is such an assertion, and applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from .channels import OPT_OUT_SUPPRESSIONS, Channel, ConsentStatus, Purpose
from .state import ProfileState

Target = tuple[Channel, Purpose]

_UNDATED = datetime.max.replace(tzinfo=UTC)
_OPT_OUT_REASONS = frozenset(r.value for r in OPT_OUT_SUPPRESSIONS)


def opted_out_at(state: ProfileState, channel: Channel, purpose: Purpose = Purpose.MARKETING) -> datetime | None:
    """When the profile opted out of (channel, purpose), the latest time when there are several
    signs of it; None when it has not (NEVER_SUBSCRIBED and SUBSCRIBED profiles). An opt-out is an
    UNSUBSCRIBED consent or, for email, an UNSUBSCRIBE or SPAM_COMPLAINT suppression."""
    latest: datetime | None = None
    consent = state.consents.get((channel, purpose))
    if consent is not None and consent.status is ConsentStatus.UNSUBSCRIBED:
        # An opt-out of unknown date (none is recorded without one) is later than any consent date.
        latest = consent.consent_timestamp or consent.last_updated or _UNDATED
    if channel is Channel.EMAIL and state.suppressions:
        for reason in OPT_OUT_SUPPRESSIONS:
            at = state.suppressions.get(reason)
            if at is not None and (latest is None or at > latest):
                latest = at
    return latest


def left_list_at(state: ProfileState, list_id: str) -> datetime | None:
    """When the profile opted out of the list (an UNSUBSCRIBE or SPAM_COMPLAINT list suppression),
    or None. A brand's own list suppression (USER_SUPPRESSED) is not the person's opt-out."""
    suppression = state.list_suppressions.get(list_id)
    if suppression is not None and suppression.reason in _OPT_OUT_REASONS:
        return suppression.timestamp
    return None


class ImportConsent(NamedTuple):
    """What an import row may still do to a profile's consent once its opt-outs are kept."""

    targets: list[Target]  # the channels it may subscribe
    list_id: str | None  # the list it may add the profile to (None: none asked, or the person left it)
    kept: bool  # the row asked for something an opt-out of the profile keeps it from


def keep_opt_outs(
    state: ProfileState, targets: Sequence[Target], list_id: str | None, consented_at: datetime | None = None
) -> ImportConsent:
    """The part of an import row's subscriptions (`targets`, and joining `list_id`) that the
    profile's opt-outs allow: none of a channel or list the person opted out of, unless the row
    dates its consent (`consented_at`, a historical import's) after that opt-out. Profiles that
    never opted out (new, NEVER_SUBSCRIBED, SUBSCRIBED ones) are given everything asked."""
    if not state.consents and not state.suppressions and not state.list_suppressions:
        return ImportConsent(list(targets), list_id, False)  # a new profile: nothing to keep

    def allowed(opted_out: datetime | None) -> bool:
        return opted_out is None or (consented_at is not None and consented_at > opted_out)

    kept_targets = [tg for tg in targets if allowed(opted_out_at(state, *tg))]
    kept = len(kept_targets) != len(targets)
    if list_id is not None and not allowed(left_list_at(state, list_id)):
        list_id, kept = None, True
    return ImportConsent(kept_targets, list_id, kept)
