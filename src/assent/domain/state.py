"""The consent state of one profile: what the projection holds and the ledger rebuilds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, cast

from .channels import Channel, ConsentStatus, Purpose, SuppressionReason

EMPTY: Mapping[Any, Any] = MappingProxyType({})


def _empty() -> Mapping[Any, Any]:
    return EMPTY


@dataclass(frozen=True, slots=True)
class ChannelConsent:
    """Consent for one (channel, purpose), with Klaviyo's fields."""

    status: ConsentStatus = ConsentStatus.NEVER_SUBSCRIBED
    consent_timestamp: datetime | None = None
    method: str | None = None
    method_detail: str | None = None
    custom_method_detail: str | None = None
    double_optin: bool | None = None
    last_updated: datetime | None = None


NEVER_SUBSCRIBED = ChannelConsent()


@dataclass(frozen=True, slots=True)
class ListSuppression:
    reason: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class PendingOptIn:
    """A double opt-in request waiting for confirmation. Pending is not consent."""

    requested_at: datetime
    method: str | None = None
    method_detail: str | None = None
    custom_method_detail: str | None = None


# (channel, purpose, list_id or "") — "" is a double opt-in without a list.
PendingKey = tuple[Channel, Purpose, str]

# ProfileState.projection(): consents, suppressions, list suppressions, lists, pending opt-ins.
Projection = tuple[
    dict[tuple[Channel, Purpose], ChannelConsent],
    dict[SuppressionReason, datetime],
    dict[str, ListSuppression],
    dict[str, datetime],
    dict[PendingKey, PendingOptIn],
]


@dataclass(frozen=True, slots=True)
class ProfileState:
    """Consent, suppressions, list memberships and pending opt-ins of one profile.

    `email` and `phone_number` come from the profile's identifiers; they let the rules check that
    an address exists and record which address consented. `push_tokens` counts the profile's
    devices whose push token is AUTHORIZED: a push message is addressed to them. None of the three
    is part of the projection.
    """

    consents: Mapping[tuple[Channel, Purpose], ChannelConsent] = field(default_factory=_empty)
    suppressions: Mapping[SuppressionReason, datetime] = field(default_factory=_empty)
    list_suppressions: Mapping[str, ListSuppression] = field(default_factory=_empty)
    lists: Mapping[str, datetime] = field(default_factory=_empty)
    pending: Mapping[PendingKey, PendingOptIn] = field(default_factory=_empty)
    email: str | None = None
    phone_number: str | None = None
    push_tokens: int = 0

    def evolve(self, **changes: Any) -> ProfileState:
        """A copy with some fields replaced; `dataclasses.replace` costs several times more on this hot path."""
        get = changes.get
        return ProfileState(
            get("consents", self.consents),
            get("suppressions", self.suppressions),
            get("list_suppressions", self.list_suppressions),
            get("lists", self.lists),
            get("pending", self.pending),
            get("email", self.email),
            get("phone_number", self.phone_number),
            get("push_tokens", self.push_tokens),
        )

    def readdressed(self, email: str | None, phone_number: str | None) -> ProfileState:
        """This state with these addresses: what profiles whose projection rows are alike share
        (a page of profiles makes a hundred). Set slot by slot, at half the cost of the frozen
        dataclass's __init__, which sets each field through object.__setattr__."""
        new: ProfileState = _new(ProfileState)
        _set_consents(new, self.consents)
        _set_suppressions(new, self.suppressions)
        _set_list_suppressions(new, self.list_suppressions)
        _set_lists(new, self.lists)
        _set_pending(new, self.pending)
        _set_email(new, email)
        _set_phone_number(new, phone_number)
        _set_push_tokens(new, self.push_tokens)
        return new

    def consent(self, channel: Channel, purpose: Purpose = Purpose.MARKETING) -> ChannelConsent:
        return self.consents.get((channel, purpose), NEVER_SUBSCRIBED)

    def status(self, channel: Channel, purpose: Purpose = Purpose.MARKETING) -> ConsentStatus:
        return self.consent(channel, purpose).status

    def address(self, channel: Channel) -> str | None:
        """The address a message on `channel` would go to; push is addressed by device token and
        postal mail by the profile's location, both kept elsewhere, so they count as addressed
        here (the direct-mail export checks the postal address itself)."""
        if channel is Channel.EMAIL:
            return self.email
        if channel in (Channel.SMS, Channel.WHATSAPP):
            return self.phone_number
        return channel.value

    def is_pending(self, channel: Channel, purpose: Purpose, list_id: str | None = None) -> bool:
        if list_id is not None:
            return (channel, purpose, list_id) in self.pending
        return any(k[0] == channel and k[1] == purpose for k in self.pending)

    def projection(self) -> Projection:
        """Everything the ledger determines, in a comparable form (identifiers excluded)."""
        return (
            dict(self.consents),
            dict(self.suppressions),
            dict(self.list_suppressions),
            dict(self.lists),
            dict(self.pending),
        )


# ProfileState's slots, set directly (readdressed): the frozen dataclass refuses attribute setting.
_new = object.__new__
_SLOTS = ("consents", "suppressions", "list_suppressions", "lists", "pending", "email", "phone_number", "push_tokens")
(_set_consents, _set_suppressions, _set_list_suppressions, _set_lists, _set_pending, _set_email, _set_phone_number,
 _set_push_tokens) = (cast(Any, ProfileState.__dict__[name]).__set__ for name in _SLOTS)  # fmt: skip
