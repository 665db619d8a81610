"""Identity rules through a real server on SQLite and PostgreSQL: canonical emails at every
endpoint, no item ever re-keys a profile or moves its consent (409 `identifier_conflict` with the
item's pointer, nothing written), and SMS consent only for a number given in the same item."""

from __future__ import annotations

import base64
import hashlib

from tests.api.test_subscriptions_api import PROFILES, accepted, error, member, subscribe, written

SMS = {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}
EMAIL_AND_SMS = {"email": {"marketing": {"consent": "SUBSCRIBED"}}, **SMS}


def _find(api, field: str, value: str) -> list[dict]:
    r = api.get(
        "/api/profiles", params={"filter": f'equals({field},"{value}")', "additional-fields[profile]": "subscriptions"}
    )
    assert r.status_code == 200, r.text
    return r.json()["data"]


def _sms(api, email: str) -> str:
    (p,) = _find(api, "email", email)
    return p["attributes"]["subscriptions"]["sms"]["marketing"]["consent"]


def test_emails_are_canonical_at_the_api_and_filters_match_any_case(api) -> None:
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "Bob@Example.COM"}}})
    assert r.status_code == 201 and r.json()["data"]["attributes"]["email"] == "bob@example.com"
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "BOB@example.com"}}})
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "duplicate_profile"
    assert len(_find(api, "email", "bOB@EXAMPLE.com")) == 1
    accepted(subscribe(api, [member("BoB@example.com")]))
    assert written(api)[0] == 1


def test_a_bulk_subscribe_item_never_moves_consent_to_another_address(api) -> None:
    accepted(subscribe(api, [member("alice@example.com", "+14155550199", EMAIL_AND_SMS)]))
    before = written(api)
    e = error(subscribe(api, [member("ok@example.com"), member("frank@example.com", "+14155550199")]), 409)
    assert e["code"] == "identifier_conflict"
    assert e["source"]["pointer"].startswith(f"{PROFILES}/1/attributes/")
    assert "frank@example.com" in e["detail"] and "+14155550199" in e["detail"]
    assert written(api) == before
    assert _find(api, "email", "frank@example.com") == []


def test_profile_import_and_events_never_rekey_a_profile(api) -> None:
    accepted(subscribe(api, [member("alice@example.com", "+14155550199", EMAIL_AND_SMS)]))
    before = written(api)
    body = {"data": {"type": "profile", "attributes": {"email": "frank@example.com", "phone_number": "+14155550199"}}}
    r = api.post("/api/profile-import", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["code"] == "identifier_conflict"
    event = {"data": {"type": "event", "attributes": {
        "properties": {}, "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed"}}},
        "profile": {"data": {"type": "profile", "attributes": body["data"]["attributes"]}},
    }}}  # fmt: skip
    r = api.post("/api/events", json=event)
    assert r.status_code == 409, r.text
    assert written(api) == before
    (alice,) = _find(api, "phone_number", "+14155550199")
    assert alice["attributes"]["email"] == "alice@example.com"


def test_a_bad_phone_beside_a_known_email_never_subscribes_the_stored_number(api) -> None:
    """Issue 14 §2: the SMS part is refused, the email part goes ahead (Klaviyo's partial failure)."""
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {
        "email": "known@example.com", "phone_number": "+14155550123"}}})  # fmt: skip
    assert r.status_code == 201, r.text
    r = subscribe(api, [member("known@example.com", "not-a-phone", EMAIL_AND_SMS)])
    accepted(r)
    assert r.headers["X-Klaviyo-Partial-Failure"] == "phone_number"
    assert _sms(api, "known@example.com") == "NEVER_SUBSCRIBED"
    (p,) = _find(api, "email", "known@example.com")
    assert p["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    # Only SMS asked for, with a bad number or none: the item is refused, pointing at the number.
    before = written(api)
    for phone in ("not-a-phone", None):
        e = error(subscribe(api, [member("known@example.com", phone, SMS)]), 400)
        assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/phone_number"
    assert written(api) == before
    assert _sms(api, "known@example.com") == "NEVER_SUBSCRIBED"


def test_an_external_id_is_at_most_320_characters_everywhere_a_profile_is_written(api) -> None:
    """A longer one was a 500 on PostgreSQL (its index entry did not fit); now a 400 naming it."""
    noise = base64.b64encode(hashlib.shake_256(b"external id").digest(300)).decode()  # does not compress
    longest, too_long = noise[:320], noise[:321]
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"external_id": longest}}})
    assert r.status_code == 201, r.text
    assert len(_find(api, "external_id", longest)) == 1
    event = {"properties": {}, "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed"}}}}
    refused = [
        ("/api/profiles", {"data": {"type": "profile", "attributes": {"external_id": too_long}}}),
        ("/api/profile-import", {"data": {"type": "profile", "attributes": {"external_id": too_long}}}),
        ("/api/events", {"data": {"type": "event", "attributes": {
            **event, "profile": {"data": {"type": "profile", "attributes": {"external_id": too_long}}}}}}),
    ]  # fmt: skip
    for path, body in refused:
        r = api.post(path, json=body)
        assert r.status_code == 400, (path, r.text)
        (e,) = r.json()["errors"]
        assert e["source"]["pointer"].endswith("/external_id"), (path, e)
        assert "at most 320 characters" in e["detail"] and "321 characters" in e["detail"], (path, e)
    p = _find(api, "external_id", longest)[0]
    patch = {"data": {"type": "profile", "id": p["id"], "attributes": {"external_id": too_long}}}
    r = api.patch(f"/api/profiles/{p['id']}", json=patch)
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/external_id"
    assert len(_find(api, "external_id", longest)) == 1
