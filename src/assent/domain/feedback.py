"""What an email provider reports about one recipient (a bounce, a complaint, an unsubscribe, a
delivery), in provider-neutral terms: the typed result the provider adapters (integrations.ses,
integrations.sendgrid) parse their webhooks into and services.workflows.bounces applies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


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
