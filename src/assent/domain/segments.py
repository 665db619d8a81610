"""Segment definitions in Klaviyo's language: `definition.condition_groups[].conditions[]`.

Groups are AND-ed, the conditions of a group OR-ed. `parse_definition` reads Klaviyo's JSON into
typed conditions and refuses, naming the member at fault, anything Assent cannot evaluate: a
condition is never silently dropped. `store/segments.py` compiles the result to SQL and
`domain/segment_eval.py` evaluates it over one profile (the reference the SQL is tested against).

Klaviyo's condition types supported: profile-marketing-consent, profile-group-membership,
profile-property, profile-metric, profile-region and the random sample (`profile-random-sample`,
also read as the spec's `profile-sample`). Assent's extensions, in the same grammar:
`assent-consent` (consent of any channel and purpose, with method, source and date),
`assent-suppression` (email suppression by reason), `assent-double-opt-in-pending` and
`assent-can-receive` (what `decide()` answers for a channel, purpose, campaign or flow, list).
"""

from __future__ import annotations

import re
from typing import Any

from .channels import CHANNEL_PURPOSES, Channel, ConsentStatus, Purpose, SuppressionReason
from .decisions import Via
from .errors import DomainError
from .segment_conditions import (
    DATE_FIELDS,
    LOCATION_FIELDS,
    MAX_CONDITIONS,
    MAX_GROUP_IDS,
    MAX_GROUPS,
    MAX_PROPERTY_NAME,
    PROPERTY_PATTERN,
    ROOT,
    TEXT_FIELDS,
    CanReceive,
    Condition,
    ConsentFilter,
    ConsentState,
    CustomSource,
    Definition,
    DoubleOptIn,
    GroupMembership,
    MarketingConsent,
    MethodIs,
    OptInPending,
    ProfileMetric,
    ProfileProperty,
    RandomSample,
    Region,
    StatusDate,
    Suppressed,
    Suppression,
)
from .segment_filters import (
    At,
    DateValue,
    Existence,
    InFilter,
    StringFilter,
    date_filter,
    numeric,
    value_filter,
)

# --- reading Klaviyo's JSON -------------------------------------------------------------------

SUPPORTED = (
    "profile-marketing-consent", "profile-group-membership", "profile-property", "profile-metric", "profile-region",
    "profile-random-sample", "profile-sample", "assent-consent", "assent-suppression", "assent-double-opt-in-pending",
    "assent-can-receive",
)  # fmt: skip


def parse_definition(raw: object) -> Definition:
    """Klaviyo's `definition` object as typed conditions; DomainError names what is wrong."""
    root = At.of(raw, ROOT)
    root.only("condition_groups")
    groups = root.items("condition_groups")
    if not 1 <= len(groups) <= MAX_GROUPS:
        raise DomainError(root.field("condition_groups"), f"must hold 1 to {MAX_GROUPS} groups", len(groups))
    out = []
    for group in groups:
        group.only("conditions")
        conditions = group.items("conditions")
        if not 1 <= len(conditions) <= MAX_CONDITIONS:
            raise DomainError(group.field("conditions"), f"must hold 1 to {MAX_CONDITIONS} conditions", len(conditions))
        out.append(tuple(parse_condition(c) for c in conditions))
    return Definition(tuple(out))


def parse_condition(at: At) -> Condition:
    kind = at.text("type")
    if kind not in SUPPORTED:
        raise DomainError(at.field("type"), "this condition type is not supported by Assent", kind)
    if kind == "profile-marketing-consent":
        return _marketing_consent(at)
    if kind == "profile-group-membership":
        return _group_membership(at)
    if kind == "profile-property":
        return _property(at)
    if kind == "profile-metric":
        return _metric(at)
    if kind == "profile-region":
        at.only("type", "in_region", "region")
        return Region(at.boolean("in_region"), at.text("region", ("european_union", "united_states")))
    if kind in ("profile-random-sample", "profile-sample"):
        at.only("type", "percentage")
        return RandomSample(at.integer("percentage", 1, 100))
    if kind == "assent-consent":
        return _consent_state(at)
    if kind == "assent-suppression":
        at.only("type", "is_suppressed", "reasons", "date")
        reasons = tuple(SuppressionReason(r) for r in _choices(at, "reasons", [r.value for r in SuppressionReason]))
        dates = date_filter(at.obj("date")) if at.has("date") else None
        return Suppression(at.boolean("is_suppressed"), reasons, dates)
    if kind == "assent-double-opt-in-pending":
        at.only("type", "is_pending", "channel", "purpose", "list_id")
        channel = Channel(at.text("channel", tuple(Channel))) if at.has("channel") else None
        purpose = _purpose(at, channel) if at.has("purpose") else None
        list_id = at.text("list_id") if at.has("list_id") else None
        return OptInPending(at.boolean("is_pending"), channel, purpose, list_id)
    at.only("type", "can_receive", "channel", "purpose", "via", "list_id")
    channel = Channel(at.text("channel", tuple(Channel)))
    purposes = (*CHANNEL_PURPOSES[channel], *((Purpose.TRANSACTIONAL,) if channel is Channel.EMAIL else ()))
    purpose = Purpose(at.text("purpose", tuple(p.value for p in purposes))) if at.has("purpose") else Purpose.MARKETING
    via = Via(at.text("via", tuple(Via))) if at.has("via") else Via.CAMPAIGN
    list_id = at.text("list_id") if at.has("list_id") else None
    return CanReceive(at.boolean("can_receive"), channel, purpose, via, list_id)


def _choices(at: At, name: str, allowed: list[str]) -> tuple[str, ...]:
    if not at.has(name):
        return ()
    values = at.strings(name, 20)
    for i, v in enumerate(values):
        if v not in allowed:
            raise DomainError(f"{at.field(name)}.{i}", f"must be one of {', '.join(allowed)}", v)
    return values


def _purpose(at: At, channel: Channel | None) -> Purpose:
    allowed = CHANNEL_PURPOSES[channel] if channel is not None else tuple(Purpose)
    return Purpose(at.text("purpose", tuple(p.value for p in allowed)))


# Klaviyo's method names (lower case) as Assent stores them; SMS keywords are stored as TEXT.
_METHOD_ALIASES = {"inbound_message": ("INBOUND_MESSAGE", "TEXT")}
_SUPPRESSION_DATES = {
    "bounce_date": SuppressionReason.HARD_BOUNCE,
    "manual_suppression_date": SuppressionReason.USER_SUPPRESSED,
    "invalid_email_date": SuppressionReason.INVALID_EMAIL,
}
# What each consent_status may carry (Klaviyo's Has*/No* schemas), by (channel, can_receive, subscription).
_STATUS_FILTERS = ("status_date", "method")
_EMAIL_SUBSCRIBED = ("is_double_opt_in", "custom_source", *_STATUS_FILTERS)
_SUPPRESSION_FIELDS = tuple(_SUPPRESSION_DATES)
_ALLOWED: dict[tuple[str, bool, str], tuple[str, ...]] = {
    ("email", True, "any"): (),
    ("email", True, "subscribed"): _EMAIL_SUBSCRIBED,
    ("email", True, "never_subscribed"): (),
    ("email", False, "any"): _SUPPRESSION_FIELDS,
    ("email", False, "unsubscribed"): (*_STATUS_FILTERS, *_SUPPRESSION_FIELDS),
    ("email", False, "never_subscribed"): _SUPPRESSION_FIELDS,
    ("email", False, "subscribed"): _SUPPRESSION_FIELDS,
    ("sms", True, "subscribed"): _STATUS_FILTERS,
    ("sms", False, "any"): (),
    ("sms", False, "unsubscribed"): _STATUS_FILTERS,
    ("sms", False, "never_subscribed"): (),
    ("push", True, "any"): ("status_date",),
    ("push", False, "any"): (),
}


def _marketing_consent(at: At) -> MarketingConsent:
    at.only("type", "consent")
    consent = at.obj("consent")
    consent.only("channel", "can_receive_marketing", "consent_status")
    channel = consent.text("channel", ("email", "sms", "push"))
    can_receive = consent.boolean("can_receive_marketing")
    status = consent.obj("consent_status")
    status.only("subscription", "filters")
    shapes = sorted({s for c, r, s in _ALLOWED if c == channel and r == can_receive})
    subscription = status.text("subscription", tuple(shapes))
    allowed = _ALLOWED[(channel, can_receive, subscription)]
    filters = tuple(_consent_filter(f, allowed) for f in status.items("filters", required=False))
    return MarketingConsent(Channel(channel), can_receive, subscription, filters)


def _consent_filter(at: At, allowed: tuple[str, ...]) -> ConsentFilter:
    name = at.text("field")
    if name not in allowed:
        shown = ", ".join(allowed) if allowed else "no filters"
        raise DomainError(at.field("field"), f"this consent status takes {shown}", name)
    if name in _SUPPRESSION_DATES:
        at.only("field", "filter")
        f = at.obj("filter")
        if f.text("type") == "existence":
            f.only("type", "operator")
            f.text("operator", ("is-set",))
            return Suppressed(_SUPPRESSION_DATES[name], None)
        return Suppressed(_SUPPRESSION_DATES[name], date_filter(f))
    if name == "status_date":
        at.only("field", "filter")
        return StatusDate(date_filter(at.obj("filter")))
    if name == "is_double_opt_in":
        at.only("field", "filter")
        f = at.obj("filter")
        f.only("type", "operator", "value")
        f.text("type", ("boolean",))
        f.text("operator", ("equals",))
        return DoubleOptIn(f.boolean("value"))
    if name == "custom_source":
        at.only("field", "filter")
        f = at.obj("filter")
        f.only("type", "operator", "value")
        f.text("type", ("string",))
        f.text("operator", ("equals",))
        return CustomSource(f.text("value"))
    at.only("field", "method", "filter")
    method = at.text("method")
    if method == "integration":
        f = at.obj("filter")
        return MethodIs(tuple(v.upper() for v in f.strings("value", 20)))
    if at.has("filter"):
        raise DomainError(at.field("filter"), "a filter on the method's details is not supported by Assent")
    if not re.fullmatch(r"[a-z_]{1,60}", method):
        raise DomainError(at.field("method"), "must be a Klaviyo method name such as form or api", method)
    return MethodIs(_METHOD_ALIASES.get(method, (method.upper(),)))


def _group_membership(at: At) -> GroupMembership:
    at.only("type", "is_member", "group_ids", "timeframe_filter")
    is_member = at.boolean("is_member")
    ids = at.strings("group_ids", MAX_GROUP_IDS)
    timeframe = None
    if at.has("timeframe_filter"):
        if not is_member:
            raise DomainError(at.field("timeframe_filter"), "applies only when is_member is true")
        timeframe = date_filter(at.obj("timeframe_filter"))
    return GroupMembership(is_member, tuple(dict.fromkeys(ids)), timeframe)


def property_name(name: str, path: str) -> tuple[str | None, str | None]:
    """(well-known field, None) or (None, custom property key) for a profile-property name."""
    name = name.removeprefix("location.") if name.removeprefix("location.") in LOCATION_FIELDS else name
    if name in TEXT_FIELDS or name in DATE_FIELDS:
        return name, None
    m = PROPERTY_PATTERN.match(name)
    if m is None:
        known = ", ".join((*TEXT_FIELDS, *DATE_FIELDS))
        raise DomainError(path, f"must be one of {known}, or properties['name'] for a custom property", name)
    key = m.group(2)
    if len(key) > MAX_PROPERTY_NAME or '"' in key or "\\" in key or any(ord(ch) < 32 for ch in key):
        rule = f"a property name is 1 to {MAX_PROPERTY_NAME} characters, without quotes or backslashes"
        raise DomainError(path, rule, key)
    return None, key


def _property(at: At) -> ProfileProperty:
    at.only("type", "property", "filter")
    field, key = property_name(at.text("property"), at.field("property"))
    flt = value_filter(at.obj("filter"))
    if field in DATE_FIELDS and not isinstance(flt, DateValue | Existence):
        raise DomainError(at.field("filter.type"), f"{field} is a date: it takes date or existence filters")
    if field in TEXT_FIELDS and not isinstance(flt, StringFilter | InFilter | Existence):
        raise DomainError(at.field("filter.type"), f"{field} is text: it takes string or existence filters")
    return ProfileProperty(field, key, flt)


def _metric(at: At) -> ProfileMetric:
    at.only("type", "metric_id", "measurement", "measurement_filter", "timeframe_filter", "metric_filters")
    if at.value.get("metric_filters"):
        raise DomainError(at.field("metric_filters"), "filters on event properties are not supported by Assent")
    metric_id = at.text("metric_id")
    if not metric_id:
        raise DomainError(at.field("metric_id"), "is required")
    return ProfileMetric(
        metric_id,
        at.text("measurement", ("count", "sum")),
        numeric(at.obj("measurement_filter")),
        date_filter(at.obj("timeframe_filter"), alltime=True),
    )


def _consent_state(at: At) -> ConsentState:
    at.only("type", "channel", "purpose", "status", "filters")
    channel = Channel(at.text("channel", tuple(Channel)))
    purpose = _purpose(at, channel) if at.has("purpose") else Purpose.MARKETING
    statuses = tuple(ConsentStatus(s) for s in _choices(at, "status", [s.value for s in ConsentStatus]))
    fields: dict[str, Any] = {}
    for f in at.items("filters", required=False):
        f.only("field", "filter")
        name = f.text("field", ("method", "method_detail", "custom_source", "consent_date"))
        if name in fields:
            raise DomainError(f.field("field"), "is filtered twice", name)
        inner = f.obj("filter")
        if name == "consent_date":
            fields[name] = date_filter(inner)
            continue
        flt = value_filter(inner)
        if not isinstance(flt, StringFilter | InFilter) or (name == "method" and not isinstance(flt, InFilter)):
            raise DomainError(f.field("filter.operator"), "takes string filters (method: in or not-in)")
        fields[name] = flt
    return ConsentState(
        channel, purpose, statuses or tuple(ConsentStatus), fields.get("method"), fields.get("method_detail"),
        fields.get("custom_source"), fields.get("consent_date"),
    )  # fmt: skip


def referenced(definition: Definition) -> tuple[set[str], set[str]]:
    """The group ids and metric ids a definition names."""
    groups: set[str] = set()
    metrics: set[str] = set()
    for _, c in definition.conditions():
        if isinstance(c, GroupMembership):
            groups.update(c.group_ids)
        elif isinstance(c, ProfileMetric):
            metrics.add(c.metric_id)
    return groups, metrics
