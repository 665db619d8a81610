"""Time arithmetic that stays on the calendar.

An instant a client gives (a decision's or an audience's `at`, a send's time) can be as late as
9999-12-31 or as early as 0001-01-01; adding a window or a day to it, or reading it in a zone east
or west of UTC, leaves Python's calendar (OverflowError). These helpers saturate instead: a time
past the end is LATEST, before the start EARLIEST, and a local time that does not exist is None,
so that every rule can answer (conservatively) for any instant a client may name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from .errors import DomainError

EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
_ZERO = timedelta(0)


def later(moment: datetime, span: timedelta) -> datetime:
    """`moment + span`, LATEST (or EARLIEST, for a negative span) when off the calendar."""
    try:
        return moment + span
    except OverflowError:
        return LATEST if span > _ZERO else EARLIEST


def earlier(moment: datetime, span: timedelta) -> datetime:
    """`moment - span`, EARLIEST (or LATEST, for a negative span) when off the calendar."""
    try:
        return moment - span
    except OverflowError:
        return EARLIEST if span > _ZERO else LATEST


def local(moment: datetime, zone: tzinfo) -> datetime | None:
    """`moment` read in `zone`; None when that local time is off the calendar (within a day of
    its start or end)."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return None


def utc(moment: datetime) -> datetime | None:
    """An aware local time in UTC; None when off the calendar."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def in_utc(moment: datetime, field: str) -> datetime:
    """A client's instant in UTC (one without an offset is read as UTC); DomainError naming
    `field` when it is not on the calendar in UTC (9999-12-31T23:00-05:00 is in the year 10000)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    moved = utc(moment)
    if moved is None:
        raise DomainError(field, "is outside the calendar once in UTC (0001-01-01 to 9999-12-31)", moment.isoformat())
    return moved
