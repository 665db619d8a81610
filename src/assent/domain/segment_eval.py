"""A segment definition evaluated over one profile, in Python: the reference the compiled SQL
(`store/segments.py`) is tested against, and the definition's references checked.

The semantics, shared with the SQL:
- a string, number, boolean, list or date filter matches only a value of that kind (a negated
  filter such as not-equals matches a value of that kind that differs, never a missing value);
  strings compare case-sensitively;
- a property date is ISO 8601 text read as UTC: its first 19 characters (`T` as a space), or a
  bare date at midnight; text that does not start with YYYY-MM-DD is not a date;
- the random sample is stable per profile: a bucket from the last two characters of its id;
- profile-metric counts (or sums the value of) the profile's events of the metric inside the
  timeframe, posted events and the ledger's consent events alike; no events count as 0;
- assent-can-receive holds when decide() allows the send at that moment, the jurisdiction packs
  (from where the profile is) and frequency caps (from its reported sends) included: a send
  decide() defers (quiet hours, a full cap) cannot be received now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .channels import Channel, ConsentStatus, Purpose
from .decisions import Policy, Send, decide
from .errors import DomainError
from .jurisdictions import locate
from .segment_conditions import (
    CanReceive,
    Condition,
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
    BoolFilter,
    DateFilter,
    DateValue,
    Existence,
    InFilter,
    ListContains,
    ListLength,
    NumberFilter,
    StringFilter,
    ValueFilter,
    compare,
)
from .state import ChannelConsent, ProfileState

# Member states and the names people write for them; compared trimmed and lower-cased.
EU_COUNTRIES = (
    "at", "be", "bg", "hr", "cy", "cz", "dk", "ee", "fi", "fr", "de", "gr", "hu", "ie", "it", "lv", "lt", "lu", "mt",
    "nl", "pl", "pt", "ro", "sk", "si", "es", "se",
    "austria", "belgium", "bulgaria", "croatia", "cyprus", "czechia", "czech republic", "denmark", "estonia",
    "finland", "france", "germany", "greece", "hungary", "ireland", "italy", "latvia", "lithuania", "luxembourg",
    "malta", "netherlands", "the netherlands", "poland", "portugal", "romania", "slovakia", "slovenia", "spain",
    "sweden",
)  # fmt: skip
US_COUNTRIES = ("us", "usa", "united states", "united states of america")
REGIONS: dict[str, tuple[str, ...]] = {"european_union": EU_COUNTRIES, "united_states": US_COUNTRIES}

SAMPLE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32, as ULIDs are written
SAMPLE_BUCKETS = 33 * 33  # instr() of each of the last two characters: 0 (absent) to 32
_DATE_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One event of a profile: its metric id (a built-in consent metric's too), time and value."""

    metric_id: str
    at: datetime
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a segment can ask of one profile."""

    id: str
    state: ProfileState
    fields: Mapping[str, str | None]
    properties: Mapping[str, Any]
    created: datetime
    updated: datetime
    last_event_at: datetime | None = None
    events: Sequence[Occurrence] = ()
    sends: Mapping[tuple[Channel, Purpose], tuple[datetime, ...]] = field(default_factory=dict)  # reported sends


@dataclass(frozen=True, slots=True)
class Context:
    """What a definition is evaluated against: now, the account's policy and its other segments
    (a group id that is not one of them is a list)."""

    now: datetime
    policy: Policy = field(default_factory=Policy)
    segments: Mapping[str, Definition] = field(default_factory=dict)


def sample_bucket(profile_id: str) -> int:
    tail = profile_id[-2:].rjust(2)
    return (SAMPLE_ALPHABET.find(tail[0]) + 1) * 33 + SAMPLE_ALPHABET.find(tail[1]) + 1


def in_sample(profile_id: str, percentage: int) -> bool:
    return sample_bucket(profile_id) * 100 < percentage * SAMPLE_BUCKETS


def date_text(moment: datetime) -> str:
    """A bound as the text property dates are compared with."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def property_date(value: str) -> str | None:
    if not _DATE_START.match(value):
        return None
    return value + " 00:00:00" if len(value) == 10 else value[:19].replace("T", " ")


def _text_date_holds(dates: DateFilter, now: datetime, value: str) -> bool:
    text = property_date(value)
    if text is None:
        return False
    b = dates.bounds(now)
    if b.low is not None:
        low = date_text(b.low)
        if text < low or (b.low_strict and text == low):
            return False
    if b.high is not None:
        high = date_text(b.high)
        if text > high or (b.high_strict and text == high):
            return False
    return True


def string_matches(f: StringFilter, value: str) -> bool:
    op, x = f.operator, f.value
    if op == "equals":
        return value == x
    if op == "not-equals":
        return value != x
    positive = op.removeprefix("not-")
    if positive == "contains":
        hit = x in value
    else:
        hit = value.startswith(x) if positive == "starts-with" else value.endswith(x)
    return hit != op.startswith("not-")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_matches(f: ValueFilter, value: Any, present: bool, now: datetime) -> bool:
    """A filter over a property's JSON value (`present`: the key exists)."""
    if isinstance(f, Existence):
        return (present and value is not None) == f.is_set
    if isinstance(f, StringFilter):
        return isinstance(value, str) and string_matches(f, value)
    if isinstance(f, InFilter):
        return isinstance(value, str) and (value in f.values) != f.negated
    if isinstance(f, NumberFilter):
        return _is_number(value) and compare(f.operator, float(value), f.value)
    if isinstance(f, BoolFilter):
        return isinstance(value, bool) and value == f.value
    if isinstance(f, ListContains):
        if not isinstance(value, list):
            return False
        x = f.value
        hit = any((isinstance(e, str) and e == x) if isinstance(x, str) else (_is_number(e) and e == x) for e in value)
        return hit != f.negated
    if isinstance(f, ListLength):
        return isinstance(value, list) and compare(f.operator, len(value), f.value)
    assert isinstance(f, DateValue)
    return isinstance(value, str) and _text_date_holds(f.dates, now, value)


def _property(c: ProfileProperty, p: Snapshot, now: datetime) -> bool:
    f = c.filter
    if c.key is not None:
        return value_matches(f, p.properties.get(c.key), c.key in p.properties, now)
    if c.field in ("created", "updated", "last_event_date"):
        moment = {"created": p.created, "updated": p.updated, "last_event_date": p.last_event_at}[c.field]
        if isinstance(f, Existence):
            return (moment is not None) == f.is_set
        assert isinstance(f, DateValue)
        return f.dates.bounds(now).holds(moment)
    assert c.field is not None
    text = p.fields.get(c.field)
    if isinstance(f, Existence):
        return (text is not None) == f.is_set
    if text is None:
        return False
    if isinstance(f, InFilter):
        return (text in f.values) != f.negated
    assert isinstance(f, StringFilter)
    return string_matches(f, text)


def _consent_filters(c: MarketingConsent, state: ProfileState, consent: ChannelConsent, now: datetime) -> bool:
    for f in c.filters:
        if isinstance(f, MethodIs):
            ok = consent.method in f.methods
        elif isinstance(f, DoubleOptIn):
            ok = bool(consent.double_optin) == f.value
        elif isinstance(f, StatusDate):
            ok = f.dates.bounds(now).holds(consent.consent_timestamp)
        elif isinstance(f, CustomSource):
            ok = consent.custom_method_detail == f.value
        else:
            assert isinstance(f, Suppressed)
            at = state.suppressions.get(f.reason)
            ok = at is not None and (f.dates is None or f.dates.bounds(now).holds(at))
        if not ok:
            return False
    return True


def marketing_reach(state: ProfileState, channel: Channel) -> bool:
    """Klaviyo's "can receive marketing" for a consent condition (a flow send, no list)."""
    status = state.status(channel)
    if channel is Channel.EMAIL:
        return state.email is not None and not state.suppressions and status is not ConsentStatus.UNSUBSCRIBED
    if channel is Channel.SMS:
        return state.phone_number is not None and status is ConsentStatus.SUBSCRIBED
    if channel is Channel.PUSH:
        return status is ConsentStatus.SUBSCRIBED and state.push_tokens > 0
    return status is ConsentStatus.SUBSCRIBED


def _marketing(c: MarketingConsent, p: Snapshot, now: datetime) -> bool:
    state = p.state
    consent = state.consent(c.channel)
    if marketing_reach(state, c.channel) != c.can_receive:
        return False
    wanted = {
        "subscribed": ConsentStatus.SUBSCRIBED,
        "unsubscribed": ConsentStatus.UNSUBSCRIBED,
        "never_subscribed": ConsentStatus.NEVER_SUBSCRIBED,
    }.get(c.subscription)
    if wanted is not None and consent.status is not wanted:
        return False
    return _consent_filters(c, state, consent, now)


def _consent_state(c: ConsentState, p: Snapshot, now: datetime) -> bool:
    consent = p.state.consent(c.channel, c.purpose)
    if consent.status not in c.statuses:
        return False
    if c.method is not None and (consent.method is None or (consent.method in c.method.values) == c.method.negated):
        return False
    for f, value in ((c.method_detail, consent.method_detail), (c.custom_source, consent.custom_method_detail)):
        if f is not None and not value_matches(f, value, True, now):
            return False
    return c.consent_date is None or c.consent_date.bounds(now).holds(consent.consent_timestamp)


def holds(c: Condition, p: Snapshot, ctx: Context, _depth: int = 0) -> bool:
    now = ctx.now
    if isinstance(c, MarketingConsent):
        return _marketing(c, p, now)
    if isinstance(c, GroupMembership):
        bounds = c.timeframe.bounds(now) if c.timeframe is not None else None
        member = False
        for gid in c.group_ids:
            nested = ctx.segments.get(gid)
            if nested is not None:
                member = evaluate(nested, p, ctx, _depth + 1)
            else:
                joined = p.state.lists.get(gid)
                member = joined is not None and (bounds is None or bounds.holds(joined))
            if member:
                break
        return member == c.is_member
    if isinstance(c, ProfileProperty):
        return _property(c, p, now)
    if isinstance(c, ProfileMetric):
        b = c.timeframe.bounds(now)
        hits = [e for e in p.events if e.metric_id == c.metric_id and b.holds(e.at)]
        total = float(len(hits)) if c.measurement == "count" else sum(e.value or 0.0 for e in hits)
        return compare(c.filter.operator, total, c.filter.value)
    if isinstance(c, Region):
        country = p.fields.get("country")
        inside = country is not None and country.strip(" ").lower() in REGIONS[c.region]
        return inside == c.in_region
    if isinstance(c, RandomSample):
        return in_sample(p.id, c.percentage)
    if isinstance(c, ConsentState):
        return _consent_state(c, p, now)
    if isinstance(c, Suppression):
        found = any(
            (not c.reasons or reason in c.reasons) and (c.dates is None or c.dates.bounds(now).holds(at))
            for reason, at in p.state.suppressions.items()
        )
        return found == c.is_suppressed
    if isinstance(c, OptInPending):
        found = any(
            (c.channel is None or ch == c.channel)
            and (c.purpose is None or pu == c.purpose)
            and (c.list_id is None or li == c.list_id)
            for ch, pu, li in p.state.pending
        )
        return found == c.is_pending
    assert isinstance(c, CanReceive)
    f = p.fields
    where = locate(f.get("country"), f.get("region"), f.get("timezone"), f.get("phone_number"))
    recent = p.sends.get((c.channel, c.purpose), ())
    send = Send(c.channel, now, c.purpose, c.via, c.list_id, ctx.policy, where, recent)
    return decide(p.state, send).allowed == c.can_receive  # a DEFER (quiet hours, a cap) is not allowed


MAX_DEPTH = 8


def evaluate(definition: Definition, p: Snapshot, ctx: Context, _depth: int = 0) -> bool:
    """Is the profile in the segment: every group has a condition that holds."""
    if _depth > MAX_DEPTH:
        raise DomainError("definition", f"segments nest more than {MAX_DEPTH} deep")
    return all(any(holds(c, p, ctx, _depth) for c in group) for group in definition.groups)


def check_references(
    definition: Definition,
    *,
    lists: set[str],
    segments: Mapping[str, Definition],
    metrics: set[str],
    own_id: str | None = None,
) -> None:
    """Every group id is a list or another segment (no timeframe on a segment, no cycle back to
    `own_id`, at most MAX_DEPTH deep), every metric id a metric of the account."""
    for path, c in definition.conditions():
        if isinstance(c, GroupMembership):
            for i, gid in enumerate(c.group_ids):
                where = f"{path}.group_ids.{i}"
                if gid not in lists and gid not in segments:
                    raise DomainError(where, "no list or segment of this account has this id", gid)
                if gid in segments:
                    if c.timeframe is not None:
                        raise DomainError(
                            f"{path}.timeframe_filter",
                            "a timeframe applies to list membership only: segment membership is computed on read",
                        )
                    if _reaches(gid, own_id, segments, 0):
                        raise DomainError(where, "this segment refers back to the one being defined", gid)
        elif isinstance(c, ProfileMetric) and c.metric_id not in metrics:
            raise DomainError(f"{path}.metric_id", "no metric of this account has this id", c.metric_id)
        elif isinstance(c, OptInPending | CanReceive) and c.list_id is not None and c.list_id not in lists:
            raise DomainError(f"{path}.list_id", "no list of this account has this id", c.list_id)


def _reaches(segment_id: str, target: str | None, segments: Mapping[str, Definition], depth: int) -> bool:
    """Does `segment_id` name `target` through its group conditions (or nest too deep)?"""
    if segment_id == target or depth >= MAX_DEPTH:
        return True
    if segment_id not in segments:
        return False
    groups = [
        gid
        for _, c in segments[segment_id].conditions()
        if isinstance(c, GroupMembership)
        for gid in c.group_ids
        if gid in segments or gid == target
    ]
    return any(_reaches(g, target, segments, depth + 1) for g in groups)
