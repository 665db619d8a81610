"""What an email provider reports about one recipient (a bounce, a complaint, an unsubscribe, a
delivery), in provider-neutral terms: the typed result the provider adapters (integrations.ses,
integrations.sendgrid) parse their webhooks into and services.workflows.bounces applies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# `display name <address>`: one angle-bracketed address, at the end, and no other bracket.
_NAME_ADDR = re.compile(r"[^<>]*<([^<>]*)>")


class Kind(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    INVALID_ADDRESS = "invalid_address"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    DELIVERY = "delivery"


@dataclass(frozen=True, slots=True)
class Feedback:
    """One provider event about one recipient, in provider-neutral terms."""

    kind: Kind
    address: str
    event_id: str  # the provider's id of this event for this recipient: the idempotency key
    message_id: str | None = None  # the provider's id of the message it is about
    occurred_at: datetime | None = None  # when the provider saw it (orders bounces and deliveries)
    note: str | None = None  # diagnostic code or reason, as the provider gave it
    detail: str | None = None  # method_detail of an unsubscribe (e.g. the provider's group)


def mailbox(value: object) -> str | None:
    """The address of a recipient as a provider reports it: a bare address, or the one inside the
    angle brackets of `Name <address>` (where mail is delivered, whatever the name says, even when
    the name looks like another address). Anything else is given back as it is, for the address
    check to refuse: two addresses or stray brackets name no one recipient, and guessing one
    (as email.utils.parseaddr does: the first of a list, the text before a bracket) could land
    a bounce on the wrong person."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _NAME_ADDR.fullmatch(text)
    address = m.group(1).strip() if m else text
    return address or None
