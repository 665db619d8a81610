"""Jurisdiction packs through `POST /api/decisions`, on both backends: a German, Canadian, UK and
US profile (their country from `location`, else their phone) get what their law requires, with
DEFER times around DST changes; the account setting overrides the country."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from assent.domain import Channel, Purpose
from assent.domain.pack_rules import add_months
from assent.services.accounts import settings
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.shared.clock import utcnow

EMAIL_MKT = [(Channel.EMAIL, Purpose.MARKETING)]


def create(api, **attributes: Any) -> str:
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": attributes}})
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


def decide(api, channel: str = "email", at: str | None = None, **profile: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"profile": profile, "channel": channel}
    if at is not None:
        attributes["at"] = at
    r = api.post("/api/decisions", json={"data": {"type": "decision", "attributes": attributes}})
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]


def verdict(a: dict[str, Any]) -> tuple[str, list[str], str | None]:
    return a["verdict"], a["reasons"], a["defer_until"]


def test_explicit_consent_rule_and_double_optin_rule_for_a_german_profile(api, server) -> None:
    create(api, email="never@example.de", location={"country": "Germany"})
    create(api, email="single@example.de", location={"country": "DE"})
    consent.subscribe(server.engine, api.account_id, Locator("email", "single@example.de"), EMAIL_MKT)
    assert verdict(decide(api, email="never@example.de")) == ("DENY", ["EXPLICIT_CONSENT_REQUIRED"], None)
    assert verdict(decide(api, email="single@example.de")) == ("DENY", ["DOUBLE_OPTIN_REQUIRED"], None)


def test_soft_opt_in_for_a_uk_profile(api, server) -> None:
    create(api, email="customer@example.co.uk", location={"country": "United Kingdom"})
    create(api, email="stranger@example.co.uk", location={"country": "GB"})
    who = Locator("email", "customer@example.co.uk")
    consent.subscribe(server.engine, api.account_id, who, EMAIL_MKT, method="SOFT_OPT_IN")
    assert verdict(decide(api, email="customer@example.co.uk")) == ("ALLOW", ["SUBSCRIBED", "SOFT_OPT_IN"], None)
    assert verdict(decide(api, email="stranger@example.co.uk")) == ("DENY", ["EXPLICIT_CONSENT_REQUIRED"], None)


def test_implied_consent_rule_for_a_canadian_profile(api, server) -> None:
    create(api, email="buyer@example.ca", location={"country": "Canada"})
    bought = (utcnow() - timedelta(days=700)).replace(microsecond=0)  # lapses in about a month
    consent.subscribe(server.engine, api.account_id, Locator("email", "buyer@example.ca"), EMAIL_MKT,
                      method="CASL_IMPLIED_PURCHASE", consented_at=bought, historical_import=True)  # fmt: skip
    lapses = add_months(bought, 24)
    inside = decide(api, email="buyer@example.ca", at=(lapses - timedelta(minutes=1)).isoformat())
    assert verdict(inside) == ("ALLOW", ["SUBSCRIBED"], None)
    expired = decide(api, email="buyer@example.ca", at=lapses.isoformat())
    assert verdict(expired) == ("DENY", ["IMPLIED_CONSENT_EXPIRED"], None)
    assert datetime.fromisoformat(expired["consent_expired_at"]) == lapses
    assert decide(api, email="buyer@example.ca")["consent_expired_at"] is None
    consent.unsubscribe(server.engine, api.account_id, Locator("email", "buyer@example.ca"), Channel.EMAIL)
    assert "UNSUBSCRIBED" in decide(api, email="buyer@example.ca")["reasons"]  # at once


def dst_changes(zone: str, count: int = 2) -> list[datetime]:
    """The next `count` DST changes of `zone` after now (UTC instants), found from zoneinfo. A
    decision at a past `at` is judged on the ledger's state then, so these tests look ahead."""
    tz, t, out = ZoneInfo(zone), utcnow().replace(minute=0, second=0, microsecond=0), []
    while len(out) < count:
        nxt = t + timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            out.append(nxt)
        t = nxt
    return out


def eight_am_after(change: datetime, zone: str) -> datetime:
    day = change.astimezone(ZoneInfo(zone)).date()
    return datetime.combine(day, time(8), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_quiet_hours_rule_for_a_us_profile_around_dst(api, server) -> None:
    phone = "+12125550147"  # New York; no location: the country and zone come from the number
    create(api, phone_number=phone)
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", phone), [(Channel.SMS, Purpose.MARKETING)])
    for change in dst_changes("America/New_York"):
        # Half an hour before the 2 a.m. change: deferred to 08:00 local on the new offset.
        a = decide(api, "sms", at=(change - timedelta(minutes=30)).isoformat(), phone_number=phone)
        until = eight_am_after(change, "America/New_York")
        assert verdict(a) == ("DEFER", ["QUIET_HOURS"], until.isoformat())
        assert until.hour == (12 if change.month < 6 else 13)  # 08:00 EDT in spring, EST in autumn
        assert a["allowed"] is False
        assert verdict(decide(api, "sms", at=until.isoformat(), phone_number=phone)) == ("ALLOW", ["SUBSCRIBED"], None)


def test_quiet_hours_rule_around_eu_dst_for_an_account_applying_tcpa(api, server) -> None:
    phone = "+4915112345678"
    create(api, phone_number=phone, location={"country": "DE", "timezone": "Europe/Berlin"})
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", phone), [(Channel.SMS, Purpose.MARKETING)])
    assert decide(api, "sms", phone_number=phone, at=dst_changes("Europe/Berlin", 1)[0].isoformat())["verdict"] == (
        "ALLOW"  # no quiet-hours law in Germany's packs
    )
    settings.set_value(server.engine, api.account_id, "jurisdictions", "TCPA")
    for change in dst_changes("Europe/Berlin"):
        a = decide(api, "sms", at=change.isoformat(), phone_number=phone)  # 02:00 or 03:00 local
        until = eight_am_after(change, "Europe/Berlin")
        assert verdict(a) == ("DEFER", ["QUIET_HOURS"], until.isoformat())
        assert until.hour == (6 if change.month < 6 else 7)  # 08:00 CEST in spring, CET in autumn


def test_quiet_hours_rule_follows_the_profiles_timezone_and_state(api, server) -> None:
    phone = "+12125550148"
    create(api, phone_number=phone, location={"country": "US", "region": "Florida", "timezone": "America/Chicago"})
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", phone), [(Channel.SMS, Purpose.MARKETING)])
    chicago = ZoneInfo("America/Chicago")
    day = (utcnow() + timedelta(days=2)).astimezone(chicago).date()
    evening = datetime.combine(day, time(20, 30), tzinfo=chicago)  # past Florida's 8 p.m., inside 9 p.m.
    a = decide(api, "sms", at=evening.isoformat(), phone_number=phone)
    morning = datetime.combine(day + timedelta(days=1), time(8), tzinfo=chicago).astimezone(UTC)
    assert verdict(a) == ("DEFER", ["QUIET_HOURS"], morning.isoformat())


def test_jurisdictions_setting_overrides_the_profiles_country(api, server) -> None:
    create(api, email="anyone@example.com", location={"country": "US"})
    assert decide(api, email="anyone@example.com")["reasons"] == ["NOT_OPTED_OUT"]
    settings.set_value(server.engine, api.account_id, "jurisdictions", "EU, DE")
    assert verdict(decide(api, email="anyone@example.com")) == ("DENY", ["EXPLICIT_CONSENT_REQUIRED"], None)
    settings.set_value(server.engine, api.account_id, "jurisdictions", "none")
    create(api, email="kein@example.de", location={"country": "DE"})
    assert decide(api, email="kein@example.de")["reasons"] == ["NOT_OPTED_OUT"]


@pytest.mark.parametrize("zone", ["America", "Etc", "America/Argentina"])
def test_a_timezone_that_names_no_zone_file_is_ignored_by_decisions_and_audiences(api, server, zone) -> None:
    """A folder of the zone database ("America") is no time zone:
    the profile's phone number gives its zones, as for any unknown name (these were a 500)."""
    phone = "+12125550149"
    create(api, phone_number=phone, location={"country": "US", "timezone": zone})
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", phone), [(Channel.SMS, Purpose.MARKETING)])
    new_york = ZoneInfo("America/New_York")
    night = datetime.combine((utcnow() + timedelta(days=2)).astimezone(new_york).date(), time(23), tzinfo=new_york)
    morning = datetime.combine(night.date() + timedelta(days=1), time(8), tzinfo=new_york).astimezone(UTC)
    assert verdict(decide(api, "sms", at=night.isoformat(), phone_number=phone)) == (
        "DEFER", ["QUIET_HOURS"], morning.isoformat())  # fmt: skip
    r = api.post("/api/audiences", json={"data": {"type": "audience", "attributes": {
        "include": [{"type": "all"}], "channel": "sms", "via": "campaign", "at": night.isoformat()}}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["deferred"] == 1
