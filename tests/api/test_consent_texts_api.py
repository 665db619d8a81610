"""Consent text versions over the API on both backends: stored once, read back with their digest,
never replaced (a taken version is a 409 naming `version`), bad input a 400 naming the field, and
another account's texts are 404."""

from __future__ import annotations

import hashlib

import pytest

from assent.domain import DomainError
from assent.services.accounts import settings
from assent.services.consent import texts

WORDING = "Yes, send me Brand Co's offers by email. I can unsubscribe at any time.\n"


def _create(api, version: str = "footer-2026-03", text: str = WORDING, **extra):
    attributes = {"version": version, "text": text, **extra}
    return api.post("/api/consent-texts", json={"data": {"type": "consent-text", "attributes": attributes}})


def test_a_consent_text_is_stored_with_the_digest_of_its_exact_words(api) -> None:
    r = _create(api, language="en")
    assert r.status_code == 201, r.text
    made = r.json()["data"]
    assert made["type"] == "consent-text"
    attributes = made["attributes"]
    assert attributes["text"] == WORDING  # as given, trailing newline and all
    assert attributes["sha256"] == hashlib.sha256(WORDING.encode()).hexdigest()
    assert (attributes["version"], attributes["language"]) == ("footer-2026-03", "en")
    got = api.get(f"/api/consent-texts/{made['id']}")
    assert got.status_code == 200 and got.json()["data"] == made
    listed = api.get("/api/consent-texts").json()["data"]
    assert [t["id"] for t in listed] == [made["id"]]
    sparse = api.get("/api/consent-texts", params={"fields[consent-text]": "version"}).json()["data"]
    assert sparse[0]["attributes"] == {"version": "footer-2026-03"}


def test_consent_texts_are_immutable_a_new_wording_is_a_new_version(api) -> None:
    first = _create(api).json()["data"]
    again = _create(api, text="Different words.")
    assert again.status_code == 409
    (error,) = again.json()["errors"]
    assert error["code"] == "duplicate_consent_text"
    assert error["source"] == {"pointer": "/data/attributes/version"}
    assert error["meta"] == {"duplicate_consent_text_id": first["id"]}
    patch = api.patch(f"/api/consent-texts/{first['id']}", json={"data": {"type": "consent-text", "id": first["id"],
                                                                          "attributes": {"text": "changed"}}})
    assert patch.status_code == 405
    assert api.delete(f"/api/consent-texts/{first['id']}").status_code == 405
    assert api.get(f"/api/consent-texts/{first['id']}").json()["data"]["attributes"]["text"] == WORDING
    second = _create(api, version="footer-2026-04", text="Different words.")
    assert second.status_code == 201
    assert len(api.get("/api/consent-texts").json()["data"]) == 2


def test_bad_consent_text_input_is_a_400_naming_the_field(api) -> None:
    cases = [
        ({"version": "", "text": WORDING}, "/data/attributes/version"),
        ({"version": "has spaces", "text": WORDING}, "/data/attributes/version"),
        ({"version": "v" * 101, "text": WORDING}, "/data/attributes/version"),
        ({"version": "v1", "text": "   "}, "/data/attributes/text"),
        ({"version": "v1", "text": "x" * 20_001}, "/data/attributes/text"),
        ({"version": "v1", "text": WORDING, "language": "not a tag"}, "/data/attributes/language"),
        ({"version": "v1", "text": 7}, "/data/attributes/text"),
        ({"text": WORDING}, "/data/attributes"),
    ]
    for attributes, pointer in cases:
        r = api.post("/api/consent-texts", json={"data": {"type": "consent-text", "attributes": attributes}})
        assert r.status_code == 400, (attributes, r.text)
        assert r.json()["errors"][0]["source"]["pointer"].startswith(pointer), (attributes, r.text)
    assert api.get("/api/consent-texts").json()["data"] == []
    r = api.get("/api/consent-texts", params={"fields[consent-text]": "nope"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "fields[consent-text]"}


def test_another_accounts_consent_text_is_not_found(api, other_api) -> None:
    made = _create(api).json()["data"]
    r = other_api.get(f"/api/consent-texts/{made['id']}")
    assert r.status_code == 404
    assert other_api.get("/api/consent-texts").json()["data"] == []
    assert _create(other_api).status_code == 201  # versions are per account


def test_the_signup_version_setting_must_name_a_stored_text(server, api) -> None:
    with pytest.raises(DomainError) as refused:
        settings.set_value(server.engine, api.account_id, "signup_consent_text_version", "nowhere-1")
    assert refused.value.field == "signup_consent_text_version"
    texts.create(server.engine, api.account_id, version="nowhere-1", text=WORDING)
    settings.set_value(server.engine, api.account_id, "signup_consent_text_version", "nowhere-1")
    settings.set_value(server.engine, api.account_id, "signup_consent_text_version", "")  # unset again
