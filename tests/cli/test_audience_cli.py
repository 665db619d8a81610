"""`assent audience count|export`, the real console script on both backends: counts by reason,
exports as NDJSON, Meta's and Google's hashed customer lists (their headers and normalisation),
direct mail with its reasons, the account's ad consent setting, and resuming an interrupted export."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from unittest.mock import ANY

import pytest

from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.accounts import settings
from assent.services.audiences import exports as audience_exports
from assent.services.audiences.resolution import AudienceQuery, Source
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists, segments
from assent.services.profiles.writes import ProfileInput, create_profile
from assent.store import settings as store_settings

from .test_cli import assent, assent_json, assert_one_line_error

HOME = {"address1": "1 Main St", "city": "Springfield", "zip": "12345"}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def people(engine, account_id) -> dict[str, str]:
    """Six profiles: a US subscriber with a phone, a US never-subscribed, a German never-subscribed,
    a German subscriber, a spam complainer, and a postal opt-out with no email consent."""

    def make(email: str, **values: str) -> str:
        return create_profile(engine, account_id, ProfileInput({"email": email, **values})).row.id

    ids = {
        "us_sub": make("  US.Sub@Example.com", phone_number="+1 415 555 2671", first_name="Ada", country="US", **HOME),
        "us_never": make("never@example.com", first_name="Alan", country="US", **HOME),
        "de_never": make("de@example.com", first_name="Emmy", country="Germany", **HOME),
        "de_sub": make("de.sub@example.com", first_name="Carl", country="DE", address1="", city="Berlin"),
        "spam": make("spam@example.com", country="US", **HOME),
        "no_mail": make("nomail@example.com", country="US", **HOME),
    }
    for key in ("us_sub", "de_sub"):
        consent.subscribe(engine, account_id, Locator("id", ids[key]), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.suppress(engine, account_id, Locator("id", ids["spam"]), SuppressionReason.SPAM_COMPLAINT)
    consent.unsubscribe(engine, account_id, Locator("id", ids["no_mail"]), Channel.POSTAL)
    settings.set_value(engine, account_id, "jurisdictions", "none")  # Klaviyo's rules; the packs' test sets "auto"
    return ids


def test_audience_applies_the_jurisdiction_packs(db_url, engine, account_id, people) -> None:
    """GDPR: the German profile that never subscribed may not get email marketing (the US one may);
    UWG: the German one subscribed without a double opt-in may not either."""
    settings.set_value(engine, account_id, "jurisdictions", "auto")
    out = assent_json("audience", "count", "--account", account_id, "--all", db=db_url)
    assert (out["allowed"], out["denied"], out["deferred"]) == (3, 3, 0)
    assert {"code": "EXPLICIT_CONSENT_REQUIRED", "count": 1, "with_reason": 1} in out["denied_by"]
    assert {"code": "DOUBLE_OPTIN_REQUIRED", "count": 1, "with_reason": 1} in out["denied_by"]
    result = assent("audience", "count", "--account", account_id, "--all", db=db_url)
    assert result.returncode == 0 and result.stderr == "" and "3 denied, 0 deferred" in result.stdout


def test_audience_count_by_reason(db_url, account_id, people) -> None:
    out = assent_json("audience", "count", "--account", account_id, "--all", db=db_url)
    assert (out["candidates"], out["allowed"], out["denied"]) == (6, 5, 1)
    # A complaint is also an opt-out: one profile, counted under its first reason, listed under both.
    assert out["denied_by"] == [{"code": "SUPPRESSED_SPAM_COMPLAINT", "count": 1, "with_reason": 1},
                                {"code": "UNSUBSCRIBED", "count": 0, "with_reason": 1}]  # fmt: skip
    human = assent("audience", "count", "--account", account_id, "--all", "--channel", "sms", db=db_url, check=True)
    assert "0 may be sent to, of 6" in human.stdout and "NO_ADDRESS" in human.stdout


def test_audience_count_needs_a_source(db_url, account_id) -> None:
    assert_one_line_error(assent("audience", "count", "--account", account_id, db=db_url), "--list", "--all")


def test_audience_count_of_an_unknown_account_names_the_account_option(db_url) -> None:
    result = assent("audience", "count", "--account", "NOPE", "--all", db=db_url)
    assert_one_line_error(result, "--account: no such account", "NOPE")
    assert "--send-list" not in result.stderr


def test_a_frequency_cap_stored_before_its_range_was_checked_counts_at_the_end_of_the_range(
    db_url, engine, account_id, people
) -> None:
    """A cap past the databases' integers (SQLite's 64 bits, PostgreSQL's 32) was a traceback in
    every count; it is read as the largest cap allowed (10,000 sends, a window of 365 days)."""
    can_receive = {"condition_groups": [{"conditions": [{"type": "assent-can-receive", "channel": "email",
                                                          "can_receive": True}]}]}  # fmt: skip
    segments.create_segment(engine, account_id, "Reachable", can_receive)
    uncapped = assent_json("audience", "count", "--account", account_id, "--all", db=db_url)
    members = assent("segments", "list", "--account", account_id, "--count", db=db_url, check=True).stdout
    with engine.begin() as conn:
        store_settings.set_setting(conn, account_id, "frequency_caps", "email:marketing=99999999999999999999/1d, "
                                   "sms:marketing=3000000000/999999d")  # fmt: skip
    assert assent_json("audience", "count", "--account", account_id, "--all", db=db_url) == {**uncapped, "at": ANY}
    assert assent("segments", "list", "--account", account_id, "--count", db=db_url, check=True).stdout == members


def test_audience_export_ndjson(db_url, account_id, people, tmp_path) -> None:
    out = tmp_path / "allowed.ndjson"
    report = assent_json("audience", "export", "--account", account_id, "--all", "-o", str(out), db=db_url)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert report["written"] == len(rows) == 5
    assert people["spam"] not in {r["id"] for r in rows}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_meta_export_hashes_normalised_addresses_under_regional_consent(db_url, engine, account_id, people,
                                                                         tmp_path) -> None:  # fmt: skip
    out = tmp_path / "meta.csv"
    report = assent_json("audience", "export", "--account", account_id, "--all", "--format", "meta", "-o", str(out),
                         db=db_url)  # fmt: skip
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["email", "phone"]
    # Emails are stored canonical (trimmed, lowercased); Meta's phone is digits with the country code.
    assert [sha("us.sub@example.com"), sha("14155552671")] in rows[1:]
    hashed = {r[0] for r in rows[1:]}
    assert sha("de@example.com") not in hashed  # in Germany without consent
    assert sha("de.sub@example.com") in hashed
    assert sha("spam@example.com") not in hashed
    assert report["written"] == 4
    assert {r["code"]: r["count"] for r in report["denied_by"] if r["count"]} == {
        "NO_AD_CONSENT": 1,
        "SUPPRESSED_SPAM_COMPLAINT": 1,
    }
    settings.set_value(engine, account_id, "ad_audience_consent", "explicit")
    report = assent_json("audience", "export", "--account", account_id, "--all", "--format", "meta", "-o", str(out),
                         db=db_url)  # fmt: skip
    assert report["written"] == 2  # only the two who consented


def test_google_export_hashes_e164_phones(db_url, account_id, people, tmp_path) -> None:
    out = tmp_path / "google.csv"
    assent("audience", "export", "--account", account_id, "--all", "--format", "google", "-o", str(out), db=db_url,
           check=True)  # fmt: skip
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Email", "Phone"]
    assert [sha("us.sub@example.com"), sha("+14155552671")] in rows[1:]


def test_direct_mail_export_leaves_out_postal_opt_outs_and_incomplete_addresses(db_url, account_id, people,
                                                                                tmp_path) -> None:  # fmt: skip
    out = tmp_path / "mail.csv"
    report = assent_json("audience", "export", "--account", account_id, "--all", "--format", "direct-mail",
                         "-o", str(out), db=db_url)  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["profile_id", "first_name", "last_name", "address1", "address2", "city", "region", "zip",
                             "country"]  # fmt: skip
    # Whatever their email consent (the spam complainer, the never-subscribed) they get a postcard.
    got = {r["profile_id"] for r in rows}
    assert got == {people[k] for k in ("us_sub", "us_never", "de_never", "spam")}
    assert {r["code"]: r["count"] for r in report["denied_by"] if r["count"]} == {
        "UNSUBSCRIBED": 1,
        "INCOMPLETE_ADDRESS": 1,
    }


def test_bad_export_format_is_one_line(db_url, account_id, tmp_path) -> None:
    result = assent("audience", "export", "--account", account_id, "--all", "--format", "tiktok",
                    "-o", str(tmp_path / "x"), db=db_url)  # fmt: skip
    assert_one_line_error(result, "format", "meta", "google", "postal")


class Interrupted(Exception):
    pass


def test_an_interrupted_export_resumes_where_it_stopped(db_url, engine, account_id, people, tmp_path,
                                                        monkeypatch) -> None:  # fmt: skip
    out = tmp_path / "resumed.csv"
    fmt = audience_exports.parse_format("csv")
    monkeypatch.setattr(audience_exports, "BATCH", 2)

    def stop(n: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        audience_exports.export(engine, account_id, AudienceQuery((Source("all"),)), fmt, out, progress=stop)
    assert not out.exists() and Path(f"{out}.partial").exists()
    # The partial file may hold more than its checkpoint says (a crash mid-write): it is cut back.
    with open(f"{out}.partial", "a") as f:
        f.write("half a row")
    report = assent_json("audience", "export", "--account", account_id, "--all", "--format", "csv", "-o", str(out),
                         db=db_url)  # fmt: skip
    assert report["resumed"] == 2 and report["written"] == 5
    clean = tmp_path / "clean.csv"
    assent("audience", "export", "--account", account_id, "--all", "--format", "csv", "-o", str(clean), db=db_url,
           check=True)  # fmt: skip
    assert out.read_text() == clean.read_text()
    assert not Path(f"{out}.partial").exists() and not Path(f"{out}.partial.json").exists()
    # A finished export run again is written again, the same.
    again = assent_json("audience", "export", "--account", account_id, "--all", "--format", "csv", "-o", str(out),
                        db=db_url)  # fmt: skip
    assert again["resumed"] == 0 and out.read_text() == clean.read_text()


def test_audience_of_a_list(db_url, engine, account_id, people, tmp_path) -> None:
    vip = lists.create_list(engine, account_id, "VIP")
    lists.add_members(engine, account_id, vip.id, [people["us_sub"], people["spam"]])
    out = assent_json("audience", "count", "--account", account_id, "--list", vip.id, "--send-list", vip.id,
                      db=db_url)  # fmt: skip
    assert (out["candidates"], out["allowed"]) == (2, 1)
    result = assent("audience", "count", "--account", account_id, "--list", "NOSUCH", db=db_url)
    assert_one_line_error(result, "--list", "NOSUCH")
    # a list that names nothing is reported under the option that gave it
    for options, named in ((["--all", "--exclude-list", "NOPE"], "--exclude-list"),
                           (["--list", vip.id, "--send-list", "NOPE"], "--send-list")):  # fmt: skip
        for command in (["count"], ["export", "--output", str(tmp_path / "out.ndjson")]):
            result = assent("audience", *command, "--account", account_id, *options, db=db_url)
            assert_one_line_error(result, f"error: {named}: ", "NOPE")


EMAIL_SUBSCRIBED = {
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


def test_audience_of_a_segment_and_less_a_segment(db_url, engine, account_id, people) -> None:
    made = segments.create_segment(engine, account_id, "Email subscribers", EMAIL_SUBSCRIBED)
    out = assent_json("audience", "count", "--account", account_id, "--segment", made.id, "--channel", "postal",
                      db=db_url)  # fmt: skip
    assert (out["candidates"], out["allowed"]) == (2, 2)  # the two subscribers, both reachable by post
    out = assent_json("audience", "count", "--account", account_id, "--all", "--exclude-segment", made.id, db=db_url)
    assert (out["candidates"], out["excluded"]) == (6, 2)
    result = assent("audience", "count", "--account", account_id, "--segment", "NOSUCH", db=db_url)
    assert_one_line_error(result, "segment", "NOSUCH")
