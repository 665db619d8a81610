"""The domain's time arithmetic at the ends of the calendar (a client may name any instant from
0001-01-01 to 9999-12-31): every rule answers, conservatively, and never raises OverflowError —
bad input gets a 4xx naming the field, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from assent.domain import Channel, ConsentStatus, DomainError, Policy, ProfileState, Purpose, Send, Verdict, decide
from assent.domain.instants import EARLIEST, LATEST, earlier, in_utc, later
from assent.domain.jurisdictions import Window, locate
from assent.domain.pack_rules import add_months, next_allowed, parse_frequency_caps
from assent.domain.segment_filters import DateFilter
from assent.domain.state import ChannelConsent

NYC = "+12125550123"  # America/New_York
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
DAY_WINDOW = Window(time(8), time(21))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _sms_subscriber() -> ProfileState:
    consent = ChannelConsent(ConsentStatus.SUBSCRIBED, datetime(2026, 1, 1, tzinfo=UTC), "FORM")
    return ProfileState(consents={(Channel.SMS, Purpose.MARKETING): consent}, phone_number=NYC)


def test_later_and_earlier_saturate_at_the_ends_of_the_calendar():
    assert later(at("9999-12-31T12:00:00+00:00"), timedelta(days=1)) == LATEST
    assert earlier(at("0001-01-01T12:00:00+00:00"), timedelta(days=1)) == EARLIEST
    assert later(at("0001-01-01T12:00:00+00:00"), timedelta(days=-1)) == EARLIEST
    assert earlier(at("9999-12-31T12:00:00+00:00"), timedelta(days=-1)) == LATEST
    assert later(at("2026-01-01T00:00:00+00:00"), timedelta(days=1)) == at("2026-01-02T00:00:00+00:00")


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("9999-12-31T23:59:59+00:00", None),  # 18:59 EST: inside the window
        ("9999-12-31T03:00:00+00:00", "9999-12-31T13:00:00+00:00"),  # 22:00 EST on the 30th: 08:00 on the 31st
    ],
)
def test_quiet_hours_rule_answers_on_the_calendars_last_day(now, until):
    d = decide(_sms_subscriber(), Send(Channel.SMS, at(now), recipient=locate("US", "NY", None, NYC)))
    if until is None:
        assert d.verdict is Verdict.ALLOW, d
    else:
        assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("QUIET_HOURS",), at(until))


@pytest.mark.parametrize(
    "now",
    [
        "9999-12-31T12:30:00+00:00",  # 21:30 in Tokyo: tomorrow's 08:00 is in the year 10000
        "9999-12-31T16:00:00+00:00",  # 01:00 on 10000-01-01 in Tokyo: no such local time
    ],
)
def test_quiet_hours_rule_defers_to_the_end_of_the_calendar_when_the_window_is_past_it(now):
    assert next_allowed(at(now), (TOKYO,), DAY_WINDOW) == LATEST
    assert next_allowed(at(now), (NEW_YORK, TOKYO), DAY_WINDOW) == LATEST


def test_quiet_hours_rule_on_the_calendars_first_day_is_conservative():
    """00:00 UTC on 0001-01-01 is the year 0 in New York: no send is shown inside the window."""
    assert next_allowed(EARLIEST, (NEW_YORK,), DAY_WINDOW) == LATEST
    assert next_allowed(at("0001-01-01T14:00:00+00:00"), (NEW_YORK,), DAY_WINDOW) is None  # 09:04 LMT


def test_frequency_cap_rule_at_the_end_of_the_calendar_defers_to_its_last_instant():
    caps = parse_frequency_caps("email:marketing=1/1d")
    now = at("9999-12-31T23:00:00+00:00")
    send = Send(Channel.EMAIL, now, policy=Policy(frequency_caps=caps), recent_sends=(now - timedelta(hours=1),))
    d = decide(ProfileState(email="p@example.com"), send)
    assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("FREQUENCY_CAP",), LATEST)
    start = EARLIEST + timedelta(hours=2)
    first = Send(Channel.EMAIL, start, policy=Policy(frequency_caps=caps), recent_sends=(start - timedelta(hours=1),))
    assert decide(ProfileState(email="p@example.com"), first).verdict is Verdict.DEFER


def test_a_frequency_cap_window_off_the_calendar_is_refused_naming_the_setting():
    with pytest.raises(DomainError) as e:
        parse_frequency_caps("email=1/999999999999d")
    assert e.value.field == "frequency_caps"


def test_add_months_near_the_ends_of_the_calendar():
    assert add_months(at("9999-11-30T10:00:00+00:00"), 1) == at("9999-12-30T10:00:00+00:00")
    assert add_months(at("9999-06-15T10:00:00+00:00"), 24) == LATEST
    assert add_months(at("0001-03-01T10:00:00+00:00"), -6) == EARLIEST


def test_segment_date_filters_saturate_at_the_ends_of_the_calendar():
    now = at("9990-01-01T00:00:00+00:00")
    assert DateFilter("in-the-next", quantity=100_000, unit="week").bounds(now).high == LATEST
    assert DateFilter("in-the-last", quantity=100_000, unit="week").bounds(at("0100-01-01T00:00:00+00:00")).low == (
        EARLIEST
    )


def test_an_instant_off_the_calendar_in_utc_is_refused_naming_the_field():
    with pytest.raises(DomainError) as e:
        in_utc(at("9999-12-31T23:00:00-05:00"), "at")
    assert e.value.field == "at"
    with pytest.raises(DomainError):
        in_utc(at("0001-01-01T01:00:00+05:00"), "sent_at")
    assert in_utc(at("9999-12-31T18:00:00-05:00"), "at") == at("9999-12-31T23:00:00+00:00")
    assert in_utc(datetime(2026, 1, 1), "at") == datetime(2026, 1, 1, tzinfo=UTC)
