"""Bulk profile import jobs over HTTP, and the durability of every bulk job: a job stopped, failed
or interrupted resumes where it was and does its work exactly once."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from assent.api.resources import get_profile_resource as get_profile
from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.jobs import batches, model, queueing, reading
from assent.services.lists import lists
from assent.services.shared.clock import utcnow
from assent.store import jobs as job_store
from assent.store import profiles as profile_store
from assent.store.db import database_url, make_engine, read_transaction, upgrade, write_transaction
from assent.store.tables import job_profiles, profiles
from tests.api.conftest import make_client, start_server, stop_server
from tests.api.klaviyo_schema import assert_klaviyo_shape
from tests.api.test_suppressions import job_count, ledger_count, wait_for_job
from tests.conftest import BACKENDS

JOBS = "/api/profile-bulk-import-jobs"
KIND = "profile-bulk-import-job"

# --- helpers -----------------------------------------------------------------------------------


def import_body(items: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> dict:
    data: dict[str, Any] = {"type": KIND, "attributes": {"profiles": {"data": items}}}
    if list_ids:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": i} for i in list_ids]}}
    return {"data": data}


def profile(**attributes: Any) -> dict[str, Any]:
    return {"type": "profile", "attributes": attributes}


def post_import(api, items: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> dict:
    response = api.post(JOBS, json=import_body(items, list_ids))
    assert response.status_code == 202, response.text
    doc = response.json()
    assert_klaviyo_shape("bulk_import_profiles", doc, 202)
    return doc


def run_import(api, items: list[dict[str, Any]], list_ids: tuple[str, ...] = ()) -> dict:
    """Queue an import and wait for it; returns the finished job resource."""
    doc = post_import(api, items, list_ids)
    done = wait_for_job(api, doc["data"]["links"]["self"])
    assert_klaviyo_shape("get_bulk_import_profiles_job", done, 200)
    return done["data"]


def lists_of(engine: Engine, account_id: str, email: str) -> set[str]:
    with read_transaction(engine) as conn:
        row = profile_store.find(conn, account_id, "email", email)
        return {r.id for r in profile_store.lists_of(conn, account_id, row.id)}


def counted(engine: Engine, table, account_id: str) -> int:
    with read_transaction(engine) as conn:
        return conn.execute(
            select(func.count()).select_from(table).where(table.c.account_id == account_id)
        ).scalar_one()


# --- importing ---------------------------------------------------------------------------------


def test_an_import_creates_and_updates_profiles_and_joins_lists_without_touching_consent(server, api):
    engine, account = server.engine, api.account_id
    first, second = (lists.create_list(engine, account, name).id for name in ("First", "Second"))
    created = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {
        "email": "old@example.com", "first_name": "Old", "last_name": "Timer", "properties": {"a": 1}}}})  # fmt: skip
    assert created.status_code == 201, created.text
    consent.subscribe(engine, account, Locator("email", "fan@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    events = ledger_count(engine, account)

    job = run_import(api, [
        profile(email="old@example.com", first_name="New", location={"city": "Lyon", "latitude": 45.76},
                properties={"b": 2}),
        profile(email="fresh@example.com", phone_number="+1 415 555 2671", external_id="X-1", organization="Acme",
                locale="fr-FR", title="CEO", image="https://example.com/me.png"),
        profile(external_id="only-external"),
        profile(email="fan@example.com"),
    ], (first, second))  # fmt: skip
    attributes = job["attributes"]
    assert (attributes["status"], attributes["total_count"], attributes["completed_count"]) == ("complete", 4, 4)
    assert attributes["failed_count"] == 0
    created_at = datetime.fromisoformat(attributes["created_at"])
    assert datetime.fromisoformat(attributes["expires_at"]) == created_at + timedelta(days=7)
    assert (
        created_at
        <= datetime.fromisoformat(attributes["started_at"])
        <= datetime.fromisoformat(attributes["completed_at"])
    )
    assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": first}, {"type": "list", "id": second}]

    old = get_profile(engine, account, Locator("email", "old@example.com"))["attributes"]
    assert (old["first_name"], old["last_name"], old["properties"]) == ("New", "Timer", {"a": 1, "b": 2})
    assert (old["location"]["city"], old["location"]["latitude"]) == ("Lyon", "45.76")
    fresh = get_profile(engine, account, Locator("email", "fresh@example.com"))["attributes"]
    assert (fresh["phone_number"], fresh["external_id"], fresh["organization"]) == ("+14155552671", "X-1", "Acme")
    assert (fresh["locale"], fresh["title"], fresh["image"]) == ("fr-FR", "CEO", "https://example.com/me.png")
    # Joining a list is not consent: the new profiles have none, the fan keeps theirs.
    subscriptions = fresh["subscriptions"]
    assert subscriptions["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert subscriptions["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert subscriptions["sms"]["marketing"]["can_receive_sms_marketing"] is False
    fan = get_profile(engine, account, Locator("email", "fan@example.com"))["attributes"]["subscriptions"]
    assert fan["email"]["marketing"]["consent"] == "SUBSCRIBED"
    for email in ("old@example.com", "fresh@example.com", "fan@example.com"):
        assert lists_of(engine, account, email) == {first, second}
    # One list-joined event per profile and list, and nothing else.
    assert ledger_count(engine, account) == events + 4 * 2


def test_profiles_that_fail_validation_become_import_errors_and_the_others_go_in(server, api):
    engine, account = server.engine, api.account_id
    for attributes in ({"email": "a@example.com"}, {"phone_number": "+14155552671"}):
        response = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": attributes}})
        assert response.status_code == 201, response.text
    bad = [
        profile(email="not-an-email"),
        profile(phone_number="12"),
        profile(first_name="Nobody"),
        profile(email="a@example.com", phone_number="+14155552671"),  # two different profiles
        {"type": "profile", "id": "01JZZZZZZZZZZZZZZZZZZZZZZZ", "attributes": {"first_name": "Ghost"}},
    ]
    items = [profile(email="good1@example.com"), *bad, profile(email="good2@example.com")]
    job = run_import(api, items)
    attributes = job["attributes"]
    assert (attributes["total_count"], attributes["completed_count"], attributes["failed_count"]) == (7, 2, 5)

    url = f"{JOBS}/{job['id']}/import-errors"
    response = api.get(url)
    assert response.status_code == 200, response.text
    assert_klaviyo_shape("get_errors_for_bulk_import_profiles_job", response.json(), 200)
    errors = response.json()["data"]
    assert [e["attributes"]["original_payload"] for e in errors] == bad
    for e in errors:
        assert (e["attributes"]["code"], e["attributes"]["title"]) == ("invalid", "Invalid input")
        assert e["attributes"]["source"] == {"pointer": "/data"}
    details = [e["attributes"]["detail"] for e in errors]
    assert "not-an-email" in details[0] and details[1].startswith("phone_number")
    assert "different profiles" in details[3] and "01JZZZZZZZZZZZZZZZZZZZZZZZ" in details[4]
    assert [e["id"] for e in api.get(url).json()["data"]] == [e["id"] for e in errors]  # stable ids
    assert len({e["id"] for e in errors}) == 5

    pages, next_url = [], f"{url}?page[size]=2"
    while next_url:
        page = api.get(next_url).json()
        pages.append([e["id"] for e in page["data"]])
        next_url = page["links"].get("next")
    assert pages == [[e["id"] for e in errors[:2]], [e["id"] for e in errors[2:4]], [errors[4]["id"]]]
    sparse = api.get(url, params={"fields[import-error]": "code,source.pointer"}).json()["data"][0]["attributes"]
    assert sparse == {"code": "invalid", "source": {"pointer": "/data"}}

    ids = api.get(f"{JOBS}/{job['id']}/relationships/profiles").json()["data"]
    with read_transaction(engine) as conn:
        good = {profile_store.find(conn, account, "email", f"good{i}@example.com").id for i in (1, 2)}
    assert {p["id"] for p in ids} == good
    assert get_profile(engine, account, Locator("email", "a@example.com"))["attributes"]["first_name"] is None


def test_a_job_s_profiles_and_lists_are_read_back(server, api):
    engine, account = server.engine, api.account_id
    newsletter = lists.create_list(engine, account, "Newsletter")
    job = run_import(api, [profile(email=f"r{i}@example.com") for i in range(3)], (newsletter.id,))
    base = f"{JOBS}/{job['id']}"

    one = api.get(base, params={"include": "lists", "fields[list]": "name"})
    assert one.status_code == 200, one.text
    assert_klaviyo_shape("get_bulk_import_profiles_job", one.json(), 200)
    assert [(x["id"], x["attributes"]) for x in one.json()["included"]] == [(newsletter.id, {"name": "Newsletter"})]

    found = api.get(f"{base}/lists")
    assert found.status_code == 200, found.text
    assert_klaviyo_shape("get_lists", found.json(), 200)  # the same list resources as get_lists
    assert [x["id"] for x in found.json()["data"]] == [newsletter.id]
    ids = api.get(f"{base}/relationships/lists").json()
    assert_klaviyo_shape("get_list_ids_for_profile", ids, 200)  # the same list linkage
    assert ids["data"] == [{"type": "list", "id": newsletter.id}]

    first = api.get(f"{base}/profiles", params={"page[size]": "2", "additional-fields[profile]": "subscriptions"})
    assert first.status_code == 200, first.text
    assert_klaviyo_shape("get_profiles_for_bulk_import_profiles_job", first.json(), 200)
    assert [p["type"] for p in first.json()["data"]] == ["profile", "profile"]
    assert "subscriptions" in first.json()["data"][0]["attributes"]
    second = api.get(first.json()["links"]["next"]).json()
    emails = [p["attributes"]["email"] for p in first.json()["data"] + second["data"]]
    assert sorted(emails) == ["r0@example.com", "r1@example.com", "r2@example.com"]
    assert "next" not in second["links"]
    linked = api.get(f"{base}/relationships/profiles", params={"page[size]": "100"}).json()
    assert_klaviyo_shape("get_profile_ids_for_bulk_import_profiles_job", linked, 200)
    assert [p["id"] for p in linked["data"]] == [p["id"] for p in first.json()["data"] + second["data"]]
    sparse = api.get(f"{base}/profiles", params={"fields[profile]": "email"}).json()["data"][0]["attributes"]
    assert list(sparse) == ["email"]


# --- bad requests and tenancy --------------------------------------------------------------------


def test_an_unknown_list_is_a_404_naming_it_and_nothing_is_queued(server, api, other_api):
    mine = lists.create_list(server.engine, api.account_id, "Mine").id
    theirs = lists.create_list(server.engine, other_api.account_id, "Theirs").id
    for unknown in ("nope42", theirs):
        response = api.post(JOBS, json=import_body([profile(email="x@example.com")], (mine, unknown)))
        assert response.status_code == 404, response.text
        error = response.json()["errors"][0]
        assert error["source"]["pointer"] == "/data/relationships/lists/data/1/id"
        assert unknown in error["detail"]
    assert job_count(server.engine, api.account_id) == 0


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (import_body([]), "/data/attributes/profiles/data"),
        (import_body([profile(email=f"p{i}@example.com") for i in range(10_001)]), "/data/attributes/profiles/data"),
        ({"data": {"type": "profile-bulk-import-jobs", "attributes": {"profiles": {"data": []}}}}, "/data/type"),
        (import_body([profile(email=42)]), "/data/attributes/profiles/data/0/attributes/email"),
    ],
    ids=["empty", "over-10000", "wrong-type", "not-a-string"],
)  # fmt: skip
def test_a_job_imports_1_to_10000_well_formed_profiles_and_anything_else_is_a_400(server, api, body, pointer):
    response = api.post(JOBS, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"]["pointer"] == pointer
    assert job_count(server.engine, api.account_id) == 0


def test_import_jobs_are_listed_filtered_sorted_and_paged(server, api):
    ids = [run_import(api, [profile(email=f"l{i}@example.com")])["id"] for i in range(3)]
    first = api.get(JOBS, params={"page[size]": "2"})
    assert first.status_code == 200, first.text
    assert_klaviyo_shape("get_bulk_import_profiles_jobs", first.json(), 200)
    second = api.get(first.json()["links"]["next"]).json()
    assert [j["id"] for j in first.json()["data"] + second["data"]] == ids
    assert [j["id"] for j in api.get(JOBS, params={"sort": "-created_at"}).json()["data"]] == ids[::-1]
    assert [
        j["id"] for j in api.get(JOBS, params={"filter": 'any(status,["complete","cancelled"])'}).json()["data"]
    ] == ids
    assert api.get(JOBS, params={"filter": "equals(status,'queued')"}).json()["data"] == []
    for params, parameter in (
        ({"page[size]": "101"}, "page[size]"),
        ({"filter": "greater-than(created_at,2024-01-01T00:00:00Z)"}, "filter"),
        ({"sort": "created"}, "sort"),
        ({"include": "profiles"}, "include"),
    ):
        response = api.get(JOBS if "include" not in params else f"{JOBS}/{ids[0]}", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["errors"][0]["source"]["parameter"] == parameter


def test_another_accounts_import_job_is_not_found_anywhere(server, api, other_api):
    job_id = run_import(api, [profile(email="private@example.com")])["id"]
    for tail in ("", "/profiles", "/relationships/profiles", "/import-errors", "/lists", "/relationships/lists"):
        response = other_api.get(f"{JOBS}/{job_id}{tail}")
        assert response.status_code == 404, (tail, response.text)
    assert other_api.get(JOBS).json()["data"] == []
    assert api.get(f"/api/profile-suppression-bulk-create-jobs/{job_id}").status_code == 404


# --- durability: a database no server's runner looks at, so the test is the only runner ----------


@pytest.fixture(scope="module", params=BACKENDS)
def quiet_engine(request, tmp_path_factory) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('jobs') / 'assent.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    shared = request.getfixturevalue("pg_database")  # skips when PostgreSQL is not there
    name = f"assent_jobs_{secrets.token_hex(4)}"
    admin = create_engine(database_url(shared), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(database_url(shared)).set(database=name).render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def quiet_account(quiet_engine) -> str:
    return accounts.create_account(quiet_engine, "Durable brand", "US").account.id


def queue_big_import(engine: Engine, account_id: str, n: int) -> tuple[model.Job, str]:
    """An import of n new profiles into a new list: each profile writes exactly one ledger event."""
    list_id = lists.create_list(engine, account_id, "Big").id
    items = [profile(email=f"user{i}@example.com") for i in range(n)]
    return queueing.queue_import(engine, account_id, import_body(items, (list_id,))), list_id


def test_a_job_stopped_after_a_batch_resumes_where_it_stopped_and_does_everything_once(quiet_engine, quiet_account):
    engine, account = quiet_engine, quiet_account
    job, list_id = queue_big_import(engine, account, 2500)
    assert batches.run_pending(engine, max_batches=1) == 0
    halfway = reading.get_job(engine, account, model.IMPORT, job.id)
    assert (halfway.status, halfway.completed_count) == ("processing", batches.BATCH_SIZE)
    assert ledger_count(engine, account) == counted(engine, profiles, account) == batches.BATCH_SIZE
    with read_transaction(engine) as conn:  # handed back: any runner may take it now
        assert job_store.get(conn, account, job.id).lease_until <= utcnow()

    assert batches.run_pending(engine) == 1
    done = reading.get_job(engine, account, model.IMPORT, job.id)
    assert (done.status, done.completed_count, done.failed_count) == ("complete", 2500, 0)
    assert ledger_count(engine, account) == counted(engine, profiles, account) == 2500
    assert counted(engine, job_profiles, account) == 2500
    assert batches.run_pending(engine) == 0
    assert ledger_count(engine, account) == 2500

    # A list job resumes after the last member it went through, too.
    by_list = {"list": {"data": {"type": "list", "id": list_id}}}
    request = {"data": {"type": model.SUPPRESS, "attributes": {}, "relationships": by_list}}
    suppress = queueing.queue_suppression(engine, account, model.SUPPRESS, request)
    assert batches.run_pending(engine, max_batches=2) == 0
    assert reading.get_job(engine, account, model.SUPPRESS, suppress.id).completed_count == 2 * batches.BATCH_SIZE
    assert batches.run_pending(engine) == 1
    done = reading.get_job(engine, account, model.SUPPRESS, suppress.id)
    assert (done.status, done.total_count, done.completed_count, done.skipped_count) == ("complete", 2500, 2500, 0)
    assert ledger_count(engine, account) == 2 * 2500


def test_a_batch_that_fails_is_rolled_back_whole_and_retried_once_its_lease_lapses(
    quiet_engine, quiet_account, monkeypatch
):
    engine, account = quiet_engine, quiet_account
    job, _ = queue_big_import(engine, account, 2500)
    real_advance, calls = job_store.advance, []

    def advance_failing_the_second_batch(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # after the batch's profiles, events and projection were written
            raise RuntimeError("the disk is on fire")
        real_advance(*args, **kwargs)

    monkeypatch.setattr(job_store, "advance", advance_failing_the_second_batch)
    monkeypatch.setattr(batches, "RETRY_DELAY", timedelta(hours=1))
    assert batches.run_pending(engine) == 0
    failed = reading.get_job(engine, account, model.IMPORT, job.id)
    assert (failed.status, failed.completed_count) == ("processing", batches.BATCH_SIZE)
    assert ledger_count(engine, account) == counted(engine, profiles, account) == batches.BATCH_SIZE
    with read_transaction(engine) as conn:
        assert job_store.failures(conn, account, job.id) == 1
    assert batches.run_pending(engine) == 0  # waiting out its pause: nobody takes it

    with write_transaction(engine) as conn:  # the pause is over
        job_store.set_lease(conn, account, job.id, utcnow())
    assert batches.run_pending(engine) == 1
    done = reading.get_job(engine, account, model.IMPORT, job.id)
    assert (done.status, done.completed_count) == ("complete", 2500)
    assert ledger_count(engine, account) == counted(engine, profiles, account) == 2500


def test_a_job_that_keeps_failing_is_cancelled_after_three_retries(quiet_engine, quiet_account, monkeypatch):
    engine, account = quiet_engine, quiet_account
    job, _ = queue_big_import(engine, account, 10)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("always")

    monkeypatch.setattr(job_store, "advance", broken)
    monkeypatch.setattr(batches, "RETRY_DELAY", timedelta(0))
    assert batches.run_pending(engine) == 1
    cancelled = reading.get_job(engine, account, model.IMPORT, job.id)
    assert (cancelled.status, cancelled.completed_count) == ("cancelled", 0)
    assert cancelled.completed_at is not None
    with read_transaction(engine) as conn:
        assert job_store.failures(conn, account, job.id) == 1 + batches.MAX_RETRIES
    assert ledger_count(engine, account) == counted(engine, profiles, account) == 0


def test_of_runners_racing_for_a_job_one_gets_it_until_its_lease_lapses(quiet_engine, quiet_account):
    engine, account = quiet_engine, quiet_account
    job, _ = queue_big_import(engine, account, 1)
    now = utcnow()
    claims = []
    for at in (now, now + timedelta(seconds=1), now + batches.LEASE + timedelta(seconds=1)):
        with write_transaction(engine) as conn:
            claims.append(job_store.claim(conn, account, job.id, at, at + batches.LEASE))
    assert claims == [True, False, True]
    with write_transaction(engine) as conn:
        job_store.cancel(conn, account, job.id, utcnow())


def test_two_runners_working_one_job_at_once_still_do_each_profile_once(quiet_engine, quiet_account):
    engine, account = quiet_engine, quiet_account
    job, _ = queue_big_import(engine, account, 5000)
    first = threading.Thread(target=batches.run_pending, args=(engine,))
    first.start()
    # A second runner takes the job over as if the first one's lease had lapsed, batch after batch,
    # while the first goes on working it.
    while reading.get_job(engine, account, model.IMPORT, job.id).status != "complete":
        with write_transaction(engine) as conn:
            job_store.set_lease(conn, account, job.id, utcnow() - timedelta(seconds=1))
        batches.run_pending(engine, max_batches=1)
    first.join(timeout=120)
    done = reading.get_job(engine, account, model.IMPORT, job.id)
    assert (done.completed_count, done.failed_count) == (5000, 0)
    assert ledger_count(engine, account) == counted(engine, profiles, account) == 5000


def test_a_job_survives_a_server_restart_and_completes_once(quiet_engine):
    engine, n = quiet_engine, model.MAX_IMPORT_PROFILES
    new = accounts.create_account(engine, "Restarted brand", "US")
    list_id = lists.create_list(engine, new.account.id, "Big").id
    base, uv, thread = start_server(engine)
    with make_client(base, new.api_key, new.account.id) as client:
        body = import_body([profile(email=f"r{i}@example.com") for i in range(n)], (list_id,))
        response = client.post(JOBS, json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["data"]["id"]
    stop_server(uv, thread)  # the runner finishes its batch and hands the job back (usually mid-way)
    stopped = reading.get_job(engine, new.account.id, model.IMPORT, job_id)
    assert stopped.status in ("queued", "processing", "complete")
    assert ledger_count(engine, new.account.id) == stopped.completed_count
    if stopped.status == "processing":
        with read_transaction(engine) as conn:
            assert job_store.get(conn, new.account.id, job_id).lease_until <= utcnow()

    base, uv, thread = start_server(engine)
    try:
        with make_client(base, new.api_key, new.account.id) as client:
            done = wait_for_job(client, f"{JOBS}/{job_id}")["data"]["attributes"]
    finally:
        stop_server(uv, thread)
    assert (done["status"], done["completed_count"], done["failed_count"]) == ("complete", n, 0)
    assert ledger_count(engine, new.account.id) == counted(engine, profiles, new.account.id) == n


def test_a_location_that_is_not_degrees_becomes_an_import_error_naming_it(server, api):
    bad = [profile(email="far@example.com", location={"latitude": "abc"}),
           profile(email="off@example.com", location={"longitude": "181"})]  # fmt: skip
    job = run_import(api, [profile(email="near@example.com", location={"latitude": "48.85"}), *bad])
    assert (job["attributes"]["completed_count"], job["attributes"]["failed_count"]) == (1, 2)
    errors = api.get(f"{JOBS}/{job['id']}/import-errors").json()["data"]
    details = [e["attributes"]["detail"] for e in errors]
    assert details[0].startswith("location.latitude") and "abc" in details[0]
    assert details[1].startswith("location.longitude") and "181" in details[1]


def test_a_profile_field_longer_than_it_takes_becomes_an_import_error_naming_it(server, api):
    bad = [profile(email="long@example.com", first_name="N" * 100_000),
           profile(email="far@example.com", location={"city": "C" * 256})]  # fmt: skip
    job = run_import(api, [profile(email="fits@example.com", first_name="N" * 255), *bad])
    assert (job["attributes"]["completed_count"], job["attributes"]["failed_count"]) == (1, 2)
    errors = api.get(f"{JOBS}/{job['id']}/import-errors").json()["data"]
    details = [e["attributes"]["detail"] for e in errors]
    assert details[0] == "first_name: may be at most 255 characters long (got '100000 characters')"
    assert details[1].startswith("location.city: may be at most 255 characters long")
