"""The typed conditions of a segment definition: domain/segments.py reads them from Klaviyo's JSON,
domain/segment_eval.py says what they mean, store/segments.py compiles them to SQL."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .channels import Channel, ConsentStatus, Purpose, SuppressionReason
from .decisions import Via
from .segment_filters import DateFilter, InFilter, NumberFilter, StringFilter, ValueFilter

MAX_GROUPS = 20
MAX_CONDITIONS = 20
MAX_GROUP_IDS = 100
ROOT = "definition"

# --- profile fields ---------------------------------------------------------------------------

TEXT_FIELDS = (
    "email", "phone_number", "external_id", "first_name", "last_name", "organization", "title", "locale", "image",
    "address1", "address2", "city", "region", "zip", "country", "timezone", "latitude", "longitude", "ip",
)  # fmt: skip
LOCATION_FIELDS = TEXT_FIELDS[9:]  # also written location.city, ...
DATE_FIELDS = ("created", "updated", "last_event_date")
PROPERTY_PATTERN = re.compile(r"""^properties\[(['"])(.+)\1\]$""", re.S)
MAX_PROPERTY_NAME = 200

# --- consent condition (Klaviyo) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MethodIs:
    """The consent's method is one of these (stored upper case: FORM, API, TEXT, ...)."""

    methods: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DoubleOptIn:
    value: bool


@dataclass(frozen=True, slots=True)
class StatusDate:
    dates: DateFilter


@dataclass(frozen=True, slots=True)
class CustomSource:
    value: str


@dataclass(frozen=True, slots=True)
class Suppressed:
    """The profile has this suppression (at a time within `dates`, when given)."""

    reason: SuppressionReason
    dates: DateFilter | None


ConsentFilter = MethodIs | DoubleOptIn | StatusDate | CustomSource | Suppressed


@dataclass(frozen=True, slots=True)
class MarketingConsent:
    """profile-marketing-consent: can (or cannot) receive marketing on a channel, and how.

    `subscription` is any, subscribed, unsubscribed or never_subscribed; with can_receive false,
    subscribed and never_subscribed are the suppressed (or unaddressed) sub-cases."""

    channel: Channel
    can_receive: bool
    subscription: str
    filters: tuple[ConsentFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupMembership:
    is_member: bool
    group_ids: tuple[str, ...]
    timeframe: DateFilter | None = None


@dataclass(frozen=True, slots=True)
class ProfileProperty:
    """`field` is a TEXT_FIELDS or DATE_FIELDS name, or None for `properties[key]`."""

    field: str | None
    key: str | None
    filter: ValueFilter


@dataclass(frozen=True, slots=True)
class ProfileMetric:
    metric_id: str
    measurement: str  # count or sum
    filter: NumberFilter
    timeframe: DateFilter


@dataclass(frozen=True, slots=True)
class Region:
    in_region: bool
    region: str  # european_union or united_states


@dataclass(frozen=True, slots=True)
class RandomSample:
    percentage: int


# --- Assent's extensions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentState:
    """assent-consent: consent of one channel and purpose in some statuses; filters on method,
    method_detail (the source), custom_source and the consent date."""

    channel: Channel
    purpose: Purpose
    statuses: tuple[ConsentStatus, ...]
    method: InFilter | None = None
    method_detail: StringFilter | InFilter | None = None
    custom_source: StringFilter | InFilter | None = None
    consent_date: DateFilter | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    """assent-suppression: (not) suppressed for email, for any of `reasons` (all when empty)."""

    is_suppressed: bool
    reasons: tuple[SuppressionReason, ...]
    dates: DateFilter | None = None


@dataclass(frozen=True, slots=True)
class OptInPending:
    """assent-double-opt-in-pending: a double opt-in is (not) waiting, for a channel and purpose or a list."""

    is_pending: bool
    channel: Channel | None = None
    purpose: Purpose | None = None
    list_id: str | None = None


@dataclass(frozen=True, slots=True)
class CanReceive:
    """assent-can-receive: `decide()` allows (or not) a send on this channel and purpose, as a
    campaign or a flow, optionally to a list, under the account's policy."""

    can_receive: bool
    channel: Channel
    purpose: Purpose
    via: Via
    list_id: str | None = None


Condition = (
    MarketingConsent | GroupMembership | ProfileProperty | ProfileMetric | Region | RandomSample
    | ConsentState | Suppression | OptInPending | CanReceive
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Definition:
    groups: tuple[tuple[Condition, ...], ...]

    def conditions(self) -> list[tuple[str, Condition]]:
        """Every condition with its dotted path."""
        return [
            (f"{ROOT}.condition_groups.{g}.conditions.{c}", cond)
            for g, group in enumerate(self.groups)
            for c, cond in enumerate(group)
        ]
