"""Erasure: a person's personal data goes from every table, the ledger still verifies, and an
opt-out outlives the data as a tombstone that keeps imports, bulk subscribes, profile creates and
events from bringing the person back, while their own new consent (a signup form) may. Every test
runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select, text

from assent.domain import Channel, Proof, Purpose
from assent.domain.erasure import ErasedIdentifier
from assent.domain.mirror import TABLES
from assent.domain.webhooks import PROFILE_ERASED, consent_topic
from assent.integrations.sync_target import target_for
from assent.services.accounts import accounts
from assent.services.activity.events import EventProfile, NewEvent, create_event
from assent.services.audiences import resolution as audiences
from assent.services.audiences.resolution import AudienceQuery, Source
from assent.services.consent import bulk as bulk_consent
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.bulk import ConsentItem
from assent.services.consent.changes import Locator
from assent.services.imports.importer import ImportOptions, import_profiles
from assent.services.lists import lists
from assent.services.outbound import sync
from assent.services.privacy import erasure
from assent.services.profiles import writes
from assent.services.shared.errors import NotFound
from assent.services.webhooks import endpoints
from assent.services.workflows import signup
from assent.store.tables import metadata
from tests.cli.test_cli import assent, assent_json

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]
SMS = [(Channel.SMS, Purpose.MARKETING)]


# The person's address, this run's own: another suite on the same database (tests/web/test_signup.py
# posts from 203.0.113.77) leaves rate-limit windows named after the address it used.
_IP = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def _person() -> tuple[str, str]:
    n = secrets.randbelow(10**7)
    return f"erin.{secrets.token_hex(4)}@example.com", f"+1206555{n % 10000:04d}"


def _mentions(engine, account_id: str, *needles: str) -> list[str]:
    """Every table and column, any row of the account (of any, in a table without accounts), whose
    text holds one of the needles. Other tests' accounts share the database, and a number of theirs
    may be one of the needles."""
    found = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            key = table.c.get("account_id", table.c.id if table.name == "accounts" else None)
            query = select(table) if key is None else select(table).where(key == account_id)
            for row in conn.execute(query):
                for column, value in row._mapping.items():
                    if value is not None and any(n.lower() in str(value).lower() for n in needles):
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


def _opted_out_person(engine, account_id: str) -> tuple[str, str, str]:
    """A profile with names, properties, IP proof, an event, SMS consent and an email opt-out."""
    email, phone = _person()
    values = {"email": email, "phone_number": phone, "first_name": "Erin", "last_name": "Quill", "city": "Tacoma"}
    made = writes.create_profile(engine, account_id, writes.ProfileInput(values=values, properties={"shoe": "41"}))
    proof = Proof(source="https://shop.example/signup", ip=_IP, user_agent="Mozilla/5.0 ErinPhone")
    consent.subscribe(engine, account_id, Locator("email", email), EMAIL, proof=proof)
    consent.subscribe(engine, account_id, Locator("phone_number", phone), SMS, proof=proof)
    create_event(
        engine,
        account_id,
        NewEvent("Placed Order", {"note": "ring Erin Quill at the door"}, EventProfile(email=email), value=49.0),
    )
    consent.unsubscribe(engine, account_id, Locator("email", email), Channel.EMAIL, proof=proof)
    return made.row.id, email, phone


def test_erasure_removes_personal_data_from_every_table(engine, account_id):
    hook, _ = endpoints.create(
        engine,
        account_id,
        name="crm",
        endpoint_url="https://crm.example/hook",
        topics=(consent_topic(False, Channel.EMAIL, Purpose.MARKETING), PROFILE_ERASED),
    )
    doi = lists.create_list(engine, account_id, "Weekly", double_opt_in=True)
    profile_id, email, phone = _opted_out_person(engine, account_id)
    consent.subscribe(engine, account_id, Locator("email", email), EMAIL, list_id=doi.id)  # a confirmation email
    personal = (email, phone, "Quill", _IP, "ErinPhone", "ring Erin")
    audiences.count(engine, account_id, AudienceQuery((Source("all"),), channel=Channel.SMS))  # keeps its place
    assert "profiles.placed_phone_number" in _mentions(engine, account_id, *personal)  # the test sees them before

    done = erasure.erase(engine, account_id, Locator("email", email), actor="test")

    assert done.profile_id == profile_id and done.opted_out and done.tombstones == 2
    assert _mentions(engine, account_id, *personal) == []
    with pytest.raises(NotFound):
        writes.update_profile(engine, account_id, profile_id, writes.ProfileInput(values={"first_name": "X"}))
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM consents WHERE account_id = :a AND profile_id = :p"),
            {"a": account_id, "p": profile_id},
        ).scalar()
        bodies = conn.execute(
            text(
                "SELECT topic, payload FROM webhook_deliveries WHERE account_id = :a AND webhook_id = :w ORDER BY seq"
            ),
            {"a": account_id, "w": hook.id},
        ).all()
    assert left == 0
    assert [b.topic for b in bodies][-1] == PROFILE_ERASED  # downstream systems are told to delete too
    assert f'"profile":{{"id":"{profile_id}"}}' in bodies[-1].payload


def test_ledger_verifies_after_erasure(engine, account_id):
    _, email, _ = _opted_out_person(engine, account_id)
    consent.subscribe(engine, account_id, Locator("email", "someone.else@example.com"), EMAIL)
    erasure.erase(engine, account_id, Locator("email", email), actor="test")
    consent.subscribe(engine, account_id, Locator("email", "after@example.com"), EMAIL)  # the chain goes on
    check = ledger.verify(engine, account_id)
    assert check.ok, check.problem
    assert ledger.rebuild(engine, account_id, check=True).differences == []  # replay agrees with the projection


def test_erased_opted_out_person_is_not_reimported(engine, account_id, tmp_path):
    _, email, phone = _opted_out_person(engine, account_id)
    erasure.erase(engine, account_id, Locator("phone_number", phone), actor="test")
    path = tmp_path / "people.csv"
    path.write_text(f"email,first_name\n{email.upper()},Erin\nnew.person@example.com,Nia\n")
    report = import_profiles(
        engine, path, ImportOptions(account_id=account_id, workers=0, rejects_path=str(tmp_path / "rejects.csv"))
    )
    assert (report.created, report.rejected) == (1, 1)
    assert "erased" in (tmp_path / "rejects.csv").read_text()
    assert _mentions(engine, account_id, email) == []


def test_erased_opted_out_person_is_not_resubscribed_by_the_api(engine, account_id):
    _, email, phone = _opted_out_person(engine, account_id)
    erasure.erase(engine, account_id, Locator("email", email), actor="test")
    with pytest.raises(bulk_consent.ItemError) as refused:
        bulk_consent.subscribe_profiles(
            engine,
            account_id,
            [ConsentItem(None, "fine@example.com", None, tuple(EMAIL)), ConsentItem(None, email, None, tuple(EMAIL))],
        )
    assert refused.value.code == "erased_identifier" and refused.value.field == "profiles.data.1.attributes.email"
    with pytest.raises(ErasedIdentifier):
        writes.create_profile(engine, account_id, writes.ProfileInput(values={"phone_number": phone}))
    with pytest.raises(ErasedIdentifier):
        create_event(engine, account_id, NewEvent("Viewed", {}, EventProfile(email=email)))
    # An opt-out of an erased person changes nothing and fails nothing: the tombstone holds it.
    bulk_consent.unsubscribe_profiles(engine, account_id, [ConsentItem(None, email, None, tuple(EMAIL))])
    assert _mentions(engine, account_id, email, phone) == []


def test_a_signup_form_is_new_explicit_consent_and_lifts_the_tombstone(engine, account_id):
    _, email, _ = _opted_out_person(engine, account_id)
    erasure.erase(engine, account_id, Locator("email", email), actor="test")
    public_id = accounts.get_account(engine, account_id).public_id
    signup.signup(engine, public_id, signup.SignupRequest(email=email, targets=tuple(EMAIL)))
    view = consent.subscribe(engine, account_id, Locator("email", email), EMAIL)  # an API write works again
    assert not view.created


def test_erasure_without_an_opt_out_keeps_no_tombstone(engine, account_id):
    email, _ = _person()
    consent.subscribe(engine, account_id, Locator("email", email), EMAIL)
    done = erasure.erase(engine, account_id, Locator("email", email), actor="test")
    assert (done.opted_out, done.tombstones) == (False, 0)
    again = consent.subscribe(engine, account_id, Locator("email", email), EMAIL)
    assert again.created and again.profile_id != done.profile_id


def test_erasing_an_unknown_person_is_not_found(engine, account_id):
    with pytest.raises(NotFound) as missing:
        erasure.erase(engine, account_id, Locator("email", "nobody@example.com"), actor="test")
    assert missing.value.field == "email"


def test_erasure_reaches_sync_targets(engine, account_id, tmp_path):
    profile_id, email, phone = _opted_out_person(engine, account_id)
    kept, _ = _person()
    consent.subscribe(engine, account_id, Locator("email", kept), EMAIL)
    target = target_for(f"sqlite:///{tmp_path / 'mirror.db'}")
    try:
        sync.sync(engine, account_id, target)
        before = target.rows(account_id, frozenset(TABLES))
        assert any(email in repr(rows) for rows in before.values())
        erasure.erase(engine, account_id, Locator("id", profile_id), actor="test")
        report = sync.sync(engine, account_id, target)
        assert not report.full_copy and report.profiles_updated == 1
        after = target.rows(account_id, frozenset(TABLES))
        assert not any(profile_id in repr(rows) or email in repr(rows) for rows in after.values())
        assert any(kept in repr(rows) for rows in after.values())
    finally:
        target.close()


def test_cli_erase_keeps_the_opt_out_and_the_ledger_verifies(engine, account_id, db_url):
    profile_id, email, _ = _opted_out_person(engine, account_id)
    done = assent_json("profiles", "erase", "--account", account_id, "--email", email.upper(), db=db_url)
    assert (done["profile_id"], done["opted_out"], done["tombstones"]) == (profile_id, True, 2)
    assert done["rows"]["profiles"] == 1 and done["rows"]["consent_events"] > 0
    assert assent("ledger", "verify", "--account", account_id, db=db_url).returncode == 0
    again = assent("profiles", "erase", "--account", account_id, "--email", email, db=db_url)
    assert again.returncode == 1 and again.stderr.startswith("error: email: no profile")
    both = assent("profiles", "erase", "--account", account_id, "--email", email, "--id", profile_id, db=db_url)
    assert both.returncode == 1 and "exactly one of" in both.stderr
