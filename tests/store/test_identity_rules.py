"""Identity rules on SQLite and PostgreSQL: one person, one profile, and consent only ever on an
identifier that was given for it.

- Emails are canonical (wholly lowercased) and match case-insensitively through every way in.
- A row, item or form whose identifiers name two profiles, or one profile whose other identifier
  differs, is refused naming both: no merge, no re-key, no consent moved; re-runs write nothing.
- SMS and WhatsApp consent go only to a number given (and valid) in the same request."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from assent.api.resources import get_profile_resource
from assent.domain import Channel, DomainError, MissingAddress, Purpose
from assent.services.accounts import accounts
from assent.services.accounts import settings as account_settings
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent import texts
from assent.services.consent.bulk import ConsentItem, ItemError, subscribe_profiles
from assent.services.consent.changes import Locator
from assent.services.imports.importer import ImportOptions, import_profiles
from assent.services.jobs import batches, model, queueing, reading
from assent.services.profiles import reading as profiles
from assent.services.profiles import writes as profile_writes
from assent.services.shared.errors import IdentityConflict
from assent.services.workflows import signup

EMAIL_M = (Channel.EMAIL, Purpose.MARKETING)
SMS_M = (Channel.SMS, Purpose.MARKETING)
ALICE, FRANK, PHONE = "alice@example.com", "frank@example.com", "+14155550199"
HEADER = ["email", "phone_number", "external_id", "email_consent", "sms_consent"]


def _csv(path: Path, *rows: list[str]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _import(engine, account_id: str, path: Path, **kw):
    return import_profiles(engine, path, ImportOptions(account_id=account_id, workers=0, **kw))


def _seq(engine, account_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT ledger_seq FROM accounts WHERE id = :a"), {"a": account_id}).scalar()


def _attrs(engine, account_id: str, field: str, value: str) -> dict:
    return get_profile_resource(engine, account_id, Locator(field, value))["attributes"]


def _status(engine, account_id: str, field: str, value: str, channel: str = "email") -> str:
    return _attrs(engine, account_id, field, value)["subscriptions"][channel]["marketing"]["consent"]


def _rejects(path: Path) -> dict[int, dict]:
    with path.open(newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


def _consistent(engine, account_id: str) -> None:
    assert ledger.verify(engine, account_id).ok
    assert ledger.rebuild(engine, account_id, check=True).differences == []


# --- canonical emails ------------------------------------------------------------------------


def test_emails_match_case_insensitively_in_import_profiles_and_consent(engine, account_id, tmp_path) -> None:
    report = _import(engine, account_id, _csv(tmp_path / "a.csv", ["Bob@Example.COM", "", "", "SUBSCRIBED", ""],
                                                   ["bob@example.com", "", "", "", ""]))  # fmt: skip
    assert (report.created, report.rejected) == (1, 0)
    assert _attrs(engine, account_id, "email", "BOB@example.com")["email"] == "bob@example.com"
    with pytest.raises(profile_writes.DuplicateProfile):
        profile_writes.create_profile(
            engine, account_id, profile_writes.ProfileInput(values={"email": "BOB@EXAMPLE.com"})
        )
    consent.unsubscribe(engine, account_id, Locator("email", "bOb@example.COM"), Channel.EMAIL)
    assert _status(engine, account_id, "email", "bob@example.com") == "UNSUBSCRIBED"
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM profiles WHERE account_id = :a"), {"a": account_id}).scalar() == 1
        )


# --- file import -----------------------------------------------------------------------------


def test_an_import_row_never_moves_consent_to_another_address(engine, account_id, tmp_path) -> None:
    """Issue 8's case: frank@,+14155550199 after Alice owns the number is refused, naming both."""
    _import(engine, account_id, _csv(tmp_path / "a.csv", [ALICE, PHONE, "", "SUBSCRIBED", "SUBSCRIBED"]))
    seq = _seq(engine, account_id)
    rejects = tmp_path / "rejects.csv"
    path = _csv(tmp_path / "b.csv", [FRANK, PHONE, "", "", ""])
    for _ in range(2):  # and re-running it is a no-op
        report = _import(engine, account_id, path, rejects_path=str(rejects))
        assert (report.created, report.updated, report.rejected, report.events) == (0, 0, 1, 0)
        reason = _rejects(rejects)[2]["reason"]
        assert FRANK in reason and PHONE in reason
    assert _seq(engine, account_id) == seq
    alice = _attrs(engine, account_id, "email", ALICE)
    assert alice["phone_number"] == PHONE and alice["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    with pytest.raises(DomainError):
        get_profile_resource(engine, account_id, Locator("email", FRANK))
    _consistent(engine, account_id)


def test_a_row_naming_two_profiles_is_refused_naming_both(engine, account_id, tmp_path) -> None:
    _import(engine, account_id, _csv(tmp_path / "a.csv", [ALICE, "", "", "", ""], ["", PHONE, "ext-9", "", ""]))
    seq = _seq(engine, account_id)
    rejects = tmp_path / "r.csv"
    report = _import(engine, account_id, _csv(tmp_path / "b.csv", [ALICE, "", "ext-9", "SUBSCRIBED", ""]),
                     rejects_path=str(rejects))  # fmt: skip
    assert (report.rejected, report.events) == (1, 0)
    assert ALICE in _rejects(rejects)[2]["reason"] and "ext-9" in _rejects(rejects)[2]["reason"]
    assert _seq(engine, account_id) == seq


def test_filling_an_identifier_the_profile_does_not_have_is_fine(engine, account_id, tmp_path) -> None:
    _import(engine, account_id, _csv(tmp_path / "a.csv", [ALICE, "", "", "", ""]))
    report = _import(engine, account_id, _csv(tmp_path / "b.csv", [ALICE, PHONE, "cust-1", "", "SUBSCRIBED"]))
    assert (report.updated, report.rejected, report.subscribed) == (1, 0, 1)
    alice = _attrs(engine, account_id, "email", ALICE)
    assert (alice["phone_number"], alice["external_id"]) == (PHONE, "cust-1")
    assert alice["subscriptions"]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    again = _import(engine, account_id, _csv(tmp_path / "b.csv", [ALICE, PHONE, "cust-1", "", "SUBSCRIBED"]))
    assert (again.unchanged, again.events) == (1, 0)


def test_sms_consent_in_a_file_needs_the_rows_own_number(engine, account_id, tmp_path) -> None:
    _import(engine, account_id, _csv(tmp_path / "a.csv", [ALICE, PHONE, "", "", ""]))
    seq = _seq(engine, account_id)
    rejects = tmp_path / "r.csv"
    report = _import(engine, account_id, _csv(tmp_path / "b.csv", [ALICE, "", "", "", "SUBSCRIBED"]),
                     rejects_path=str(rejects))  # fmt: skip
    assert (report.rejected, report.events) == (1, 0)
    assert _rejects(rejects)[2]["field"] == "phone_number"
    # --subscribe sms skips a row without its own number, whatever number the profile has.
    report = _import(engine, account_id, _csv(tmp_path / "c.csv", [ALICE, "", "", "", ""]), subscribe=(SMS_M,))
    assert (report.subscribed, report.events) == (0, 0)
    assert _seq(engine, account_id) == seq
    assert _status(engine, account_id, "email", ALICE, "sms") == "NEVER_SUBSCRIBED"


# --- profile-import, bulk import jobs, bulk subscribe ----------------------------------------


def test_profile_import_without_an_id_never_rekeys_a_profile(engine, account_id) -> None:
    alice = profile_writes.create_profile(
        engine, account_id, profile_writes.ProfileInput(values={"email": ALICE, "phone_number": PHONE})
    ).row.id
    for values in ({"email": FRANK, "phone_number": PHONE}, {"email": ALICE, "phone_number": "+14155550100"}):
        with pytest.raises(IdentityConflict) as refused:
            profile_writes.upsert_profile(engine, account_id, None, profile_writes.ProfileInput(values=values))
        assert all(v in str(refused.value) for v in values.values() if v != ALICE or values["email"] == ALICE)
    assert _attrs(engine, account_id, "id", alice)["email"] == ALICE
    # By id it is an explicit edit of that profile, as PATCH is.
    profile_writes.upsert_profile(engine, account_id, alice, profile_writes.ProfileInput(values={"email": FRANK}))
    assert _attrs(engine, account_id, "id", alice)["email"] == FRANK


def test_a_bulk_import_job_item_naming_another_profiles_identifier_is_an_item_error(engine, account_id) -> None:
    consent.subscribe(engine, account_id, Locator("phone_number", PHONE), [SMS_M])
    profile_writes.update_profile(
        engine, account_id, get_profile_resource(engine, account_id, Locator("phone_number", PHONE))["id"],
        profile_writes.ProfileInput(values={"email": ALICE}),
    )  # fmt: skip
    seq = _seq(engine, account_id)
    item = {"type": "profile", "attributes": {"email": FRANK, "phone_number": PHONE}}
    request = {"data": {"type": model.IMPORT, "attributes": {"profiles": {"data": [item]}}}}
    for _ in range(2):
        job = queueing.queue_import(engine, account_id, request)
        batches.run_pending(engine)
        done = reading.get_job(engine, account_id, model.IMPORT, job.id)
        assert (done.status, done.completed_count, done.failed_count) == ("complete", 0, 1)
        _, (error,) = reading.import_errors(engine, account_id, job.id, limit=10)
        assert FRANK in error.detail and PHONE in error.detail
    assert _seq(engine, account_id) == seq
    assert _attrs(engine, account_id, "phone_number", PHONE)["email"] == ALICE


def test_bulk_subscribe_never_moves_consent_and_writes_nothing_on_a_conflict(engine, account_id) -> None:
    subscribe_profiles(engine, account_id, [ConsentItem(None, ALICE, PHONE, (EMAIL_M,))])
    seq = _seq(engine, account_id)
    items = [ConsentItem(None, "ok@example.com", None, (EMAIL_M,)), ConsentItem(None, FRANK, PHONE, (EMAIL_M,))]
    with pytest.raises(ItemError) as refused:
        subscribe_profiles(engine, account_id, items)
    assert refused.value.code == "identifier_conflict" and refused.value.field.startswith("profiles.data.1.")
    assert FRANK in str(refused.value) and PHONE in str(refused.value)
    assert _seq(engine, account_id) == seq


def test_each_new_profile_of_a_bulk_subscribe_records_its_own_addresses(engine, account_id) -> None:
    people = [(f"p{i}@example.com", f"+1415555018{i}") for i in range(4)]
    items = [ConsentItem(None, email, phone, (EMAIL_M, SMS_M)) for email, phone in people]
    items.append(ConsentItem(None, "q@example.com", None, (EMAIL_M,)))  # another shape in the same job
    subscribe_profiles(engine, account_id, items)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT p.email, p.phone_number, e.personal FROM consent_events e JOIN profiles p"
                 " ON p.account_id = e.account_id AND p.id = e.profile_id WHERE e.account_id = :a"), {"a": account_id}
        ).all()  # fmt: skip
    assert len(rows) == 4 * 2 + 1  # email, SMS
    for email, phone, personal in rows:
        given = json.loads(personal)
        assert given.get("email", email) == email and given.get("phone_number", phone) == phone
        assert "email" in given or "phone_number" in given
    for email, _ in people:
        assert _status(engine, account_id, "email", email) == _status(engine, account_id, "email", email, "sms")
    _consistent(engine, account_id)


def test_sms_consent_is_given_only_to_a_number_in_the_same_request(engine, account_id) -> None:
    """Issue 14 §2: a known email with no (valid) number never subscribes the stored number."""
    subscribe_profiles(engine, account_id, [ConsentItem(None, ALICE, PHONE, (EMAIL_M,))])
    seq = _seq(engine, account_id)
    for targets in ((SMS_M,), (EMAIL_M, SMS_M), ((Channel.WHATSAPP, Purpose.MARKETING),)):
        with pytest.raises(ItemError) as refused:
            subscribe_profiles(engine, account_id, [ConsentItem(None, ALICE, None, targets)])
        assert refused.value.field == "profiles.data.0.attributes.phone_number"
    # The one-profile path (CLI consent subscribe, the API's single changes): named by email or id, no SMS.
    for locator in (
        Locator("email", ALICE),
        Locator("id", get_profile_resource(engine, account_id, Locator("email", ALICE))["id"]),
    ):
        with pytest.raises(MissingAddress):
            consent.subscribe(engine, account_id, locator, [SMS_M])
    assert _seq(engine, account_id) == seq
    assert _status(engine, account_id, "email", ALICE, "sms") == "NEVER_SUBSCRIBED"
    consent.subscribe(engine, account_id, Locator("phone_number", "(415) 555-0199"), [SMS_M])
    assert _status(engine, account_id, "email", ALICE, "sms") == "SUBSCRIBED"


def test_a_signup_form_never_joins_two_peoples_identifiers(engine) -> None:
    new = accounts.create_account(engine, "Forms", "US").account
    # The form's SMS wording, recorded with each SMS consent it gives (the account's own).
    texts.create(engine, new.id, version="forms-sms-1", text="Yes, Forms may text me offers. Reply STOP to stop.")
    account_settings.set_value(engine, new.id, "signup_consent_text_version", "forms-sms-1")
    signup.signup(engine, new.public_id, signup.SignupRequest(email=ALICE, phone_number=PHONE))
    seq = _seq(engine, new.id)
    for email, phone in ((FRANK, PHONE), (ALICE, "+14155550100")):
        with pytest.raises(IdentityConflict) as refused:
            signup.signup(engine, new.public_id, signup.SignupRequest(email=email, phone_number=phone))
        assert refused.value.field == "phone_number" and ALICE not in str(refused.value)  # a form names nobody
    assert _seq(engine, new.id) == seq
    signup.signup(engine, new.public_id, signup.SignupRequest(email="ALICE@example.com", phone_number=PHONE))
    assert _seq(engine, new.id) == seq  # the same person again: nothing new


def _events_after(engine, account_id: str, seq: int) -> list[dict]:
    from assent.store import ledger as ledger_store

    with engine.connect() as conn:
        return [profiles.event_record(s.seq, s.event) for s in ledger_store.events(conn, account_id) if s.seq > seq]


# --- properties ------------------------------------------------------------------------------

_EMAILS = st.sampled_from(["", "a@example.com", "A@Example.com", "b@example.com", "c@example.com"])
_PHONES = st.sampled_from(["", "+14155550101", "(415) 555-0102", "+14155550103"])
_EXTERNAL = st.sampled_from(["", "x1", "x2"])
_CONSENT = st.sampled_from(["", "SUBSCRIBED", "UNSUBSCRIBED"])
_ROWS = st.lists(st.tuples(_EMAILS, _PHONES, _EXTERNAL, _CONSENT, _CONSENT), min_size=1, max_size=8)


def _canonical(row: tuple[str, ...]) -> tuple[str | None, str | None]:
    from assent.domain.identity import normalize_email, normalize_phone

    return (normalize_email(row[0]) if row[0] else None, normalize_phone(row[1]) if row[1] else None)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(_ROWS, min_size=1, max_size=3))
def test_property_no_profiles_consent_appears_on_an_identifier_it_was_not_given_for(engine, tmp_path, files) -> None:
    account = accounts.create_account(engine, "Property", "US").account.id
    granted: dict[str, set[str]] = {"email": set(), "sms": set()}
    joined: dict[tuple[str, str], tuple[str, str]] = {}  # identifiers given together, as a union-find

    def root(x: tuple[str, str]) -> tuple[str, str]:
        while joined.setdefault(x, x) != x:
            x = joined[x]
        return x

    for n, rows in enumerate(files):
        seen: dict[tuple[str, str], tuple[str, str]] = {}
        self_contradicting = False
        for row in rows:
            email, phone = _canonical(row)
            ids = [(f, v) for f, v in (("email", email), ("phone_number", phone), ("external_id", row[2] or None)) if v]
            for a in ids[1:]:
                joined[root(a)] = root(ids[0])
            for i in ids:  # one person stated twice with different consent: a re-run re-applies both
                self_contradicting |= seen.setdefault(i, row[3:]) != row[3:]
            if row[3] == "SUBSCRIBED" and email:
                granted["email"].add(email)
            if row[4] == "SUBSCRIBED" and phone:
                granted["sms"].add(phone)
        path = _csv(tmp_path / f"p{n}.csv", *[list(r) for r in rows])
        _import(engine, account, path)
        if not self_contradicting:
            assert _import(engine, account, path).events == 0  # a re-run is a no-op
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT id, email, phone_number, external_id FROM profiles WHERE account_id = :a"), {"a": account}
        ).all()
    for p in stored:
        subs = _attrs(engine, account, "id", p.id)["subscriptions"]
        if subs["email"]["marketing"]["consent"] == "SUBSCRIBED":
            assert p.email in granted["email"], p
        if subs["sms"]["marketing"]["consent"] == "SUBSCRIBED":
            assert p.phone_number in granted["sms"], p
        ids = [
            (f, v)
            for f, v in (("email", p.email), ("phone_number", p.phone_number), ("external_id", p.external_id))
            if v
        ]
        # A profile's identifiers were all given together, row by row (filling one in is fine).
        assert len({root(i) for i in ids}) <= 1, p
    _consistent(engine, account)


_ITEM = st.tuples(_EMAILS, st.sampled_from(["", "+14155550101", "+14155550103", "not-a-phone"]),
                  st.sets(st.sampled_from(["email", "sms", "whatsapp"]), min_size=1))  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(known=st.lists(st.tuples(_EMAILS, _PHONES), max_size=3), requests=st.lists(_ITEM, min_size=1, max_size=5))
def test_property_no_consent_event_names_an_address_absent_from_its_request(engine, known, requests) -> None:
    from assent.domain.identity import normalize_email, normalize_phone

    account = accounts.create_account(engine, "Property", "US").account.id
    for email, phone in known:
        values = {k: v for k, v in (("email", email), ("phone_number", phone)) if v}
        if values:
            with contextlib.suppress(DomainError):
                profile_writes.upsert_profile(engine, account, None, profile_writes.ProfileInput(values=values))
    for email, phone, channels in requests:
        email_c = normalize_email(email) if email else None
        try:
            phone_c = normalize_phone(phone) if phone else None
        except DomainError:
            phone_c = None  # an invalid number is not given
        if email_c is None and phone_c is None:
            continue
        targets = tuple((Channel(c), Purpose.MARKETING) for c in sorted(channels))
        before = _seq(engine, account)
        try:
            subscribe_profiles(engine, account, [ConsentItem(None, email_c, phone_c, targets)])
        except DomainError:
            assert _seq(engine, account) == before  # refused: nothing written
            continue
        for event in _events_after(engine, account, before):
            if event["type"] == "consent.changed" and event.get("status") == "SUBSCRIBED":
                given_ = {"email": email_c, "sms": phone_c, "whatsapp": phone_c}[event["channel"]]
                address = event.get("personal", {}).get("email" if event["channel"] == "email" else "phone_number")
                assert given_ is not None and address == given_, (event, email, phone)
