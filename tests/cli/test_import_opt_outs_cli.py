"""`assent profiles import` never undoes an opt-out: the README's steps (import with --subscribe and
--list, people opt out with `assent consent unsubscribe`, the same file imported again) leave the
opt-outs as they are and say so in the counts. The real console script, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import text

from assent.api.resources import get_profile_resource
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.lists import lists

from .test_cli import _ledger_seq, assent


def test_an_opt_out_is_never_undone_by_a_file_import_through_the_cli(db_url, engine, account_id, tmp_path):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    people = tmp_path / "people.csv"
    people.write_text(
        "email,phone_number,first_name\n"
        "ann@example.com,+14155550101,Ann\n"
        "bob@example.com,+14155550102,Bob\n"
        "cat@example.com,+14155550103,Cat\n"
    )
    imported = ("profiles", "import", str(people), "--account", account_id, "--subscribe", "email,sms",
                "--list", newsletter)  # fmt: skip
    first = json.loads(assent(*imported, "--json", db=db_url, check=True).stdout)
    assert (first["created"], first["subscribed"], first["kept_opt_outs"]) == (3, 3, 0)
    assent("consent", "unsubscribe", "--account", account_id, "--channel", "sms", "--phone", "+14155550101",
           db=db_url, check=True)  # fmt: skip
    assent("consent", "unsubscribe", "--account", account_id, "--channel", "email", "--email", "bob@example.com",
           "--list", newsletter, "--reason", "too many", db=db_url, check=True)  # fmt: skip
    seq = _ledger_seq(engine, account_id)

    human = assent(*imported, db=db_url, check=True)
    assert "3 rows: 0 created, 0 updated, 3 unchanged, 0 subscribed, 0 pending double opt-in, 2 opt-outs kept, " \
        "0 rejected; 0 ledger events" in human.stdout  # fmt: skip
    assert _ledger_seq(engine, account_id) == seq

    def subscriptions(email: str) -> dict:
        return get_profile_resource(engine, account_id, Locator("email", email))["attributes"]["subscriptions"]

    ann_sms = subscriptions("ann@example.com")["sms"]["marketing"]
    assert ann_sms["consent"] == "UNSUBSCRIBED" and ann_sms["method"] != "MANUAL_IMPORT"
    assert subscriptions("ann@example.com")["email"]["marketing"]["consent"] == "SUBSCRIBED"
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT reason FROM list_suppressions WHERE account_id = :a AND list_id = :l"),
            {"a": account_id, "l": newsletter},
        ).scalars().all()  # fmt: skip
    assert left == ["UNSUBSCRIBE"]
    assert [x.profile_count for x in lists.all_lists(engine, account_id)] == [2]  # Bob did not rejoin

    # Imported unchanged once more: every row a digest look-up, nothing written.
    again = json.loads(assent(*imported, "--json", db=db_url, check=True).stdout)
    assert (again["unchanged"], again["events"]) == (3, 0)
    assert ledger.verify(engine, account_id).ok
    assert ledger.rebuild(engine, account_id, check=True).differences == []
