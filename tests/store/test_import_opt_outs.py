"""A file import never undoes an opt-out (domain.opt_outs): a person who withdrew SMS, unsubscribed
from email, complained or left a list stays so when the same (or any older) file is imported again,
unless the row dates its consent after the opt-out. The rest of the row still applies, and the
report counts the rows as `kept_opt_outs`. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from assent.api.resources import get_profile_resource
from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.imports import importer as imports
from assent.services.imports.importer import ImportOptions, import_profiles
from assent.services.lists import lists

from .test_import import _csv

ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"
ANN_PHONE, BOB_PHONE = "+14155550101", "+14155550102"
EMAIL_SMS = tuple(imports.parse_subscribe("email,sms"))


def _people(tmp_path: Path, name: str = "people.csv", ann_name: str = "Ann") -> Path:
    return _csv(
        tmp_path / name,
        ["email", "phone_number", "first_name"],
        [ANN, ANN_PHONE, ann_name],
        [BOB, BOB_PHONE, "Bob"],
    )


def _run(engine, account_id: str, path: Path, **kw) -> imports.ImportReport:
    kw.setdefault("workers", 0)
    kw.setdefault("subscribe", EMAIL_SMS)
    return import_profiles(engine, path, ImportOptions(account_id=account_id, **kw))


def _profile(engine, account_id: str, email: str) -> dict:
    return get_profile_resource(engine, account_id, Locator("email", email))["attributes"]


def _subs(engine, account_id: str, email: str) -> dict:
    return _profile(engine, account_id, email)["subscriptions"]


def _ledger_seq(engine, account_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT ledger_seq FROM accounts WHERE id = :a"), {"a": account_id}).scalar()


def _members(engine, account_id: str, list_id: str) -> int:
    return next(x.profile_count for x in lists.all_lists(engine, account_id) if x.id == list_id)


def _assert_consistent(engine, account_id: str) -> None:
    """The ledger verifies and a replay of it matches the stored projection exactly."""
    verification = ledger.verify(engine, account_id)
    assert verification.ok, verification
    assert verification.events == _ledger_seq(engine, account_id)
    assert ledger.rebuild(engine, account_id, check=True).differences == []


def test_an_opt_out_is_never_undone_by_a_file_import_sms(engine, account_id, tmp_path):
    first = _run(engine, account_id, _people(tmp_path))
    assert (first.created, first.subscribed, first.kept_opt_outs) == (2, 2, 0)
    consent.unsubscribe(engine, account_id, Locator("phone_number", ANN_PHONE), Channel.SMS, method="MANUAL_REMOVE")
    before = _subs(engine, account_id, ANN)["sms"]

    seq = _ledger_seq(engine, account_id)
    again = _run(engine, account_id, _people(tmp_path))
    assert (again.kept_opt_outs, again.subscribed, again.events) == (1, 0, 0)
    assert (again.unchanged, again.updated, again.created) == (2, 0, 0)  # unchanged keeps its meaning
    assert _ledger_seq(engine, account_id) == seq
    sms = _subs(engine, account_id, ANN)["sms"]
    assert sms == before
    assert sms["marketing"]["consent"] == "UNSUBSCRIBED" and sms["marketing"]["method"] == "MANUAL_REMOVE"
    assert sms["transactional"]["consent"] == "UNSUBSCRIBED"
    assert _subs(engine, account_id, ANN)["email"]["marketing"]["consent"] == "SUBSCRIBED"  # other channels alone
    assert _subs(engine, account_id, BOB)["sms"]["marketing"]["consent"] == "SUBSCRIBED"

    # The rest of a row still applies: a new name lands, the opt-out stays.
    renamed = _run(engine, account_id, _people(tmp_path, "renamed.csv", ann_name="Anna"))
    assert (renamed.updated, renamed.kept_opt_outs, renamed.events) == (1, 1, 0)
    assert _profile(engine, account_id, ANN)["first_name"] == "Anna"
    assert _subs(engine, account_id, ANN)["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"

    # A file imported unchanged once more is a digest look-up: counted unchanged, no events.
    unchanged = _run(engine, account_id, _people(tmp_path, "renamed.csv", ann_name="Anna"))
    assert (unchanged.unchanged, unchanged.events) == (2, 0)
    _assert_consistent(engine, account_id)


def test_an_opt_out_is_never_undone_by_a_file_import_sms_consent_column(engine, account_id, tmp_path):
    path = _csv(tmp_path / "p.csv", ["email", "phone_number", "sms_consent"], [ANN, ANN_PHONE, "SUBSCRIBED"])
    assert _run(engine, account_id, path, subscribe=()).subscribed == 1
    consent.unsubscribe(engine, account_id, Locator("phone_number", ANN_PHONE), Channel.SMS)
    again = _run(engine, account_id, path, subscribe=())
    assert (again.kept_opt_outs, again.events) == (1, 0)
    assert _subs(engine, account_id, ANN)["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    _assert_consistent(engine, account_id)


def test_an_opt_out_is_never_undone_by_a_file_import_email_unsubscribe(engine, account_id, tmp_path):
    _run(engine, account_id, _people(tmp_path))
    consent.unsubscribe(engine, account_id, Locator("email", ANN), Channel.EMAIL)
    consent.suppress(engine, account_id, Locator("email", BOB), SuppressionReason.SPAM_COMPLAINT)

    again = _run(engine, account_id, _people(tmp_path))
    assert (again.kept_opt_outs, again.subscribed, again.events) == (2, 0, 0)
    for email, reason in ((ANN, "UNSUBSCRIBE"), (BOB, "SPAM_COMPLAINT")):
        block = _subs(engine, account_id, email)["email"]["marketing"]
        assert block["consent"] == "UNSUBSCRIBED"
        assert [s["reason"] for s in block["suppression"]] == [reason]
        assert _subs(engine, account_id, email)["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    _assert_consistent(engine, account_id)


def test_an_opt_out_is_never_undone_by_a_file_import_list_unsubscribe(engine, account_id, tmp_path):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    _run(engine, account_id, _people(tmp_path), list_id=newsletter)
    assert _members(engine, account_id, newsletter) == 2
    consent.unsubscribe(engine, account_id, Locator("email", BOB), Channel.EMAIL, list_id=newsletter)
    assert _members(engine, account_id, newsletter) == 1

    seq = _ledger_seq(engine, account_id)
    again = _run(engine, account_id, _people(tmp_path), list_id=newsletter)
    assert (again.kept_opt_outs, again.events) == (1, 0)
    assert _ledger_seq(engine, account_id) == seq
    assert _members(engine, account_id, newsletter) == 1
    with engine.connect() as conn:
        reasons = conn.execute(
            text("SELECT reason FROM list_suppressions WHERE account_id = :a AND list_id = :l"),
            {"a": account_id, "l": newsletter},
        ).scalars().all()  # fmt: skip
    assert reasons == ["UNSUBSCRIBE"]
    assert _subs(engine, account_id, BOB)["email"]["marketing"]["consent"] == "SUBSCRIBED"  # left the list only

    # Adding to the list without subscribing keeps the list opt-out too.
    members_only = _run(engine, account_id, _people(tmp_path, "m.csv"), subscribe=(), list_id=newsletter)
    assert (members_only.kept_opt_outs, members_only.events) == (1, 0)
    assert _members(engine, account_id, newsletter) == 1
    _assert_consistent(engine, account_id)


def test_an_import_still_subscribes_new_never_subscribed_and_keeps_subscribed_profiles(engine, account_id, tmp_path):
    _run(engine, account_id, _csv(tmp_path / "a.csv", ["email"], [ANN]), subscribe=())  # NEVER_SUBSCRIBED
    _run(engine, account_id, _csv(tmp_path / "b.csv", ["email"], [BOB]))  # SUBSCRIBED
    path = _csv(tmp_path / "c.csv", ["email"], [ANN], [BOB], [CAT])
    report = _run(engine, account_id, path, subscribe=tuple(imports.parse_subscribe("email")))
    assert (report.created, report.updated, report.unchanged, report.subscribed) == (1, 1, 1, 2)
    assert report.kept_opt_outs == 0
    for email in (ANN, BOB, CAT):
        assert _subs(engine, account_id, email)["email"]["marketing"]["consent"] == "SUBSCRIBED"
    _assert_consistent(engine, account_id)


def test_an_opt_out_is_undone_by_a_file_import_only_when_the_row_dates_its_consent_after_it(
    engine, account_id, tmp_path
):
    _run(engine, account_id, _people(tmp_path))
    consent.unsubscribe(engine, account_id, Locator("phone_number", ANN_PHONE), Channel.SMS)
    consent.unsubscribe(engine, account_id, Locator("phone_number", BOB_PHONE), Channel.SMS)
    opted_out = datetime.fromisoformat(_subs(engine, account_id, ANN)["sms"]["marketing"]["consent_timestamp"])
    later = (opted_out + timedelta(milliseconds=1)).isoformat()
    earlier = (opted_out - timedelta(days=30)).isoformat()
    path = _csv(
        tmp_path / "dated.csv",
        ["email", "phone_number", "consented_at"],
        [ANN, ANN_PHONE, later],  # the person consented again after the opt-out
        [BOB, BOB_PHONE, earlier],  # an older consent: the opt-out stands
    )
    report = _run(engine, account_id, path, subscribe=tuple(imports.parse_subscribe("sms")))
    assert (report.subscribed, report.kept_opt_outs) == (1, 1)
    ann = _subs(engine, account_id, ANN)["sms"]["marketing"]
    assert ann["consent"] == "SUBSCRIBED" and ann["method"] == "MANUAL_IMPORT"
    assert datetime.fromisoformat(ann["consent_timestamp"]) == datetime.fromisoformat(later)
    assert _subs(engine, account_id, BOB)["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    _assert_consistent(engine, account_id)


def test_the_subscribe_api_still_resubscribes_after_an_opt_out(engine, account_id, tmp_path):
    _run(engine, account_id, _people(tmp_path))
    consent.unsubscribe(engine, account_id, Locator("email", ANN), Channel.EMAIL)
    consent.subscribe(engine, account_id, Locator("email", ANN), [(Channel.EMAIL, Purpose.MARKETING)])
    assert _subs(engine, account_id, ANN)["email"]["marketing"]["consent"] == "SUBSCRIBED"
    _assert_consistent(engine, account_id)
