"""Channels, purposes, consent statuses, suppression reasons and the Klaviyo metric names."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from .errors import DomainError


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WHATSAPP = "whatsapp"
    POSTAL = "postal"  # direct mail: marketing, allowed unless opted out


class Purpose(StrEnum):
    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"
    CONVERSATIONAL = "conversational"


class ConsentStatus(StrEnum):
    SUBSCRIBED = "SUBSCRIBED"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    NEVER_SUBSCRIBED = "NEVER_SUBSCRIBED"


class SuppressionReason(StrEnum):
    """Global email suppression reasons, exactly Klaviyo's enum."""

    HARD_BOUNCE = "HARD_BOUNCE"
    INVALID_EMAIL = "INVALID_EMAIL"
    SPAM_COMPLAINT = "SPAM_COMPLAINT"
    UNSUBSCRIBE = "UNSUBSCRIBE"
    USER_SUPPRESSED = "USER_SUPPRESSED"


class OptInProcess(StrEnum):
    SINGLE = "single_opt_in"
    DOUBLE = "double_opt_in"


CHANNEL_PURPOSES: dict[Channel, tuple[Purpose, ...]] = {
    Channel.EMAIL: (Purpose.MARKETING,),
    Channel.SMS: (Purpose.MARKETING, Purpose.TRANSACTIONAL),
    Channel.PUSH: (Purpose.MARKETING,),
    Channel.WHATSAPP: (Purpose.MARKETING, Purpose.TRANSACTIONAL, Purpose.CONVERSATIONAL),
    Channel.POSTAL: (Purpose.MARKETING,),
}

ALL_CHANNEL_PURPOSES: tuple[tuple[Channel, Purpose], ...] = tuple(
    (c, p) for c, ps in CHANNEL_PURPOSES.items() for p in ps
)
# The channels whose consent belongs to the phone number (reset when it changes).
NUMBER_CHANNELS = (Channel.SMS, Channel.WHATSAPP)

# Subscribing clears these (Klaviyo's Subscribe API); HARD_BOUNCE and INVALID_EMAIL describe the
# address, not a choice, so only a new address clears them.
CLEARED_BY_SUBSCRIBE = frozenset(
    {SuppressionReason.UNSUBSCRIBE, SuppressionReason.SPAM_COMPLAINT, SuppressionReason.USER_SUPPRESSED}
)
CLEARED_BY_UNSUPPRESS = frozenset({SuppressionReason.USER_SUPPRESSED})
ADDRESS_SUPPRESSIONS = frozenset({SuppressionReason.HARD_BOUNCE, SuppressionReason.INVALID_EMAIL})
# Suppressions that mean the person opted out: email consent is UNSUBSCRIBED while they stand.
OPT_OUT_SUPPRESSIONS = frozenset({SuppressionReason.UNSUBSCRIBE, SuppressionReason.SPAM_COMPLAINT})

# The earliest consent date Klaviyo records; earlier ones are clamped to it.
MIN_CONSENT_DATE = datetime(1990, 1, 1, tzinfo=UTC)

_CHANNEL_LABEL = {
    Channel.EMAIL: "Email",
    Channel.SMS: "SMS",
    Channel.PUSH: "Push",
    Channel.WHATSAPP: "WhatsApp",
    Channel.POSTAL: "Postal",
}


def subscribed_metric(channel: Channel, purpose: Purpose) -> str:
    """Klaviyo's metric name, e.g. 'Subscribed to Email Marketing', 'Subscribed to SMS Transactional'."""
    return f"Subscribed to {_CHANNEL_LABEL[channel]} {purpose.value.title()}"


def unsubscribed_metric(channel: Channel, purpose: Purpose) -> str:
    return f"Unsubscribed from {_CHANNEL_LABEL[channel]} {purpose.value.title()}"


def reset_metric(channel: Channel, purpose: Purpose) -> str:
    """The name of a number-bound consent's reset to NEVER_SUBSCRIBED when the profile's phone
    number changes or is removed, e.g. 'SMS Marketing Consent Reset by Phone Number Change'.
    Klaviyo has no metric for it; the name says what happened: the consent belonged to the old
    number (the person neither gave nor withdrew anything)."""
    return f"{_CHANNEL_LABEL[channel]} {purpose.value.title()} Consent Reset by Phone Number Change"


SUBSCRIBED_TO_LIST = "Subscribed to List"
UNSUBSCRIBED_FROM_LIST = "Unsubscribed from List"
MANUALLY_SUPPRESSED = "Manually Suppressed from Email Marketing"
MANUALLY_UNSUPPRESSED = "Manually Unsuppressed from Email Marketing"


def parse_channel(value: str, field: str = "channel") -> Channel:
    try:
        return Channel(value.strip().lower())
    except ValueError:
        raise DomainError(field, f"must be one of {', '.join(c.value for c in Channel)}", value) from None


def parse_purpose(channel: Channel, value: str | None, field: str = "purpose") -> Purpose:
    if value is None or value == "":
        return Purpose.MARKETING
    try:
        purpose = Purpose(value.strip().lower())
    except ValueError:
        raise DomainError(field, f"must be one of {', '.join(p.value for p in Purpose)}", value) from None
    if purpose not in CHANNEL_PURPOSES[channel]:
        allowed = ", ".join(p.value for p in CHANNEL_PURPOSES[channel])
        raise DomainError(field, f"{channel.value} has purposes {allowed}", value)
    return purpose


def parse_suppression_reason(value: str, field: str = "reason") -> SuppressionReason:
    try:
        return SuppressionReason(value.strip().upper())
    except ValueError:
        allowed = ", ".join(r.value for r in SuppressionReason)
        raise DomainError(field, f"must be one of {allowed}", value) from None
