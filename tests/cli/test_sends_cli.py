"""`assent sends record|list` through the real console script on SQLite and PostgreSQL: the same
service as POST /api/message-sends (a repeat counts once), bad input as one line naming the field."""

from __future__ import annotations

import json
from datetime import timedelta

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.shared.clock import utcnow
from tests.cli.test_cli import assent, assent_json, assert_one_line_error, concurrently


def test_sends_record_and_list(db_url, engine, account_id):
    for email in ("a@example.com", "b@example.com"):
        consent.subscribe(engine, account_id, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)])
    now = utcnow()
    earlier, later, latest = ((now - timedelta(minutes=m)).isoformat() for m in (120, 90, 10))
    first = assent_json("sends", "record", "--account", account_id, "--email", "a@example.com", "--channel", "email",
                        "--message-id", "spring-1", "--sent-at", earlier, db=db_url)  # fmt: skip
    assert first["duplicate"] is False and first["purpose"] == "marketing" and first["message_id"] == "spring-1"
    again, other, human = concurrently(
        ("sends", "record", "--account", account_id, "--email", "a@example.com", "--channel", "email",
         "--message-id", "spring-1", "--json"),
        ("sends", "record", "--account", account_id, "--email", "b@example.com", "--channel", "email",
         "--message-id", "spring-2", "--sent-at", later, "--json"),
        ("sends", "record", "--account", account_id, "--email", "b@example.com", "--channel", "email",
         "--purpose", "transactional", "--message-id", "receipt-7", "--sent-at", latest),
        db=db_url,
    )  # fmt: skip
    assert json.loads(again.stdout)["duplicate"] is True  # the same message to the same profile counts once
    assert json.loads(other.stdout)["duplicate"] is False
    assert human.returncode == 0 and human.stdout.startswith("recorded: email transactional message receipt-7")

    everything = assent_json("sends", "list", "--account", account_id, db=db_url)
    assert [s["message_id"] for s in everything] == ["receipt-7", "spring-2", "spring-1"]  # newest first
    mine = assent_json("sends", "list", "--account", account_id, "--email", "a@example.com", db=db_url)
    assert [(s["message_id"], s["profile_id"]) for s in mine] == [("spring-1", first["profile_id"])]
    recent = assent_json("sends", "list", "--account", account_id, "--since",
                         (now - timedelta(hours=1)).isoformat(), "--limit", "1", db=db_url)  # fmt: skip
    assert [s["message_id"] for s in recent] == ["receipt-7"]
    listed = assent("sends", "list", "--account", account_id, "--channel", "sms", db=db_url, check=True)
    assert listed.stdout == "no sends\n"


def test_sends_record_refuses_bad_input_naming_the_field_and_writes_nothing(db_url, engine, account_id):
    consent.subscribe(engine, account_id, Locator("email", "a@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    base = ("sends", "record", "--account", account_id)
    future = (utcnow() + timedelta(days=1)).isoformat()
    results = concurrently(
        (*base, "--email", "a@example.com", "--channel", "fax", "--message-id", "m"),
        (*base, "--email", "a@example.com", "--channel", "email", "--purpose", "conversational", "--message-id", "m"),
        (*base, "--email", "a@example.com", "--channel", "email", "--message-id", "m", "--sent-at", future),
        (*base, "--email", "a@example.com", "--channel", "email", "--message-id", "m", "--sent-at", "yesterday"),
        (*base, "--email", "a@example.com", "--channel", "email", "--message-id", "x" * 201),
        (*base, "--email", "nobody@example.com", "--channel", "email", "--message-id", "m"),
        (*base, "--channel", "email", "--message-id", "m"),
        db=db_url,
    )  # fmt: skip
    for result, field in zip(results, ["channel", "purpose", "sent_at", "sent_at", "message_id", "email", "profile"],
                             strict=True):  # fmt: skip
        assert_one_line_error(result, field)
    assert_one_line_error(results[2], "sent_at: is in the future")
    assert assent_json("sends", "list", "--account", account_id, db=db_url) == []
