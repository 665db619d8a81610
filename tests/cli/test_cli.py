"""The real `assent` console script, run in a subprocess against SQLite and PostgreSQL (--db URL).

Set-up that is not under test goes through the services in-process, which is much faster than a
subprocess; every command a test is about runs through the entry point. Independent commands run
concurrently to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from assent.api.resources import get_profile_resource
from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.accounts import accounts, settings
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.shared.clock import utcnow
from assent.store.db import database_url, make_engine, require_migrated

ASSENT = str(Path(sys.executable).parent / "assent")
# The `Subscriptions` schema and all it refers to, copied from Klaviyo's published OpenAPI spec.
KLAVIYO_SCHEMAS = Path(__file__).with_name("klaviyo_subscriptions_schema.json")
EMAIL_MARKETING = [(Channel.EMAIL, Purpose.MARKETING)]


def assent(*args: str, db: str | None = None, check: bool | None = None) -> subprocess.CompletedProcess:
    """Run the console script; `check=True` requires exit 0 and an empty stderr."""
    argv = [ASSENT, *args, *(("--db", db) if db else ())]
    env = {k: v for k, v in os.environ.items() if k != "ASSENT_DATABASE_URL"}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, f"{shlex.join(args)} exited {result.returncode}: {result.stderr}"
        assert result.stderr == "", result.stderr
    return result


def assent_json(*args: str, db: str):
    return json.loads(assent(*args, "--json", db=db, check=True).stdout)


def concurrently(*commands: tuple[str, ...], db: str | None) -> list[subprocess.CompletedProcess]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: assent(*args, db=db), commands))


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _ledger_seq(engine, account_id: str) -> int:
    return _scalar(engine, "SELECT ledger_seq FROM accounts WHERE id = :a", a=account_id)


def _profile_count(engine, account_id: str) -> int:
    return _scalar(engine, "SELECT count(*) FROM profiles WHERE account_id = :a", a=account_id)


# --- the database schema -----------------------------------------------------------------------


@pytest.fixture
def empty_db_url(db_url, tmp_path):
    """A database without the Assent schema, on the backend of `db_url`."""
    if make_url(database_url(db_url)).get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'new' / 'assent.db'}"
        return
    name = f"assent_cli_{secrets.token_hex(4)}"
    admin = create_engine(database_url(db_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url(db_url)).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_command_on_an_unmigrated_database_says_to_run_db_upgrade(empty_db_url):
    result = assent("accounts", "list", db=empty_db_url)
    assert_one_line_error(result, "assent db upgrade")


def test_db_upgrade_creates_the_schema_and_running_it_again_changes_nothing(empty_db_url):
    first = assent("db", "upgrade", "--json", db=empty_db_url, check=True)
    created = json.loads(first.stdout)
    assert created["from"] is None and created["to"]
    assert "+" not in created["database"].split("://")[0]  # the URL as written, not SQLAlchemy's driver name
    again = assent("db", "upgrade", db=empty_db_url, check=True)
    assert f"schema at revision {created['to']}" in again.stdout
    assert "was" not in again.stdout  # nothing to migrate the second time
    engine = make_engine(empty_db_url)
    try:
        require_migrated(engine)  # the schema is there: commands may run
        assert accounts.list_accounts(engine) == []
    finally:
        engine.dispose()


# --- accounts and lists ------------------------------------------------------------------------


def test_accounts_create_prints_the_id_and_a_private_key(db_url, engine):
    human, as_json = concurrently(
        ("accounts", "create", "Human brand"), ("accounts", "create", "Json brand", "--default-region", "gb", "--json"),
        db=db_url,
    )  # fmt: skip
    assert human.returncode == 0 and human.stderr == ""
    m = re.search(r"account (\w{26}) \(Human brand, region US, public id \w{6} for website forms\)", human.stdout)
    assert m, human.stdout
    assert re.search(r"private API key: pk_[0-9a-f]{34}\b", human.stdout)
    made = json.loads(as_json.stdout)
    assert made["name"] == "Json brand" and made["default_region"] == "GB"
    assert re.fullmatch(r"\w{26}", made["id"]) and re.fullmatch(r"pk_[0-9a-f]{34}", made["api_key"])
    assert re.fullmatch(r"\w{6}", made["public_id"])
    listed = {a.id: a for a in accounts.list_accounts(engine)}
    assert listed[m.group(1)].name == "Human brand" and listed[made["id"]].default_region == "GB"


def test_lists_create_and_list_with_their_opt_in_process(db_url, engine, account_id):
    existing = lists.create_list(engine, account_id, "Members", double_opt_in=False).id
    consent.subscribe(engine, account_id, Locator("email", "m@example.com"), EMAIL_MARKETING, list_id=existing)
    single, double, listed = concurrently(
        ("lists", "create", "Newsletter", "--account", account_id),
        ("lists", "create", "VIP", "--account", account_id, "--double-opt-in", "--json"),
        ("lists", "list", "--account", account_id, "--json"),
        db=db_url,
    )
    m = re.fullmatch(r"list (\w{6}) \(Newsletter, single_opt_in\)\n", single.stdout)
    assert m, single.stdout
    vip = json.loads(double.stdout)
    assert (vip["name"], vip["opt_in_process"], vip["profile_count"]) == ("VIP", "double_opt_in", 0)
    members = next(x for x in json.loads(listed.stdout) if x["id"] == existing)
    assert (members["name"], members["opt_in_process"], members["profile_count"]) == ("Members", "single_opt_in", 1)
    stored = {(x.id, x.name, x.opt_in_process.value) for x in lists.all_lists(engine, account_id)}
    assert stored == {
        (existing, "Members", "single_opt_in"),
        (m.group(1), "Newsletter", "single_opt_in"),
        (vip["id"], "VIP", "double_opt_in"),
    }


# --- profiles ----------------------------------------------------------------------------------


def test_profiles_import_subscribes_to_a_list_reports_counts_and_writes_rejects(db_url, engine, account_id, tmp_path):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    people = tmp_path / "people.csv"
    people.write_text(
        "email,phone_number,first_name,tier\n"
        "a@example.com,+14155550101,Ann,gold\n"
        "b@example.com,,Ben,\n"
        "broken@@example,,Bad,\n"
    )
    rejects, other_rejects = tmp_path / "rejects.csv", tmp_path / "other-rejects.csv"
    other = accounts.create_account(engine, "Human output", "US").account.id
    as_json, human = concurrently(
        ("profiles", "import", str(people), "--account", account_id, "--subscribe", "email", "--list", newsletter,
         "--rejects", str(rejects), "--json"),
        ("profiles", "import", str(people), "--account", other, "--subscribe", "email", "--rejects",
         str(other_rejects)),
        db=db_url,
    )  # fmt: skip
    counts = json.loads(as_json.stdout)
    expected = {"rows": 3, "created": 2, "updated": 0, "unchanged": 0, "subscribed": 2, "rejected": 1, "events": 4}
    assert {k: counts.get(k) for k in expected} == expected
    assert human.returncode == 0 and human.stderr == ""
    assert re.search(r"^3 rows: 2 created, 0 updated, 0 unchanged, 2 subscribed, .*1 rejected; 2 ledger events\n",
                     human.stdout, re.MULTILINE)  # fmt: skip
    assert f"rejected rows are in {other_rejects}" in human.stdout
    assert rejects.read_text().splitlines()[1].startswith("4,email,")  # line 4 of the file, the email field

    a = get_profile_resource(engine, account_id, Locator("email", "a@example.com"))["attributes"]
    assert a["subscriptions"]["email"]["marketing"]["method"] == "MANUAL_IMPORT"
    assert a["properties"] == {"tier": "gold"}
    assert [x.profile_count for x in lists.all_lists(engine, account_id)] == [2]


class ShapeError(AssertionError):
    pass


def _resolve(schema: dict, spec: dict) -> tuple[dict, bool]:
    nullable = schema.get("nullable", False)
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        nullable = nullable or schema.get("nullable", False)
    return schema, nullable


def check_shape(value, schema: dict, spec: dict, path: str = "subscriptions") -> None:
    """A small OpenAPI 3 checker: types, nullability, required keys, enums, date-times, and no key
    that the schema does not define."""
    schema, nullable = _resolve(schema, spec)
    if value is None:
        if not nullable:
            raise ShapeError(f"{path} is null")
        return
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise ShapeError(f"{path} is not an object")
        for key in schema.get("required", ()):
            if key not in value:
                raise ShapeError(f"{path}.{key} is required")
        props = schema.get("properties")
        if props is not None:
            for key, item in value.items():
                if key not in props:
                    raise ShapeError(f"{path}.{key} is not in Klaviyo's schema")
                check_shape(item, props[key], spec, f"{path}.{key}")
    elif kind == "array":
        if not isinstance(value, list):
            raise ShapeError(f"{path} is not an array")
        for i, item in enumerate(value):
            check_shape(item, schema["items"], spec, f"{path}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise ShapeError(f"{path} is not a string")
        if "enum" in schema and value not in schema["enum"]:
            raise ShapeError(f"{path} is not one of {schema['enum']}")
        if schema.get("format") == "date-time":
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ShapeError(f"{path} is not an ISO 8601 date-time") from None
            if parsed.tzinfo is None:
                raise ShapeError(f"{path} has no time zone")
    elif kind == "boolean" and not isinstance(value, bool):
        raise ShapeError(f"{path} is not a boolean")


@pytest.fixture(scope="module")
def klaviyo_spec() -> dict:
    return json.loads(KLAVIYO_SCHEMAS.read_text())


def test_the_shape_checker_catches_what_klaviyo_would_not_send(klaviyo_spec):
    schema = {"$ref": "#/components/schemas/Subscriptions"}
    with pytest.raises(ShapeError, match="can_receive_email_marketing"):
        check_shape({"email": {"marketing": {"consent": "SUBSCRIBED"}}}, schema, klaviyo_spec)
    with pytest.raises(ShapeError, match="reason"):
        bad = {
            "can_receive_email_marketing": False,
            "consent": "X",
            "suppression": [{"reason": "NOPE", "timestamp": ""}],
        }
        check_shape({"email": {"marketing": bad}}, schema, klaviyo_spec)
    with pytest.raises(ShapeError, match="extra"):
        check_shape({"sms": {"marketing": {"can_receive_sms_marketing": True, "consent": "X", "extra": 1}}}, schema,
                    klaviyo_spec)  # fmt: skip


EMAIL_MARKETING_KEYS = {
    "can_receive_email_marketing",
    "consent",
    "consent_timestamp",
    "last_updated",
    "method",
    "method_detail",
    "custom_method_detail",
    "double_optin",
    "suppression",
    "list_suppressions",
}


def test_profiles_get_json_is_klaviyos_profile_resource(db_url, engine, account_id, klaviyo_spec):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    who = Locator("email", "Shape@Example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING, method="FORM", method_detail="footer",
                      custom_source="spring drive")  # fmt: skip
    consent.suppress(engine, account_id, who, SuppressionReason.USER_SUPPRESSED)
    consent.suppress(engine, account_id, who, SuppressionReason.SPAM_COMPLAINT, list_id=newsletter)
    phone = Locator("phone_number", "+14155550171")
    consent.subscribe(engine, account_id, phone, [(Channel.SMS, Purpose.MARKETING)], method="TEXT")

    email_doc = assent_json("profiles", "get", "--account", account_id, "--email", "Shape@EXAMPLE.com", db=db_url)
    phone_doc = {"data": get_profile_resource(engine, account_id, phone)}  # the resource the CLI prints under "data"
    data = email_doc["data"]
    assert set(email_doc) == {"data"}
    assert data["type"] == "profile" and re.fullmatch(r"\w{26}", data["id"])
    attributes = data["attributes"]
    assert attributes["email"] == "shape@example.com"
    subs = attributes["subscriptions"]
    assert set(subs) == {"email", "sms", "mobile_push", "whatsapp"}
    assert set(subs["email"]) == {"marketing"}
    assert set(subs["email"]["marketing"]) == EMAIL_MARKETING_KEYS
    assert set(subs["sms"]) == {"marketing", "transactional"}
    for doc in (email_doc, phone_doc):
        check_shape(doc["data"]["attributes"]["subscriptions"], {"$ref": "#/components/schemas/Subscriptions"},
                    klaviyo_spec)  # fmt: skip

    email = subs["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED"
    assert email["can_receive_email_marketing"] is False  # suppressed, consent kept (rule 5)
    assert (email["method"], email["method_detail"], email["custom_method_detail"]) == ("FORM", "footer",
                                                                                        "spring drive")  # fmt: skip
    assert email["double_optin"] is False
    assert [s["reason"] for s in email["suppression"]] == ["USER_SUPPRESSED"]
    assert [(s["list_id"], s["reason"]) for s in email["list_suppressions"]] == [(newsletter, "SPAM_COMPLAINT")]
    assert subs["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"

    phone_subs = phone_doc["data"]["attributes"]["subscriptions"]
    assert phone_subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert phone_subs["sms"]["marketing"]["can_receive_sms_marketing"] is True
    assert phone_subs["sms"]["transactional"]["can_receive_sms_transactional"] is True  # marketing covers it
    assert phone_subs["email"]["marketing"]["can_receive_email_marketing"] is False  # no address


def test_profiles_update_changes_an_identifier_by_an_explicit_edit_recorded_in_the_ledger(db_url, engine, account_id):
    # An import refuses a row whose number differs from its profile's: the CLI's own edit changes it.
    who = Locator("email", "edit@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING)
    consent.subscribe(engine, account_id, Locator("phone_number", "+14155550171"), [(Channel.SMS, Purpose.MARKETING)])
    for number in ("+14155550170", "(415) 555-0172"):  # filled in, then changed
        assent("profiles", "update", "--account", account_id, "--email", "edit@example.com", "--set",
               f"phone_number={number}", "--set", "first_name=Ada", db=db_url, check=True)  # fmt: skip
    attributes = get_profile_resource(engine, account_id, who)["attributes"]
    assert (attributes["phone_number"], attributes["first_name"]) == ("+14155550172", "Ada")
    shown = assent("profiles", "get", "--account", account_id, "--email", "edit@example.com", db=db_url).stdout
    assert "phone=+14155550172" in shown and "first_name=Ada" in shown
    timeline = assent("profiles", "timeline", "--account", account_id, "--email", "edit@example.com", db=db_url)
    assert "identifier.changed" in timeline.stdout and "+14155550170 -> +14155550172" in timeline.stdout
    cleared = assent_json("profiles", "update", "--account", account_id, "--phone", "+14155550172",
                          "--unset", "first_name", db=db_url)  # fmt: skip
    assert cleared["data"]["attributes"]["first_name"] is None
    emptied = assent_json("profiles", "update", "--account", account_id, "--phone", "+14155550172",
                          "--set", "title=", db=db_url)  # fmt: skip
    assert emptied["data"]["attributes"]["title"] is None
    assert ledger.verify(engine, account_id).ok

    # Bad edits are refused, naming what is wrong, and change nothing.
    for args, fragments in [
        (["--set", "nickname=A"], ("nickname: is not a profile field", "first_name")),
        (["--set", "phone_number=123"], ("phone_number: is not a valid phone number",)),
        (["--set", "first_name"], ("set: takes FIELD=VALUE",)),
        (["--set", "=Ada"], ("set: takes FIELD=VALUE",)),
        (["--set", "first_name=A", "--unset", "first_name"], ("first_name: is named twice",)),
        ([], ("name a field to change",)),
        # Another profile's number: identity never moves.
        (["--set", "phone_number=+14155550171"], ("phone_number: another profile (", "already has this")),
    ]:
        result = assent("profiles", "update", "--account", account_id, "--email", "edit@example.com", *args, db=db_url)
        assert_one_line_error(result, *fragments)
    assert get_profile_resource(engine, account_id, who)["attributes"]["phone_number"] == "+14155550172"


def test_profiles_get_as_of_shows_the_state_at_that_instant(db_url, engine, account_id):
    who = Locator("email", "asof@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING)
    time.sleep(0.005)
    between = utcnow()
    time.sleep(0.005)
    consent.unsubscribe(engine, account_id, who, Channel.EMAIL)
    doc = assent_json("profiles", "get", "--account", account_id, "--email", "asof@example.com",
                      "--as-of", between.isoformat(), db=db_url)  # fmt: skip
    then = doc["data"]["attributes"]["subscriptions"]["email"]["marketing"]
    now = get_profile_resource(engine, account_id, who)["attributes"]["subscriptions"]["email"]["marketing"]
    assert (then["consent"], then["can_receive_email_marketing"], then["suppression"]) == ("SUBSCRIBED", True, [])
    assert (now["consent"], now["can_receive_email_marketing"]) == ("UNSUBSCRIBED", False)


def test_profiles_get_shows_direct_mail_consent_beside_the_klaviyo_channels(db_url, engine, account_id):
    """Postal has no place in Klaviyo's subscriptions block; the human form shows it from the state:
    allowed until the person opts out, refused after."""
    who = Locator("email", "mail@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING)
    before = assent("profiles", "get", "--account", account_id, "--email", "mail@example.com", db=db_url).stdout
    assert re.search(r"\n  postal marketing\s+NEVER_SUBSCRIBED\s+can receive: true\n", before), before
    consent.unsubscribe(engine, account_id, who, Channel.POSTAL)
    after = assent("profiles", "get", "--account", account_id, "--email", "mail@example.com", db=db_url).stdout
    assert re.search(r"\n  postal marketing\s+UNSUBSCRIBED\s+can receive: false", after), after
    assert re.search(r"\n  email marketing\s+SUBSCRIBED\s+can receive: true", after)  # per channel (rule 1)


def test_profiles_timeline_is_oldest_first_with_klaviyo_metric_names(db_url, engine, account_id):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    who = Locator("email", "t@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING, list_id=newsletter)
    consent.unsubscribe(engine, account_id, who, Channel.EMAIL)
    doc = assent_json("profiles", "timeline", "--account", account_id, "--email", "t@example.com", db=db_url)
    events = doc["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(seqs) == 4
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    assert [e["metric"] for e in events if e["metric"]] == [
        "Subscribed to Email Marketing",
        "Subscribed to List",
        "Unsubscribed from Email Marketing",
    ]
    assert events[0]["list_id"] == newsletter and events[0]["personal"] == {"email": "t@example.com"}
    assert doc["profile_id"] == get_profile_resource(engine, account_id, who)["id"]


# --- consent -----------------------------------------------------------------------------------


def test_consent_commands_change_exactly_what_they_name(db_url, engine, account_id):
    newsletter = lists.create_list(engine, account_id, "Newsletter").id
    acct = ("--account", account_id)
    # Profiles in the state each command starts from, so that the commands can run side by side.
    consent.subscribe(engine, account_id, Locator("phone_number", "+14155550182"), [(Channel.SMS, Purpose.MARKETING)])
    kept = Locator("email", "kept@example.com")
    consent.subscribe(engine, account_id, kept, EMAIL_MARKETING, method="FORM", method_detail="popup")
    lifted = Locator("email", "lifted@example.com")
    consent.subscribe(engine, account_id, lifted, EMAIL_MARKETING)
    consent.suppress(engine, account_id, lifted)

    sub, historical, stop, suppressed, unsuppressed = concurrently(
        ("consent", "subscribe", *acct, "--email", "c@example.com", "--channel", "email", "--list", newsletter,
         "--method", "FORM", "--method-detail", "popup", "--json"),
        ("consent", "subscribe", *acct, "--phone", "+14155550181", "--channel", "sms", "--purpose", "marketing",
         "--consented-at", "1985-06-01T00:00:00Z", "--historical", "--json"),
        ("consent", "unsubscribe", *acct, "--phone", "+14155550182", "--channel", "sms", "--purpose", "transactional"),
        ("consent", "suppress", *acct, "--email", "kept@example.com", "--reason", "user_suppressed"),
        ("consent", "unsuppress", *acct, "--email", "lifted@example.com", "--channel", "email", "--json"),
        db=db_url,
    )  # fmt: skip
    for result in (sub, historical, stop, suppressed, unsuppressed):
        assert result.returncode == 0 and result.stderr == "", (result.args, result.stderr)

    sub = json.loads(sub.stdout)
    assert sub["created"] is True
    assert [e["metric"] for e in sub["events"]] == ["Subscribed to Email Marketing", "Subscribed to List"]
    c = get_profile_resource(engine, account_id, Locator("email", "c@example.com"))["attributes"]["subscriptions"]
    assert (c["email"]["marketing"]["method"], c["email"]["marketing"]["method_detail"]) == ("FORM", "popup")
    assert c["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"  # consent is per channel (rule 1)
    assert [x.profile_count for x in lists.all_lists(engine, account_id)] == [1]

    [event] = json.loads(historical.stdout)["events"]
    assert event["metric"] == "Subscribed to SMS Marketing"
    assert event["consent_timestamp"] == "1990-01-01T00:00:00+00:00" and event["timestamp_clamped"] is True
    assert event["historical_import"] is True and event["triggers_automation"] is False

    assert "Unsubscribed from SMS Marketing" in stop.stdout  # one SMS opt-out covers both purposes (rule 2)
    sms = get_profile_resource(engine, account_id, Locator("phone_number", "+14155550182"))["attributes"]
    assert sms["subscriptions"]["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert sms["subscriptions"]["sms"]["transactional"]["consent"] == "UNSUBSCRIBED"

    assert "Manually Suppressed from Email Marketing" in suppressed.stdout
    marketing = get_profile_resource(engine, account_id, kept)["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "SUBSCRIBED" and marketing["can_receive_email_marketing"] is False
    assert (marketing["method"], marketing["method_detail"]) == ("FORM", "popup")  # consent kept as it was
    assert [s["reason"] for s in marketing["suppression"]] == ["USER_SUPPRESSED"]

    assert [e["metric"] for e in json.loads(unsuppressed.stdout)["events"]] == [
        "Manually Unsuppressed from Email Marketing"
    ]
    back = get_profile_resource(engine, account_id, lifted)["attributes"]["subscriptions"]["email"]["marketing"]
    assert back["can_receive_email_marketing"] is True and back["suppression"] == []
    assert ledger.verify(engine, account_id).ok


# --- decide ------------------------------------------------------------------------------------


def test_decide_allows_and_denies_with_reasons_also_at_a_past_instant(db_url, engine, account_id):
    # About deciding at a past instant, not about TCPA quiet hours (which would defer this +1 number at night).
    settings.set_value(engine, account_id, "jurisdictions", "none")
    who = Locator("phone_number", "+14155550191")
    consent.subscribe(engine, account_id, who, [(Channel.SMS, Purpose.MARKETING)])
    time.sleep(0.005)
    while_subscribed = utcnow()
    time.sleep(0.005)
    consent.unsubscribe(engine, account_id, who, Channel.SMS)
    consent.subscribe(engine, account_id, Locator("email", "d@example.com"), EMAIL_MARKETING)
    base = ("decide", "--account", account_id)
    past, now, email, human = concurrently(
        (*base, "--phone", "+14155550191", "--channel", "sms", "--at", while_subscribed.isoformat(), "--json"),
        (*base, "--phone", "+14155550191", "--channel", "sms", "--purpose", "transactional", "--json"),
        (*base, "--email", "d@example.com", "--channel", "email", "--json"),
        (*base, "--email", "d@example.com", "--channel", "email"),
        db=db_url,
    )
    past, now, email = (json.loads(r.stdout) for r in (past, now, email))
    assert (past["verdict"], past["reasons"]) == ("ALLOW", ["SUBSCRIBED"])
    assert datetime.fromisoformat(past["at"]) == while_subscribed
    assert (now["verdict"], now["reasons"], now["purpose"]) == ("DENY", ["UNSUBSCRIBED"], "transactional")
    assert (email["verdict"], email["reasons"], email["channel"], email["via"]) == (
        "ALLOW", ["SUBSCRIBED"], "email", "campaign",
    )  # fmt: skip
    assert human.stdout.startswith("ALLOW  SUBSCRIBED")


# --- the ledger --------------------------------------------------------------------------------


def _account_with_events(engine, prefix: str, n: int = 3) -> str:
    account_id = accounts.create_account(engine, f"{prefix} brand", "US").account.id
    for i in range(n):
        consent.subscribe(engine, account_id, Locator("email", f"{prefix}{i}@example.com"), EMAIL_MARKETING)
    return account_id


def test_ledger_verify_exits_0_when_intact_and_1_naming_the_first_bad_seq(db_url, engine):
    intact, tampered = _account_with_events(engine, "intact"), _account_with_events(engine, "tampered")
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE consent_events SET payload = replace(payload, 'SUBSCRIBED', 'UNSUBSCRIBED') "
                 "WHERE account_id = :a AND seq = 2"),
            {"a": tampered},
        )  # fmt: skip
        conn.execute(text("UPDATE consent_events SET metric = 'x' WHERE account_id = :a AND seq = 3"), {"a": tampered})
    good, broken, as_json = concurrently(
        ("ledger", "verify", "--account", intact),
        ("ledger", "verify", "--account", tampered),
        ("ledger", "verify", "--account", tampered, "--json"),
        db=db_url,
    )
    assert (good.returncode, good.stdout, good.stderr) == (0, "ledger intact: 3 events verified\n", "")
    assert broken.returncode == 1
    assert broken.stdout == ""
    assert broken.stderr.startswith("ledger broken at seq 2: ") and len(broken.stderr.splitlines()) == 1
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert (doc["ok"], doc["first_bad_seq"]) == (False, 2) and doc["problem"]


def test_ledger_rebuild_check_reports_differences_and_rebuild_repairs_them(db_url, engine):
    clean, damaged = _account_with_events(engine, "clean"), _account_with_events(engine, "damaged")
    pid = get_profile_resource(engine, damaged, Locator("email", "damaged1@example.com"))["id"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM consents WHERE account_id = :a AND profile_id = :p"), {"a": damaged, "p": pid})

    matches, human, as_json = concurrently(
        ("ledger", "rebuild", "--account", clean, "--check"),
        ("ledger", "rebuild", "--account", damaged, "--check"),
        ("ledger", "rebuild", "--account", damaged, "--check", "--json"),
        db=db_url,
    )
    assert matches.returncode == 0
    assert matches.stdout == "projection matches the ledger (3 events of 3 profiles with consent history)\n"
    assert human.returncode == 1
    assert "1 differences" in human.stdout and "missing in consents" in human.stdout and pid in human.stdout
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert [(d["table"], d["side"]) for d in doc["differences"]] == [("consents", "missing")]
    assert pid in doc["differences"][0]["row"]
    assert doc["written"] is False
    # --check changed nothing
    assert ledger.rebuild(engine, damaged, check=True).differences

    repaired = assent("ledger", "rebuild", "--account", damaged, db=db_url, check=True)
    assert repaired.stdout == "projection rebuilt from 3 events (3 profiles with consent history)\n"
    assert ledger.rebuild(engine, damaged, check=True).differences == []
    r1 = get_profile_resource(engine, damaged, Locator("email", "damaged1@example.com"))["attributes"]
    assert r1["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_exits_1_with_one_line_naming_the_field_and_writes_nothing(db_url, engine, account_id, tmp_path):
    consent.subscribe(engine, account_id, Locator("email", "known@example.com"), EMAIL_MARKETING)
    seq, count = _ledger_seq(engine, account_id), _profile_count(engine, account_id)
    people = tmp_path / "people.csv"
    people.write_text("email\nnew@example.com\n")
    acct = ("--account", account_id)
    new = ("--email", "new@example.com")
    cases = [  # (command, what the error line starts with)
        (("consent", "subscribe", *acct, *new, "--channel", "fax"), "error: channel: "),
        (("consent", "subscribe", *acct, *new, "--channel", "email", "--purpose", "transactional"), "error: purpose: "),
        (("consent", "subscribe", *acct, "--email", "not-an-email", "--channel", "email"), "error: email: "),
        (("consent", "suppress", *acct, "--email", "known@example.com", "--reason", "BORED"), "error: reason: "),
        (("consent", "subscribe", "--account", "0" * 26, *new, "--channel", "email"), "error: account: "),
        (("consent", "subscribe", *acct, *new, "--channel", "email", "--list", "nope42"), "error: list: "),
        (("consent", "subscribe", *acct, *new, "--channel", "email", "--consented-at", "2020-01-01"),
         "error: consented_at: "),
        (("consent", "unsubscribe", *acct, *new, "--phone", "+14155550101", "--channel", "email"),
         "error: profile: name it with exactly one of --id, --email, --phone"),
        (("profiles", "import", str(people), *acct, "--subscribe", "email,fax"), "error: subscribe: "),
    ]  # fmt: skip
    results = concurrently(*(args for args, _ in cases), db=db_url)
    for (args, expected), result in zip(cases, results, strict=True):
        assert_one_line_error(result)
        assert result.stderr.startswith(expected), (shlex.join(args), result.stderr)
    assert _ledger_seq(engine, account_id) == seq
    assert _profile_count(engine, account_id) == count


# --- demo --------------------------------------------------------------------------------------


def test_demo_prints_next_steps_whose_commands_work(tmp_path):
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    out = assent("demo", "--profiles", "300", db=db, check=True).stdout
    assert "is ready with 300 synthetic profiles" in out
    suggested = [shlex.split(line.strip())[1:] for line in out.splitlines() if line.startswith("  assent ")]
    assert len(suggested) >= 6
    assert all("--db" in args and db in args for args in suggested)
    writes = [args for args in suggested if args[0] == "consent"]
    reads = [args for args in suggested if args[0] != "consent"]
    for args in writes:
        assent(*args, check=True)
    results = concurrently(*reads, db=None)
    for args, result in zip(reads, results, strict=True):
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)
        if args[0] == "decide" and "--json" in args:
            decision = json.loads(result.stdout)
            assert decision["verdict"] == "DENY" and "SUPPRESSED_HARD_BOUNCE" in decision["reasons"]
        elif args[0] == "decide" and "sms" in args:
            assert result.stdout.startswith("DENY  UNSUBSCRIBED")  # after the suggested SMS opt-out
        elif args[0] == "decide":
            assert result.stdout.startswith(("ALLOW", "DENY"))
        elif args[:2] == ["ledger", "verify"]:
            assert result.stdout.startswith("ledger intact")
        elif args[:2] == ["ledger", "rebuild"]:
            assert "projection matches the ledger" in result.stdout
        elif args[:2] == ["lists", "list"]:
            assert "Newsletter" in result.stdout and "double_opt_in" in result.stdout
        elif args[:2] == ["profiles", "get"]:  # the human form: one line per channel and purpose
            assert re.search(
                r"email marketing\s+(NEVER_SUBSCRIBED|SUBSCRIBED|UNSUBSCRIBED)\s+can receive: ", result.stdout
            )
            for label in ("sms marketing", "sms transactional", "push marketing", "whatsapp conversational"):
                assert re.search(rf"\n  {label}\s+[A-Z_]+\s+can receive: (true|false)", result.stdout), label
        elif args[:2] == ["profiles", "timeline"]:
            assert re.match(r"profile \w{26}: \d+ consent events\n", result.stdout)
            assert "Subscribed to" in result.stdout or "Unsubscribed from" in result.stdout
