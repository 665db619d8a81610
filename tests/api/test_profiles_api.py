"""Klaviyo's profile endpoints over a real server: create, get, update, create-or-update, and the
list with its filters, sorts, sparse fieldsets and cursor paging. Every Klaviyo-shaped answer is
held to Klaviyo's response schema; every bad input is a 400 naming the field and writes nothing."""

from __future__ import annotations

import base64
import copy
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from assent.api.profiles import PROFILE_FILTERS, PROFILE_SORTS
from assent.domain import SuppressionReason
from assent.domain.profile import MAX_TEXT
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists.lists import create_list
from tests.api.conftest import make_client
from tests.api.klaviyo_schema import assert_klaviyo_shape, klaviyo_errors

SUPPRESSION = "subscriptions.email.marketing.suppression"
LIST_SUPPRESSION = "subscriptions.email.marketing.list_suppressions"


# --- helpers ----------------------------------------------------------------------------------


def profile_doc(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": attributes}}


def create(api, **attributes: Any) -> dict[str, Any]:
    r = api.post("/api/profiles", json=profile_doc(**attributes))
    assert r.status_code == 201, r.text
    assert_klaviyo_shape("create_profile", r.json(), 201)
    return r.json()["data"]


def get(api, profile_id: str, **params: str) -> dict[str, Any]:
    r = api.get(f"/api/profiles/{profile_id}", params=params)
    assert r.status_code == 200, r.text
    assert_klaviyo_shape("get_profile", r.json())
    return r.json()["data"]


def marketing(api, profile_id: str, channel: str = "email") -> dict[str, Any]:
    return get(api, profile_id, **{"additional-fields[profile]": "subscriptions"})["attributes"]["subscriptions"][
        channel
    ]["marketing"]


def patch(api, profile_id: str, attributes: dict[str, Any], meta: dict[str, Any] | None = None):
    data: dict[str, Any] = {"type": "profile", "id": profile_id, "attributes": attributes}
    if meta is not None:
        data["meta"] = meta
    return api.patch(f"/api/profiles/{profile_id}", json={"data": data})


def error(r, status: int) -> dict[str, Any]:
    """The first error of a JSON:API error answer, after checking its status and shape."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")
    errors = r.json()["errors"]
    for e in errors:
        assert {"id", "status", "code", "title", "detail"} <= e.keys(), e
        assert e["status"] == status
    return errors[0]


def listed(api, **params: str) -> list[dict[str, Any]]:
    r = api.get("/api/profiles", params={"page[size]": "100", **params})
    assert r.status_code == 200, r.text
    assert_klaviyo_shape("get_profiles", r.json())
    return r.json()["data"]


def ids(api, **params: str) -> set[str]:
    return {p["id"] for p in listed(api, **params)}


def ledger_size(api) -> int:
    total, url = 0, "/api/consent-events?page%5Bsize%5D=1000"
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.text
        total += len(r.json()["data"])
        url = r.json()["links"].get("next")
    return total


def state(api) -> tuple[list[dict[str, Any]], int]:
    """Everything a write could change: the profiles (as served) and the ledger's length."""
    return sorted(listed(api), key=lambda p: p["id"]), ledger_size(api)


def subscribe(api, profiles: list[dict[str, Any]], list_id: str | None = None) -> None:
    body: dict[str, Any] = {
        "data": {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": profiles}}}
    }
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    r = api.post("/api/profile-subscription-bulk-create-jobs", json=body)
    assert r.status_code == 202, r.text


def unsubscribe(api, email: str, list_id: str | None = None) -> None:
    body: dict[str, Any] = {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": email,
                                "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
                            },
                        }
                    ]
                }
            },
        }
    }
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    r = api.post("/api/profile-subscription-bulk-delete-jobs", json=body)
    assert r.status_code == 202, r.text


def email_sub(email: str, phone: str | None = None, sms: bool = False) -> dict[str, Any]:
    subscriptions: dict[str, Any] = {"email": {"marketing": {"consent": "SUBSCRIBED"}}}
    if sms:
        subscriptions["sms"] = {"marketing": {"consent": "SUBSCRIBED"}}
    attributes: dict[str, Any] = {"email": email, "subscriptions": subscriptions}
    if phone:
        attributes["phone_number"] = phone
    return {"type": "profile", "attributes": attributes}


def cursor(direction: str, key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([direction, key]).encode()).decode().rstrip("=")


# --- create -----------------------------------------------------------------------------------


def test_create_profile_answers_201_with_klaviyos_profile_resource(api, server) -> None:
    data = create(
        api,
        email="ada@example.com",
        phone_number="+1 (415) 555-0123",
        external_id="crm-1",
        first_name="Ada",
        location={"city": "London", "latitude": 51.5},
        properties={"plan": "gold"},
    )
    a = data["attributes"]
    assert data["type"] == "profile"
    assert (a["email"], a["phone_number"], a["external_id"]) == ("ada@example.com", "+14155550123", "crm-1")
    assert a["first_name"] == "Ada" and a["last_name"] is None
    assert a["location"]["city"] == "London" and a["location"]["latitude"] == "51.5"
    assert a["properties"] == {"plan": "gold"}
    assert datetime.fromisoformat(a["created"]).tzinfo is not None
    assert "subscriptions" not in a  # only with additional-fields
    assert data["links"]["self"] == f"{server.base_url}/api/profiles/{data['id']}/"
    assert get(api, data["id"])["attributes"] == a


@pytest.mark.parametrize("identifier", ["email", "phone_number", "external_id"])
def test_a_taken_identifier_is_409_duplicate_profile_naming_the_holder(api, identifier: str) -> None:
    values = {"email": "dup@example.com", "phone_number": "+14155550111", "external_id": "ext-dup"}
    holder = create(api, **{identifier: values[identifier]})
    before = state(api)
    other = {"email": "new@example.com"} if identifier != "email" else {"external_id": "fresh"}
    r = api.post("/api/profiles", json=profile_doc(**{identifier: values[identifier]}, **other))
    e = error(r, 409)
    assert e["code"] == "duplicate_profile"
    assert e["meta"]["duplicate_profile_id"] == holder["id"]
    assert e["source"]["pointer"] == "/data/attributes"
    assert state(api) == before


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (profile_doc(first_name="No identifier"), "/data/attributes/email"),
        (profile_doc(email="not-an-email"), "/data/attributes/email"),
        (profile_doc(phone_number="12"), "/data/attributes/phone_number"),
        (profile_doc(email="x@example.com", first_name="bad\x00name"), "/data/attributes/first_name"),
        (profile_doc(email="x@example.com", first_name=7), "/data/attributes/first_name"),
        (profile_doc(email="x@example.com", properties=["a"]), "/data/attributes/properties"),
        (profile_doc(email="x@example.com", location={"city": 3}), "/data/attributes/location/city"),
        (profile_doc(email="x@example.com", location={"latitude": "abc"}), "/data/attributes/location/latitude"),
        (profile_doc(email="x@example.com", location={"longitude": 180.5}), "/data/attributes/location/longitude"),
        ({"data": {"type": "list", "attributes": {"email": "x@example.com"}}}, "/data/type"),
        ({"data": {"type": "profile"}}, "/data"),
        ({"data": []}, "/data"),
        ({}, "/"),
    ],
    ids=[
        "no-identifier",
        "bad-email",
        "bad-phone-alone",
        "nul",
        "number-for-text",
        "properties-not-object",
        "location-field",
        "latitude-not-a-number",
        "longitude-out-of-range",
        "wrong-type",
        "no-attributes",
        "data-not-object",
        "no-data",
    ],
)
def test_bad_create_bodies_are_400_naming_the_field_and_write_nothing(api, body: dict, pointer: str) -> None:
    before = state(api)
    e = error(api.post("/api/profiles", json=body), 400)
    assert e["source"]["pointer"] == pointer, e
    assert state(api) == before


@pytest.mark.parametrize("path", ["/api/profiles", "/api/profile-import"])
def test_consent_never_lands_on_a_shared_line_a_profile_number_with_an_extension_is_not_stored(api, path) -> None:
    # Stored without its extension, a switchboard's number would make two people at one office one
    # profile (the number is unique) and take SMS consent for whoever answers it; Klaviyo takes E.164.
    r = api.post(path, json=profile_doc(email="office@example.com", phone_number="+1 206 555 0142 ext. 7"))
    assert r.status_code in (200, 201), r.text
    assert r.headers["X-Klaviyo-Partial-Failure"] == "phone_number"
    assert r.json()["data"]["attributes"]["phone_number"] is None
    before = state(api)
    e = error(api.post(path, json=profile_doc(phone_number="+1 206 555 0142 x")), 400)
    assert e["source"]["pointer"] == "/data/attributes/phone_number", e
    assert state(api) == before


def test_a_bad_phone_beside_an_email_is_dropped_with_a_partial_failure_header(api) -> None:
    r = api.post("/api/profiles", json=profile_doc(email="partial@example.com", phone_number="+1 555"))
    assert r.status_code == 201, r.text
    assert r.headers["X-Klaviyo-Partial-Failure"] == "phone_number"
    assert_klaviyo_shape("create_profile", r.json(), 201)
    assert r.json()["data"]["attributes"]["phone_number"] is None
    clean = api.post("/api/profiles", json=profile_doc(email="clean@example.com"))
    assert "X-Klaviyo-Partial-Failure" not in clean.headers


def test_concurrent_creates_of_one_identifier_make_one_profile_and_409s(api, server) -> None:
    paths = ["/api/profiles", "/api/profile-import"] * 5
    clients = [make_client(server.base_url, api.api_key) for _ in paths]
    try:
        for c in clients:
            c.get("/api/profiles", params={"page[size]": "1"})  # connected before the race starts
        for round_ in range(4):
            body = profile_doc(email=f"race{round_}@example.com")
            start = threading.Barrier(len(paths))

            def post(i: int, body: dict = body, start: threading.Barrier = start) -> int:
                start.wait()
                return clients[i].post(paths[i], json=body).status_code

            with ThreadPoolExecutor(len(paths)) as pool:
                codes = list(pool.map(post, range(len(paths))))
            assert codes.count(201) == 1, codes
            assert set(codes) <= {200, 201, 409}, codes  # never a 500 from the unique index
            assert len(ids(api, filter=f'equals(email,"race{round_}@example.com")')) == 1
    finally:
        for c in clients:
            c.close()


def test_the_klaviyo_schema_check_is_not_vacuous(api) -> None:
    doc = api.get(f"/api/profiles/{create(api, email='shape@example.com')['id']}").json()
    assert klaviyo_errors("get_profile", doc) == []
    broken = copy.deepcopy(doc)
    broken["data"]["type"] = "profiles"
    broken["data"]["attributes"]["email"] = 5
    broken["data"]["attributes"]["created"] = "yesterday"
    del broken["data"]["links"]
    problems = "\n".join(klaviyo_errors("get_profile", broken))
    for part in (".data.type", ".data.attributes.email", ".data.attributes.created", "'links' is a required"):
        assert part in problems, problems
    with pytest.raises(AssertionError, match="get_profile"):
        assert_klaviyo_shape("get_profile", broken)
    nulls = copy.deepcopy(doc)
    nulls["data"]["attributes"]["subscriptions"] = None  # nullable in the spec
    assert klaviyo_errors("get_profile", nulls) == []
    relative = copy.deepcopy(doc)
    relative["links"]["self"] = "/api/profiles/"
    assert klaviyo_errors("get_profile", relative)  # links are absolute URLs
    naive = copy.deepcopy(doc)
    naive["data"]["attributes"]["updated"] = "2026-01-01T00:00:00"
    assert klaviyo_errors("get_profile", naive)  # times carry an offset
    assert klaviyo_errors("create_or_update_profile", doc["data"], 200)  # a resource is not a document
    with pytest.raises(KeyError):
        klaviyo_errors("no_such_operation", doc)


# --- get --------------------------------------------------------------------------------------


def test_get_profile_with_subscriptions_and_included_lists(api, server) -> None:
    p = create(api, email="lists@example.com")
    newsletter = create_list(server.engine, api.account_id, "Newsletter")
    subscribe(api, [email_sub("lists@example.com")], newsletter.id)
    r = api.get(f"/api/profiles/{p['id']}", params={"additional-fields[profile]": "subscriptions", "include": "lists"})
    assert r.status_code == 200, r.text
    assert_klaviyo_shape("get_profile", r.json())
    doc = r.json()
    assert doc["data"]["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert [(i["type"], i["id"]) for i in doc["included"]] == [("list", newsletter.id)]
    assert doc["included"][0]["attributes"]["name"] == "Newsletter"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"additional-fields[profile]": "subscriptions,nonsense"}, "additional-fields[profile]"),
        ({"include": "everything"}, "include"),
    ],
)
def test_get_profile_bad_parameters_are_400_naming_them(api, params: dict, parameter: str) -> None:
    p = create(api, email="params@example.com")
    e = error(api.get(f"/api/profiles/{p['id']}", params=params), 400)
    assert e["source"]["parameter"] == parameter


def test_an_unknown_profile_field_name_is_a_400_naming_fields_profile(api) -> None:
    p = create(api, email="sparse@example.com", first_name="Ada")
    for path in (f"/api/profiles/{p['id']}", "/api/profiles"):
        e = error(api.get(path, params={"fields[profile]": "email,nosuch"}), 400)
        assert e["source"]["parameter"] == "fields[profile]" and "nosuch" in e["detail"]
    # The names Klaviyo's SDK may send, a dotted path under one included, still answer sparse.
    names = "id,email,subscriptions.email.marketing.consent,predictive_analytics"
    params = {"fields[profile]": names, "additional-fields[profile]": "subscriptions"}
    r = api.get(f"/api/profiles/{p['id']}", params=params)
    assert r.status_code == 200, r.text
    attributes = r.json()["data"]["attributes"]
    assert attributes["email"] == "sparse@example.com" and "first_name" not in attributes
    assert attributes["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_an_unknown_or_another_accounts_profile_is_404(api, other_api) -> None:
    theirs = create(other_api, email="theirs@example.com")
    for profile_id in ("01NOSUCHPROFILE0000000000", theirs["id"]):
        for params in ({}, {"additional-fields[profile]": "subscriptions"}, {"include": "lists"}):
            e = error(api.get(f"/api/profiles/{profile_id}", params=params), 404)
            # the missing resource's id, a path parameter: not an attribute, nor a place in a body
            assert e["code"] == "not_found" and e["source"] == {"parameter": "id"}, e
            assert e["detail"] == f"A profile with id {profile_id} does not exist."
        e = error(patch(api, profile_id, {"first_name": "Mallory"}), 404)
        assert e["source"] == {"parameter": "id"} and e["detail"] == f"A profile with id {profile_id} does not exist."
        error(api.get(f"/api/profiles/{profile_id}/consent-events"), 404)
    assert get(other_api, theirs["id"])["attributes"]["first_name"] is None
    assert theirs["id"] not in ids(api)


# --- update -----------------------------------------------------------------------------------


def test_patch_null_clears_and_omitted_keeps(api) -> None:
    p = create(
        api,
        email="patch@example.com",
        first_name="Grace",
        last_name="Hopper",
        title="Admiral",
        location={"city": "Arlington", "country": "US"},
    )
    r = patch(api, p["id"], {"first_name": "Amazing", "last_name": None, "location": {"city": None}})
    assert r.status_code == 200, r.text
    assert_klaviyo_shape("update_profile", r.json())
    a = r.json()["data"]["attributes"]
    assert (a["first_name"], a["last_name"], a["title"]) == ("Amazing", None, "Admiral")
    assert (a["location"]["city"], a["location"]["country"]) == (None, "US")
    assert a["email"] == "patch@example.com"
    assert datetime.fromisoformat(a["updated"]) >= datetime.fromisoformat(p["attributes"]["updated"])
    assert get(api, p["id"])["attributes"] == a
    r = patch(api, p["id"], {"location": None})
    assert all(v is None for v in r.json()["data"]["attributes"]["location"].values())


def test_patch_properties_merge_append_unappend_and_unset(api) -> None:
    p = create(api, email="props@example.com", properties={"tags": ["a"], "plan": "free", "color": "red"})
    r = patch(
        api,
        p["id"],
        {"properties": {"plan": "pro"}},
        {"patch_properties": {"append": {"tags": ["b", "c"], "seen": "x"}, "unset": "color"}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["properties"] == {"tags": ["a", "b", "c"], "plan": "pro", "seen": ["x"]}
    r = patch(api, p["id"], {}, {"patch_properties": {"unappend": {"tags": "b"}, "unset": ["seen", "absent"]}})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["properties"] == {"tags": ["a", "c"], "plan": "pro"}


def test_bad_patches_are_refused_and_write_nothing(api) -> None:
    p = create(api, email="keep@example.com", first_name="Keep")
    taken = create(api, email="taken@example.com")
    before = state(api)
    e = error(
        api.patch(
            f"/api/profiles/{p['id']}",
            json={"data": {"type": "profile", "id": taken["id"], "attributes": {"first_name": "X"}}},
        ),
        400,
    )
    assert e["source"]["pointer"] == "/data/id"
    e = error(patch(api, p["id"], {"email": "taken@example.com", "first_name": "X"}), 409)
    assert (e["code"], e["meta"]["duplicate_profile_id"]) == ("duplicate_profile", taken["id"])
    assert e["source"] == {"pointer": "/data/attributes/email"}
    e = error(patch(api, p["id"], {"email": None}), 400)  # the last identifier cannot go
    assert e["source"]["pointer"] == "/data/attributes/email"
    e = error(patch(api, p["id"], {"email": "nope", "first_name": "X"}), 400)
    assert e["source"]["pointer"] == "/data/attributes/email"
    e = error(patch(api, p["id"], {"first_name": ["X"]}), 400)
    assert e["source"]["pointer"] == "/data/attributes/first_name"
    e = error(patch(api, p["id"], {}, {"patch_properties": {"append": "not-an-object"}}), 400)
    assert e["source"]["pointer"] == "/data/meta/patch_properties/append"
    assert state(api) == before


def test_an_email_change_lifts_bounce_suppressions_but_not_opt_outs(api, server) -> None:
    p = create(api, email="bouncy@example.com")
    consent.suppress(
        server.engine, api.account_id, Locator("email", "bouncy@example.com"), SuppressionReason.HARD_BOUNCE
    )
    assert [s["reason"] for s in marketing(api, p["id"])["suppression"]] == ["HARD_BOUNCE"]
    assert marketing(api, p["id"])["can_receive_email_marketing"] is False
    assert patch(api, p["id"], {"email": "steady@example.com"}).status_code == 200
    assert marketing(api, p["id"])["suppression"] == []
    assert marketing(api, p["id"])["can_receive_email_marketing"] is True

    q = create(api, email="optout@example.com")
    unsubscribe(api, "optout@example.com")
    assert patch(api, q["id"], {"email": "optout2@example.com"}).status_code == 200
    after = marketing(api, q["id"])
    assert [s["reason"] for s in after["suppression"]] == ["UNSUBSCRIBE"]
    assert after["consent"] == "UNSUBSCRIBED"


def test_a_phone_change_resets_sms_consent(api) -> None:
    subscribe(api, [email_sub("texter@example.com", "+14155550123", sms=True)])
    (p,) = listed(api, filter='equals(email,"texter@example.com")')
    assert marketing(api, p["id"], "sms")["consent"] == "SUBSCRIBED"
    r = patch(api, p["id"], {"phone_number": "+14155550199"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["phone_number"] == "+14155550199"
    assert marketing(api, p["id"], "sms")["consent"] == "NEVER_SUBSCRIBED"
    assert marketing(api, p["id"], "sms")["can_receive_sms_marketing"] is False
    assert marketing(api, p["id"])["consent"] == "SUBSCRIBED"  # email consent stays with the person


@pytest.mark.parametrize("identifier", ["email", "phone_number", "external_id"])
def test_an_edit_to_another_profiles_identifier_is_409_naming_that_identifier(api, identifier: str) -> None:
    values = {"email": "held@example.com", "phone_number": "+14155550112", "external_id": "ext-held"}
    holder = create(api, **{identifier: values[identifier]})
    p = create(api, email="editor@example.com", external_id="ext-editor")
    before = state(api)
    e = error(patch(api, p["id"], {identifier: values[identifier]}), 409)
    assert (e["code"], e["meta"]["duplicate_profile_id"]) == ("duplicate_profile", holder["id"])
    assert e["source"] == {"pointer": f"/data/attributes/{identifier}"}
    assert e["detail"] == f"Another profile ({holder['id']}) already has this {identifier}."
    assert state(api) == before


# --- create or update -------------------------------------------------------------------------


def test_profile_import_creates_with_201_then_updates_with_200(api) -> None:
    body = profile_doc(email="import@example.com", first_name="First")
    r = api.post("/api/profile-import", json=body)
    assert r.status_code == 201, r.text
    assert_klaviyo_shape("create_or_update_profile", r.json(), 201)
    created = r.json()["data"]
    r = api.post("/api/profile-import", json=profile_doc(email="import@example.com", last_name="Last"))
    assert r.status_code == 200, r.text
    assert_klaviyo_shape("create_or_update_profile", r.json(), 200)
    updated = r.json()["data"]
    assert updated["id"] == created["id"]
    assert (updated["attributes"]["first_name"], updated["attributes"]["last_name"]) == ("First", "Last")
    # By id, an identifier may change.
    by_id = {"data": {"type": "profile", "id": created["id"], "attributes": {"email": "moved@example.com"}}}
    r = api.post("/api/profile-import", json=by_id)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["attributes"]["email"] == "moved@example.com"
    # By external_id when no email matches.
    create(api, external_id="ext-7")
    r = api.post("/api/profile-import", json=profile_doc(external_id="ext-7", title="Found"))
    assert r.status_code == 200 and r.json()["data"]["attributes"]["title"] == "Found"


def test_profile_import_refusals_write_nothing(api) -> None:
    a = create(api, email="a@example.com")
    create(api, email="b@example.com")
    before = state(api)
    unknown = {"data": {"type": "profile", "id": "01NOSUCHPROFILE0000000000", "attributes": {"title": "x"}}}
    assert error(api.post("/api/profile-import", json=unknown), 404)["source"] == {"pointer": "/data/id"}
    steal = {"data": {"type": "profile", "id": a["id"], "attributes": {"email": "b@example.com"}}}
    e = error(api.post("/api/profile-import", json=steal), 409)
    assert e["code"] == "duplicate_profile" and e["source"] == {"pointer": "/data/attributes/email"}
    e = error(api.post("/api/profile-import", json=profile_doc(first_name="nobody")), 400)
    assert e["source"]["pointer"] == "/data/attributes/email"
    e = error(api.post("/api/profile-import", json={"data": {"type": "profile", "attributes": 3}}), 400)
    assert e["source"]["pointer"] == "/data/attributes"
    assert state(api) == before


def test_a_profile_text_field_longer_than_it_takes_is_400_pointing_at_it_and_nothing_is_written(api) -> None:
    before = listed(api)
    upsert = profile_doc(email="long@example.com", first_name="N" * 1_000_000)
    e = error(api.post("/api/profile-import", json=upsert), 400)
    assert e["source"] == {"pointer": "/data/attributes/first_name"}
    assert e["detail"] == f"first_name: may be at most {MAX_TEXT} characters long (got '1000000 characters')"
    e = error(api.post("/api/profiles", json=profile_doc(email="long@example.com", image="i" * 2001)), 400)
    assert e["source"] == {"pointer": "/data/attributes/image"}
    assert listed(api) == before
    p = create(api, email="long@example.com", first_name="N" * MAX_TEXT)  # at the bound
    e = error(patch(api, p["id"], {"location": {"city": "C" * (MAX_TEXT + 1)}}), 400)
    assert e["source"] == {"pointer": "/data/attributes/location/city"}
    assert get(api, p["id"])["attributes"]["location"]["city"] is None


# --- listing: filters -------------------------------------------------------------------------


@pytest.fixture
def population(api, server) -> dict[str, Any]:
    """Four profiles: p0 hard-bounced, p1 and p2 members of a list (p1 then unsubscribed from it),
    p3 unsubscribed globally."""
    people = [
        create(api, email=f"p{i}@example.com", phone_number=f"+1415555010{i}", external_id=f"ext-{i}") for i in range(4)
    ]
    newsletter = create_list(server.engine, api.account_id, "Newsletter")
    subscribe(api, [email_sub("p1@example.com"), email_sub("p2@example.com")], newsletter.id)
    consent.suppress(server.engine, api.account_id, Locator("email", "p0@example.com"), SuppressionReason.HARD_BOUNCE)
    unsubscribe(api, "p1@example.com", newsletter.id)  # a member: leaves the list only
    unsubscribe(api, "p3@example.com")  # global
    people = [get(api, p["id"], **{"additional-fields[profile]": "subscriptions"}) for p in people]
    return {"people": people, "list_id": newsletter.id}


def _suppressed_at(person: dict[str, Any], kind: str) -> str:
    email = person["attributes"]["subscriptions"]["email"]["marketing"]
    return email[kind][0]["timestamp"]


def _cases(pop: dict[str, Any]) -> dict[tuple[str, str], tuple[str, set[int]]]:
    """(field, operator) -> (filter, the indexes of the profiles it should match)."""
    p = pop["people"]
    lst = pop["list_id"]
    a = [x["attributes"] for x in p]
    bounce_at = _suppressed_at(p[0], "suppression")
    unsub_at = _suppressed_at(p[3], "suppression")
    list_at = _suppressed_at(p[1], "list_suppressions")
    on_list = f"equals({LIST_SUPPRESSION}.list_id,'{lst}')"
    return {
        ("id", "equals"): (f"equals(id,'{p[1]['id']}')", {1}),
        ("id", "any"): (f"any(id,['{p[1]['id']}','{p[2]['id']}'])", {1, 2}),
        ("email", "equals"): ('equals(email,"p2@EXAMPLE.com")', {2}),  # matched as stored, normalised
        ("email", "any"): ('any(email,["p0@example.com","nobody@example.com"])', {0}),
        ("phone_number", "equals"): ('equals(phone_number,"(415) 555-0103")', {3}),
        ("phone_number", "any"): ('any(phone_number,["+14155550100","+14155550101"])', {0, 1}),
        ("external_id", "equals"): ("equals(external_id,'ext-2')", {2}),
        ("external_id", "any"): ("any(external_id,['ext-0','ext-3'])", {0, 3}),
        ("created", "greater-than"): (f"greater-than(created,{a[1]['created']})", {2, 3}),
        ("created", "less-than"): (f"less-than(created,{a[2]['created']})", {0, 1}),
        ("updated", "greater-than"): (f"greater-than(updated,{max(x['updated'] for x in a)})", set()),
        ("updated", "less-than"): (f"less-than(updated,{_later(max(x['updated'] for x in a))})", {0, 1, 2, 3}),
        (f"{SUPPRESSION}.reason", "equals"): (f"equals({SUPPRESSION}.reason,'HARD_BOUNCE')", {0}),
        (f"{SUPPRESSION}.timestamp", "greater-than"): (f"greater-than({SUPPRESSION}.timestamp,{bounce_at})", {3}),
        (f"{SUPPRESSION}.timestamp", "greater-or-equal"): (
            f"greater-or-equal({SUPPRESSION}.timestamp,{bounce_at})",
            {0, 3},
        ),
        (f"{SUPPRESSION}.timestamp", "less-than"): (f"less-than({SUPPRESSION}.timestamp,{unsub_at})", {0}),
        (f"{SUPPRESSION}.timestamp", "less-or-equal"): (f"less-or-equal({SUPPRESSION}.timestamp,{unsub_at})", {0, 3}),
        (f"{LIST_SUPPRESSION}.list_id", "equals"): (on_list, {1}),
        (f"{LIST_SUPPRESSION}.reason", "equals"): (f"{on_list},equals({LIST_SUPPRESSION}.reason,'UNSUBSCRIBE')", {1}),
        (f"{LIST_SUPPRESSION}.timestamp", "greater-than"): (
            f"{on_list},greater-than({LIST_SUPPRESSION}.timestamp,{list_at})",
            set(),
        ),
        (f"{LIST_SUPPRESSION}.timestamp", "greater-or-equal"): (
            f"{on_list},greater-or-equal({LIST_SUPPRESSION}.timestamp,{list_at})",
            {1},
        ),
        (f"{LIST_SUPPRESSION}.timestamp", "less-than"): (
            f"{on_list},less-than({LIST_SUPPRESSION}.timestamp,{list_at})",
            set(),
        ),
        (f"{LIST_SUPPRESSION}.timestamp", "less-or-equal"): (
            f"{on_list},less-or-equal({LIST_SUPPRESSION}.timestamp,{list_at})",
            {1},
        ),
    }


def _later(iso: str) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=1)).isoformat()


def test_every_profile_filter_field_and_operator_selects_the_right_profiles(api, other_api, population) -> None:
    create(other_api, email="p0@example.com", external_id="ext-0")  # another account's twin never shows
    cases = _cases(population)
    table = {(field, op) for field, rule in PROFILE_FILTERS.items() for op in rule.ops}
    assert table == set(cases), f"cases missing for {table - set(cases)}; stale: {set(cases) - table}"
    people = population["people"]
    for (field, op), (expression, expected) in sorted(cases.items()):
        found = ids(api, filter=expression)
        assert found == {people[i]["id"] for i in expected}, (field, op, expression)


def test_filters_combine_with_and(api, population) -> None:
    p = population["people"]
    expression = "any(email,['p0@example.com','p1@example.com']),equals(external_id,'ext-1')"
    assert ids(api, filter=expression) == {p[1]["id"]}


@pytest.mark.parametrize(
    "expression",
    [
        f"equals({LIST_SUPPRESSION}.reason,'UNSUBSCRIBE')",
        f"greater-than({LIST_SUPPRESSION}.timestamp,2020-01-01T00:00:00Z)",
        f"equals({SUPPRESSION}.reason,'HARD_BOUNCE'),equals({LIST_SUPPRESSION}.list_id,'abc123')",
    ],
    ids=["list-reason-without-list-id", "list-timestamp-without-list-id", "global-and-list-mixed"],
)
def test_suppression_filter_rules_are_400_on_filter(api, expression: str) -> None:
    e = error(api.get("/api/profiles", params={"filter": expression}), 400)
    assert e["source"]["parameter"] == "filter"


# --- listing: sorting and paging --------------------------------------------------------------


@pytest.fixture
def seven(api) -> list[dict[str, Any]]:
    emails = ["g@example.com", "c@example.com", None, "a@example.com", "f@example.com", None, "b@example.com"]
    made = []
    for i, email in enumerate(emails):
        attributes: dict[str, Any] = {"external_id": f"seven-{i}"}
        if email:
            attributes["email"] = email
        made.append(create(api, **attributes))
    patch(api, made[0]["id"], {"title": "touched"})  # the first created is the last updated
    return [get(api, p["id"]) for p in made]


def _sort_key(field: str):
    if field == "id":
        return lambda p: (p["id"],)
    if field == "email":
        return lambda p: (p["attributes"]["email"] or "", p["id"])
    return lambda p: (datetime.fromisoformat(p["attributes"][field]), p["id"])


@pytest.mark.parametrize("sort", [*PROFILE_SORTS, *(f"-{s}" for s in PROFILE_SORTS)])
def test_sorting_orders_profiles_ascending_and_descending(api, seven, sort: str) -> None:
    field = sort.removeprefix("-")
    expected = [p["id"] for p in sorted(seven, key=_sort_key(field), reverse=sort.startswith("-"))]
    assert [p["id"] for p in listed(api, sort=sort)] == expected


@pytest.mark.parametrize("sort", ["id", "-created", "updated", "email", "-email"])
def test_paging_forward_and_back_covers_every_profile_exactly_once(api, seven, sort: str) -> None:
    expected = [p["id"] for p in sorted(seven, key=_sort_key(sort.removeprefix("-")), reverse=sort.startswith("-"))]
    pages: list[list[str]] = []
    r = api.get("/api/profiles", params={"sort": sort, "page[size]": "2"})
    while True:
        assert r.status_code == 200, r.text
        doc = r.json()
        assert_klaviyo_shape("get_profiles", doc)
        assert ("prev" in doc["links"]) == bool(pages)  # left out at the ends, as the schema has it
        pages.append([p["id"] for p in doc["data"]])
        if "next" not in doc["links"]:
            break
        assert "sort=" in doc["links"]["next"]  # the other parameters ride along
        r = api.get(doc["links"]["next"])
    assert [i for page in pages for i in page] == expected
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    back: list[list[str]] = [pages[-1]]
    link = doc["links"].get("prev")
    while link:
        r = api.get(link)
        assert r.status_code == 200, r.text
        assert_klaviyo_shape("get_profiles", r.json())
        back.append([p["id"] for p in r.json()["data"]])
        link = r.json()["links"].get("prev")
    assert back[::-1] == pages


def test_a_filtered_page_walk_keeps_the_filter(api, seven) -> None:
    expression = "any(email,['a@example.com','b@example.com','c@example.com','f@example.com'])"
    seen, link = [], "/api/profiles?" + "page%5Bsize%5D=1&sort=email&filter=" + expression
    while link:
        r = api.get(link)
        assert r.status_code == 200, r.text
        seen += [p["attributes"]["email"] for p in r.json()["data"]]
        link = r.json()["links"].get("next")
    assert seen == ["a@example.com", "b@example.com", "c@example.com", "f@example.com"]


@pytest.mark.parametrize(
    ("asked", "encoded"),
    [
        ("/api/profiles?page[size]=3", "/api/profiles?page%5Bsize%5D=3"),
        ("/api/profiles/?page%5Bsize%5D=3&sort=email", "/api/profiles/?page%5Bsize%5D=3&sort=email"),
        (
            '/api/profiles?filter=any(email,["a@example.com","b@example.com","c@example.com"])&page[size]=2'
            "&fields[profile]=email,external_id",
            "/api/profiles?filter=any%28email%2C%5B%22a%40example.com%22%2C%22b%40example.com%22%2C%22c%40example.com"
            "%22%5D%29&page%5Bsize%5D=2&fields%5Bprofile%5D=email%2Cexternal_id",
        ),
        ("/api/consent-events?page[size]=2", "/api/consent-events?page%5Bsize%5D=2"),
    ],
)
def test_links_self_is_percent_encoded_as_links_next_is(server, api, seven, asked, encoded) -> None:
    """Klaviyo writes its links with the brackets escaped (`?page%5Bcursor%5D=…`): links.self is
    written so too, as links.next is, however the client escaped its query; the page links.next
    leads to names that link as its own links.self. Asked twice: once the key is known, a plain
    profile walk is answered on the lean path, which must write the same links."""
    for p in (seven[0], seven[1], seven[3]):  # profiles with an email: ledger events for the feed's pages
        consent.suppress(server.engine, api.account_id, Locator("id", p["id"]))
    for _ in range(2):
        links = api.get(asked).json()["links"]
        assert links["self"] == server.base_url + encoded
        assert links["next"].startswith(links["self"] + "&page%5Bcursor%5D=")
        assert "[" not in links["next"] and "]" not in links["next"]
        following = api.get(links["next"]).json()["links"]
        assert following["self"] == links["next"]


def test_a_cursor_may_come_as_a_whole_url_or_with_a_leading_equals_sign(api, seven) -> None:
    first = api.get("/api/profiles", params={"page[size]": "3"}).json()
    expected = [p["id"] for p in api.get(first["links"]["next"]).json()["data"]]
    raw = first["links"]["next"].split("page%5Bcursor%5D=")[1]
    for value in (first["links"]["next"], "=" + raw):
        r = api.get("/api/profiles", params={"page[size]": "3", "page[cursor]": value})
        assert r.status_code == 200, r.text
        assert [p["id"] for p in r.json()["data"]] == expected


def test_a_cursor_url_whose_host_cannot_be_read_is_read_from_its_query_else_refused(api, seven) -> None:
    """An unclosed IPv6 bracket in the host made the URL parser raise: a 500."""
    first = api.get("/api/profiles", params={"page[size]": "3"}).json()
    expected = [p["id"] for p in api.get(first["links"]["next"]).json()["data"]]
    raw = first["links"]["next"].split("page%5Bcursor%5D=")[1]
    r = api.get(
        "/api/profiles", params={"page[size]": "3", "page[cursor]": f"http://[x/api/profiles?page%5Bcursor%5D={raw}"}
    )
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["data"]] == expected
    r = api.get("/api/profiles", params={"page[cursor]": "http://[::1?page[cursor]=nope"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"] == {"parameter": "page[cursor]"}


# --- listing: sparse fieldsets ----------------------------------------------------------------


def test_sparse_fieldsets_keep_only_the_named_attributes(api) -> None:
    subscribe(api, [email_sub("sparse@example.com")])
    r = api.get(
        "/api/profiles",
        params={"fields[profile]": "email,location.city,properties", "filter": 'equals(email,"sparse@example.com")'},
    )
    assert_klaviyo_shape("get_profiles", r.json())
    (p,) = r.json()["data"]
    assert p["attributes"] == {"email": "sparse@example.com", "location": {"city": None}, "properties": {}}
    r = api.get(
        "/api/profiles",
        params={
            "additional-fields[profile]": "subscriptions",
            "fields[profile]": "subscriptions.email.marketing.consent,subscriptions.sms.marketing.consent",
            "filter": 'equals(email,"sparse@example.com")',
        },
    )
    assert r.status_code == 200, r.text
    (p,) = r.json()["data"]
    # Dotted leaves keep just those leaves (Klaviyo's schema requires more keys, so it is not checked here).
    assert p["attributes"] == {
        "subscriptions": {
            "email": {"marketing": {"consent": "SUBSCRIBED"}},
            "sms": {"marketing": {"consent": "NEVER_SUBSCRIBED"}},
        }
    }
    r = api.get(
        "/api/profiles",
        params={
            "additional-fields[profile]": "subscriptions",
            "fields[profile]": "email,subscriptions.email",
            "filter": 'equals(email,"sparse@example.com")',
        },
    )
    assert_klaviyo_shape("get_profiles", r.json())
    (p,) = r.json()["data"]
    assert set(p["attributes"]) == {"email", "subscriptions"}
    assert set(p["attributes"]["subscriptions"]) == {"email"}


# --- listing: bad parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page[size]": "0"}, "page[size]"),
        ({"page[size]": "101"}, "page[size]"),
        ({"page[size]": "ten"}, "page[size]"),
        ({"page[size]": "5_0"}, "page[size]"),
        ({"page[size]": " 5"}, "page[size]"),
        ({"page[size]": "\u0665"}, "page[size]"),  # an Arabic-Indic five
        ({"page[size]": "+5"}, "page[size]"),
        ({"page[cursor]": "not a cursor"}, "page[cursor]"),
        ({"page[cursor]": cursor("x", ["a"])}, "page[cursor]"),
        ({"page[cursor]": cursor("n", [])}, "page[cursor]"),
        ({"sort": "created", "page[cursor]": cursor("n", ["01ABC"])}, "page[cursor]"),
        ({"sort": "created", "page[cursor]": cursor("n", ["yesterday", "01ABC"])}, "page[cursor]"),
        ({"sort": "created", "page[cursor]": cursor("p", [7, "01ABC"])}, "page[cursor]"),
        ({"sort": "id", "page[cursor]": cursor("n", [{"a": 1}])}, "page[cursor]"),
        ({"sort": "email", "page[cursor]": cursor("n", [None, None])}, "page[cursor]"),
        ({"filter": "equals(nickname,'x')"}, "filter"),
        ({"filter": "contains(email,'x')"}, "filter"),
        ({"filter": "equals(email,5)"}, "filter"),
        ({"filter": "greater-than(created,'soon')"}, "filter"),
        ({"filter": "equals(email,'x'"}, "filter"),
        ({"filter": f"equals({SUPPRESSION}.reason,'BORED')"}, "filter"),
        ({"sort": "first_name"}, "sort"),
        ({"sort": "--id"}, "sort"),
        ({"additional-fields[profile]": "everything"}, "additional-fields[profile]"),
        ({"include": "lists"}, "include"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(api, seven, params: dict, parameter: str) -> None:
    e = error(api.get("/api/profiles", params=params), 400)
    assert e["code"] == "invalid"
    assert e["source"] == {"parameter": parameter}, e
