"""Jurisdiction packs and frequency caps (domain): each rule of `pack_rules` by name, and a German,
Canadian, UK and US profile getting the answer their law requires, around DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assent.domain import Channel, ConsentStatus, DomainError, Policy, ProfileState, Purpose, Send, Verdict, decide
from assent.domain.jurisdictions import Pack, Recipient, locate, packs_for, parse_jurisdictions
from assent.domain.pack_rules import (
    CASL_IMPLIED_INQUIRY,
    CASL_IMPLIED_PURCHASE,
    SOFT_OPT_IN,
    add_months,
    expired_ranges,
    parse_frequency_caps,
)
from assent.domain.state import ChannelConsent

T0 = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
EMAIL_MKT = (Channel.EMAIL, Purpose.MARKETING)
SMS_MKT = (Channel.SMS, Purpose.MARKETING)


def profile(email_consent: ChannelConsent | None = None, sms: bool = False, phone: str | None = None) -> ProfileState:
    consents = {}
    if email_consent is not None:
        consents[EMAIL_MKT] = email_consent
    if sms:
        consents[SMS_MKT] = ChannelConsent(ConsentStatus.SUBSCRIBED, T0 - timedelta(days=30), "FORM")
    return ProfileState(consents=consents, email="p@example.com", phone_number=phone)


def subscribed(method: str = "FORM", at: datetime = T0 - timedelta(days=30), doi: bool = False) -> ChannelConsent:
    return ChannelConsent(ConsentStatus.SUBSCRIBED, at, method, double_optin=doi)


def email(state: ProfileState, where: Recipient, now: datetime = T0, **policy) -> object:
    return decide(state, Send(Channel.EMAIL, now, recipient=where, policy=Policy(**policy)))


def sms(state: ProfileState, where: Recipient, now: datetime, **kw) -> object:
    return decide(state, Send(Channel.SMS, now, recipient=where, **kw))


DE, UK, FR, CA, US = (Recipient(c) for c in ("DE", "GB", "FR", "CA", "US"))


# --- choosing packs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "phone", "packs"),
    [
        ("Germany", None, {Pack.GDPR, Pack.UWG}),
        ("DEU", None, {Pack.GDPR, Pack.UWG}),
        ("fr", None, {Pack.GDPR}),
        ("United Kingdom", None, {Pack.PECR}),
        ("Canada", None, {Pack.CASL}),
        ("USA", None, {Pack.TCPA}),
        ("Japan", None, set()),
        (None, "+4915112345678", {Pack.GDPR, Pack.UWG}),  # no country: the phone number's region
        (None, "+16135550123", {Pack.CASL}),
        (None, None, set()),
    ],
)
def test_packs_for_derives_packs_from_the_profiles_country_else_its_phone(country, phone, packs):
    assert packs_for(locate(country, None, None, phone), None) == packs


def test_packs_for_an_explicit_account_setting_overrides_the_country():
    assert packs_for(Recipient("US"), parse_jurisdictions("GDPR, uwg")) == {Pack.GDPR, Pack.UWG}
    assert packs_for(Recipient("DE"), parse_jurisdictions("none")) == set()
    assert parse_jurisdictions("auto") is None and parse_jurisdictions("") is None
    assert parse_jurisdictions("EU,UK,DE") == (Pack.GDPR, Pack.PECR, Pack.UWG)
    with pytest.raises(DomainError) as e:
        parse_jurisdictions("GDPR,MARS")
    assert e.value.field == "jurisdictions"


def test_locate_finds_a_us_state_from_the_region_else_the_area_code():
    assert locate("US", "Florida", None, None).region == "FL"
    assert locate("US", "ok", None, None).region == "OK"
    assert locate(None, None, None, "+13055551234").region == "FL"  # 305: Florida
    assert locate(None, None, None, "+14155552671").region == "CA"  # "San Francisco, CA"
    assert locate("US", None, "Not/AZone", None).timezone is None
    assert locate("US", None, "America/Chicago", None).timezone == "America/Chicago"


def test_no_pack_keeps_klaviyos_defaults():
    d = email(profile(), Recipient("JP"))
    assert (d.verdict, d.reasons, d.warnings) == (Verdict.ALLOW, ("NOT_OPTED_OUT",), ("IMPLIED_CONSENT",))


# --- explicit_consent_rule (GDPR / ePrivacy, PECR, UWG, CASL) ---------------------------------


@pytest.mark.parametrize("where", [DE, UK, FR, CA])
def test_explicit_consent_rule_denies_never_subscribed_email_marketing(where):
    d = email(profile(), where)
    assert (d.verdict, d.reasons) == (Verdict.DENY, ("EXPLICIT_CONSENT_REQUIRED",))


def test_explicit_consent_rule_leaves_transactional_email_and_us_profiles_alone():
    state = profile()
    assert decide(state, Send(Channel.EMAIL, T0, Purpose.TRANSACTIONAL, recipient=DE)).verdict is Verdict.ALLOW
    assert email(state, US).reasons == ("NOT_OPTED_OUT",)


def test_explicit_consent_rule_allows_subscribed_email_marketing_in_the_uk():
    d = email(profile(subscribed()), UK)
    assert (d.verdict, d.reasons) == (Verdict.ALLOW, ("SUBSCRIBED",))


def test_soft_opt_in_allows_a_customers_email_under_pecr_gdpr_and_uwg():
    state = profile(subscribed(SOFT_OPT_IN))
    for where in (UK, FR, DE):
        d = email(state, where)
        assert (d.verdict, d.reasons) == (Verdict.ALLOW, ("SUBSCRIBED", "SOFT_OPT_IN")), where


def test_unsubscribe_is_honoured_at_once_in_every_pack():
    state = profile(ChannelConsent(ConsentStatus.UNSUBSCRIBED, None, "API"))
    for where in (DE, UK, CA, US):
        assert email(state, where).reasons[0] == "UNSUBSCRIBED"


# --- double_optin_rule (UWG) ------------------------------------------------------------------


def test_double_optin_rule_denies_single_opt_in_email_marketing_in_germany():
    d = email(profile(subscribed(doi=False)), DE)
    assert (d.verdict, d.reasons) == (Verdict.DENY, ("DOUBLE_OPTIN_REQUIRED",))
    assert email(profile(subscribed(doi=True)), DE).reasons == ("SUBSCRIBED",)
    # Elsewhere in the EU single opt-in is consent.
    assert email(profile(subscribed(doi=False)), FR).verdict is Verdict.ALLOW


def test_double_optin_rule_follows_an_account_that_applies_uwg_to_everyone():
    d = email(profile(subscribed(doi=False)), US, jurisdictions=(Pack.GDPR, Pack.UWG))
    assert d.reasons == ("DOUBLE_OPTIN_REQUIRED",)


# --- implied_consent_rule (CASL) --------------------------------------------------------------


def test_implied_consent_rule_purchase_lasts_two_years():
    bought = datetime(2024, 6, 10, 15, 0, tzinfo=UTC)
    state = profile(subscribed(CASL_IMPLIED_PURCHASE, bought))
    just_before = email(state, CA, datetime(2026, 6, 10, 14, 59, tzinfo=UTC))
    assert just_before.verdict is Verdict.ALLOW
    d = email(state, CA, datetime(2026, 6, 10, 15, 0, tzinfo=UTC))
    assert (d.verdict, d.reasons) == (Verdict.DENY, ("IMPLIED_CONSENT_EXPIRED",))
    assert d.consent_expired_at == datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


def test_implied_consent_rule_inquiry_lasts_six_months():
    asked = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)
    state = profile(subscribed(CASL_IMPLIED_INQUIRY, asked))
    assert email(state, CA, datetime(2026, 6, 29, tzinfo=UTC)).verdict is Verdict.ALLOW
    d = email(state, CA, datetime(2026, 7, 1, tzinfo=UTC))
    assert d.reasons == ("IMPLIED_CONSENT_EXPIRED",)
    assert d.consent_expired_at == datetime(2026, 6, 30, 12, 0, tzinfo=UTC)  # 31 Dec + 6 months: 30 Jun


def test_implied_consent_rule_express_consent_never_expires():
    state = profile(subscribed("FORM", datetime(2001, 1, 1, tzinfo=UTC)))
    assert email(state, CA).reasons == ("SUBSCRIBED",)


def test_implied_consent_rule_applies_only_under_casl():
    state = profile(subscribed(CASL_IMPLIED_INQUIRY, datetime(2020, 1, 1, tzinfo=UTC)))
    assert email(state, US).verdict is Verdict.ALLOW


def test_add_months_clamps_to_the_months_last_day():
    assert add_months(datetime(2024, 2, 29, tzinfo=UTC), 24) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 8, 31, tzinfo=UTC), 6) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 7, 15, tzinfo=UTC), 6) == datetime(2026, 1, 15, tzinfo=UTC)


# --- quiet_hours_rule (TCPA and state windows) ------------------------------------------------

NYC = "+12125550123"  # America/New_York
MIAMI = "+13055551234"  # Florida, America/New_York


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-06-10T12:00:00+00:00", None),  # 08:00 EDT: inside
        ("2026-06-10T11:59:30+00:00", "2026-06-10T12:00:00+00:00"),  # 07:59:30 EDT: the next minute is 08:00
        ("2026-06-11T00:59:00+00:00", None),  # 20:59 EDT
        ("2026-06-11T01:00:00+00:00", "2026-06-11T12:00:00+00:00"),  # 21:00 EDT: tomorrow 08:00
        # US spring forward (8 Mar 2026, 02:00 EST -> 03:00 EDT): 08:00 that day is 12:00 UTC, not 13:00.
        ("2026-03-08T06:30:00+00:00", "2026-03-08T12:00:00+00:00"),
        ("2026-03-07T13:30:00+00:00", None),  # 08:30 EST the day before
        # US fall back (1 Nov 2026, 02:00 EDT -> 01:00 EST): 08:00 that day is 13:00 UTC.
        ("2026-11-01T05:30:00+00:00", "2026-11-01T13:00:00+00:00"),
        ("2026-10-31T01:30:00+00:00", "2026-10-31T12:00:00+00:00"),  # 21:30 EDT on the 30th
    ],
)
def test_quiet_hours_rule_defers_us_marketing_sms_to_8am_local(now, until):
    state = profile(sms=True, phone=NYC)
    d = sms(state, locate("US", "NY", None, NYC), at(now))
    if until is None:
        assert d.verdict is Verdict.ALLOW, d
    else:
        assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("QUIET_HOURS",), at(until))


def test_quiet_hours_rule_florida_ends_at_8pm():
    state = profile(sms=True, phone=MIAMI)
    where = locate(None, None, None, MIAMI)
    d = sms(state, where, at("2026-06-11T00:30:00+00:00"))  # 20:30 EDT
    assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("QUIET_HOURS",), at("2026-06-11T12:00:00+00:00"))
    # New York's 9 p.m. window lets the same minute through.
    assert sms(profile(sms=True, phone=NYC), locate("US", "NY", None, NYC), at("2026-06-11T00:30:00+00:00")).allowed


def test_quiet_hours_rule_uses_the_profiles_timezone_before_the_phones():
    state = profile(sms=True, phone=NYC)
    where = locate("US", "CA", "America/Los_Angeles", NYC)
    d = sms(state, where, at("2026-06-10T13:00:00+00:00"))  # 09:00 in New York, 06:00 in Los Angeles
    assert d.defer_until == at("2026-06-10T15:00:00+00:00")


def test_quiet_hours_rule_needs_every_zone_of_a_number_to_be_inside():
    state = profile(sms=True, phone="+18005550101")  # toll free: zones from Hawaii to Atlantic
    d = sms(state, locate("US", None, None, "+18005550101"), at("2026-06-10T12:00:00+00:00"))  # 08:00 EDT
    assert d.verdict is Verdict.DEFER
    assert d.defer_until > at("2026-06-10T12:00:00+00:00")
    assert sms(state, locate("US", None, None, "+18005550101"), d.defer_until).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # EU spring forward (29 Mar 2026, 01:00 UTC): 08:00 CEST is 06:00 UTC.
        ("2026-03-29T01:30:00+00:00", "2026-03-29T06:00:00+00:00"),
        ("2026-03-28T06:30:00+00:00", "2026-03-28T07:00:00+00:00"),  # 07:30 CET the day before
        # EU fall back (25 Oct 2026, 01:00 UTC): 08:00 CET is 07:00 UTC.
        ("2026-10-25T00:30:00+00:00", "2026-10-25T07:00:00+00:00"),
        ("2026-10-24T19:00:00+00:00", "2026-10-25T07:00:00+00:00"),  # 21:00 CEST: next morning, in CET
    ],
)
def test_quiet_hours_rule_follows_eu_dst_for_an_account_applying_tcpa_to_everyone(now, until):
    state = profile(sms=True, phone="+4915112345678")
    where = locate("Germany", None, None, state.phone_number)
    d = sms(state, where, at(now), policy=Policy(jurisdictions=(Pack.TCPA,)))
    assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("QUIET_HOURS",), at(until))


def test_quiet_hours_rule_leaves_transactional_sms_and_non_us_profiles_alone():
    state = ProfileState(
        consents={SMS_MKT: subscribed(), (Channel.SMS, Purpose.TRANSACTIONAL): subscribed()}, phone_number=NYC
    )
    night = at("2026-06-10T06:00:00+00:00")  # 02:00 in New York
    us = locate("US", None, None, NYC)
    assert decide(state, Send(Channel.SMS, night, Purpose.TRANSACTIONAL, recipient=us)).allowed
    assert sms(state, Recipient("JP"), night).allowed


def test_quiet_hours_rule_a_deny_outranks_the_deferral():
    state = ProfileState(phone_number=NYC)  # no SMS consent
    d = sms(state, locate("US", None, None, NYC), at("2026-06-10T06:00:00+00:00"))
    assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DENY, ("NEVER_SUBSCRIBED",), None)


# --- frequency_cap_rule -----------------------------------------------------------------------


def test_frequency_cap_rule_defers_until_the_oldest_counted_send_leaves_the_window():
    caps = parse_frequency_caps("email:marketing=2/1d")
    sends = (T0 - timedelta(hours=20), T0 - timedelta(hours=3), T0 - timedelta(days=3))
    state = profile(subscribed())
    d = decide(state, Send(Channel.EMAIL, T0, policy=Policy(frequency_caps=caps), recent_sends=sends))
    assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("FREQUENCY_CAP",), T0 + timedelta(hours=4))
    one = decide(state, Send(Channel.EMAIL, T0, policy=Policy(frequency_caps=caps), recent_sends=sends[1:]))
    assert one.verdict is Verdict.ALLOW
    # Another purpose or channel is not counted against this cap.
    txn = Send(Channel.EMAIL, T0, Purpose.TRANSACTIONAL, policy=Policy(frequency_caps=caps), recent_sends=sends)
    assert decide(state, txn).verdict is Verdict.ALLOW


def test_frequency_cap_rule_the_longest_wait_of_several_caps_wins():
    caps = parse_frequency_caps("sms=1/12h, sms:marketing=3/7d")
    sends = (T0 - timedelta(days=6), T0 - timedelta(days=2), T0 - timedelta(hours=1))
    d = sms(profile(sms=True, phone="+819012345678"), Recipient("JP"), T0,
            policy=Policy(frequency_caps=caps), recent_sends=sends)  # fmt: skip
    assert (d.verdict, d.reasons, d.defer_until) == (Verdict.DEFER, ("FREQUENCY_CAP",), T0 + timedelta(days=1))


@pytest.mark.parametrize("bad", ["email=0/1d", "email=3/1w", "fax=1/1d", "email:transactional=1/1d", "email=3"])
def test_frequency_caps_refuse_what_they_cannot_read(bad):
    with pytest.raises(DomainError) as e:
        parse_frequency_caps(bad)
    assert e.value.field == "frequency_caps"


@pytest.mark.parametrize("bad", ["email=10001/1d", "email=99999999999999999999/1d", "email=1/366d", "email=1/8761h",
                                 "email=1/999999d", "email=1/-1d", "email=" + "9" * 5000 + "/1d"])  # fmt: skip
def test_frequency_caps_out_of_range_are_refused_naming_the_range(bad):
    with pytest.raises(DomainError) as e:
        parse_frequency_caps(bad)
    assert e.value.field == "frequency_caps"
    assert len(str(e.value)) < 300


def test_frequency_caps_at_the_ends_of_the_range_are_read():
    caps = parse_frequency_caps("email=10000/365d, sms=1/1h, push=1/8760h")
    assert [c.label() for c in caps] == ["email:marketing=10000/365d", "sms:marketing=1/1h", "push:marketing=1/365d"]


def test_frequency_caps_stored_out_of_range_are_read_at_the_nearest_end_of_it():
    caps = parse_frequency_caps("email=99999999999999999999/1d, sms=3/999999999d", clamp=True)
    assert [c.label() for c in caps] == ["email:marketing=10000/1d", "sms:marketing=3/365d"]


def test_frequency_caps_read_back_as_written():
    caps = parse_frequency_caps("email:marketing=3/1d, sms=2/12h")
    assert [c.label() for c in caps] == ["email:marketing=3/1d", "sms:marketing=2/12h"]


# --- one profile per jurisdiction ------------------------------------------------------------


def test_german_uk_canadian_and_us_profiles_get_what_their_law_requires():
    never = profile(phone=None)
    single = profile(subscribed(doi=False))
    assert email(never, DE).reasons == ("EXPLICIT_CONSENT_REQUIRED",)
    assert email(single, DE).reasons == ("DOUBLE_OPTIN_REQUIRED",)
    assert email(never, UK).reasons == ("EXPLICIT_CONSENT_REQUIRED",)
    assert email(profile(subscribed(SOFT_OPT_IN)), UK).reasons == ("SUBSCRIBED", "SOFT_OPT_IN")
    assert email(never, CA).reasons == ("EXPLICIT_CONSENT_REQUIRED",)
    assert email(profile(subscribed(CASL_IMPLIED_PURCHASE, datetime(2023, 1, 1, tzinfo=UTC))), CA).reasons == (
        "IMPLIED_CONSENT_EXPIRED",
    )
    assert email(never, US).reasons == ("NOT_OPTED_OUT",)  # CAN-SPAM: opt-out regime


# --- recording an implied basis (transitions) -------------------------------------------------


def test_implied_consent_rule_a_later_purchase_or_an_express_opt_in_replaces_the_implied_basis():
    from assent.domain import replay
    from assent.domain import transitions as t

    state = ProfileState(email="p@example.com")
    first = datetime(2023, 1, 5, tzinfo=UTC)
    evs = t.subscribe(state, [EMAIL_MKT], now=T0, method=CASL_IMPLIED_PURCHASE, consented_at=first,
                      historical_import=True)  # fmt: skip
    state = replay(evs, state)
    assert email(state, CA).reasons == ("IMPLIED_CONSENT_EXPIRED",)
    # The same purchase again changes nothing; a later one restarts the two years.
    assert t.subscribe(state, [EMAIL_MKT], now=T0, method=CASL_IMPLIED_PURCHASE, consented_at=first,
                       historical_import=True) == []  # fmt: skip
    later = t.subscribe(state, [EMAIL_MKT], now=T0, method=CASL_IMPLIED_PURCHASE,
                        consented_at=T0 - timedelta(days=3), historical_import=True)  # fmt: skip
    renewed = replay(later, state)
    assert email(renewed, CA).reasons == ("SUBSCRIBED",)
    # Express consent (a form) replaces the implied basis for good.
    express = replay(t.subscribe(state, [EMAIL_MKT], now=T0, method="FORM"), state)
    assert express.consent(Channel.EMAIL).method == "FORM"
    assert email(express, CA, T0 + timedelta(days=3650)).reasons == ("SUBSCRIBED",)
    # An express consent is not replaced by a later implied one.
    assert t.subscribe(express, [EMAIL_MKT], now=T0, method=CASL_IMPLIED_INQUIRY) == []


@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)),
    months=st.sampled_from([6, 24]),
    shift=st.sampled_from([timedelta(0), timedelta(microseconds=1), -timedelta(microseconds=1), timedelta(hours=5),
                           -timedelta(hours=5), timedelta(days=2), -timedelta(days=2), timedelta(days=31)]),
    same_time=st.booleans(),
)  # fmt: skip
def test_implied_consent_expiry_ranges_equal_the_month_arithmetic(now, months, shift, same_time):
    """The SQL form of CASL's expiry (timestamp ranges) holds the timestamps add_months says lapsed."""
    ts = add_months(now, -months) + shift
    if same_time:  # the day clamps while the time of day decides
        ts = ts.replace(day=min(ts.day, 28)) if shift else ts
    before, ranges = expired_ranges(now, months)
    assert (ts < before or any(lo <= ts <= hi for lo, hi in ranges)) == (now >= add_months(ts, months))


def test_place_memo_equals_place_of_for_numbers_differing_in_their_last_digits():
    """PlaceMemo keys a long phone number on all but its last PHONE_TAIL digits: over numbers of
    every region phonenumbers knows (its example numbers, mobile and fixed line, with random digits
    after a random prefix, short ones included), a number's place is the memo's answer for it,
    also when the memo first met its sibling with other last digits."""
    import random

    import phonenumbers

    from assent.domain.jurisdictions import PHONE_TAIL, PlaceMemo, place_of

    rng = random.Random(20261128)
    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    seeds = [n for r in sorted(phonenumbers.SUPPORTED_REGIONS) for k in kinds
             if (n := phonenumbers.example_number_for_type(r, k)) is not None]  # fmt: skip
    places = [(None, None, None), ("US", None, None), ("US", "FL", None), (None, None, "Europe/Berlin"),
              ("Canada", None, None)]  # fmt: skip
    checked = 0
    for _ in range(60):
        for seed in seeds:
            national = str(seed.national_number)
            keep = rng.randint(1, max(1, len(national) - PHONE_TAIL))  # vary the digits after a random prefix
            digits = national[:keep] + "".join(rng.choice("0123456789") for _ in national[keep:])
            phone = f"+{seed.country_code}{digits}"
            tail = "".join(rng.choice("0123456789") for _ in range(PHONE_TAIL))
            sibling = phone[:-PHONE_TAIL] + tail
            country, region, tz = rng.choice(places)
            memo = PlaceMemo()
            assert memo(country, region, tz, phone) == place_of(country, region, tz, phone)
            assert memo(country, region, tz, sibling) == place_of(country, region, tz, sibling), (phone, sibling)
            if len(phone) >= 12:
                assert memo(country, region, tz, phone) is memo(country, region, tz, sibling)  # one look-up
            checked += 1
    assert checked > 25_000
