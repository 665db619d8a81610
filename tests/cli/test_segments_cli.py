"""`assent segments` through the real console script on SQLite and PostgreSQL: create, list, show,
count (saved or not) and export, and a refused definition as one line naming the condition."""

from __future__ import annotations

import csv
import json

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from tests.cli.test_cli import assent, assent_json, assert_one_line_error, concurrently

SUBSCRIBED = json.dumps(
    {
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
)


def test_segments_create_list_show_count_and_export(db_url, engine, account_id, tmp_path):
    for n in range(7):
        email = f"s{n}@example.com"
        consent.subscribe(engine, account_id, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(engine, account_id, Locator("email", "gone@example.com"), Channel.EMAIL)
    made = assent_json(
        "segments", "create", "Subscribers", "--account", account_id, "--definition", SUBSCRIBED, db=db_url
    )
    assert made["name"] == "Subscribers" and made["definition"] == json.loads(SUBSCRIBED)
    definition_file = tmp_path / "subscribed.json"
    definition_file.write_text(SUBSCRIBED)
    listed, shown, counted, unsaved, human = concurrently(
        ("segments", "list", "--account", account_id, "--count", "--json"),
        ("segments", "show", made["id"], "--account", account_id, "--json"),
        ("segments", "count", made["id"], "--account", account_id, "--json"),
        ("segments", "count", "--account", account_id, "--definition", f"@{definition_file}", "--json"),
        ("segments", "count", made["id"], "--account", account_id),
        db=db_url,
    )
    assert [(s["id"], s["profile_count"]) for s in json.loads(listed.stdout)] == [(made["id"], 7)]
    assert json.loads(shown.stdout)["profile_count"] == 7
    assert json.loads(counted.stdout) == {"segment": made["id"], "profile_count": 7}
    assert json.loads(unsaved.stdout)["profile_count"] == 7
    assert human.stdout == "7 profiles\n"
    out = tmp_path / "members.csv"
    summary = assent_json("segments", "export", made["id"], "--account", account_id, "--output", str(out), db=db_url)
    assert summary == {"segment": made["id"], "rows": 7, "file": str(out)}
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["email"] for r in rows) == [f"s{n}@example.com" for n in range(7)]
    piped = assent("segments", "export", made["id"], "--account", account_id, db=db_url, check=True)
    assert piped.stdout.splitlines()[0] == "id,email,phone_number,first_name,last_name"
    assert len(piped.stdout.splitlines()) == 8


def test_segments_create_refuses_an_unsupported_condition_naming_it(db_url, engine, account_id):
    bad = json.dumps({"condition_groups": [{"conditions": [{"type": "profile-postal-code-distance"}]}]})
    result = assent("segments", "create", "Near", "--account", account_id, "--definition", bad, db=db_url)
    assert_one_line_error(result, "definition.condition_groups.0.conditions.0.type", "profile-postal-code-distance")
    assert assent_json("segments", "list", "--account", account_id, db=db_url) == []


def test_a_definition_nested_too_deep_to_read_is_one_line_naming_it(db_url, account_id, tmp_path):
    deep = '{"condition_groups":' + "[" * 5000 + "]" * 5000 + "}"
    (tmp_path / "deep.json").write_text(deep)
    for given in (deep, f"@{tmp_path / 'deep.json'}"):
        result = assent("segments", "count", "--account", account_id, "--definition", given, db=db_url)
        assert_one_line_error(result, "definition", "too deep")
        assert "[[[[" not in result.stderr
