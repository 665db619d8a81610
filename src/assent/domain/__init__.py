"""Pure consent rules: no I/O, nothing of Assent's outside this package."""

from .channels import (
    ALL_CHANNEL_PURPOSES,
    CHANNEL_PURPOSES,
    Channel,
    ConsentStatus,
    OptInProcess,
    Purpose,
    SuppressionReason,
)
from .decisions import Decision, Policy, Reason, Send, Verdict, Via, decide
from .errors import DomainError, InvalidIdentifier, MissingAddress, NothingPending
from .events import ConsentEvent, EventType, Proof, apply, replay
from .state import ChannelConsent, ListSuppression, PendingOptIn, ProfileState

__all__ = [
    "ALL_CHANNEL_PURPOSES",
    "CHANNEL_PURPOSES",
    "Channel",
    "ChannelConsent",
    "ConsentEvent",
    "ConsentStatus",
    "Decision",
    "DomainError",
    "EventType",
    "InvalidIdentifier",
    "ListSuppression",
    "MissingAddress",
    "NothingPending",
    "OptInProcess",
    "PendingOptIn",
    "Policy",
    "ProfileState",
    "Proof",
    "Purpose",
    "Reason",
    "Send",
    "SuppressionReason",
    "Verdict",
    "Via",
    "apply",
    "decide",
    "replay",
]
