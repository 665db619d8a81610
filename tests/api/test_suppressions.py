"""Suppress and unsuppress jobs over HTTP: queued with a 202, worked by the server's job runner,
read back through the job GETs, and checked against Klaviyo's response schemas.

Also the helpers the bulk-import tests share: waiting for a job, counting ledger events and jobs."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import Engine, func, select

from assent.api.resources import get_profile_resource as get_profile
from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.shared.errors import NotFound
from assent.store.db import read_transaction
from assent.store.tables import consent_events, jobs
from tests.api.klaviyo_schema import assert_klaviyo_shape

CREATE = "/api/profile-suppression-bulk-create-jobs"
DELETE = "/api/profile-suppression-bulk-delete-jobs"
KINDS = {CREATE: "profile-suppression-bulk-create-job", DELETE: "profile-suppression-bulk-delete-job"}
# Klaviyo's operations, by path: (create, get one, get many).
OPERATIONS = {
    CREATE: ("bulk_suppress_profiles", "get_bulk_suppress_profiles_job", "get_bulk_suppress_profiles_jobs"),
    DELETE: ("bulk_unsuppress_profiles", "get_bulk_unsuppress_profiles_job", "get_bulk_unsuppress_profiles_jobs"),
}

# --- helpers -----------------------------------------------------------------------------------


def wait_for_job(api, url: str, timeout: float = 60) -> dict:
    """Poll a job's GET until it has come to an end."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(url)
        assert response.status_code == 200, response.text
        doc = response.json()
        status = doc["data"]["attributes"]["status"]
        if status in ("complete", "cancelled"):
            return doc
        assert time.monotonic() < deadline, f"the job is still {status} after {timeout} s"
        time.sleep(0.05)


def ledger_count(engine: Engine, account_id: str) -> int:
    with read_transaction(engine) as conn:
        q = select(func.count()).select_from(consent_events).where(consent_events.c.account_id == account_id)
        return conn.execute(q).scalar_one()


def job_count(engine: Engine, account_id: str) -> int:
    with read_transaction(engine) as conn:
        return conn.execute(select(func.count()).select_from(jobs).where(jobs.c.account_id == account_id)).scalar_one()


def email_job(kind: str, *emails: str) -> dict:
    profiles = [{"type": "profile", "attributes": {"email": e}} for e in emails]
    return {"data": {"type": kind, "attributes": {"profiles": {"data": profiles}}}}


def list_job(kind: str, list_id: str) -> dict:
    return {
        "data": {
            "type": kind,
            "attributes": {"profiles": None},
            "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
        }
    }


def post_job(api, path: str, body: dict) -> dict:
    response = api.post(path, json=body)
    assert response.status_code == 202, response.text
    doc = response.json()
    assert_klaviyo_shape(OPERATIONS[path][0], doc, 202)
    return doc


def run_job(api, path: str, body: dict) -> dict:
    """Queue a job and wait for it; returns the finished job's attributes."""
    doc = post_job(api, path, body)
    done = wait_for_job(api, doc["data"]["links"]["self"])
    assert_klaviyo_shape(OPERATIONS[path][1], done, 200)
    return done["data"]["attributes"]


def email_marketing(engine: Engine, account_id: str, email: str) -> dict:
    profile = get_profile(engine, account_id, Locator("email", email))
    return profile["attributes"]["subscriptions"]["email"]["marketing"]


def suppression_reasons(engine: Engine, account_id: str, email: str) -> list[str]:
    return [s["reason"] for s in email_marketing(engine, account_id, email)["suppression"]]


# --- suppress and unsuppress by email ----------------------------------------------------------


def test_suppressing_emails_suppresses_known_profiles_and_creates_unknown_ones_suppressed(server, api):
    engine, account = server.engine, api.account_id
    consent.subscribe(engine, account, Locator("email", "known@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    doc = post_job(api, CREATE, email_job(KINDS[CREATE], "known@EXAMPLE.com", "new@example.com"))
    attributes = doc["data"]["attributes"]
    assert attributes["total_count"] == 2
    assert attributes["status"] in ("queued", "processing", "complete")  # the runner may be quick
    assert doc["data"]["relationships"] == {"lists": {"data": []}, "segments": {"data": []}}

    done = wait_for_job(api, doc["data"]["links"]["self"])["data"]["attributes"]
    assert (done["status"], done["completed_count"], done["skipped_count"]) == ("complete", 2, 0)
    assert datetime.fromisoformat(done["completed_at"]) >= datetime.fromisoformat(done["created_at"])
    for email in ("known@example.com", "new@example.com"):
        marketing = email_marketing(engine, account, email)
        assert [s["reason"] for s in marketing["suppression"]] == ["USER_SUPPRESSED"]
        assert marketing["can_receive_email_marketing"] is False
    # Suppression is not an opt-out: the known profile's consent stays.
    assert email_marketing(engine, account, "known@example.com")["consent"] == "SUBSCRIBED"


def test_unsuppressing_lifts_only_user_suppressed_and_skips_unknown_emails(server, api):
    engine, account = server.engine, api.account_id
    consent.suppress(engine, account, Locator("email", "manual@example.com"), SuppressionReason.USER_SUPPRESSED)
    consent.suppress(engine, account, Locator("email", "bounced@example.com"), SuppressionReason.HARD_BOUNCE)
    consent.suppress(engine, account, Locator("email", "left@example.com"), SuppressionReason.UNSUBSCRIBE)

    done = run_job(api, DELETE, email_job(KINDS[DELETE], "manual@example.com", "bounced@example.com",
                                          "left@example.com", "stranger@example.com"))  # fmt: skip
    assert (done["status"], done["total_count"], done["completed_count"], done["skipped_count"]) == (
        "complete", 4, 3, 1,
    )  # fmt: skip
    assert suppression_reasons(engine, account, "manual@example.com") == []
    assert suppression_reasons(engine, account, "bounced@example.com") == ["HARD_BOUNCE"]
    assert suppression_reasons(engine, account, "left@example.com") == ["UNSUBSCRIBE"]
    with pytest.raises(NotFound):  # unsuppressing an unknown address creates nobody
        get_profile(engine, account, Locator("email", "stranger@example.com"))


def test_user_suppressed_stays_until_an_unsuppress_job_and_repeating_a_job_writes_nothing(server, api):
    engine, account = server.engine, api.account_id
    body = email_job(KINDS[CREATE], "kept@example.com")
    run_job(api, CREATE, body)
    events = ledger_count(engine, account)
    # Suppressing again changes nothing, and neither does an import that edits the profile.
    assert run_job(api, CREATE, body)["completed_count"] == 1
    imported = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [
        {"type": "profile", "attributes": {"email": "kept@example.com", "first_name": "Kim"}}]}}}}  # fmt: skip
    response = api.post("/api/profile-bulk-import-jobs", json=imported)
    assert response.status_code == 202, response.text
    wait_for_job(api, response.json()["data"]["links"]["self"])
    assert ledger_count(engine, account) == events
    assert suppression_reasons(engine, account, "kept@example.com") == ["USER_SUPPRESSED"]

    run_job(api, DELETE, email_job(KINDS[DELETE], "kept@example.com"))
    assert suppression_reasons(engine, account, "kept@example.com") == []
    assert ledger_count(engine, account) == events + 1


# --- by list, and by segment -------------------------------------------------------------------


def test_a_list_job_suppresses_every_current_member_and_skips_members_without_email(server, api):
    engine, account = server.engine, api.account_id
    members = lists.create_list(engine, account, "Newsletter")
    for email in ("m1@example.com", "m2@example.com"):
        consent.subscribe(engine, account, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)],
                          list_id=members.id)  # fmt: skip
    consent.subscribe(engine, account, Locator("phone_number", "+14155552671"), [(Channel.SMS, Purpose.MARKETING)],
                      list_id=members.id)  # fmt: skip
    consent.subscribe(engine, account, Locator("email", "outsider@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])

    doc = post_job(api, CREATE, list_job(KINDS[CREATE], members.id))
    assert doc["data"]["relationships"]["lists"] == {"data": [{"type": "list", "id": members.id}]}
    assert doc["data"]["attributes"]["total_count"] == 3
    done = wait_for_job(api, doc["data"]["links"]["self"])["data"]["attributes"]
    assert (done["completed_count"], done["skipped_count"]) == (2, 1)  # the SMS-only member has no email
    assert suppression_reasons(engine, account, "m1@example.com") == ["USER_SUPPRESSED"]
    assert suppression_reasons(engine, account, "m2@example.com") == ["USER_SUPPRESSED"]
    assert suppression_reasons(engine, account, "outsider@example.com") == []

    done = run_job(api, DELETE, list_job(KINDS[DELETE], members.id))
    assert (done["total_count"], done["completed_count"], done["skipped_count"]) == (3, 3, 0)
    assert suppression_reasons(engine, account, "m1@example.com") == []


def test_an_empty_list_makes_a_job_with_nothing_to_do(server, api):
    empty = lists.create_list(server.engine, api.account_id, "Empty")
    done = run_job(api, CREATE, list_job(KINDS[CREATE], empty.id))
    assert (done["status"], done["total_count"], done["completed_count"]) == ("complete", 0, 0)


def test_an_unknown_list_another_accounts_list_and_any_segment_are_404s_and_queue_nothing(server, api, other_api):
    theirs = lists.create_list(server.engine, other_api.account_id, "Theirs")
    for list_id in ("nope42", theirs.id):
        response = api.post(CREATE, json=list_job(KINDS[CREATE], list_id))
        assert response.status_code == 404, response.text
        error = response.json()["errors"][0]
        assert error["source"]["pointer"] == "/data/relationships/list/data/id"
        assert list_id in error["detail"]
    body = {"data": {"type": KINDS[DELETE], "attributes": {},
                     "relationships": {"segment": {"data": {"type": "segment", "id": "Seg123"}}}}}  # fmt: skip
    response = api.post(DELETE, json=body)
    assert response.status_code == 404, response.text
    assert "segment" in response.json()["errors"][0]["detail"]
    assert job_count(server.engine, api.account_id) == 0


# --- bad requests --------------------------------------------------------------------------------


def test_an_invalid_email_is_a_400_naming_it_and_nothing_is_queued(server, api):
    response = api.post(CREATE, json=email_job(KINDS[CREATE], "fine@example.com", "not-an-email"))
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["code"] == "invalid"
    assert error["source"]["pointer"] == "/data/attributes/profiles/data/1/attributes/email"
    assert "not-an-email" in error["detail"]
    assert job_count(server.engine, api.account_id) == 0
    assert api.get(CREATE).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": {"type": KINDS[CREATE], "attributes": {}}}, "/data/attributes/profiles"),
        ({"data": {"type": KINDS[CREATE], "attributes": {"profiles": {"data": [{"type": "profile",
          "attributes": {"email": "a@example.com"}}]}},
          "relationships": {"list": {"data": {"type": "list", "id": "abc123"}}}}}, "/data/attributes/profiles"),
        (email_job(KINDS[CREATE], *(f"p{i}@example.com" for i in range(101))), "/data/attributes/profiles/data"),
        ({"data": {"type": KINDS[CREATE], "attributes": {"profiles": {"data": [{"type": "profile",
          "attributes": {"phone_number": "+14155552671"}}]}}}}, "/data/attributes/profiles/data/0/attributes"),
        ({"data": {"type": KINDS[DELETE], "attributes": {}}}, "/data/type"),
    ],
    ids=["neither", "both", "over-100", "no-email", "wrong-type"],
)  # fmt: skip
def test_a_job_names_up_to_100_emails_or_one_list_and_anything_else_is_a_400(server, api, body, pointer):
    response = api.post(CREATE, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"]["pointer"] == pointer
    assert job_count(server.engine, api.account_id) == 0


# --- reading jobs ------------------------------------------------------------------------------


def test_jobs_are_listed_by_kind_filtered_sorted_and_paged(server, api):
    engine, account = server.engine, api.account_id
    members = lists.create_list(engine, account, "Members")
    ids = [post_job(api, CREATE, email_job(KINDS[CREATE], f"p{i}@example.com"))["data"]["id"] for i in range(3)] + [
        post_job(api, CREATE, list_job(KINDS[CREATE], members.id))["data"]["id"]
    ]
    unsuppress = post_job(api, DELETE, email_job(KINDS[DELETE], "p0@example.com"))["data"]["id"]
    for job_id in ids:
        wait_for_job(api, f"{CREATE}/{job_id}")

    first = api.get(CREATE, params={"page[size]": "3"})
    assert first.status_code == 200, first.text
    assert_klaviyo_shape(OPERATIONS[CREATE][2], first.json(), 200)
    assert [j["id"] for j in first.json()["data"]] == ids[:3]
    assert "prev" not in first.json()["links"]
    second = api.get(first.json()["links"]["next"])
    assert [j["id"] for j in second.json()["data"]] == ids[3:]
    assert "next" not in second.json()["links"]
    assert [j["id"] for j in api.get(second.json()["links"]["prev"]).json()["data"]] == ids[:3]

    assert [j["id"] for j in api.get(CREATE, params={"sort": "-created"}).json()["data"]] == ids[::-1]
    by_list = api.get(CREATE, params={"filter": f'equals(list_id,"{members.id}")'}).json()["data"]
    assert [j["id"] for j in by_list] == ids[3:]
    done = api.get(CREATE, params={"filter": "equals(status,'complete')"}).json()["data"]
    assert [j["id"] for j in done] == ids
    assert api.get(CREATE, params={"filter": 'equals(segment_id,"x")'}).json()["data"] == []
    assert [j["id"] for j in api.get(DELETE).json()["data"]] == [unsuppress]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"filter": 'equals(email,"a@example.com")'}, "filter"),
        ({"filter": 'equals(status,"done")'}, "filter"),
        ({"sort": "status"}, "sort"),
        ({"page[cursor]": "garbage"}, "page[cursor]"),
        (
            {"fields[profile-suppression-bulk-create-job]": "status,email"},
            "fields[profile-suppression-bulk-create-job]",
        ),
    ],
    ids=["field", "status", "sort", "cursor", "fields"],
)
def test_a_bad_listing_parameter_is_a_400_naming_it(server, api, params, parameter):
    response = api.get(CREATE, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"]["parameter"] == parameter


def test_a_job_is_read_with_a_sparse_fieldset(server, api):
    job_id = post_job(api, CREATE, email_job(KINDS[CREATE], "s@example.com"))["data"]["id"]
    response = api.get(
        f"{CREATE}/{job_id}", params={"fields[profile-suppression-bulk-create-job]": "status,total_count"}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["data"]["attributes"]) == {"status", "total_count"}


def test_another_accounts_job_and_a_job_of_the_other_kind_are_not_found(server, api, other_api):
    job_id = post_job(api, CREATE, email_job(KINDS[CREATE], "mine@example.com"))["data"]["id"]
    wait_for_job(api, f"{CREATE}/{job_id}")
    for client, path in ((other_api, f"{CREATE}/{job_id}"), (api, f"{DELETE}/{job_id}"), (api, f"{CREATE}/01NOPE")):
        response = client.get(path)
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["code"] == "not_found"
    assert other_api.get(CREATE).json()["data"] == []
