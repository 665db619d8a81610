"""Bulk profile import (services.imports.importer): upserts, consent columns, rejects, idempotent re-runs,
and a killed import that a re-run completes. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import text

from assent.api.resources import get_profile_resource
from assent.domain import Channel, DomainError, OptInProcess, Proof, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent_changes
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.demo import synthetic
from assent.services.imports import importer as imports
from assent.services.imports import rows as import_rows
from assent.services.imports import work as import_work
from assent.services.imports.importer import ImportOptions, import_profiles
from assent.services.imports.rows import prepare_row
from assent.services.lists import lists
from assent.services.profiles import reading as profiles
from assent.services.profiles import writes as profile_writes
from assent.store import forms
from assent.store import ledger as ledger_store

EMAIL = ((Channel.EMAIL, Purpose.MARKETING),)


def _csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _ndjson(path: Path, *lines: str | dict) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def _run(engine, account_id: str, path: Path, **kw) -> imports.BatchReport:
    kw.setdefault("workers", 0)
    return import_profiles(engine, path, ImportOptions(account_id=account_id, **kw))


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _count(engine, table: str, account_id: str, where: str = "", **params) -> int:
    return _scalar(engine, f"SELECT count(*) FROM {table} WHERE account_id = :a {where}", a=account_id, **params)


def _ledger_seq(engine, account_id: str) -> int:
    return _scalar(engine, "SELECT ledger_seq FROM accounts WHERE id = :a", a=account_id)


def _profile(engine, account_id: str, **locator) -> dict:
    (field, value) = next(iter(locator.items()))
    return get_profile_resource(engine, account_id, Locator(field, value))["attributes"]


def _profile_id(engine, account_id: str, email: str) -> str:
    return _scalar(engine, "SELECT id FROM profiles WHERE account_id = :a AND email = :e", a=account_id, e=email)


def _email_marketing(engine, account_id: str, email: str) -> dict:
    return _profile(engine, account_id, email=email)["subscriptions"]["email"]["marketing"]


def _assert_consistent(engine, account_id: str) -> None:
    """The ledger verifies and a replay of it matches the stored projection exactly."""
    verification = ledger.verify(engine, account_id)
    assert verification.ok, verification
    assert verification.events == _ledger_seq(engine, account_id)
    assert ledger.rebuild(engine, account_id, check=True).differences == []


def _rejects(path: Path) -> dict[int, dict]:
    with path.open(newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


# --- reading files -------------------------------------------------------------------------------

ALL_COLUMNS = [
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "title",
    "locale",
    "address1",
    "address2",
    "city",
    "region",
    "zip",
    "country",
    "timezone",
    "loyalty_tier",
    "shoe size",
]


def test_csv_columns_land_as_profile_fields_and_other_columns_as_properties(engine, account_id, tmp_path):
    path = _csv(
        tmp_path / "people.csv",
        ALL_COLUMNS,
        ["Ada@Example.COM", "(415) 555-0101", "cust-1", "Ada", "Lovelace", "Analytical", "Countess", "en-GB",
         "1 Main St", "Flat 2", "London", "LND", "N1", "GB", "Europe/London", "gold", "38"],
        ["grace@example.com", "", "", "Grace", "", "", "", "", "", "", "", "", "", "", "", "", ""],
    )  # fmt: skip
    report = _run(engine, account_id, path)
    assert (report.rows, report.created, report.updated, report.rejected) == (2, 2, 0, 0)

    ada = _profile(engine, account_id, email="Ada@example.com")
    assert ada["email"] == "ada@example.com"  # stored canonical: the whole address lowercased
    assert ada["phone_number"] == "+14155550101"  # read in the account's region, stored as E.164
    assert ada["external_id"] == "cust-1"
    assert (ada["first_name"], ada["last_name"], ada["organization"], ada["title"], ada["locale"]) == (
        "Ada", "Lovelace", "Analytical", "Countess", "en-GB",
    )  # fmt: skip
    loc = ada["location"]
    assert (loc["address1"], loc["address2"], loc["city"], loc["region"], loc["zip"], loc["country"]) == (
        "1 Main St", "Flat 2", "London", "LND", "N1", "GB",
    )  # fmt: skip
    assert loc["timezone"] == "Europe/London"
    assert ada["properties"] == {"loyalty_tier": "gold", "shoe size": "38"}

    grace = _profile(engine, account_id, email="grace@example.com")
    assert grace["phone_number"] is None and grace["last_name"] is None
    assert grace["properties"] == {}  # empty cells are not properties
    # No consent was given: nothing in the ledger.
    assert _ledger_seq(engine, account_id) == 0
    assert grace["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_ndjson_import_keeps_json_types_and_merges_nested_properties(engine, account_id, tmp_path):
    path = _ndjson(
        tmp_path / "people.ndjson",
        {"email": "j@example.com", "first_name": "Jo", "vip": True, "score": 3, "properties": {"tags": ["a", "b"]}},
        "",
        {"phone_number": "+14155550102", "email_consent": "SUBSCRIBED", "sms_consent": "true"},
        {"phone_number": "+14155550103", "sms_consent": "true"},
    )
    report = _run(engine, account_id, path)
    # An email_consent without the row's own email cannot become consent: the row is refused.
    assert (report.created, report.subscribed, report.rejected) == (2, 1, 1)
    jo = _profile(engine, account_id, email="j@example.com")
    assert jo["first_name"] == "Jo"
    assert jo["properties"] == {"vip": True, "score": 3, "tags": ["a", "b"]}
    phone_only = _profile(engine, account_id, phone_number="+14155550103")["subscriptions"]
    assert phone_only["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert phone_only["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    _assert_consistent(engine, account_id)


# --- upserts and counts --------------------------------------------------------------------------


def test_second_file_updates_profiles_found_by_email_phone_or_external_id(engine, account_id, tmp_path):
    header = ["email", "phone_number", "external_id", "first_name", "last_name", "organization"]
    first = _csv(
        tmp_path / "first.csv",
        header,
        ["a@example.com", "+14155550111", "ext-a", "Ann", "Old", "Old Co"],
        ["b@example.com", "+14155550112", "ext-b", "Ben", "Old", "Old Co"],
        ["c@example.com", "+14155550113", "ext-c", "Cat", "Old", "Old Co"],
    )
    assert _run(engine, account_id, first).created == 3
    second = _csv(
        tmp_path / "second.csv",
        header,
        ["a@example.com", "", "", "Annie", "", ""],
        ["", "415-555-0112", "", "", "Newer", ""],  # found by phone, in national format
        ["", "", "ext-c", "", "", "New Co"],
    )
    report = _run(engine, account_id, second)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 3, 0, 0)
    assert _count(engine, "profiles", account_id) == 3

    a = _profile(engine, account_id, email="a@example.com")
    assert (a["first_name"], a["last_name"], a["phone_number"]) == ("Annie", "Old", "+14155550111")
    b = _profile(engine, account_id, external_id="ext-b")
    assert (b["first_name"], b["last_name"], b["email"]) == ("Ben", "Newer", "b@example.com")
    c = _profile(engine, account_id, phone_number="+14155550113")
    assert (c["first_name"], c["organization"]) == ("Cat", "New Co")


def test_a_file_of_new_rows_with_one_stored_profile_among_them_creates_the_new_and_updates_the_stored(
    engine, account_id, tmp_path
):
    # The first batch of an import that has met no stored profile yet tries its new profiles in one
    # go (PostgreSQL: COPY under a savepoint); one taken email sends it the careful way, whole.
    header = ["email", "first_name"]
    assert _run(engine, account_id, _csv(tmp_path / "seed.csv", header, ["kept@example.com", "Old"])).created == 1
    path = _csv(
        tmp_path / "mixed.csv",
        header,
        ["new1@example.com", "N1"],
        ["kept@example.com", "New"],
        ["new2@example.com", "N2"],
    )
    report = _run(engine, account_id, path, subscribe=EMAIL)
    assert (report.created, report.updated, report.rejected, report.subscribed) == (2, 1, 0, 3)
    assert _count(engine, "profiles", account_id) == 3
    assert _profile(engine, account_id, email="kept@example.com")["first_name"] == "New"
    assert _profile(engine, account_id, email="new2@example.com")["first_name"] == "N2"
    assert ledger.verify(engine, account_id).ok


def test_report_counts_created_updated_unchanged_subscribed_and_rejected(engine, account_id, tmp_path):
    header = ["email", "first_name", "email_consent"]
    _run(engine, account_id, _csv(tmp_path / "seed.csv", header, ["same@example.com", "S", ""],
                                  ["renamed@example.com", "R", ""]))  # fmt: skip
    path = _csv(
        tmp_path / "mixed.csv",
        header,
        ["same@example.com", "S", ""],  # unchanged
        ["renamed@example.com", "R2", ""],  # updated
        ["new1@example.com", "N", "SUBSCRIBED"],  # created and subscribed
        ["new2@example.com", "N", ""],  # created
        ["not-an-email", "X", ""],  # rejected
    )
    report = _run(engine, account_id, path)
    expected = {"rows": 5, "created": 2, "updated": 1, "unchanged": 1, "subscribed": 1, "rejected": 1, "events": 1}
    assert {k: v for k, v in report.as_dict().items() if k in expected} == expected


def test_bad_rows_go_to_the_rejects_file_with_line_and_field_and_good_rows_land(engine, account_id, tmp_path):
    header = ["email", "phone_number", "external_id", "first_name", "email_consent"]
    path = _csv(
        tmp_path / "mixed.csv",
        header,
        ["good1@example.com", "+14155550121", "", "G1", "SUBSCRIBED"],  # line 2
        ["bad@@example", "", "", "B", ""],  # line 3: invalid email
        ["phone@example.com", "+1555", "", "P", ""],  # line 4: invalid phone
        ["", "", "", "Nobody", ""],  # line 5: no identifier
        ["consent@example.com", "", "", "C", "maybe"],  # line 6: bad email_consent
        ["good2@example.com", "", "ext-2", "G2", ""],  # line 7
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, subscribe=EMAIL, rejects_path=str(rejects))
    assert (report.rows, report.created, report.rejected, report.subscribed) == (6, 2, 4, 2)

    found = _rejects(rejects)
    assert {line: r["field"] for line, r in found.items()} == {
        3: "email",
        4: "phone_number",
        5: "email",
        6: "email_consent",
    }
    assert "valid email" in found[3]["reason"]
    assert "phone" in found[4]["reason"]
    assert "needs an email, a phone_number or an external_id" in found[5]["reason"]
    assert "maybe" in found[6]["reason"]
    assert json.loads(found[3]["row"])["email"] == "bad@@example"  # the row as given, to fix and re-send

    assert _count(engine, "profiles", account_id) == 2
    for email in ("good1@example.com", "good2@example.com"):
        assert _email_marketing(engine, account_id, email)["consent"] == "SUBSCRIBED"
    for email in ("phone@example.com", "consent@example.com"):
        assert _count(engine, "profiles", account_id, "AND email = :e", e=email) == 0
    _assert_consistent(engine, account_id)


def test_a_row_with_an_external_id_too_long_to_keep_is_rejected_naming_it_and_the_rest_lands(
    engine, account_id, tmp_path
):
    # Random hex does not compress: on PostgreSQL 3,200 characters of it overflow the
    # (account_id, external_id) index entry, which stopped the whole import instead of one row.
    long_id = os.urandom(1600).hex()
    path = _csv(
        tmp_path / "long.csv",
        ["email", "external_id"],
        ["long@example.com", long_id],  # line 2
        ["ok@example.com", "ext-ok"],  # line 3
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, subscribe=EMAIL, rejects_path=str(rejects))
    assert (report.rows, report.created, report.rejected) == (2, 1, 1)
    found = _rejects(rejects)
    assert found[2]["field"] == "external_id"
    assert "at most" in found[2]["reason"]
    assert _count(engine, "profiles", account_id, "AND email = :e", e="long@example.com") == 0
    _assert_consistent(engine, account_id)


def test_row_whose_identifiers_belong_to_two_profiles_is_rejected(engine, account_id, tmp_path):
    _run(
        engine,
        account_id,
        _csv(tmp_path / "seed.csv", ["email", "phone_number"], ["a@example.com", "+14155550131"],
             ["b@example.com", "+14155550132"]),
    )  # fmt: skip
    rejects = tmp_path / "rejects.csv"
    path = _csv(
        tmp_path / "clash.csv",
        ["email", "phone_number", "first_name"],
        ["a@example.com", "+14155550132", "Clash"],  # a's email with b's phone
        ["b@example.com", "", "Fine"],
    )
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.rejected, report.updated) == (1, 1)
    found = _rejects(rejects)
    assert list(found) == [2]
    assert "different profiles" in found[2]["reason"]
    assert found[2]["field"] in ("email", "phone_number")
    a = _profile(engine, account_id, email="a@example.com")
    assert (a["phone_number"], a["first_name"]) == ("+14155550131", None)
    assert _profile(engine, account_id, email="b@example.com")["first_name"] == "Fine"


def test_ndjson_bad_lines_are_rejected_with_their_line_and_the_rest_lands(engine, account_id, tmp_path):
    path = _ndjson(
        tmp_path / "people.jsonl",
        {"email": "one@example.com"},
        "{not json",
        "[1, 2]",
        {"email": "two@example.com", "phone_number": "12"},
        {"email": "three@example.com", "email_consent": "SUBSCRIBED"},
    )
    rejects = tmp_path / "rejects.ndjson"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.rows, report.created, report.rejected, report.subscribed) == (5, 2, 3, 1)
    found = {r["line"]: r for r in map(json.loads, rejects.read_text().splitlines())}
    assert sorted(found) == [2, 3, 4]
    assert found[2]["field"] == "row" and "JSON" in found[2]["reason"]
    assert found[3]["field"] == "row" and "object" in found[3]["reason"]
    assert found[4]["field"] == "phone_number"
    assert _count(engine, "profiles", account_id) == 2
    assert _email_marketing(engine, account_id, "three@example.com")["consent"] == "SUBSCRIBED"


def test_no_rejects_file_is_written_when_every_row_is_good(engine, account_id, tmp_path):
    rejects = tmp_path / "rejects.csv"
    _run(engine, account_id, _csv(tmp_path / "ok.csv", ["email"], ["ok@example.com"]), rejects_path=str(rejects))
    assert not rejects.exists()


# --- re-running ----------------------------------------------------------------------------------


def test_rerunning_the_same_file_changes_nothing_and_appends_no_ledger_events(engine, account_id, tmp_path):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    path = _csv(
        tmp_path / "people.csv",
        ["email", "phone_number", "first_name", "email_consent", "sms_consent", "consented_at", "tier"],
        ["a@example.com", "+14155550141", "A", "", "SUBSCRIBED", "", "gold"],
        ["b@example.com", "", "B", "UNSUBSCRIBED", "", "", ""],
        ["c@example.com", "", "C", "false", "", "", ""],
        ["d@example.com", "+14155550142", "D", "SUBSCRIBED", "", "2019-06-01T12:00:00Z", ""],
        ["broken", "", "E", "", "", "", ""],
    )
    options = {"subscribe": EMAIL, "list_id": newsletter, "rejects_path": str(tmp_path / "rejects.csv")}
    first = _run(engine, account_id, path, **options)
    assert (first.created, first.rejected) == (4, 1)
    seq = _ledger_seq(engine, account_id)
    events = _count(engine, "consent_events", account_id)
    assert seq == events > 0
    with engine.connect() as conn:
        before = sorted(conn.execute(text("SELECT * FROM profiles WHERE account_id = :a"), {"a": account_id}))

    again = _run(engine, account_id, path, **options)
    expected = {"rows": 5, "created": 0, "updated": 0, "unchanged": 4, "subscribed": 0, "rejected": 1, "events": 0}
    assert {k: v for k, v in again.as_dict().items() if k in expected} == expected
    assert _ledger_seq(engine, account_id) == seq
    assert _count(engine, "consent_events", account_id) == events
    with engine.connect() as conn:
        after = sorted(conn.execute(text("SELECT * FROM profiles WHERE account_id = :a"), {"a": account_id}))
    assert after == before  # not even `updated` moved
    _assert_consistent(engine, account_id)


def test_a_reimport_takes_unchanged_rows_from_their_digest_without_working_them_out(engine, account_id, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    path = _csv(tmp_path / "p.csv", ["email", "first_name"], ["a@example.com", "A"], ["b@example.com", "B"])
    assert _run(engine, account_id, path, subscribe=EMAIL).created == 2
    assert _count(engine, "profiles", account_id, "AND import_digest IS NOT NULL") == 2

    def must_not_run(*args, **kw):
        raise AssertionError("an unchanged row was worked out")

    monkeypatch.setattr(imports, "prepare_row", must_not_run)
    again = _run(engine, account_id, path, subscribe=EMAIL)
    assert (again.rows, again.unchanged, again.events) == (2, 2, 0)


def test_a_digest_does_not_hold_once_the_profiles_consent_changed_so_the_row_applies_again(engine, account_id,
                                                                                           tmp_path):  # fmt: skip
    path = _csv(tmp_path / "p.csv", ["email"], ["a@example.com"])
    _run(engine, account_id, path, subscribe=EMAIL)
    consent_changes.unsubscribe(engine, account_id, Locator("email", "a@example.com"), Channel.EMAIL)
    assert _email_marketing(engine, account_id, "a@example.com")["consent"] == "UNSUBSCRIBED"

    # The row is worked out again (an unchanged row taken by its digest is not), and the import
    # keeps the opt-out (test_import_opt_outs.py). It leaves no digest: every import of the file
    # counts the opt-out it keeps.
    for _ in range(3):
        again = _run(engine, account_id, path, subscribe=EMAIL)
        assert (again.unchanged, again.kept_opt_outs, again.events) == (1, 1, 0)
        assert _email_marketing(engine, account_id, "a@example.com")["consent"] == "UNSUBSCRIBED"

    # A consent change the import does undo (a brand's own suppression): the row applies again.
    consent_changes.subscribe(engine, account_id, Locator("email", "a@example.com"), list(EMAIL))
    consent_changes.suppress(engine, account_id, Locator("email", "a@example.com"))
    again = _run(engine, account_id, path, subscribe=EMAIL)
    assert (again.updated, again.unchanged) == (1, 0) and again.events > 0
    assert _email_marketing(engine, account_id, "a@example.com")["suppression"] == []
    assert _run(engine, account_id, path, subscribe=EMAIL).unchanged == 1  # and the digest holds again
    _assert_consistent(engine, account_id)


@pytest.mark.parametrize("since", ["its own event", "another profile's event"])
@pytest.mark.parametrize("took", ["created", "created after a stored profile's row", "updated"])
def test_an_unchanged_row_is_skipped_only_while_its_profile_has_had_no_ledger_event_since_it_took_the_row(
    engine, account_id, tmp_path, took, since
):
    # The event since is a list's: a membership change leaves the profile's row (and digest) alone.
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    options = {"subscribe": EMAIL, "list_id": newsletter}
    _run(engine, account_id, _csv(tmp_path / "other.csv", ["email"], ["other@example.com"]), **options)
    rows = [["y@example.com", "Y"]]
    if took == "created after a stored profile's row":
        # s's row, first in the batch, was worked out as a new profile's (with its events), but s is
        # stored and on the list already: the row writes nothing, and y's events come sooner.
        _run(engine, account_id, _csv(tmp_path / "s.csv", ["email"], ["s@example.com"]), **options)
        rows.insert(0, ["s@example.com", ""])
    elif took == "updated":
        _run(engine, account_id, _csv(tmp_path / "y.csv", ["email"], ["y@example.com"]))
    path = _csv(tmp_path / "p.csv", ["email", "first_name"], *rows)
    first = _run(engine, account_id, path, **options)
    assert (first.created, first.updated, first.unchanged) == (int(took != "updated"), int(took == "updated"),
                                                               len(rows) - 1)  # fmt: skip

    # The account's very next event, the first seq past the batch's.
    whose = "y@example.com" if since == "its own event" else "other@example.com"
    assert lists.remove_members(engine, account_id, newsletter, [_profile_id(engine, account_id, whose)]) == 1
    again = _run(engine, account_id, path, **options)
    y = _profile_id(engine, account_id, "y@example.com")
    if since == "its own event":  # the row applies again
        assert (again.unchanged, again.updated) == (len(rows) - 1, 1) and again.events > 0
        assert [m.id for m in lists.profile_lists(engine, account_id, y)] == [newsletter]
        again = _run(engine, account_id, path, **options)  # and then holds again
    assert (again.unchanged, again.updated, again.events) == (len(rows), 0, 0)
    _assert_consistent(engine, account_id)


def test_a_digest_does_not_hold_once_the_profiles_fields_were_edited(engine, account_id, tmp_path):
    path = _csv(tmp_path / "p.csv", ["email", "first_name"], ["a@example.com", "Ada"])
    _run(engine, account_id, path)
    pid = _profile_id(engine, account_id, "a@example.com")
    profile_writes.update_profile(engine, account_id, pid, profile_writes.ProfileInput(values={"first_name": "Bo"}))

    again = _run(engine, account_id, path)
    assert (again.updated, again.unchanged) == (1, 0)
    assert _profile(engine, account_id, email="a@example.com")["first_name"] == "Ada"


def test_a_digest_does_not_hold_under_other_options(engine, account_id, tmp_path):
    path = _csv(tmp_path / "p.csv", ["email"], ["a@example.com"])
    _run(engine, account_id, path)
    again = _run(engine, account_id, path, subscribe=EMAIL)
    assert (again.updated, again.subscribed, again.unchanged) == (1, 1, 0)
    assert _email_marketing(engine, account_id, "a@example.com")["consent"] == "SUBSCRIBED"


def test_an_unchanged_row_after_another_row_of_its_profile_in_the_batch_still_applies_in_file_order(
    engine, account_id, tmp_path
):
    header = ["email", "phone_number", "first_name"]
    _run(engine, account_id, _csv(tmp_path / "a.csv", header, ["a@example.com", "+14155550171", "Ada"]))
    # The second row is the first file's own row (its digest holds) but the row before it, naming the same
    # profile by its number, changes the name: the second row puts it back, as a row-by-row import would.
    path = _csv(tmp_path / "b.csv", header, ["", "+14155550171", "Bo"], ["a@example.com", "+14155550171", "Ada"])
    report = _run(engine, account_id, path)
    assert (report.updated, report.unchanged) == (2, 0)
    assert _profile(engine, account_id, email="a@example.com")["first_name"] == "Ada"
    _assert_consistent(engine, account_id)


def test_an_unchanged_row_after_a_row_of_its_profile_in_an_earlier_batch_still_applies_in_file_order(
    engine, account_id, tmp_path
):
    header = ["email", "phone_number", "first_name"]
    _run(engine, account_id, _csv(tmp_path / "a.csv", header, ["a@example.com", "+14155550171", "Ada"]))
    # One row a batch: the second batch's digests may be looked up before the first batch is written,
    # when the second row was still unchanged; it must still put the name back after the first row.
    rows = [["", "+14155550171", "Bo"], ["a@example.com", "+14155550171", "Ada"]] * 3
    report = _run(engine, account_id, _csv(tmp_path / "b.csv", header, *rows), batch_size=1)
    assert (report.updated, report.unchanged) == (6, 0)
    assert _profile(engine, account_id, email="a@example.com")["first_name"] == "Ada"
    _assert_consistent(engine, account_id)


def test_a_reimport_batch_of_unchanged_and_rejected_rows_takes_no_lock_and_rejects_the_same_rows(
    engine, account_id, tmp_path, monkeypatch
):
    path = _csv(tmp_path / "p.csv", ["email"], ["a@example.com"], ["not-an-email"], ["b@example.com"])
    first_rejects, again_rejects = tmp_path / "first.csv", tmp_path / "again.csv"
    first = _run(engine, account_id, path, subscribe=EMAIL, rejects_path=str(first_rejects))
    assert (first.created, first.rejected) == (2, 1)

    def must_not_lock(*args, **kw):
        raise AssertionError("a batch with nothing to write took the account's write lock")

    monkeypatch.setattr(imports, "Recorder", must_not_lock)
    again = _run(engine, account_id, path, subscribe=EMAIL, rejects_path=str(again_rejects))
    assert (again.rows, again.unchanged, again.rejected, again.events, again.created) == (3, 2, 1, 0, 0)
    assert again_rejects.read_text() == first_rejects.read_text()
    assert [r.line for r in again.first_rejected] == [3]


def test_an_import_into_an_account_holding_no_digest_looks_no_row_up_and_a_repeated_row_changes_nothing(
    engine, account_id, tmp_path, monkeypatch
):
    # No row can be found unchanged by a digest no profile holds: a first import skips the look-ups
    # (and its workers their connections). A row repeated in the file takes the full path instead.
    def must_not_run(*args, **kw):
        raise AssertionError("a digest was looked up")

    monkeypatch.setattr(forms, "unchanged_digests", must_not_run)
    monkeypatch.setattr(forms, "held_digests", must_not_run)
    path = _csv(tmp_path / "p.csv", ["email", "first_name"], ["a@example.com", "A"], ["b@example.com", "B"],
                ["a@example.com", "A"])  # fmt: skip
    first = _run(engine, account_id, path, subscribe=EMAIL, batch_size=2)
    assert (first.created, first.unchanged, first.events) == (2, 1, 2)
    assert _count(engine, "profiles", account_id, "AND import_digest IS NOT NULL") == 2
    with pytest.raises(AssertionError, match="a digest was looked up"):  # the account holds digests now
        _run(engine, account_id, path, subscribe=EMAIL)


def _held_lookups(monkeypatch) -> list[str]:
    """Which way each look-up of digests went: 'all' (the account's, read at once) or 'chunk'."""
    calls: list[str] = []
    held, chunk = forms.held_digests, forms.unchanged_digests
    monkeypatch.setattr(forms, "held_digests", lambda *a: calls.append("all") or held(*a))
    monkeypatch.setattr(forms, "unchanged_digests", lambda *a: calls.append("chunk") or chunk(*a))
    return calls


def test_a_reimport_reads_the_accounts_digests_at_once_only_when_the_file_names_about_as_many_rows(
    engine, account_id, tmp_path, monkeypatch
):
    path = synthetic.write_csv(tmp_path / "people.csv", 40)
    assert _run(engine, account_id, path, subscribe=EMAIL).created > 30
    calls = _held_lookups(monkeypatch)
    again = _run(engine, account_id, path, subscribe=EMAIL, batch_size=8)
    assert again.unchanged > 30 and again.events == 0
    assert calls == ["all"]  # one statement, however many chunks

    # A file of a few rows into an account holding many more digests looks its chunks' rows up.
    calls.clear()
    few = _csv(tmp_path / "few.csv", ["email"], ["a@example.com"], ["b@example.com"])
    assert (_run(engine, account_id, few).created, calls) == (2, ["chunk"])
    calls.clear()
    assert (_run(engine, account_id, few).unchanged, calls) == (2, ["chunk"])


def test_an_import_reads_at_once_at_most_four_held_digests_a_line_of_its_file_and_at_most_the_cap(
    tmp_path, monkeypatch
):
    path = _csv(tmp_path / "p.csv", ["email"], *[[f"p{n}@example.com"] for n in range(9)])  # 10 lines
    with import_rows.ImportFile(path, "csv") as source:
        assert imports.read_all_up_to(source) == 40
        monkeypatch.setattr(imports, "READ_ALL_HELD_UP_TO", 30)
        assert imports.read_all_up_to(source) == 30


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_looked_up_in_the_digests_read_at_the_start_say_the_writer_had_written_none_since(
    engine, account_id, tmp_path, workers
):
    # Every batch worked out here is looked up in one read of the account's digests, made before
    # the writer wrote any batch: however many it has written by the time a chunk is parsed, each
    # such batch must say none, so that the writer looks up again the rows of every profile the
    # import has written. A worker looks its chunk up when it gets it: its batch says how many then.
    path = synthetic.write_csv(tmp_path / "people.csv", 60)
    _run(engine, account_id, path, subscribe=EMAIL)
    options = ImportOptions(account_id=account_id, subscribe=EMAIL, batch_size=2, workers=workers)
    with import_rows.ImportFile(path, "csv") as source:
        plan = imports.Plan(
            options=options, dialect=engine.dialect.name, default_region="US", opt_in=OptInProcess.SINGLE,
            proof=Proof(source="test", actor="import"), database=imports.driver_target(engine),
            digest_seed=imports.digest_seed(source, options, "US", OptInProcess.SINGLE),
        )  # fmt: skip
        seen: list[int] = []  # as the writer counts: each batch taken is written before the next
        for _, rows, _, before in imports._prepared_batches(engine, source, plan, seen.__len__):
            rows = import_rows.decode_results(rows) if isinstance(rows, bytes) else rows
            assert all(type(r) is import_rows.Known for r in rows if type(r) is not import_rows.Rejected)
            seen.append(before)
    assert len(seen) > imports.PARSED_AHEAD + 2
    if workers:
        assert seen == sorted(seen) and seen[-1] > 0
    else:
        assert set(seen) == {0}


def test_a_reimport_with_worker_processes_finds_unchanged_rows_the_same_way(engine, account_id, tmp_path):
    path = synthetic.write_csv(tmp_path / "people.csv", 300)
    first = _run(engine, account_id, path, subscribe=EMAIL, workers=2, batch_size=100)
    again = _run(engine, account_id, path, subscribe=EMAIL, workers=2, batch_size=100)
    assert again.unchanged == first.created + first.updated > 0
    assert (again.created, again.updated, again.events, again.rejected) == (0, 0, 0, first.rejected)


def test_new_rows_of_one_shape_take_the_consent_worked_out_once_with_their_own_addresses():
    newsletter = "01LIST0000000000000000000A"
    options = ImportOptions(account_id="01ACCOUNT00000000000000000", subscribe=EMAIL, list_id=newsletter)
    plan = imports.Plan(options, "sqlite", "US", OptInProcess.SINGLE, Proof(source="p.csv", actor="import"))
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    records = [
        {"email": f"p{i}@example.com", "phone_number": f"+1415555017{i}", "sms_consent": sms}
        for i, sms in enumerate(["SUBSCRIBED", "SUBSCRIBED", "UNSUBSCRIBED", "SUBSCRIBED"])
    ]
    rows = [prepare_row(i, r, "US") for i, r in enumerate(records)]
    shapes: dict = {}
    for row in rows:
        shaped, alone = imports.plan_new(row, plan, now, shapes), imports.plan_new(row, plan, now)
        assert [ledger_store.decode_encoded(e) for e in shaped.events] == [
            ledger_store.decode_encoded(e) for e in alone.events
        ]
        assert {e.personal.get("email") for e in map(ledger_store.decode_encoded, shaped.events)} <= {row.email, None}
        assert shaped.projection == {t: [(r[0], shaped.profile_id, *r[2:]) if t != "list_members" else
                                          (*r[:2], shaped.profile_id, *r[3:]) for r in rows_]
                                     for t, rows_ in alone.projection.items()}  # fmt: skip
    assert len(shapes) == 2  # subscribed to SMS, and unsubscribed from it


def test_a_batch_that_fails_to_write_stops_the_import_with_its_error_and_earlier_batches_stay(
    engine, account_id, tmp_path, monkeypatch
):
    path = _csv(tmp_path / "p.csv", ["email"], *[[f"p{i}@example.com"] for i in range(30)])
    real, written = imports._import_batch, []

    def failing_third(conn, plan, now, prepared, report, rejects, *rest):
        if len(written) == 2:
            raise RuntimeError("disk full")
        touched = real(conn, plan, now, prepared, report, rejects, *rest)
        written.append(len(prepared))
        return touched

    monkeypatch.setattr(imports, "_import_batch", failing_third)
    with pytest.raises(RuntimeError, match="disk full"):
        _run(engine, account_id, path, subscribe=EMAIL, batch_size=10)
    assert len(written) == 2  # (the first batches are smaller: importer.RAMP_FROM)
    assert _count(engine, "profiles", account_id) == sum(written)
    _assert_consistent(engine, account_id)


# --- consent -------------------------------------------------------------------------------------


def test_subscribe_flag_subscribes_with_method_manual_import(engine, account_id, tmp_path):
    path = _csv(tmp_path / "p.csv", ["email", "phone_number"], ["a@example.com", "+14155550151"], ["b@example.com", ""])
    report = _run(engine, account_id, path, subscribe=imports.parse_subscribe("email,sms"))
    assert report.subscribed == 2
    a = _profile(engine, account_id, email="a@example.com")["subscriptions"]
    assert a["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert a["email"]["marketing"]["method"] == "MANUAL_IMPORT"
    assert a["email"]["marketing"]["double_optin"] is False
    assert a["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert a["sms"]["marketing"]["method"] == "MANUAL_IMPORT"
    b = _profile(engine, account_id, email="b@example.com")["subscriptions"]
    assert b["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert b["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"  # no number, no SMS consent
    _, events = profiles.timeline(engine, account_id, Locator("email", "a@example.com"))
    assert [e["metric"] for e in events] == ["Subscribed to Email Marketing", "Subscribed to SMS Marketing"]
    assert all(e["method"] == "MANUAL_IMPORT" and e.get("triggers_automation", True) for e in events)
    _assert_consistent(engine, account_id)


def test_unknown_subscribe_channel_is_refused_naming_the_option():
    with pytest.raises(DomainError) as e:
        imports.parse_subscribe("email,fax")
    assert e.value.field == "subscribe" and "fax" in str(e.value)


@pytest.mark.parametrize("value", ["false", "no", "NEVER_SUBSCRIBED"])
def test_unticked_email_consent_leaves_never_subscribed_even_with_the_subscribe_flag(engine, account_id, tmp_path,
                                                                                     value):  # fmt: skip
    # Rule 9: only explicit opt-in counts; a per-row value overrides --subscribe.
    path = _csv(tmp_path / "p.csv", ["email", "email_consent"], ["no@example.com", value], ["yes@example.com", ""])
    report = _run(engine, account_id, path, subscribe=EMAIL)
    assert (report.created, report.subscribed) == (2, 1)
    unticked = _email_marketing(engine, account_id, "no@example.com")
    assert unticked["consent"] == "NEVER_SUBSCRIBED"
    assert unticked["suppression"] == []  # and not an opt-out either
    assert _email_marketing(engine, account_id, "yes@example.com")["consent"] == "SUBSCRIBED"
    assert _count(engine, "consent_events", account_id) == 1


def test_unticked_email_consent_does_not_withdraw_an_existing_subscription(engine, account_id, tmp_path):
    _run(engine, account_id, _csv(tmp_path / "a.csv", ["email", "email_consent"], ["x@example.com", "SUBSCRIBED"]))
    report = _run(engine, account_id, _csv(tmp_path / "b.csv", ["email", "email_consent"], ["x@example.com", "false"]))
    assert (report.unchanged, report.events) == (1, 0)
    assert _email_marketing(engine, account_id, "x@example.com")["consent"] == "SUBSCRIBED"


def test_unsubscribed_email_consent_unsubscribes(engine, account_id, tmp_path):
    _run(engine, account_id, _csv(tmp_path / "a.csv", ["email"], ["was@example.com"]), subscribe=EMAIL)
    path = _csv(
        tmp_path / "b.csv",
        ["email", "email_consent"],
        ["was@example.com", "UNSUBSCRIBED"],
        ["stranger@example.com", "unsubscribed"],
    )
    report = _run(engine, account_id, path, subscribe=EMAIL)  # the row's value overrides the flag
    assert (report.updated, report.created, report.subscribed) == (1, 1, 0)
    for email in ("was@example.com", "stranger@example.com"):
        block = _email_marketing(engine, account_id, email)
        assert block["consent"] == "UNSUBSCRIBED"
        assert block["can_receive_email_marketing"] is False
        assert [s["reason"] for s in block["suppression"]] == ["UNSUBSCRIBE"]
    _, events = profiles.timeline(engine, account_id, Locator("email", "was@example.com"))
    assert [e["metric"] for e in events if e["metric"]] == [
        "Subscribed to Email Marketing",
        "Unsubscribed from Email Marketing",
    ]
    _assert_consistent(engine, account_id)


def _payloads(engine, account_id: str, metric: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload FROM consent_events WHERE account_id = :a AND metric = :m ORDER BY seq"),
            {"a": account_id, "m": metric},
        )
        return [json.loads(r.payload) for r in rows]


def test_per_row_consented_at_is_a_historical_import_clamped_before_1990(engine, account_id, tmp_path):
    path = _csv(
        tmp_path / "p.csv",
        ["email", "email_consent", "consented_at"],
        ["old@example.com", "SUBSCRIBED", "1985-05-01"],
        ["mid@example.com", "SUBSCRIBED", "2015-03-04T05:06:07+02:00"],
        ["future@example.com", "SUBSCRIBED", "2999-01-01"],
        ["garbled@example.com", "SUBSCRIBED", "last tuesday"],
        ["now@example.com", "SUBSCRIBED", ""],
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.subscribed, report.rejected) == (3, 2)
    assert {line: r["field"] for line, r in _rejects(rejects).items()} == {4: "consented_at", 5: "consented_at"}

    assert _email_marketing(engine, account_id, "old@example.com")["consent_timestamp"] == "1990-01-01T00:00:00+00:00"
    mid = _email_marketing(engine, account_id, "mid@example.com")
    assert mid["consent_timestamp"] == "2015-03-04T03:06:07+00:00"
    assert mid["last_updated"] > "2020"  # recorded now, about a past consent

    old, middle, current = _payloads(engine, account_id, "Subscribed to Email Marketing")
    assert old["historical_import"] is True and old["triggers_automation"] is False
    assert old["timestamp_clamped"] is True
    assert middle["historical_import"] is True and middle["triggers_automation"] is False
    assert "timestamp_clamped" not in middle
    # A row without a date is a live subscription: it may trigger flows.
    assert "historical_import" not in current and current.get("triggers_automation", True) is True
    _assert_consistent(engine, account_id)


def test_double_opt_in_list_leaves_imported_rows_pending(engine, account_id, tmp_path):
    vip = lists.create_list(engine, account_id, "VIP", double_opt_in=True).id
    path = _csv(
        tmp_path / "p.csv",
        ["email", "consented_at"],
        ["pending@example.com", ""],
        ["historical@example.com", "2020-01-01"],
    )
    report = _run(engine, account_id, path, subscribe=EMAIL, list_id=vip)
    assert report.created == 2
    assert report.subscribed == 1  # pending is not consent (rule 8); the historical row skips double opt-in
    assert report.pending == 1

    pending = _email_marketing(engine, account_id, "pending@example.com")
    assert pending["consent"] == "NEVER_SUBSCRIBED"
    decision = profiles.decide_for(
        engine, account_id, Locator("email", "pending@example.com"), Channel.EMAIL, list_id=vip
    ).decision
    assert decision.verdict.value == "DENY" and "DOUBLE_OPTIN_PENDING" in decision.reasons
    assert _count(engine, "pending_optins", account_id) == 1
    assert _count(engine, "list_members", account_id, "AND list_id = :l", l=vip) == 1

    historical = _email_marketing(engine, account_id, "historical@example.com")
    assert historical["consent"] == "SUBSCRIBED"
    assert [x.profile_count for x in lists.all_lists(engine, account_id)] == [1]

    again = _run(engine, account_id, path, subscribe=EMAIL, list_id=vip)  # still pending, nothing re-requested
    assert (again.unchanged, again.events) == (2, 0)
    _assert_consistent(engine, account_id)


def test_single_opt_in_list_import_subscribes_and_joins_the_list(engine, account_id, tmp_path):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    path = _csv(tmp_path / "p.csv", ["email"], ["a@example.com"], ["b@example.com"])
    assert _run(engine, account_id, path, subscribe=EMAIL, list_id=newsletter).subscribed == 2
    assert [x.profile_count for x in lists.all_lists(engine, account_id)] == [2]
    decision = profiles.decide_for(
        engine, account_id, Locator("email", "a@example.com"), Channel.EMAIL, list_id=newsletter
    ).decision
    assert decision.verdict.value == "ALLOW"


def test_import_into_an_unknown_list_or_account_writes_nothing(engine, account_id, tmp_path):
    path = _csv(tmp_path / "p.csv", ["email"], ["a@example.com"])
    with pytest.raises(DomainError) as e:
        _run(engine, account_id, path, subscribe=EMAIL, list_id="nope12")
    assert e.value.field == "list"
    with pytest.raises(DomainError) as e:
        _run(engine, "0" * 26, path)
    assert e.value.field == "account"
    assert _count(engine, "profiles", account_id) == 0
    assert _ledger_seq(engine, account_id) == 0


def test_a_reimport_with_another_number_is_refused_and_only_an_edit_by_id_changes_it(engine, account_id, tmp_path):
    header = ["email", "phone_number", "sms_consent", "email_consent"]
    _run(engine, account_id, _csv(tmp_path / "a.csv", header,
                                  ["m@example.com", "+14155550161", "SUBSCRIBED", "SUBSCRIBED"]))  # fmt: skip
    before = _profile(engine, account_id, email="m@example.com")
    assert before["subscriptions"]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    seq = _ledger_seq(engine, account_id)

    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, _csv(tmp_path / "b.csv", header, ["m@example.com", "+14155550162", "", ""]),
                  rejects_path=str(rejects))  # fmt: skip
    assert (report.updated, report.rejected, report.events) == (0, 1, 0)
    assert "m@example.com" in _rejects(rejects)[2]["reason"] and "+14155550162" in _rejects(rejects)[2]["reason"]
    assert _profile(engine, account_id, email="m@example.com")["phone_number"] == "+14155550161"
    assert _ledger_seq(engine, account_id) == seq

    # An explicit edit of the profile by id changes the number, and resets its SMS consent.
    profile_writes.update_profile(
        engine,
        account_id,
        get_profile_resource(engine, account_id, Locator("email", "m@example.com"))["id"],
        profile_writes.ProfileInput(values={"phone_number": "+14155550162"}),
    )
    after = _profile(engine, account_id, email="m@example.com")
    assert after["phone_number"] == "+14155550162"
    assert after["subscriptions"]["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert after["subscriptions"]["sms"]["transactional"]["consent"] == "NEVER_SUBSCRIBED"
    assert after["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"  # email consent stays
    _, events = profiles.timeline(engine, account_id, Locator("email", "m@example.com"))
    assert "identifier.changed" in [e["type"] for e in events]
    # The old number's consent is still in the ledger.
    assert any(e.get("personal", {}).get("phone_number") == "+14155550161" for e in events)
    _assert_consistent(engine, account_id)


# --- scale: worker processes and a killed import -------------------------------------------------


def test_import_with_worker_processes_lands_the_same_as_in_process(engine, account_id, tmp_path):
    path = synthetic.write_csv(tmp_path / "people.csv", 1500, invalid_ratio=0.05, consent_mix=True)
    other = accounts.create_account(engine, "Same file, one process", "US").account.id
    pooled = _run(engine, account_id, path, workers=2, batch_size=200, rejects_path=str(tmp_path / "r1.csv"))
    single = _run(engine, other, path, workers=0, batch_size=200, rejects_path=str(tmp_path / "r2.csv"))
    assert pooled.as_dict() == single.as_dict()
    assert pooled.rejected > 0 and pooled.subscribed > 0 and pooled.created + pooled.rejected == 1500
    assert (tmp_path / "r1.csv").read_text() == (tmp_path / "r2.csv").read_text()
    query = (
        "SELECT p.email, c.channel, c.purpose, c.status FROM consents c JOIN profiles p "
        "ON p.account_id = c.account_id AND p.id = c.profile_id WHERE c.account_id = :a"
    )
    with engine.connect() as conn:
        pooled_rows = sorted(map(tuple, conn.execute(text(query), {"a": account_id})))
        single_rows = sorted(map(tuple, conn.execute(text(query), {"a": other})))
    assert pooled_rows == single_rows and pooled_rows
    _assert_consistent(engine, account_id)


def test_workers_chosen_by_the_import_start_on_later_chunks_while_the_first_is_worked_out_here(
    engine, account_id, tmp_path, monkeypatch
):
    # Workers are chosen (workers=None) for a file this size once the threshold is lowered; the first
    # chunk is worked out in this process while they take the next ones, and a re-import of the same
    # file (its first chunk all unchanged) starts none and finds every row unchanged.
    monkeypatch.setattr(imports, "WORKERS_FROM_BYTES", 1000)
    monkeypatch.setattr(imports.os, "cpu_count", lambda: 2)
    path = synthetic.write_csv(tmp_path / "people.csv", 900, invalid_ratio=0.05, consent_mix=True)
    other = accounts.create_account(engine, "Same file, one process", "US").account.id
    chosen = _run(engine, account_id, path, workers=None, batch_size=200, rejects_path=str(tmp_path / "r1.csv"))
    single = _run(engine, other, path, workers=0, batch_size=200, rejects_path=str(tmp_path / "r2.csv"))
    assert chosen.as_dict() == single.as_dict()
    assert (tmp_path / "r1.csv").read_text() == (tmp_path / "r2.csv").read_text()
    again = _run(engine, account_id, path, workers=None, batch_size=200)
    assert again.unchanged == chosen.created + chosen.updated > 0
    assert (again.created, again.updated, again.events) == (0, 0, 0)
    _assert_consistent(engine, account_id)


def test_an_import_starts_one_worker_for_a_small_file_and_more_only_for_a_large_rest():
    # No worker on one core or for a small rest; one keeps the writer fed; each more one core each,
    # for BYTES_PER_MORE_WORKER more of the file, and never past four.
    small, more = imports.WORKERS_FROM_BYTES, imports.BYTES_PER_MORE_WORKER
    assert imports.worker_count(1, 100 * more) == 0
    assert imports.worker_count(8, small) == 0
    assert imports.worker_count(2, small + 1) == 1
    assert imports.worker_count(2, more - 1) == 1
    assert imports.worker_count(2, more) == 2
    assert imports.worker_count(2, 100 * more) == 2
    assert imports.worker_count(16, 2 * more) == 3
    assert imports.worker_count(16, 100 * more) == 4


KILLABLE_IMPORT = textwrap.dedent(
    """
    import sys
    from assent.domain import Channel, Purpose
    from assent.services.imports.importer import ImportOptions, import_profiles
    from assent.store.db import make_engine

    url, account_id, path = sys.argv[1:]
    options = ImportOptions(account_id=account_id, subscribe=((Channel.EMAIL, Purpose.MARKETING),),
                            batch_size=1000, workers=0)
    import_profiles(make_engine(url), path, options)
    """
)


def _batch_ends(batch_size: int, rows: int) -> set[int]:
    """Where an import's batches end, in rows from the start: the first ones are smaller
    (importer.RAMP_FROM times, then twice as large each time up to `batch_size`)."""
    ends, size, at = set(), max(1, batch_size // imports.RAMP_FROM), 0
    while at < rows:
        at = min(rows, at + size)
        ends.add(at)
        size = min(batch_size, 2 * size)
    return ends


def test_killed_import_leaves_the_database_consistent_and_a_rerun_completes_it(engine, db_url, account_id, tmp_path):
    n = 20_000
    path = synthetic.write_csv(tmp_path / "big.csv", n)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_IMPORT, db_url, account_id, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while _ledger_seq(engine, account_id) == 0:
            if proc.poll() is not None:
                pytest.fail(f"the import exited before it wrote anything: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the import wrote nothing in 120 s")
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    landed = _ledger_seq(engine, account_id)
    assert 0 < landed < n, "the import was not interrupted midway"
    # Whole batches only: every profile that landed has its subscription, and nothing else landed.
    assert landed in _batch_ends(1000, n)
    assert _count(engine, "profiles", account_id) == landed
    assert _count(engine, "consents", account_id, "AND status = 'SUBSCRIBED'") == landed
    _assert_consistent(engine, account_id)

    report = _run(engine, account_id, path, subscribe=EMAIL, batch_size=1000)
    assert (report.created, report.unchanged, report.subscribed, report.rejected) == (n - landed, landed, n - landed, 0)

    assert _count(engine, "profiles", account_id) == n
    assert _scalar(engine, "SELECT count(DISTINCT email) FROM profiles WHERE account_id = :a", a=account_id) == n
    assert _scalar(engine, "SELECT count(DISTINCT external_id) FROM profiles WHERE account_id = :a", a=account_id) == n
    subscribed = "AND metric = 'Subscribed to Email Marketing'"
    assert _count(engine, "consent_events", account_id, subscribed) == n
    assert _scalar(
        engine,
        f"SELECT count(DISTINCT profile_id) FROM consent_events WHERE account_id = :a {subscribed}",
        a=account_id,
    ) == n  # fmt: skip
    assert _count(engine, "consents", account_id, "AND status = 'SUBSCRIBED'") == n
    _assert_consistent(engine, account_id)


def test_quoted_cells_with_newlines_survive_batches_and_keep_their_line_numbers(engine, account_id, tmp_path):
    # Batches are cut between records without parsing: a quoted cell spanning lines must not be cut.
    path = tmp_path / "multiline.csv"
    path.write_text(
        'email,note\n'
        'a@example.com,"first line\nsecond ""quoted"" line"\n'
        'bad@@example.com,x\n'
        'b@example.com,"one\n\ntwo"\n'
        'c@example.com,plain\n',
        encoding="utf-8",
    )  # fmt: skip
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, batch_size=1, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (3, 1)
    with engine.connect() as conn:
        result = conn.execute(text("SELECT email, properties FROM profiles WHERE account_id = :a"), {"a": account_id})
        notes = {email: props for email, props in result}
    assert json.loads(notes["a@example.com"])["note"] == 'first line\nsecond "quoted" line'
    assert json.loads(notes["b@example.com"])["note"] == "one\n\ntwo"
    assert json.loads(notes["c@example.com"])["note"] == "plain"
    rejected = list(csv.DictReader(rejects.open()))
    assert [(r["line"], r["field"]) for r in rejected] == [("4", "email")]  # the file's own line number


def test_a_nul_character_in_a_field_rejects_the_row_and_the_rest_lands(engine, account_id, tmp_path):
    rows = (["ok@example.com", "Ada"], ["nul@example.com", "A\x00da"])
    path = _csv(tmp_path / "nul.csv", ["email", "first_name"], *rows)
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (1, 1)
    [rejected] = list(csv.DictReader(rejects.open()))
    assert (rejected["line"], rejected["field"]) == ("3", "first_name")


def test_a_csv_cell_over_pythons_default_size_is_read_whole_and_checked_as_its_field(engine, account_id, tmp_path):
    # 200,000 characters is over csv's default field_size_limit (131,072): once a row lost its cells to it.
    header = ["email", "note", "last_name"]
    path = _csv(
        tmp_path / "big.csv", header, ["big@example.com", "x" * 200_000, "B"], ["long@example.com", "y", "L" * 200_000]
    )
    rejects = tmp_path / "rejects.csv"
    report = _run(engine, account_id, path, rejects_path=str(rejects))
    assert (report.created, report.rejected) == (1, 1)
    csv.field_size_limit(1 << 20)  # this test's own reader of the rejects file
    [rejected] = list(csv.DictReader(rejects.open()))
    assert (rejected["line"], rejected["field"]) == ("3", "last_name")
    assert json.loads(rejected["row"]) == {"email": "long@example.com", "note": "y", "last_name": "L" * 200_000}
    assert _profile(engine, account_id, email="big@example.com")["properties"]["note"] == "x" * 200_000


@pytest.mark.parametrize(
    "text",
    [
        "a@example.com,Ada,x\nb@example.com,Bob,y\n",
        "a@example.com,Ada,x\r\nb@example.com,Bob,y\r\n",  # CRLF
        "a@example.com,Ada\n\n,,\n , ,\nb@example.com,,\n",  # blank, empty-celled and spaces-only rows
        "a@example.com,Ada,x,,\nb@example.com,Bob,y,extra\nc@example.com",  # trailing empty cells, one too many, no end
        "a@example.com,Ada,x,\n" * 3 + "\u00e9t\u00e9@example.com,\u00c9lodie,z",
    ],
    ids=["lf", "crlf", "blank-rows", "extra-cells", "non-ascii"],
)
def test_a_csv_chunk_without_quotes_is_read_by_lines_as_the_csv_module_reads_it(text):
    # Without quotes, NUL or a lone CR every line is one row, split at the delimiter: cheaper than
    # the csv module, and it must read the same cells on the same line numbers (and so give the
    # same digests), whatever falls back to the module (a quote in another chunk of the same file).
    chunk = import_rows.RawChunk("csv", ["email", None, "note"], 7, text, ",")
    by_lines = list(import_rows.csv_cells(chunk))
    assert by_lines == list(import_rows._csv_module_cells(chunk))
    assert [line for line, _ in by_lines] == [
        n for n, raw in enumerate(text.split("\n"), start=7) if raw.rstrip("\r").replace(",", "")
    ]
    assert list(import_rows.records(chunk)) == [
        (
            line,
            row if isinstance(row, dict) else {"email": row[0], "note": row[2]} if len(row) > 2 else {"email": row[0]},
        )
        for line, row in by_lines
    ]


def test_a_csv_chunk_with_a_quote_is_read_by_the_csv_module():
    chunk = import_rows.RawChunk("csv", ["email", "note"], 2, 'a@example.com,"two\nlines"\nb@example.com,x\n', ",")
    assert list(import_rows.csv_cells(chunk)) == [(3, ["a@example.com", "two\nlines"]), (4, ["b@example.com", "x"])]


@pytest.mark.parametrize("where", ["mid-chunk", "last line"])
def test_a_stray_quote_rejects_its_own_line_and_never_swallows_the_rows_after_it(where):
    # Read as CSV reads it, the open quote would take in the next lines as one cell of its row:
    # their rows lost, or their text put in another person's field.
    after = 'b@example.com,x\nc@example.com,"y, z"\nd@example.com,w\n' if where == "mid-chunk" else "b@example.com,x\n"
    text = 'a@example.com,"Oops\n' + after
    chunk = import_rows.RawChunk("csv", ["email", "note"], 2, text, ",")
    rows = list(import_rows.csv_cells(chunk))
    (line, error), *rest = rows
    assert line == 2 and "a quote opens a cell here and is never closed" in error["__error__"]
    assert "would run on to line" in error["__error__"]
    assert error["__raw__"] == 'a@example.com,"Oops'
    expected = [(3, ["b@example.com", "x"])]
    if where == "mid-chunk":
        expected += [(4, ["c@example.com", "y, z"]), (5, ["d@example.com", "w"])]
    assert rest == expected
    # On the chunk's last line (the file's, or where a chunk is cut), the quote is never closed either.
    for last in ('b@example.com,"Zed\n', 'b@example.com,"Zed', 'b@example.com,x,"Zed,More\n'):
        chunk = import_rows.RawChunk("csv", ["email", "note"], 2, "a@example.com,x\n" + last, ",")
        rows = list(import_rows.csv_cells(chunk))
        assert rows[0] == (2, ["a@example.com", "x"]) and rows[1][0] == 3, rows
        assert "never closed" in rows[1][1]["__error__"] and "run on" not in rows[1][1]["__error__"], rows
    # A quoted cell that does close over several lines is one cell, as before.
    fine = import_rows.RawChunk("csv", ["email", "note"], 2, 'a@example.com,"two\nlines"\nb@example.com,x\n', ",")
    assert list(import_rows.csv_cells(fine)) == [(3, ["a@example.com", "two\nlines"]), (4, ["b@example.com", "x"])]


@pytest.mark.parametrize("bad", ['"a@example.com"m,x', 'a@example.com,"Ada"Lovelace', '"a@example.com" ,x'])
def test_consent_never_lands_on_an_address_nobody_gave_text_after_a_closing_quote_rejects_its_row(bad):
    # Read leniently, "a@example.com"m is the cell a@example.comm: somebody else's address, maybe.
    text = f'{bad}\nb@example.com,"quoted, fine"\nc@example.com,5\'10" tall\n'
    chunk = import_rows.RawChunk("csv", ["email", "note"], 2, text, ",")
    (line, error), *rest = list(import_rows.csv_cells(chunk))
    assert line == 2 and "text after its closing quote" in error["__error__"], error
    assert error["__raw__"] == bad
    assert rest == [(3, ["b@example.com", "quoted, fine"]), (4, ["c@example.com", "5'10\" tall"])]


def test_an_import_rejects_the_row_with_text_after_a_closing_quote_and_imports_the_rest(engine, account_id, tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_text('email,first_name\n"ada@example.com"x,Ada\n"bo@example.com","Bo"\n')
    report = _run(engine, account_id, path, rejects_path=str(tmp_path / "rejects.csv"))
    assert (report.rows, report.created, report.rejected) == (2, 1, 1)
    assert [(r.line, r.field) for r in report.first_rejected] == [(2, "row")]
    assert _count(engine, "profiles", account_id) == 1


def test_a_header_with_a_quote_it_does_not_close_is_refused_before_any_row_is_read(engine, account_id, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text('email,"first_name\na@example.com,Ada\nb@example.com,Bo"\n')
    with pytest.raises(DomainError, match=r"the header \(line 1\) opens a quote it does not close") as caught:
        _run(engine, account_id, path)
    assert caught.value.field == "file"
    assert _count(engine, "profiles", account_id) == 0


def test_an_import_with_a_stray_quote_imports_every_other_row_and_rejects_the_quotes_line(
    engine, account_id, tmp_path, monkeypatch
):
    # A chunk takes in at most QUOTED_LINES_AT_MOST lines to close a quote; past that it is cut, and
    # the next chunk reads on as usual: a stray quote never makes the rest of the file one chunk.
    monkeypatch.setattr(import_rows, "QUOTED_LINES_AT_MOST", 3)
    lines = [f"p{n}@example.com,Name {n}" for n in range(40)]
    lines[5] = 'p5@example.com,"Oops'
    lines[39] = 'p39@example.com,"Last'
    path = tmp_path / "stray.csv"
    path.write_text("email,first_name\n" + "\n".join(lines) + "\n")
    with import_rows.ImportFile(path, "csv") as source:
        assert max(chunk.text.count("\n") for chunk in source.chunks(8)) == 8 + 3
    report = _run(engine, account_id, path, batch_size=8, rejects_path=str(tmp_path / "rejects.csv"))
    assert (report.rows, report.created, report.rejected) == (40, 38, 2)
    assert [(r.line, r.field) for r in report.first_rejected] == [(7, "row"), (41, "row")]
    assert _profile(engine, account_id, email="p6@example.com")["first_name"] == "Name 6"
    assert _profile(engine, account_id, email="p38@example.com")["first_name"] == "Name 38"


@pytest.mark.parametrize("first", ["plain", "quoted"])
def test_a_reimported_csv_row_is_unchanged_whether_or_not_its_chunk_has_quotes(
    engine, account_id, tmp_path, monkeypatch, first
):
    # A row's digest is of its cells: the same when its chunk is split by lines or read by the csv
    # module, so the re-import takes both rows by their digests, without working them out.
    files = {"plain": "email,first_name\nada@example.com,Ada\nbob@example.com,Bob\n",
             "quoted": 'email,first_name\nada@example.com,Ada\n"bob@example.com",Bob\n'}  # fmt: skip
    for name, content in files.items():
        (tmp_path / f"{name}.csv").write_text(content)
    assert _run(engine, account_id, tmp_path / f"{first}.csv").created == 2
    worked_out = []
    monkeypatch.setattr(import_work, "prepare_row", lambda *a: worked_out.append(a) or prepare_row(*a))
    again = _run(engine, account_id, tmp_path / f"{'quoted' if first == 'plain' else 'plain'}.csv")
    assert (again.unchanged, again.events, again.updated, worked_out) == (2, 0, 0, [])


@given(st.lists(st.text(alphabet=',;"[]\r\n\x00ab \u00e9', max_size=4), min_size=1, max_size=4),
       st.lists(st.text(alphabet=',;"[]\r\n\x00ab \u00e9', max_size=4), min_size=1, max_size=4),
       st.sampled_from([",", ";"]))  # fmt: skip
@example(["a,b"], ["a", "b"], ",")  # a cell holding the delimiter is not two cells
@example(["a,b"], ['["a', 'b"]'], ",")  # nor is it the JSON of one
def test_a_rows_digested_text_is_its_cells_and_no_two_rows_of_different_cells_share_it(a, b, delimiter):
    texts = {import_rows.digested_text(delimiter, cells) for cells in (a, b)}
    assert len(texts) == (1 if a == b else 2)
    for cells in (a, b):
        line = delimiter.join(cells)  # a line csv_rows reads (no quote, line end nor NUL) splits into cells
        if not any(c in line for c in '"\r\n\x00') and line.split(delimiter) == cells:
            assert import_rows.digested_text(delimiter, line) == import_rows.digested_text(delimiter, cells)
