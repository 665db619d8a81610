"""Jurisdiction packs through the CLI, on both backends: `assent settings set ... jurisdictions`,
a consent recorded with its legal basis (`--method`), and `assent decide --at` for a German,
Canadian, UK and US profile."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from assent.domain.pack_rules import add_months
from assent.services.profiles.writes import ProfileInput, create_profile
from assent.services.shared.clock import utcnow

from .test_cli import assent, assent_json, assert_one_line_error, concurrently


def _profile(engine, account_id: str, **values: str) -> None:
    create_profile(engine, account_id, ProfileInput(values=values))


def _decide(db: str, account_id: str, *who: str, channel: str = "email", at: datetime | None = None) -> list[str]:
    return ["decide", "--account", account_id, *who, "--channel", channel, "--json",
            *(("--at", at.isoformat()) if at else ())]  # fmt: skip


def test_german_uk_canadian_and_us_profiles_decided_by_the_cli(db_url, engine, account_id):
    _profile(engine, account_id, email="de@example.de", country="Germany")
    _profile(engine, account_id, email="uk@example.co.uk", country="GB")
    _profile(engine, account_id, email="ca@example.ca", country="CA")
    _profile(engine, account_id, email="us@example.com", country="United States")
    _profile(engine, account_id, phone_number="+13055550142")  # Miami: US, Florida, New York time
    bought = (utcnow() - timedelta(days=700)).replace(microsecond=0)
    sub = ("consent", "subscribe", "--account", account_id)
    for args in (
        (*sub, "--email", "de@example.de", "--channel", "email"),  # single opt-in
        (*sub, "--email", "uk@example.co.uk", "--channel", "email", "--method", "SOFT_OPT_IN"),
        (*sub, "--email", "ca@example.ca", "--channel", "email", "--method", "CASL_IMPLIED_PURCHASE",
         "--consented-at", bought.isoformat(), "--historical"),
        (*sub, "--phone", "+13055550142", "--channel", "sms"),
    ):  # fmt: skip
        assent(*args, db=db_url, check=True)
    lapses = add_months(bought, 24)
    ny = ZoneInfo("America/New_York")
    day = (utcnow() + timedelta(days=2)).astimezone(ny).date()
    evening = datetime.combine(day, time(20, 15), tzinfo=ny)  # inside the federal window, past Florida's
    results = concurrently(
        _decide(db_url, account_id, "--email", "de@example.de"),
        _decide(db_url, account_id, "--email", "uk@example.co.uk"),
        _decide(db_url, account_id, "--email", "ca@example.ca", at=lapses - timedelta(minutes=1)),
        _decide(db_url, account_id, "--email", "ca@example.ca", at=lapses),
        _decide(db_url, account_id, "--email", "us@example.com"),
        _decide(db_url, account_id, "--phone", "+13055550142", channel="sms", at=evening),
        db=db_url,
    )
    de, uk, ca_in, ca_out, us, fl = (json.loads(r.stdout) for r in results)
    assert (de["verdict"], de["reasons"]) == ("DENY", ["DOUBLE_OPTIN_REQUIRED"])
    assert (uk["verdict"], uk["reasons"]) == ("ALLOW", ["SUBSCRIBED", "SOFT_OPT_IN"])
    assert (ca_in["verdict"], ca_in["consent_expired_at"]) == ("ALLOW", None)
    assert (ca_out["verdict"], ca_out["reasons"]) == ("DENY", ["IMPLIED_CONSENT_EXPIRED"])
    assert datetime.fromisoformat(ca_out["consent_expired_at"]) == lapses
    assert (us["verdict"], us["reasons"]) == ("ALLOW", ["NOT_OPTED_OUT"])
    morning = datetime.combine(day + timedelta(days=1), time(8), tzinfo=ny).astimezone(UTC)
    assert (fl["verdict"], fl["reasons"]) == ("DEFER", ["QUIET_HOURS"])
    assert datetime.fromisoformat(fl["defer_until"]) == morning
    # The human line says until when; --exit-code gives DEFER its own code.
    line = assent(*_decide(db_url, account_id, "--phone", "+13055550142", channel="sms", at=evening)[:-3],
                  "--at", evening.isoformat(), "--exit-code", db=db_url)  # fmt: skip
    assert line.returncode == 3 and line.stdout.startswith(f"DEFER  QUIET_HOURS  until {morning.isoformat()}")


def test_jurisdictions_setting_is_set_read_back_and_checked_by_the_cli(db_url, engine, account_id):
    _profile(engine, account_id, email="us@example.com", country="US")
    assent("settings", "set", "--account", account_id, "jurisdictions", "eu, de", db=db_url, check=True)
    assent("settings", "set", "--account", account_id, "frequency_caps", "email=3/1d,sms:marketing=1/12h",
           db=db_url, check=True)  # fmt: skip
    values = assent_json("settings", "list", "--account", account_id, db=db_url)
    assert values["jurisdictions"] == "GDPR,UWG"
    assert values["frequency_caps"] == "email:marketing=3/1d, sms:marketing=1/12h"
    d = assent_json(*_decide(db_url, account_id, "--email", "us@example.com")[:-1], db=db_url)
    assert (d["verdict"], d["reasons"]) == ("DENY", ["EXPLICIT_CONSENT_REQUIRED"])
    bad = assent("settings", "set", "--account", account_id, "jurisdictions", "GDPR,ATLANTIS", db=db_url)
    assert_one_line_error(bad, "jurisdictions")
    bad = assent("settings", "set", "--account", account_id, "frequency_caps", "email=lots", db=db_url)
    assert_one_line_error(bad, "frequency_caps")
    assert assent_json("settings", "list", "--account", account_id, db=db_url)["jurisdictions"] == "GDPR,UWG"


@pytest.mark.parametrize("caps", ["email=99999999999999999999/1d", "email=3000000000/1d", "email=10001/1d",
                                  "email=1/999999d", "email=1/366d", "sms=1/8761h"])  # fmt: skip
def test_a_frequency_cap_out_of_its_range_is_refused_naming_the_setting_and_the_range(db_url, account_id, caps):
    """Past these a count overflowed the databases' integers, or a decision deferred for centuries."""
    bad = assent("settings", "set", "--account", account_id, "frequency_caps", caps, db=db_url)
    assert_one_line_error(bad, "frequency_caps: needs a limit from 1 to 10,000 and a window from 1h to 365d", caps)
    assert assent_json("settings", "list", "--account", account_id, db=db_url)["frequency_caps"] == ""
    assent("settings", "set", "--account", account_id, "frequency_caps", "email=10000/365d, sms=1/8760h",
           db=db_url, check=True)  # fmt: skip


def test_a_method_is_read_whatever_its_case_and_an_unknown_one_is_refused_naming_it(db_url, engine, account_id):
    _profile(engine, account_id, email="ca@example.ca", country="CA")
    bought = (utcnow() - timedelta(days=800)).replace(microsecond=0)  # lapsed 24 months after
    sub = ("consent", "subscribe", "--account", account_id, "--email", "ca@example.ca", "--channel", "email")
    for typo in ("CASL_IMPLIED_PURCHASES", "SOFT_OPTIN", "WHATEVER <script>"):
        assert_one_line_error(assent(*sub, "--method", typo, db=db_url), "method: is not a consent method")
        imported = assent("profiles", "import", "--account", account_id, "--method", typo, "rows.csv", db=db_url)
        assert_one_line_error(imported, "method: is not a consent method")
    # Lower case is the implied basis it names: it lapses, rather than reading as explicit consent.
    assent(*sub, "--method", "casl_implied_purchase", "--consented-at", bought.isoformat(), "--historical",
           db=db_url, check=True)  # fmt: skip
    d = assent_json(*_decide(db_url, account_id, "--email", "ca@example.ca")[:-1], db=db_url)
    assert (d["verdict"], d["reasons"]) == ("DENY", ["IMPLIED_CONSENT_EXPIRED"])
