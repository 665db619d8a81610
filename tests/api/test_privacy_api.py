"""Data privacy over HTTP: Klaviyo's deletion job through Klaviyo's own SDK (by email, phone number
or id), bad bodies answered 4xx naming the field, and an erased, opted-out person refused by the
bulk subscribe job. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import NotFoundException
from sqlalchemy import text

from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator

from .conftest import make_client

JOB = "/api/data-privacy-deletion-jobs"


@pytest.fixture
def klaviyo(server, api) -> KlaviyoAPI:
    return KlaviyoAPI(api.api_key, max_delay=2, max_retries=1, test_host=server.base_url)


def deletion(profile: dict) -> dict:
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}


def _opted_out(server, api, email: str, phone: str | None = None) -> str:
    email_marketing = [(Channel.EMAIL, Purpose.MARKETING)]
    made = consent.subscribe(server.engine, api.account_id, Locator("email", email), email_marketing)
    if phone:
        api.patch(f"/api/profiles/{made.profile_id}",
                  json={"data": {"type": "profile", "id": made.profile_id, "attributes": {"phone_number": phone}}})
    consent.unsubscribe(server.engine, api.account_id, Locator("email", email), Channel.EMAIL)
    return made.profile_id


@pytest.mark.parametrize("by", ["email", "phone_number", "id"])
def test_the_sdk_erases_a_profile_by_email_phone_or_id(klaviyo, server, api, by):
    email, phone = f"sdk.{by}@example.com", "+12065550177"
    profile_id = _opted_out(server, api, email, phone)
    named = {"type": "profile", "id": profile_id, "attributes": {}} if by == "id" else {
        "type": "profile", "attributes": {by: email if by == "email" else phone}}
    assert klaviyo.Data_Privacy.request_profile_deletion(deletion(named)) is None  # 202, no body
    with pytest.raises(NotFoundException):
        klaviyo.Profiles.get_profile(profile_id)
    assert ledger.verify(server.engine, api.account_id).ok


def test_erased_opted_out_person_is_not_resubscribed_by_a_bulk_job(server, api):
    _opted_out(server, api, "gone@example.com")
    erased = api.post(JOB, json=deletion({"type": "profile", "attributes": {"email": "Gone@Example.com"}}))
    assert erased.status_code == 202
    job = {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": [
        {"type": "profile", "attributes": {"email": "gone@example.com",
                                           "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}]}}}}
    answer = api.post("/api/profile-subscription-bulk-create-jobs", json=job)
    assert answer.status_code == 409
    [error] = answer.json()["errors"]
    assert error["code"] == "erased_identifier"
    assert error["source"]["pointer"] == "/data/attributes/profiles/data/0/attributes/email"
    created = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "gone@example.com"}}})
    assert created.status_code == 409 and created.json()["errors"][0]["source"]["pointer"] == "/data/attributes/email"


def test_a_bulk_job_names_the_identifier_that_was_erased(server, api):
    # The person gave a number and later an email: the job is refused for the number, which was
    # erased, and its error points at the number, not at the email nobody erased.
    _opted_out(server, api, "was.here@example.com", "+12065550106")
    erased = api.post(JOB, json=deletion({"type": "profile", "attributes": {"phone_number": "+12065550106"}}))
    assert erased.status_code == 202
    subscriptions = {"email": {"marketing": {"consent": "SUBSCRIBED"}}, "sms": {"marketing": {"consent": "SUBSCRIBED"}}}
    job = {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": [
        {"type": "profile", "attributes": {"email": "new.person@example.com", "phone_number": "(206) 555-0106",
                                           "subscriptions": subscriptions}}]}}}}
    answer = api.post("/api/profile-subscription-bulk-create-jobs", json=job)
    assert answer.status_code == 409
    [error] = answer.json()["errors"]
    assert error["code"] == "erased_identifier"
    assert error["source"]["pointer"] == "/data/attributes/profiles/data/0/attributes/phone_number"
    found = api.get("/api/profiles", params={"filter": 'equals(email,"new.person@example.com")'})
    assert found.json()["data"] == []


@pytest.mark.parametrize(
    ("profile", "pointer"),
    [
        ({"type": "profile", "attributes": {}}, "/data/attributes/profile/data"),
        ({"type": "profile", "attributes": {"email": "a@example.com", "phone_number": "+12065550100"}},
         "/data/attributes/profile/data"),
        ({"type": "profile", "attributes": {"email": "not an address"}},
         "/data/attributes/profile/data/attributes/email"),
        ({"type": "profile", "attributes": {"email": "nobody@example.com"}},
         "/data/attributes/profile/data/attributes/email"),
        ({"type": "profile", "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ", "attributes": {}}, "/data/attributes/profile/data/id"),
    ],
)
def test_a_bad_deletion_job_is_a_4xx_naming_the_field(api, profile, pointer):
    answer = api.post(JOB, json=deletion(profile))
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["errors"][0]["source"]["pointer"] == pointer


def test_a_deletion_job_needs_the_data_privacy_scope(server, api):
    key = accounts.create_key(server.engine, api.account_id, scopes="profiles:write")
    with make_client(server.base_url, key.secret, api.account_id) as limited:
        answer = limited.post(JOB, json=deletion({"type": "profile", "attributes": {"email": "x@example.com"}}))
    assert answer.status_code == 403


def test_the_data_export_returns_everything_held_about_a_profile(server, api):
    profile_id = _opted_out(server, api, "export.me@example.com")
    answer = api.get(f"/api/profiles/{profile_id}/data-export")
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["type"], data["id"]) == ("profile-data-export", profile_id)
    attributes = data["attributes"]
    assert attributes["profile"]["email"] == "export.me@example.com"
    assert [c["status"] for c in attributes["consents"]] == ["UNSUBSCRIBED"]
    assert [s["reason"] for s in attributes["suppressions"]] == ["UNSUBSCRIBE"]
    assert [e["type"] for e in attributes["consent_events"]][:1] == ["consent.changed"]
    assert all(len(e["proof"]["hash"]) == 64 for e in attributes["consent_events"])
    missing = api.get("/api/profiles/01HZZZZZZZZZZZZZZZZZZZZZZZ/data-export")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"


def test_erasure_deletes_the_persons_push_tokens(server, api):
    token = "ab" * 32
    made = api.post("/api/push-tokens", json={"data": {"type": "push-token", "attributes": {
        "token": token, "platform": "ios", "vendor": "apns", "enablement_status": "AUTHORIZED",
        "background": "AVAILABLE", "device_metadata": {"device_id": "ERIN-PHONE-1"},
        "profile": {"data": {"type": "profile", "attributes": {"email": "pushed@example.com"}}}}}})
    assert made.status_code < 300, made.text
    erased = api.post(JOB, json=deletion({"type": "profile", "attributes": {"email": "pushed@example.com"}}))
    assert erased.status_code == 202, erased.text
    with server.engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM push_tokens WHERE token = :t OR metadata LIKE :d"),
                            {"t": token, "d": "%ERIN-PHONE-1%"}).scalar()
    assert left == 0
