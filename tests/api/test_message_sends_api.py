"""`POST /api/message-sends` and the frequency caps that count its rows, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from assent.domain import Channel, Purpose
from assent.services.accounts import settings
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.shared.clock import utcnow


def create(api, **attributes: Any) -> str:
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": attributes}})
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


def sent(email: str, message_id: str, at, channel: str = "email", **extra: Any) -> dict[str, Any]:
    attributes = {"profile": {"email": email}, "channel": channel, "message_id": message_id, "sent_at": at.isoformat()}
    return {"type": "message-send", "attributes": {**attributes, **extra}}


def report(api, data: Any):
    return api.post("/api/message-sends", json={"data": data})


def decide(api, email: str, at=None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"profile": {"email": email}, "channel": "email"}
    if at is not None:
        attributes["at"] = at.isoformat()
    r = api.post("/api/decisions", json={"data": {"type": "decision", "attributes": attributes}})
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]


def test_frequency_cap_rule_counts_reported_sends(api, server) -> None:
    pid = create(api, email="often@example.com")
    consent.subscribe(server.engine, api.account_id, Locator("email", "often@example.com"),
                      [(Channel.EMAIL, Purpose.MARKETING)])  # fmt: skip
    settings.set_value(server.engine, api.account_id, "frequency_caps", "email:marketing=2/1d")
    now = utcnow().replace(microsecond=0)
    first, second = now - timedelta(hours=20), now - timedelta(hours=2)
    r = report(api, sent("often@example.com", "campaign-1", first))
    assert r.status_code == 201, r.text
    one = r.json()["data"]
    assert one["type"] == "message-send" and one["attributes"]["profile_id"] == pid
    assert (one["attributes"]["purpose"], one["attributes"]["duplicate"]) == ("marketing", False)
    assert decide(api, "often@example.com")["verdict"] == "ALLOW"
    # A batch: the second send, the first again (counted once), and a transactional one (not counted).
    batch = [sent("often@example.com", "campaign-2", second), sent("often@example.com", "campaign-1", first),
             sent("often@example.com", "receipt-9", now, purpose="transactional")]  # fmt: skip
    r = report(api, batch)
    assert r.status_code == 201, r.text
    assert [d["attributes"]["duplicate"] for d in r.json()["data"]] == [False, True, False]
    d = decide(api, "often@example.com")
    assert (d["verdict"], d["reasons"]) == ("DEFER", ["FREQUENCY_CAP"])
    assert d["defer_until"] == (first + timedelta(days=1)).isoformat()
    assert decide(api, "often@example.com", at=first + timedelta(days=1))["verdict"] == "ALLOW"
    with server.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM message_sends WHERE account_id = :a"), {"a": api.account_id})
        assert n.scalar() == 3


def test_message_sends_refuse_bad_input_naming_the_field_and_write_nothing(api, server) -> None:
    create(api, email="one@example.com")
    now = utcnow()
    cases = [
        (sent("nobody@example.com", "m1", now), 404, "/data/attributes/profile/email"),
        (sent("one@example.com", "m1", now, channel="fax"), 400, "/data/attributes/channel"),
        (sent("one@example.com", "m1", now, purpose="conversational"), 400, "/data/attributes/purpose"),
        (sent("one@example.com", "", now), 400, "/data/attributes/message_id"),
        (sent("one@example.com", "m1", now + timedelta(days=1)), 400, "/data/attributes/sent_at"),
        ({"type": "message-send", "attributes": {"profile": {}, "channel": "email", "message_id": "m",
                                                  "sent_at": now.isoformat()}}, 400, "/data/attributes/profile"),
    ]  # fmt: skip
    for body, status, pointer in cases:
        r = report(api, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["errors"][0]["source"]["pointer"] == pointer, r.text
    r = report(api, [sent("one@example.com", "ok", now), sent("nobody@example.com", "m2", now)])
    assert r.status_code == 404 and r.json()["errors"][0]["source"]["pointer"] == "/data/1/attributes/profile/email"
    with server.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM message_sends WHERE account_id = :a"), {"a": api.account_id})
        assert n.scalar() == 0  # the good first item of the refused batch was not kept


def test_message_sends_of_another_accounts_profile_are_404(api, other_api, server) -> None:
    create(other_api, email="theirs@example.com")
    r = report(api, sent("theirs@example.com", "m1", utcnow()))
    assert r.status_code == 404, r.text
