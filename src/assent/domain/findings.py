"""What a decision rule finds: verdicts, the stable reason codes and one finding.

Kept apart from `decisions` so rule packs in other modules can yield findings without importing
the module that assembles the rule set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    DEFER = "DEFER"


class Reason(StrEnum):
    """Stable reason and warning codes. Documented one by one in the README ("Decision reasons and warnings")."""

    # allow
    SUBSCRIBED = "SUBSCRIBED"
    MARKETING_CONSENT_COVERS_TRANSACTIONAL = "MARKETING_CONSENT_COVERS_TRANSACTIONAL"
    NOT_OPTED_OUT = "NOT_OPTED_OUT"
    TRANSACTIONAL_EXEMPT = "TRANSACTIONAL_EXEMPT"
    SOFT_OPT_IN = "SOFT_OPT_IN"
    # deny
    NO_ADDRESS = "NO_ADDRESS"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    NEVER_SUBSCRIBED = "NEVER_SUBSCRIBED"
    DOUBLE_OPTIN_PENDING = "DOUBLE_OPTIN_PENDING"
    TRANSACTIONAL_CONSENT_ONLY = "TRANSACTIONAL_CONSENT_ONLY"
    SUPPRESSED_HARD_BOUNCE = "SUPPRESSED_HARD_BOUNCE"
    SUPPRESSED_INVALID_EMAIL = "SUPPRESSED_INVALID_EMAIL"
    SUPPRESSED_SPAM_COMPLAINT = "SUPPRESSED_SPAM_COMPLAINT"
    SUPPRESSED_UNSUBSCRIBE = "SUPPRESSED_UNSUBSCRIBE"
    SUPPRESSED_USER_SUPPRESSED = "SUPPRESSED_USER_SUPPRESSED"
    LIST_SUPPRESSED = "LIST_SUPPRESSED"
    NOT_IN_LIST = "NOT_IN_LIST"
    NO_PUSH_TOKEN = "NO_PUSH_TOKEN"
    # deny: jurisdiction packs
    EXPLICIT_CONSENT_REQUIRED = "EXPLICIT_CONSENT_REQUIRED"
    DOUBLE_OPTIN_REQUIRED = "DOUBLE_OPTIN_REQUIRED"
    IMPLIED_CONSENT_EXPIRED = "IMPLIED_CONSENT_EXPIRED"
    # deny, not decide()'s: a batch of decisions answers an item naming no profile of the account with it
    UNKNOWN_PROFILE = "UNKNOWN_PROFILE"
    # defer
    QUIET_HOURS = "QUIET_HOURS"
    FREQUENCY_CAP = "FREQUENCY_CAP"
    # warnings
    IMPLIED_CONSENT = "IMPLIED_CONSENT"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Verdict | None  # DENY, DEFER, ALLOW (a basis for sending) or None for a warning
    code: str
    defer_until: datetime | None = None
    expired_at: datetime | None = None  # IMPLIED_CONSENT_EXPIRED: when the implied consent lapsed


# Findings without a time are values: made once, so a rule hands one out without building it.
_DENIALS = {r: Finding(Verdict.DENY, r.value) for r in Reason}
_ALLOWANCES = {r: Finding(Verdict.ALLOW, r.value) for r in Reason}
_WARNINGS = {r: Finding(None, r.value) for r in Reason}


def deny(code: Reason, expired_at: datetime | None = None) -> Finding:
    return _DENIALS[code] if expired_at is None else Finding(Verdict.DENY, code.value, expired_at=expired_at)


def allow(code: Reason) -> Finding:
    return _ALLOWANCES[code]


def warn(code: Reason) -> Finding:
    return _WARNINGS[code]


def defer(code: Reason, until: datetime) -> Finding:
    return Finding(Verdict.DEFER, code.value, defer_until=until)
