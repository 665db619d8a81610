"""The jurisdiction packs' decision rules and the account's frequency caps.

Each is a plain function over (state, send), appended to `decisions.DEFAULT_RULES` after the
core rules, in this order: explicit consent (GDPR, PECR, UWG, CASL), double opt-in (UWG), implied
consent expiry (CASL), quiet hours (TCPA), frequency caps (any account). A rule whose pack does
not apply to the recipient finds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .channels import Channel, ConsentStatus, Purpose, parse_channel, parse_purpose
from .errors import DomainError
from .findings import Finding, Reason, allow, defer, deny
from .implied import CASL_IMPLIED_INQUIRY as CASL_IMPLIED_INQUIRY
from .implied import CASL_IMPLIED_PURCHASE as CASL_IMPLIED_PURCHASE
from .implied import IMPLIED_METHODS as IMPLIED_METHODS
from .implied import IMPLIED_MONTHS as IMPLIED_MONTHS
from .implied import SOFT_OPT_IN as SOFT_OPT_IN
from .implied import add_months as add_months
from .implied import expired_ranges as expired_ranges
from .implied import implied_consent_expires as implied_consent_expires
from .instants import LATEST, earlier, later, local, utc
from .jurisdictions import Pack, Window, packs_for, quiet_window, zones
from .state import ProfileState

if TYPE_CHECKING:
    from .decisions import Send

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


def _window_start_after(here: datetime, zone: ZoneInfo, window: Window) -> datetime:
    """The next start of `window` after the local time `here`; LATEST when it is off the calendar."""
    if here.time() < window.start:
        day = here.date()
    elif here.date() < date.max:
        day = here.date() + timedelta(days=1)
    else:
        return LATEST
    return utc(datetime.combine(day, window.start, tzinfo=zone)) or LATEST


def next_allowed(now: datetime, zone_list: tuple[ZoneInfo, ...], window: Window) -> datetime | None:
    """None when `now` is inside `window` in every zone; else the first instant (a whole minute)
    that is. Local times go through zoneinfo, so DST changes move the answer by the hour they should.
    Near either end of the calendar, where a zone's local time does not exist, the answer is
    LATEST: never a send the rule cannot show to be inside the window."""
    if not zone_list:
        return None
    t = now
    for _ in range(16):  # each pass moves t forward to some zone's next window start
        moved = False
        for zone in zone_list:
            here = local(t, zone)
            if here is None:
                return LATEST
            if not window.contains(here.time()):
                t, moved = _window_start_after(here, zone, window), True
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


# The range a cap may take. A brand caps what a person receives: a few messages a day up to a few a
# year. 10,000 sends in a window is already no cap at all, and a window of a year is the longest
# a send history is worth counting over (a longer one defers a send for decades). Beyond these the
# numbers overflow the databases' integers and the calendar.
CAP_LIMIT_MAX = 10_000
CAP_WINDOW_MAX_HOURS = 365 * 24
CAP_RANGE = f"a limit from 1 to {CAP_LIMIT_MAX:,} and a window from 1h to 365d"


def parse_frequency_caps(
    value: str | None, field: str = "frequency_caps", *, clamp: bool = False
) -> tuple[FrequencyCap, ...]:
    """`email:marketing=3/1d, sms=2/12h`: channel (and purpose, default marketing), then at most N
    sends per a window of hours (h) or days (d). Empty: no caps. A limit or window out of range
    is refused; with `clamp` (a value stored before the range was checked) it is brought to the
    nearest end of the range instead."""
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
            raise DomainError(
                field, "is a comma-separated list like email:marketing=3/1d, sms=2/12h", entry[:80]
            ) from None
        if unit not in ("h", "d"):
            raise DomainError(field, "needs a window in hours (h) or days (d)", entry[:80])
        hours = amount * (24 if unit == "d" else 1)
        if clamp:
            limit, hours = min(max(limit, 1), CAP_LIMIT_MAX), min(max(hours, 1), CAP_WINDOW_MAX_HOURS)
        elif not (1 <= limit <= CAP_LIMIT_MAX and 1 <= hours <= CAP_WINDOW_MAX_HOURS):
            raise DomainError(field, f"needs {CAP_RANGE} (hours h or days d)", entry[:80])
        caps.append(FrequencyCap(channel, purpose, limit, timedelta(hours=hours)))
    return tuple(caps)


def frequency_cap_rule(state: ProfileState, send: Send) -> Iterable[Finding]:
    """The account's caps: with `limit` sends already reported in the window, DEFER until the
    oldest of them leaves it. Counted from `send.recent_sends` (the reported sends)."""
    out = []
    for cap in send.policy.frequency_caps:
        if cap.channel is not send.channel or cap.purpose is not send.purpose:
            continue
        since = earlier(send.now, cap.window)
        recent = sorted(t for t in send.recent_sends if since < t <= send.now)
        if len(recent) >= cap.limit:
            out.append(defer(Reason.FREQUENCY_CAP, later(recent[len(recent) - cap.limit], cap.window)))
    return out


PACK_RULES = (explicit_consent_rule, double_optin_rule, implied_consent_rule, quiet_hours_rule, frequency_cap_rule)
