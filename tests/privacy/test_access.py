"""Access requests: everything held about a person, as JSON — the profile, consent states, every
ledger event with its personal data and hashes, lists, segments, events and sends — through the
service, the CLI and the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime

from assent.api.privacy import data_export_resource
from assent.domain import Channel, Proof, Purpose
from assent.domain.chain import content_hash, link_hash
from assent.domain.push_tokens import Platform, Vendor
from assent.services.activity.events import EventProfile, NewEvent, create_event
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists, segments
from assent.services.privacy import access
from assent.services.push import tokens as push_tokens
from tests.cli.test_cli import assent

OUTSIDE_PAYLOAD = ("seq", "occurred_at", "type", "metric", "personal", "proof")
EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]
EVERYONE_EMAIL = {
    "condition_groups": [
        {
            "conditions": [
                {
                    "type": "profile-marketing-consent",
                    "consent": {
                        "channel": "email",
                        "can_receive_marketing": True,
                        "consent_status": {"subscription": "subscribed"},
                    },
                }
            ]
        }
    ]
}


def _person(engine, account_id: str) -> tuple[str, str, str]:
    weekly = lists.create_list(engine, account_id, "Weekly")
    segment = segments.create_segment(engine, account_id, "Email subscribers", EVERYONE_EMAIL)
    proof = Proof(source="https://shop.example/signup", ip="198.51.100.9", user_agent="Lynx/2.9")
    made = consent.subscribe(engine, account_id, Locator("email", "ana@example.com"), EMAIL, proof=proof)
    lists.add_members(engine, account_id, weekly.id, [made.profile_id])
    create_event(
        engine,
        account_id,
        NewEvent("Placed Order", {"OrderId": "1001"}, EventProfile(email="ana@example.com"), value=20.0),
    )
    device = push_tokens.Device("f" * 64, Platform.IOS, Vendor.APNS, metadata={"device_model": "iPhone15,2"})
    push_tokens.register(engine, account_id, push_tokens.Owner(email="ana@example.com"), device)
    return made.profile_id, weekly.id, segment.id


def test_access_export_holds_everything_about_the_person(engine, account_id):
    profile_id, list_id, segment_id = _person(engine, account_id)
    export = data_export_resource(access.export_data(engine, account_id, Locator("email", "ANA@example.com")))
    a = export["attributes"]
    assert export["id"] == profile_id and a["profile"]["email"] == "ana@example.com"
    assert a["profile"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert [(c["channel"], c["status"]) for c in a["consents"]] == [("email", "SUBSCRIBED"), ("push", "SUBSCRIBED")]
    assert [m["id"] for m in a["lists"]] == [list_id] and a["lists"][0]["joined_at"]
    assert [s["id"] for s in a["segments"]] == [segment_id]
    assert [(e["metric"], e["properties"]) for e in a["events"]] == [("Placed Order", {"OrderId": "1001"})]
    [token] = a["push_tokens"]
    assert (token["token"], token["platform"], token["enablement_status"]) == ("f" * 64, "ios", "AUTHORIZED")
    assert token["metadata"] == {"device_model": "iPhone15,2"}
    subscribed = a["consent_events"][0]
    assert subscribed["personal"]["ip"] == "198.51.100.9" and subscribed["personal"]["email"] == "ana@example.com"
    proof = subscribed["proof"]
    assert len(proof["hash"]) == 64 and proof["prev_hash"] != proof["hash"]


def test_access_export_hashes_check_against_the_chain(engine, account_id):
    """A person can check their events' hashes link up: each recomputed hash matches."""
    profile_id, _, _ = _person(engine, account_id)
    export = data_export_resource(access.export_data(engine, account_id, Locator("id", profile_id)))
    for e in export["attributes"]["consent_events"]:
        payload = {k: v for k, v in e.items() if k not in OUTSIDE_PAYLOAD}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        at = datetime.fromisoformat(e["occurred_at"])
        content = content_hash(account_id, profile_id, at, e["type"], e["metric"], text, e["proof"]["personal_digest"])
        assert link_hash(e["seq"], content, e["proof"]["prev_hash"]) == e["proof"]["hash"]


def test_cli_export_data_writes_the_json(engine, account_id, db_url, tmp_path):
    profile_id, _, _ = _person(engine, account_id)
    out = tmp_path / "ana.json"
    done = assent(
        "profiles",
        "export-data",
        "--account",
        account_id,
        "--email",
        "ana@example.com",
        "--output",
        str(out),
        db=db_url,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())["data"]
    assert data["id"] == profile_id and data["attributes"]["profile"]["email"] == "ana@example.com"
    said = assent(
        "profiles",
        "export-data",
        "--account",
        account_id,
        "--email",
        "ana@example.com",
        "--output",
        str(out),
        "--json",
        db=db_url,
    )
    assert said.returncode == 0, said.stderr
    assert json.loads(said.stdout) == {"profile_id": profile_id, "path": str(out)} and not said.stderr
    printed = assent("profiles", "export-data", "--account", account_id, "--id", profile_id, "--json", db=db_url)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["data"]["id"] == profile_id
    missing = assent("profiles", "export-data", "--account", account_id, "--email", "nobody@example.com", db=db_url)
    assert missing.returncode == 1 and missing.stderr.startswith("error: email: no profile")
