"""The jurisdiction packs' decision rules and the account's frequency caps.

Each is a plain function over (state, send), appended to `decisions.DEFAULT_RULES` after the
core rules, in this order: explicit consent (GDPR, PECR, UWG, CASL), double opt-in (UWG), implied
consent expiry (CASL), quiet hours (TCPA), frequency caps (any account). A rule whose pack does
not apply to the recipient finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .channels import Channel, ConsentStatus, Purpose, parse_channel, parse_purpose
from .errors import DomainError
from .findings import Finding, Reason, allow, defer, deny
from .jurisdictions import Pack, Window, packs_for, quiet_window, zones
from .state import ChannelConsent, ProfileState

if TYPE_CHECKING:
    from .decisions import Send

# Consent methods that record a basis rather than an express opt-in (see docs/jurisdictions.md).
SOFT_OPT_IN = "SOFT_OPT_IN"  # PECR reg. 22(3) / ePrivacy art. 13(2) / UWG §7(3): collected in a sale
CASL_IMPLIED_PURCHASE = "CASL_IMPLIED_PURCHASE"  # CASL s.10(10)(a): a purchase, 2 years
CASL_IMPLIED_INQUIRY = "CASL_IMPLIED_INQUIRY"  # CASL s.10(10)(b): an inquiry or application, 6 months
# Months implied consent lasts after the consent timestamp (the purchase or inquiry), by method.
IMPLIED_MONTHS = {CASL_IMPLIED_PURCHASE: 24, SOFT_OPT_IN: 24, CASL_IMPLIED_INQUIRY: 6}
IMPLIED_METHODS = frozenset(IMPLIED_MONTHS)

EXPLICIT_PACKS = frozenset({Pack.GDPR, Pack.PECR, Pack.UWG, Pack.CASL})
_SOFT_OPT_IN_PACKS = frozenset({Pack.GDPR, Pack.PECR, Pack.UWG})


def _packs(send: Send) -> frozenset[Pack]:
    return packs_for(send.recipient, send.policy.jurisdictions)


def _email_marketing(send: Send) -> bool:
    return send.channel is Channel.EMAIL and send.purpose is Purpose.MARKETING


def explicit_consent_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """GDPR/ePrivacy, PECR, UWG and CASL: email marketing needs consent (no Klaviyo-style
    'never subscribed' sending). A consent recorded as SOFT_OPT_IN is allowed under GDPR, PECR
    and UWG as the existing-customer exception."""
    if not _email_marketing(send):
        return ()
    packs = _packs(send)
    if not packs & EXPLICIT_PACKS:
        return ()
    consent = state.consent(Channel.EMAIL)
    if consent.status is ConsentStatus.NEVER_SUBSCRIBED:
        return (deny(Reason.EXPLICIT_CONSENT_REQUIRED),)
    if consent.status is ConsentStatus.SUBSCRIBED and consent.method == SOFT_OPT_IN and packs & _SOFT_OPT_IN_PACKS:
        return (allow(Reason.SOFT_OPT_IN),)
    return ()


def double_optin_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """UWG (Germany): email marketing needs consent confirmed by double opt-in (BGH I ZR 164/09);
    the existing-customer exception (SOFT_OPT_IN, UWG §7(3)) needs none."""
    if not _email_marketing(send) or Pack.UWG not in _packs(send):
        return ()
    consent = state.consent(Channel.EMAIL)
    if consent.status is ConsentStatus.SUBSCRIBED and consent.method != SOFT_OPT_IN and not consent.double_optin:
        return (deny(Reason.DOUBLE_OPTIN_REQUIRED),)
    return ()


def implied_consent_expires(consent: ChannelConsent) -> datetime | None:
    """When a consent recorded on an implied basis lapses under CASL; None for express consent."""
    months = IMPLIED_MONTHS.get(consent.method or "")
    if months is None or consent.consent_timestamp is None:
        return None
    return add_months(consent.consent_timestamp, months)


def implied_consent_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """CASL s.10(10): implied consent lasts 2 years after a purchase, 6 months after an inquiry;
    express consent never expires. (An unsubscribe is UNSUBSCRIBED at once: the core rules.)"""
    if send.purpose is not Purpose.MARKETING or Pack.CASL not in _packs(send):
        return ()
    consent = state.consent(send.channel)
    if consent.status is not ConsentStatus.SUBSCRIBED:
        return ()
    expires = implied_consent_expires(consent)
    if expires is not None and send.now >= expires:
        return (deny(Reason.IMPLIED_CONSENT_EXPIRED, expired_at=expires),)
    return ()


def quiet_hours_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """TCPA 47 CFR 64.1200(c)(1) and state laws: marketing texts only inside the window in the
    recipient's local time (every zone its number may be in, when the profile names none)."""
    if send.channel is not Channel.SMS or send.purpose is not Purpose.MARKETING:
        return ()
    if Pack.TCPA not in _packs(send):
        return ()
    until = next_allowed(send.now, zones(send.recipient, state.phone_number), quiet_window(send.recipient))
    return () if until is None else (defer(Reason.QUIET_HOURS, until),)


def _window_start_after(local: datetime, zone: ZoneInfo, window: Window) -> datetime:
    day = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    return datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)


def next_allowed(now: datetime, zone_list: tuple[ZoneInfo, ...], window: Window) -> datetime | None:
    """None when `now` is inside `window` in every zone; else the first instant (a whole minute)
    that is. Local times go through zoneinfo, so DST changes move the answer by the hour they should."""
    if not zone_list:
        return None
    t = now
    for _ in range(16):  # each pass moves t forward to some zone's next window start
        moved = False
        for zone in zone_list:
            local = t.astimezone(zone)
            if not window.contains(local.time()):
                t, moved = _window_start_after(local, zone, window), True
        if not moved:
            return None if t == now else t
    return t  # zones whose windows never overlap: the latest start found (conservative)


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most `limit` sends on a channel and purpose in any `window` (an account policy)."""

    channel: Channel
    purpose: Purpose
    limit: int
    window: timedelta

    def label(self) -> str:
        hours = int(self.window.total_seconds() // 3600)
        span = f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
        return f"{self.channel.value}:{self.purpose.value}={self.limit}/{span}"


def parse_frequency_caps(value: str | None, field: str = "frequency_caps") -> tuple[FrequencyCap, ...]:
    """`email:marketing=3/1d, sms=2/12h`: channel (and purpose, default marketing), then at most N
    sends per a window of hours (h) or days (d). Empty: no caps."""
    caps: list[FrequencyCap] = []
    for entry in (e.strip() for e in (value or "").split(",")):
        if not entry:
            continue
        try:
            target, _, rate = entry.partition("=")
            channel_name, _, purpose_name = target.strip().partition(":")
            limit_text, _, span = rate.strip().partition("/")
            channel = parse_channel(channel_name, field)
            purpose = parse_purpose(channel, purpose_name.strip() or None, field)
            limit, amount, unit = int(limit_text), int(span[:-1]), span[-1:].lower()
        except (ValueError, DomainError):
            raise DomainError(field, "is a comma-separated list like email:marketing=3/1d, sms=2/12h", entry) from None
        if limit < 1 or amount < 1 or unit not in ("h", "d"):
            raise DomainError(field, "needs a limit and a window of at least 1 (hours h or days d)", entry)
        caps.append(FrequencyCap(channel, purpose, limit, timedelta(hours=amount * (24 if unit == "d" else 1))))
    return tuple(caps)


def frequency_cap_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """The account's caps: with `limit` sends already reported in the window, DEFER until the
    oldest of them leaves it. Counted from `send.recent_sends` (the reported sends)."""
    out = []
    for cap in send.policy.frequency_caps:
        if cap.channel is not send.channel or cap.purpose is not send.purpose:
            continue
        since = send.now - cap.window
        recent = sorted(t for t in send.recent_sends if since < t <= send.now)
        if len(recent) >= cap.limit:
            out.append(defer(Reason.FREQUENCY_CAP, recent[len(recent) - cap.limit] + cap.window))
    return out


def add_months(when: datetime, months: int) -> datetime:
    """`when` plus calendar months, the day clamped to the month's last (29 Feb + 24 months: 28 Feb)."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return when.replace(year=year, month=month, day=min(when.day, last))


def expired_ranges(now: datetime, months: int) -> tuple[datetime, tuple[tuple[datetime, datetime], ...]]:
    """The consent timestamps `ts` with `add_months(ts, months) <= now`, as ranges a database can
    compare: every `ts` before the first value, and every `ts` in one of the closed ranges.
    (add_months clamps the day to the month's last, so the set is not one range: with `now` on
    28 Feb at noon, 29 Aug 11:00 has expired and 28 Aug 13:00 has not.)"""
    now = now.astimezone(UTC)
    # The month whose days map into now's month.
    first = add_months(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0), -months)
    days = (add_months(first, 1) - first).days
    last = (add_months(now.replace(day=1), 1) - now.replace(day=1)).days
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Days before now's day map to an earlier day of now's month: wholly expired. Days that map
    # onto now's day expired up to now's time of day; later days have not.
    before = first + timedelta(days=min(now.day - 1, days))
    same_day = tuple(
        (first + timedelta(days=d - 1), first + timedelta(days=d - 1) + since_midnight)
        for d in range(1, days + 1)
        if min(d, last) == now.day
    )
    return before, same_day


PACK_RULES = (explicit_consent_rule, double_optin_rule, implied_consent_rule, quiet_hours_rule, frequency_cap_rule)
