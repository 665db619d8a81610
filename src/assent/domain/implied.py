"""Consent on an implied basis: the methods that record one, and when such a consent lapses.

Apart from `pack_rules` (which re-exports these) so that the transitions and consent summaries,
which every profile write runs, do not load the jurisdiction packs with it."""

from __future__ import annotations

from calendar import monthrange
from datetime import MAXYEAR, MINYEAR, UTC, datetime, timedelta

from .instants import EARLIEST, LATEST
from .state import ChannelConsent

# Consent methods that record a basis rather than an express opt-in (see docs/jurisdictions.md).
SOFT_OPT_IN = "SOFT_OPT_IN"  # PECR reg. 22(3) / ePrivacy art. 13(2) / UWG §7(3): collected in a sale
CASL_IMPLIED_PURCHASE = "CASL_IMPLIED_PURCHASE"  # CASL s.10(10)(a): a purchase, 2 years
CASL_IMPLIED_INQUIRY = "CASL_IMPLIED_INQUIRY"  # CASL s.10(10)(b): an inquiry or application, 6 months
# Months implied consent lasts after the consent timestamp (the purchase or inquiry), by method.
IMPLIED_MONTHS = {CASL_IMPLIED_PURCHASE: 24, SOFT_OPT_IN: 24, CASL_IMPLIED_INQUIRY: 6}
IMPLIED_METHODS = frozenset(IMPLIED_MONTHS)


def implied_consent_expires(consent: ChannelConsent) -> datetime | None:
    """When a consent recorded on an implied basis lapses under CASL; None for express consent."""
    months = IMPLIED_MONTHS.get(consent.method or "")
    if months is None or consent.consent_timestamp is None:
        return None
    return add_months(consent.consent_timestamp, months)


def add_months(when: datetime, months: int) -> datetime:
    """`when` plus calendar months, the day clamped to the month's last (29 Feb + 24 months: 28 Feb);
    LATEST or EARLIEST when that month is off the calendar."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    if year > MAXYEAR:
        return LATEST
    if year < MINYEAR:
        return EARLIEST
    return when.replace(year=year, month=month, day=min(when.day, monthrange(year, month)[1]))


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
