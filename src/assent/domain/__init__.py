"""Pure consent rules: no I/O, nothing of Assent's outside this package.

The decision names (decide and its values) are loaded when first used: most processes that need
the domain's values decide nothing (an import's worker processes), and the decision rules bring the
jurisdiction packs with them."""

from typing import TYPE_CHECKING, Any

from .channels import (
    ALL_CHANNEL_PURPOSES,
    CHANNEL_PURPOSES,
    Channel,
    ConsentStatus,
    OptInProcess,
    Purpose,
    SuppressionReason,
)
from .errors import DomainError, InvalidIdentifier, MissingAddress, NothingPending
from .events import ConsentEvent, EventType, Proof, apply, replay
from .state import ChannelConsent, ListSuppression, PendingOptIn, ProfileState

if TYPE_CHECKING:
    from .decisions import Decision, Policy, Reason, Send, Verdict, Via, decide

_DECISIONS = frozenset({"Decision", "Policy", "Reason", "Send", "Verdict", "Via", "decide"})


def __getattr__(name: str) -> Any:
    if name in _DECISIONS:
        from . import decisions

        return getattr(decisions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
