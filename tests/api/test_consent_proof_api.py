"""`GET /api/profiles/{id}/consent-proof` over a real server on both backends: the bundle verifies
offline, bad input is a 4xx naming the parameter, and another account's profile is 404."""

from __future__ import annotations

import msgspec

from assent.domain import Channel, Proof, Purpose
from assent.domain.proofs import verify_bundle
from assent.services.consent import changes as consent
from assent.services.consent import checkpoints, texts
from assent.services.consent.changes import Locator

KEY = checkpoints.load_key_from_pem(checkpoints.new_key().private_pem)


def _consented(server, api) -> str:
    texts.create(server.engine, api.account_id, version="sms-1", text="Text me offers. Reply STOP to stop.")
    proof = texts.attested(server.engine, api.account_id,
                           Proof(source="checkout page", consent_text_version="sms-1", ip="192.0.2.4"))  # fmt: skip
    return consent.subscribe(server.engine, api.account_id, Locator("phone_number", "+14155550199"),
                             [(Channel.SMS, Purpose.MARKETING)], method="FORM", proof=proof).profile_id  # fmt: skip


def test_the_consent_proof_endpoint_answers_a_bundle_that_verifies_offline(server, api) -> None:
    profile_id = _consented(server, api)
    r = api.get(f"/api/profiles/{profile_id}/consent-proof", params={"channel": "sms"})
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_checkpoint"
    checkpoints.checkpoint(server.engine, api.account_id, KEY)
    r = api.get(f"/api/profiles/{profile_id}/consent-proof", params={"channel": "sms"})
    assert r.status_code == 200, r.text
    document = msgspec.json.decode(r.content)
    assert document["data"]["type"] == "consent-proof"
    bundle = document["data"]["attributes"]
    assert (bundle["channel"], bundle["purpose"], bundle["summary"]["address"]) == ("sms", "marketing", "+14155550199")
    assert bundle["consent_text"]["version"] == "sms-1" and bundle["summary"]["consent"]["ip"] == "192.0.2.4"
    assert verify_bundle(document).ok  # the API document itself, as saved by a client


def test_bad_consent_proof_input_is_a_4xx_naming_the_parameter(server, api, other_api) -> None:
    profile_id = _consented(server, api)
    checkpoints.checkpoint(server.engine, api.account_id, KEY)
    url = f"/api/profiles/{profile_id}/consent-proof"
    for params, status, parameter in (
        ({}, 400, "channel"), ({"channel": "fax"}, 400, "channel"),
        ({"channel": "sms", "purpose": "conversational"}, 400, "purpose"),
        ({"channel": "email"}, 404, "channel"),
    ):  # fmt: skip
        r = api.get(url, params=params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["errors"][0]["source"] == {"parameter": parameter}, (params, r.text)
    unknown = "/api/profiles/01NOSUCHPROFILE00000000000/consent-proof"
    assert api.get(unknown, params={"channel": "sms"}).status_code == 404
    assert other_api.get(url, params={"channel": "sms"}).status_code == 404
