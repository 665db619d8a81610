"""Consent proofs on SQLite and PostgreSQL: a bundle holds the consent event (with a double opt-in's
request and confirmation), the exact words agreed to, IP, user agent and source, and the chain to a
signed checkpoint; it verifies offline with nothing else, and any edit of it, or a bundle made from
a rewritten database, fails."""

from __future__ import annotations

import copy

import msgspec
import pytest

from assent.domain import Channel, DomainError, Proof, Purpose
from assent.domain import transitions as t
from assent.domain.proofs import verify_bundle
from assent.services.consent import changes as consent
from assent.services.consent import checkpoints, proofs, texts
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.shared.errors import NotFound
from tests.store.test_checkpoints import rewrite_whole_ledger

WORDS = "Yes, email me Brand Co's news and offers. I can unsubscribe at any time."
FORM = Proof(source="signup form", consent_text_version="news-1", ip="203.0.113.7", user_agent="Mozilla/5.0 (proof)")
CLICK = Proof(source="confirmation page", ip="203.0.113.8", user_agent="Mozilla/5.0 (phone)")
EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


@pytest.fixture(scope="module")
def key():
    return checkpoints.load_key_from_pem(checkpoints.new_key().private_pem)



def _single_opt_in(engine, account_id: str, email: str = "ann@example.com") -> str:
    stored = texts.create(engine, account_id, version="news-1", text=WORDS)
    proof = texts.attested(engine, account_id, FORM)
    assert proof.consent_text_sha256 == stored.sha256
    change = consent.subscribe(engine, account_id, Locator("email", email), EMAIL, method="FORM", proof=proof)
    return change.profile_id


def _double_opt_in(engine, account_id: str, email: str = "dora@example.com") -> str:
    texts.create(engine, account_id, version="news-1", text=WORDS)
    news = lists.create_list(engine, account_id, "News", double_opt_in=True).id
    proof = texts.attested(engine, account_id, FORM)
    consent.subscribe(engine, account_id, Locator("email", email), EMAIL, list_id=news, method="FORM", proof=proof)
    consent.subscribe(engine, account_id, Locator("email", "noise@example.com"), EMAIL)  # another profile between

    def confirm(state, now, _):
        return t.confirm_double_optin(state, Channel.EMAIL, Purpose.MARKETING, news, now=now, proof=CLICK)

    return consent.change(engine, account_id, Locator("email", email), confirm, list_id=news).profile_id


def test_a_consent_proof_holds_the_event_words_ip_user_agent_and_verifies_offline(engine, account_id, key):
    profile_id = _single_opt_in(engine, account_id)
    consent.subscribe(engine, account_id, Locator("email", "later@example.com"), EMAIL)  # after the event
    checkpoints.checkpoint(engine, account_id, key)
    bundle = proofs.consent_proof(engine, account_id, profile_id, "email")
    # Offline: only the bundle, as the bytes a third party receives.
    received = msgspec.json.decode(msgspec.json.encode(bundle))
    result = verify_bundle(received)
    assert result.ok, result.as_json()
    assert [e["role"] for e in received["events"]] == ["consent"]
    s = received["summary"]
    assert (s["status"], s["method"], s["address"], s["double_optin"]) == ("SUBSCRIBED", "FORM", "ann@example.com",
                                                                           False)  # fmt: skip
    assert (s["consent"]["source"], s["consent"]["ip"], s["consent"]["user_agent"]) == (
        "signup form", "203.0.113.7", "Mozilla/5.0 (proof)")  # fmt: skip
    assert received["consent_text"]["text"] == WORDS and s["consent_text_version"] == "news-1"
    assert received["chain"]["to_seq"] == received["checkpoint"]["seq"] > received["events"][0]["seq"]
    assert any("not pinned" in w for w in result.warnings)
    assert verify_bundle(received, frozenset({received["checkpoint"]["public_key"]})).ok
    assert not verify_bundle(received, frozenset({checkpoints.new_key().public_key})).ok


def test_a_double_opt_in_proof_holds_the_request_and_its_confirmation(engine, account_id, key):
    profile_id = _double_opt_in(engine, account_id)
    checkpoints.checkpoint(engine, account_id, key)
    bundle = proofs.consent_proof(engine, account_id, profile_id, "email", "marketing")
    assert verify_bundle(bundle).ok
    assert [e["role"] for e in bundle["events"]] == ["request", "confirmation", "consent"]
    s = bundle["summary"]
    assert s["double_optin"] is True and s["list_id"]
    assert (s["request"]["source"], s["request"]["ip"]) == ("signup form", "203.0.113.7")
    assert (s["confirmation"]["source"], s["confirmation"]["ip"]) == ("confirmation page", "203.0.113.8")
    assert s["consent_text_version"] == "news-1" and bundle["consent_text"]["text"] == WORDS


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b["consent_text"].update(text=b["consent_text"]["text"].replace("any time", "no time")),
        lambda b: b["events"][0].update(payload=b["events"][0]["payload"].replace("FORM", "API")),
        lambda b: b["events"][0].update(personal=b["events"][0]["personal"].replace("203.0.113.7", "198.51.100.1")),
        lambda b: b["events"][0].update(occurred_at="2020-01-01T00:00:00.000000+00:00"),
        lambda b: b["summary"].update(status="SUBSCRIBED", address="someone@else.example"),
        lambda b: b["chain"]["links"].pop(),
        lambda b: b["chain"]["links"][-1].update(hash="0" * 64),
        lambda b: b["checkpoint"].update(head_hash="0" * 64),
        lambda b: b["checkpoint"].update(signed_at="2030-01-01T00:00:00.000000+00:00"),
        lambda b: b.update(account_id="01OTHERACCOUNT000000000000"),
        lambda b: b.pop("events"),
    ],
)
def test_an_edited_bundle_does_not_verify(engine, account_id, key, edit):
    profile_id = _single_opt_in(engine, account_id)
    consent.subscribe(engine, account_id, Locator("email", "later@example.com"), EMAIL)
    checkpoints.checkpoint(engine, account_id, key)
    bundle = proofs.consent_proof(engine, account_id, profile_id, "email")
    forged = copy.deepcopy(bundle)
    edit(forged)
    assert not verify_bundle(forged).ok


def test_a_proof_from_a_rewritten_database_fails_against_the_published_checkpoint(engine, account_id, key):
    profile_id = _single_opt_in(engine, account_id)
    consent.unsubscribe(engine, account_id, Locator("id", profile_id), Channel.EMAIL)
    checkpoints.checkpoint(engine, account_id, key)
    honest = proofs.consent_proof(engine, account_id, profile_id, "email")
    assert honest["summary"]["status"] == "UNSUBSCRIBED" and verify_bundle(honest).ok
    seq = honest["events"][-1]["seq"]
    rewrite_whole_ledger(engine, account_id, seq, '"UNSUBSCRIBED"', '"SUBSCRIBED"')
    with pytest.raises(DomainError, match="no longer matches checkpoint"):
        proofs.consent_proof(engine, account_id, profile_id, "email")
    # Even a bundle assembled by hand from the rewritten rows fails on the published checkpoint.
    forged = copy.deepcopy(honest)
    forged["events"][-1]["payload"] = forged["events"][-1]["payload"].replace('"UNSUBSCRIBED"', '"SUBSCRIBED"')
    assert not verify_bundle(forged).ok


def test_a_proof_needs_a_consent_a_checkpoint_and_a_known_channel(engine, account_id, key):
    profile_id = _single_opt_in(engine, account_id)
    with pytest.raises(proofs.NoCheckpoint, match="assent ledger checkpoint"):
        proofs.consent_proof(engine, account_id, profile_id, "email")
    checkpoints.checkpoint(engine, account_id, key)
    with pytest.raises(NotFound) as e:
        proofs.consent_proof(engine, account_id, profile_id, "sms")
    assert e.value.field == "channel"
    for channel, purpose, field in (("fax", None, "channel"), ("email", "transactional", "purpose"),
                                    ("email", "nope", "purpose")):  # fmt: skip
        with pytest.raises(DomainError) as e:
            proofs.consent_proof(engine, account_id, profile_id, channel, purpose)
        assert e.value.field == field
    with pytest.raises(NotFound) as e:
        proofs.consent_proof(engine, account_id, "01NOSUCHPROFILE00000000000", "email")
    assert e.value.field == "profile"


def _documented_verifier():
    """The verifier written out in docs/proof.md, run as printed there."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "proof.md").read_text()
    [block] = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    namespace: dict = {}
    exec(compile(block, "docs/proof.md", "exec"), namespace)
    return namespace["verify"]


def test_the_documented_procedure_verifies_a_bundle_and_refuses_an_edited_one(engine, account_id, key):
    verify = _documented_verifier()
    profile_id = _double_opt_in(engine, account_id)
    # Text that JSON must escape, and non-ASCII, in the hashed payload and in the personal data.
    odd = Proof(source='caf\u00e9 "footer"\tform\x01\\', ip="2001:db8::1", user_agent="B\u00fccher \U0001f600")
    other = consent.subscribe(engine, account_id, Locator("email", "zo\u00eb@example.com"), EMAIL, proof=odd).profile_id
    made = checkpoints.checkpoint(engine, account_id, key)[0]
    bundle = msgspec.json.decode(msgspec.json.encode(proofs.consent_proof(engine, account_id, profile_id, "email")))
    assert verify(bundle, made.key_id)
    odd_bundle = proofs.consent_proof(engine, account_id, other, "email")
    assert odd_bundle["summary"]["consent"]["source"] == odd.source
    assert verify(msgspec.json.decode(msgspec.json.encode(odd_bundle)), made.key_id)
    for edit in (
        lambda b: b["consent_text"].update(text="Other words."),
        lambda b: b["events"][1].update(payload=b["events"][1]["payload"].replace("confirmed", "cancelled")),
        lambda b: b["checkpoint"].update(seq=b["checkpoint"]["seq"] + 1),
    ):
        forged = copy.deepcopy(bundle)
        edit(forged)
        with pytest.raises(Exception):  # noqa: B017 — the documented verifier raises AssertionError or InvalidSignature
            verify(forged, made.key_id)
    with pytest.raises(AssertionError):
        verify(bundle, "0" * 64)  # a key nobody published
