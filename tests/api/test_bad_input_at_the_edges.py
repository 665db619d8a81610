"""Input at the edges (the calendar's ends, numbers out of range, repeated headers, lone
surrogates), against a real server on SQLite and PostgreSQL: bad input gets a 4xx and a message
that names the field, never a 500 and never a partial write."""

from __future__ import annotations

from typing import Any

import pytest

from assent.domain import Channel, Purpose
from assent.services.accounts import settings
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.profiles.writes import ProfileInput, create_profile
from assent.store import settings as store_settings

PHONE = "+12125550123"  # New York
GUAM = "+16715550123"


def _errors(r) -> list[dict[str, Any]]:
    return r.json()["errors"]


@pytest.fixture
def sms_subscriber(api, server) -> str:
    """A US profile with a New York number, subscribed to SMS marketing (TCPA's quiet hours apply),
    and one living in Guam, whose local time is in the year 10000 after 9999-12-31T14:00Z."""
    ny = {"email": "ny@example.com", "phone_number": PHONE, "country": "US"}
    guam = {"email": "gu@example.com", "phone_number": GUAM, "country": "US", "timezone": "Pacific/Guam"}
    row = create_profile(server.engine, api.account_id, ProfileInput(ny))
    create_profile(server.engine, api.account_id, ProfileInput(guam))
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", GUAM), [(Channel.SMS, Purpose.MARKETING)])
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", PHONE), [(Channel.SMS, Purpose.MARKETING)])
    settings.set_value(server.engine, api.account_id, "frequency_caps", "sms=1/1d")
    return row.row.id


# --- 1. time arithmetic near the end of the calendar ------------------------------------------


def test_bad_input_gets_a_4xx_never_a_500_an_audience_at_the_end_of_the_calendar(api, sms_subscriber):
    """This body met a 500 (an OverflowError in the quiet hours). It is answered."""
    attributes = {"include": [{"type": "all"}], "channel": "sms", "at": "9999-12-31T23:59:59Z"}
    r = api.post("/api/audiences", json={"data": {"type": "audience", "attributes": attributes}})
    assert r.status_code == 200, r.text
    counts = r.json()["data"]["attributes"]
    assert (counts["allowed"], counts["deferred"]) == (1, 1), counts  # New York at 18:59; Guam past the calendar


def test_a_frequency_cap_stored_out_of_its_range_is_read_at_the_end_of_it_not_a_500(api, server, sms_subscriber):
    """A cap stored before its range was checked (past SQLite's and PostgreSQL's integers, a window
    of millennia) is read as the largest allowed: the counts, the segment and the decision answer."""
    with server.engine.begin() as conn:
        store_settings.set_setting(conn, api.account_id, "frequency_caps",
                                   "email=99999999999999999999/1d, sms=3000000000/1d, push=1/999999d")  # fmt: skip
    attributes = {"include": [{"type": "all"}], "channel": "email"}
    r = api.post("/api/audiences", json={"data": {"type": "audience", "attributes": attributes}})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["allowed"] == 2
    condition = {"type": "assent-can-receive", "channel": "email", "can_receive": True}
    body = {"data": {"type": "segment", "attributes": {"name": "Reachable", "definition": {
        "condition_groups": [{"conditions": [condition]}]}}}}  # fmt: skip
    r = api.post("/api/segments", json=body)
    assert r.status_code == 201, r.text
    segment = r.json()["data"]["id"]
    r = api.get(f"/api/segments/{segment}", params={"additional-fields[segment]": "profile_count"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["profile_count"] == 2
    r = api.get(f"/api/segments/{segment}/profiles")
    assert r.status_code == 200 and len(r.json()["data"]) == 2, r.text


@pytest.mark.parametrize(
    ("at", "verdict"),
    [("9999-12-31T23:59:59Z", "ALLOW"), ("9999-12-31T03:00:00Z", "DEFER"), ("0001-01-01T00:00:00Z", "DENY")],
)
def test_bad_input_gets_a_4xx_never_a_500_a_decision_at_either_end_of_the_calendar(api, sms_subscriber, at, verdict):
    attributes = {"profile": {"phone_number": PHONE}, "channel": "sms", "at": at}
    r = api.post("/api/decisions", json={"data": {"type": "decision", "attributes": attributes}})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["verdict"] == verdict


@pytest.mark.parametrize(
    ("url", "attributes", "pointer"),
    [
        ("/api/audiences", {"include": [{"type": "all"}], "at": "9999-12-31T23:00:00-05:00"}, "/data/attributes/at"),
        ("/api/decisions", {"profile": {"phone_number": PHONE}, "channel": "sms", "at": "9999-12-31T23:00:00-05:00"},
         "/data/attributes/at"),
        ("/api/message-sends", {"profile": {"phone_number": PHONE}, "channel": "sms", "message_id": "m1",
                                "sent_at": "0001-01-01T00:00:00+05:00"}, "/data/attributes/sent_at"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_4xx_naming_the_field_an_instant_off_the_calendar_in_utc(
    api, sms_subscriber, url, attributes, pointer
):
    kind = {"/api/audiences": "audience", "/api/decisions": "decision", "/api/message-sends": "message-send"}[url]
    r = api.post(url, json={"data": {"type": kind, "attributes": attributes}})
    assert r.status_code == 400, r.text
    (error,) = _errors(r)
    assert error["source"]["pointer"] == pointer, error


def test_bad_input_gets_a_4xx_naming_the_field_a_timeline_as_of_off_the_calendar(api, sms_subscriber):
    r = api.get(f"/api/profiles/{sms_subscriber}/consent-events", params={"as_of": "0001-01-01T00:00:00+05:00"})
    assert r.status_code == 400, r.text
    assert _errors(r)[0]["source"] == {"parameter": "as_of"}


# --- 6. the pointer of a value inside a free-form object --------------------------------------


@pytest.mark.parametrize(
    ("properties", "pointer"),
    [
        (b'{"n":1e400}', "/data/attributes/properties/n"),
        (b'{"ok":1,"deep":{"a/b":[1,-1e999]}}', "/data/attributes/properties/deep/a~1b/1"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field_a_number_out_of_range_in_properties(api, properties, pointer):
    raw = b'{"data":{"type":"profile","attributes":{"email":"big@example.com","properties":' + properties + b"}}}"
    r = api.post("/api/profiles", content=raw)
    assert r.status_code == 400, r.text
    (error,) = _errors(r)
    assert error["source"]["pointer"] == pointer, error
    assert "[...]" not in error["detail"] and "out of range" in error["detail"], error


def test_a_dict_value_msgspec_names_without_its_key_points_at_the_dict_when_not_found():
    from assent.wire.errors import pointer_of

    assert pointer_of("$.data.attributes.properties[...]") == "/data/attributes/properties"
    assert pointer_of("$.data.attributes.properties[...]", b'{"data":{"attributes":{"properties":{"n":1}}}}') == (
        "/data/attributes/properties"
    )
    assert pointer_of("$.data[2].id") == "/data/2/id"


# --- 7. content type, a repeated Authorization header, a lone surrogate -------------------------


def test_bad_input_gets_a_4xx_naming_the_field_a_text_plain_body_is_415(api):
    body = b'{"data":{"type":"profile","attributes":{"email":"plain@example.com"}}}'
    r = api.post("/api/profiles", content=body, headers={"Content-Type": "text/plain; charset=utf-8"})
    assert r.status_code == 415 and _errors(r)[0]["code"] == "unsupported_media_type", r.text
    assert api.get("/api/profiles", params={"filter": "equals(email,'plain@example.com')"}).json()["data"] == []


@pytest.mark.parametrize("second", ["Klaviyo-API-Key pk_00000000000000000000000000000000ff", None])
def test_bad_input_gets_a_4xx_naming_the_field_two_authorization_headers(api, server, second):
    import httpx

    headers = [(k, v) for k, v in api.headers.items() if k.lower() != "authorization"]
    own = api.headers["authorization"]
    headers += [("Authorization", own), ("Authorization", second or own)]
    body = b'{"data":{"type":"profile","attributes":{"email":"two.keys@example.com"}}}'
    for method, url, content in (("POST", "/api/profiles", body), ("GET", "/api/profiles", None)):
        r = httpx.request(method, f"{server.base_url}{url}", headers=headers, content=content)
        assert r.status_code == 401 and "Authorization header once" in _errors(r)[0]["detail"], r.text
    assert api.get("/api/profiles", params={"filter": "equals(email,'two.keys@example.com')"}).json()["data"] == []


@pytest.mark.parametrize("text", [b"\\ud800", b"a\\ud800b", b"\\udc00", b"\\ud800\\u0041"])
def test_bad_input_gets_a_4xx_naming_the_field_a_lone_surrogate_is_named(api, text):
    r = api.post("/api/profiles", content=b'{"data":{"type":"profile","attributes":{"email":"' + text + b'@x.com"}}}')
    assert r.status_code == 400, r.text
    detail = _errors(r)[0]["detail"]
    assert "lone UTF-16 surrogate" in detail and "truncated" not in detail, detail


def test_a_surrogate_pair_and_an_escaped_backslash_are_no_lone_surrogate():
    from assent.wire.bodies import lone_surrogate

    assert lone_surrogate(b'"\\ud83d\\ude00"') is None
    assert lone_surrogate(b'"\\\\ud800"') is None  # a backslash, then the text ud800
    assert lone_surrogate(b'"\\\\\\ud800"') == ("\\ud800", 3)


# --- 1 (continued). filters and cursors that name an instant off the calendar in UTC -------------


@pytest.mark.parametrize(
    ("url", "filter_"),
    [
        ("/api/profiles", "greater-than(updated,9999-12-31T23:00:00-05:00)"),
        ("/api/profiles", "less-than(created,0001-01-01T00:00:00+05:00)"),
        ("/api/events", "greater-than(datetime,9999-12-31T23:00:00-05:00)"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field_a_filter_time_off_the_calendar(api, url, filter_):
    r = api.get(url, params={"filter": filter_})
    assert r.status_code == 400, r.text
    assert _errors(r)[0]["source"] == {"parameter": "filter"}, r.text


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_bad_input_gets_a_4xx_naming_the_field_a_forged_cursor_off_the_calendar(api, moment):
    import base64
    import json

    assert api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "c@example.com"}}})
    cursor = base64.urlsafe_b64encode(json.dumps(["n", [moment, "0" * 26]]).encode()).decode().rstrip("=")
    for url, sort in (("/api/profiles", "updated"), ("/api/events", None)):
        params = {"page[cursor]": cursor, **({"sort": sort} if sort else {})}
        r = api.get(url, params=params)
        assert r.status_code == 400, r.text
        assert _errors(r)[0]["source"] == {"parameter": "page[cursor]"}, r.text
