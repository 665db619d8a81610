"""Push tokens (`/api/push-tokens`, `/client/push-tokens`, `/client/push-token-unregister`) over a
real server on both backends, driven by Klaviyo's SDK where it has the call.

The rules: a token belongs to one profile (found or created by its identifiers, as Klaviyo does);
push marketing consent follows the tokens — SUBSCRIBED while at least one is AUTHORIZED,
UNSUBSCRIBED when the last one goes or is denied — and every change it causes is a ledger event;
a push decision without an AUTHORIZED token is denied with NO_PUSH_TOKEN; bad input is a 4xx
naming the field and writes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from klaviyo_api import KlaviyoAPI
from openapi_client.exceptions import ApiException
from openapi_client.models import GetPushTokenResponseCollectionCompoundDocument, GetPushTokenResponseCompoundDocument

from assent.domain import Channel, Purpose
from assent.services.accounts.accounts import load_account
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks
from assent.services.consent.changes import Locator
from assent.services.profiles import reading
from assent.store.db import read_transaction
from tests.api.klaviyo_schema import assert_klaviyo_shape

CLIENT_HEADERS = {"revision": "2026-10-15", "Content-Type": "application/json"}


@pytest.fixture
def klaviyo(server, api) -> KlaviyoAPI:
    return KlaviyoAPI(api.api_key, max_delay=2, max_retries=1, test_host=server.base_url)


def address() -> str:
    return f"push-{uuid.uuid4().hex[:10]}@example.com"


def device() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex digits, as an APNs token


def token_body(token: str, profile: dict[str, Any] | None = None, profile_id: str | None = None,
               **attributes: Any) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {"type": "profile", "attributes": profile or {}}
    if profile_id is not None:
        data["id"] = profile_id
    attrs = {"token": token, "platform": "ios", "vendor": "apns", "profile": {"data": data}, **attributes}
    return {"data": {"type": "push-token", "attributes": attrs}}


def register(api, token: str, email: str | None = None, **attributes: Any) -> httpx.Response:
    return api.post("/api/push-tokens", json=token_body(token, {"email": email} if email else {}, **attributes))


def push_consent(api, email: str) -> dict[str, Any]:
    r = api.get("/api/profiles", params={"filter": f'equals(email,"{email}")',
                                         "additional-fields[profile]": "subscriptions"})  # fmt: skip
    assert r.status_code == 200, r.text
    (profile,) = r.json()["data"]
    return profile["attributes"]["subscriptions"]["mobile_push"]["marketing"]


def push_decision(api, email: str) -> dict[str, Any]:
    body = {"data": {"type": "decision", "attributes": {"profile": {"email": email}, "channel": "push"}}}
    r = api.post("/api/decisions", json=body)
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]


def tokens_of(api, **filters: str) -> list[dict[str, Any]]:
    query = ",".join(f"equals({k},'{v}')" for k, v in filters.items())
    params = {"filter": f"and({query})" if len(filters) > 1 else query} if filters else {}
    r = api.get("/api/push-tokens", params=params)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def push_events(server, api, email: str) -> list[dict[str, Any]]:
    _, events = reading.timeline(server.engine, api.account_id, Locator("email", email))
    return [e for e in events if e.get("channel") == "push"]


def public_id(server, api) -> str:
    with read_transaction(server.engine) as conn:
        return load_account(conn, api.account_id).public_id


# --- the SDK ----------------------------------------------------------------------------------


def test_the_sdk_creates_lists_gets_and_deletes_push_tokens(klaviyo, api):
    email, token = address(), device()
    metadata = {"device_id": "A1B2", "klaviyo_sdk": "swift", "os_name": "ios", "os_version": "18.1",
                "app_id": "com.brand.app", "environment": "release"}  # fmt: skip
    klaviyo.Profiles.create_push_token(token_body(token, {"email": email}, background="AVAILABLE",
                                                  device_metadata=metadata))  # fmt: skip

    page = klaviyo.Profiles.get_push_tokens(filter="equals(platform,'ios')", include=["profile"])
    assert isinstance(page, GetPushTokenResponseCollectionCompoundDocument)
    (found,) = page.data
    assert found.attributes.token == token and found.attributes.vendor == "APNs"
    assert found.attributes.enablement_status == "AUTHORIZED" and found.attributes.metadata.device_id == "A1B2"
    assert page.included[0].attributes.email == email

    one = klaviyo.Profiles.get_push_token(found.id)
    assert isinstance(one, GetPushTokenResponseCompoundDocument) and one.data.id == found.id
    assert one.data.relationships.profile.data.id == page.included[0].id

    klaviyo.Profiles.delete_push_token(found.id)
    with pytest.raises(ApiException) as caught:
        klaviyo.Profiles.get_push_token(found.id)
    assert caught.value.status == 404


def test_push_token_responses_fit_klaviyos_schemas(api):
    email = address()
    assert register(api, device(), email).status_code == 202
    r = api.get("/api/push-tokens", params={"include": "profile"})
    assert_klaviyo_shape("get_push_tokens", r.json())
    one = api.get(f"/api/push-tokens/{r.json()['data'][0]['id']}", params={"include": "profile"})
    assert_klaviyo_shape("get_push_token", one.json())
    sparse = api.get("/api/push-tokens", params={"fields[push-token]": "token,platform"}).json()["data"][0]
    assert set(sparse["attributes"]) == {"token", "platform"}


def test_a_tokens_profile_links_are_served_and_the_sdk_reads_them(klaviyo, api):
    email = address()
    assert register(api, device(), email).status_code == 202
    (token,) = tokens_of(api)
    profile_id = token["relationships"]["profile"]["data"]["id"]
    links = token["relationships"]["profile"]["links"]
    related = api.get(links["related"], params={"additional-fields[profile]": "subscriptions"})
    assert related.status_code == 200, related.text
    assert related.json()["data"]["id"] == profile_id and related.json()["data"]["attributes"]["email"] == email
    assert related.json()["data"]["attributes"]["subscriptions"]["mobile_push"]["marketing"]["consent"] == "SUBSCRIBED"
    linkage = api.get(links["self"])
    assert linkage.status_code == 200, linkage.text
    assert linkage.json()["data"] == {"type": "profile", "id": profile_id}
    assert klaviyo.Profiles.get_profile_for_push_token(token["id"]).data.attributes.email == email
    assert klaviyo.Profiles.get_profile_id_for_push_token(token["id"]).data.id == profile_id
    sparse = api.get(links["related"], params={"fields[profile]": "email"}).json()["data"]["attributes"]
    assert sparse == {"email": email}


def test_a_tokens_profile_refuses_unknown_ids_and_fields(api):
    assert register(api, device(), address()).status_code == 202
    (token,) = tokens_of(api)
    for path in ("/api/push-tokens/nope/profile", "/api/push-tokens/nope/relationships/profile"):
        assert api.get(path).status_code == 404, path
    for path, name in ((f"/api/push-tokens/{token['id']}/profile", "fields[profile]"),
                       ("/api/push-tokens", "fields[push-token]"),
                       (f"/api/push-tokens/{token['id']}", "fields[push-token]"),
                       ("/api/push-tokens", "fields[profile]"),
                       (f"/api/push-tokens/{token['id']}", "fields[profile]")):  # fmt: skip
        r = api.get(path, params={name: "nosuch", "include": "profile"})
        assert r.status_code == 400, (path, r.text)
        error = r.json()["errors"][0]
        assert error["source"]["parameter"] == name and "nosuch" in error["detail"]
    # a known name still shapes the included profile
    r = api.get("/api/push-tokens", params={"fields[profile]": "email", "include": "profile"})
    assert r.status_code == 200, r.text
    assert set(r.json()["included"][0]["attributes"]) == {"email"}


# --- consent follows the tokens ---------------------------------------------------------------


def test_push_consent_follows_authorized_tokens(server, api):
    email, first, second = address(), device(), device()
    assert register(api, first, email).status_code == 202
    assert push_consent(api, email)["consent"] == "SUBSCRIBED"
    assert push_consent(api, email)["can_receive_push_marketing"] is True
    assert push_decision(api, email)["verdict"] == "ALLOW"
    assert register(api, second, email).status_code == 202
    ids = [t["id"] for t in tokens_of(api)]
    assert len(ids) == 2

    assert api.delete(f"/api/push-tokens/{ids[0]}").status_code == 204
    assert push_consent(api, email)["consent"] == "SUBSCRIBED"  # one device is left
    assert api.delete(f"/api/push-tokens/{ids[1]}").status_code == 204
    assert push_consent(api, email)["consent"] == "UNSUBSCRIBED"
    decision = push_decision(api, email)
    assert decision["verdict"] == "DENY"
    assert set(decision["reasons"]) == {"UNSUBSCRIBED", "NO_PUSH_TOKEN"}

    events = push_events(server, api, email)
    assert [(e["metric"], e["method"]) for e in events] == [
        ("Subscribed to Push Marketing", "PUSH_TOKEN"),
        ("Unsubscribed from Push Marketing", "PUSH_TOKEN"),
    ]
    assert ledger_checks.verify(server.engine, api.account_id).ok


def test_a_token_losing_its_permission_unsubscribes_and_regaining_it_resubscribes(api):
    email, token = address(), device()
    register(api, token, email)
    assert register(api, token, email, enablement_status="UNAUTHORIZED").status_code == 202
    assert push_consent(api, email)["consent"] == "UNSUBSCRIBED"
    (only,) = tokens_of(api)
    assert only["attributes"]["enablement_status"] == "UNAUTHORIZED"  # updated, not a second token
    register(api, token, email, enablement_status="AUTHORIZED")
    assert push_consent(api, email)["consent"] == "SUBSCRIBED"


def test_a_denied_device_is_an_explicit_refusal_and_an_undecided_one_changes_nothing(api):
    denied, undecided, provisional = address(), address(), address()
    register(api, device(), denied, enablement_status="DENIED")
    register(api, device(), undecided, enablement_status="NOT_DETERMINED")
    register(api, device(), provisional, enablement_status="PROVISIONAL")
    assert push_consent(api, denied)["consent"] == "UNSUBSCRIBED"
    assert push_consent(api, undecided)["consent"] == "NEVER_SUBSCRIBED"
    # Provisional delivery was never asked for: not an explicit opt-in to marketing.
    assert push_consent(api, provisional)["consent"] == "NEVER_SUBSCRIBED"
    assert push_decision(api, provisional)["reasons"] == ["NEVER_SUBSCRIBED", "NO_PUSH_TOKEN"]


def test_a_token_registered_for_another_profile_moves_and_both_consents_follow(api):
    first, second, token = address(), address(), device()
    register(api, token, first)
    register(api, token, second)
    assert push_consent(api, first)["consent"] == "UNSUBSCRIBED"
    assert push_consent(api, second)["consent"] == "SUBSCRIBED"
    (only,) = tokens_of(api)
    profile_id = only["relationships"]["profile"]["data"]["id"]
    assert [t["id"] for t in tokens_of(api, **{"profile.id": profile_id})] == [only["id"]]


def test_no_push_token_denies_push_consent_given_without_a_device(server, api):
    email = address()
    consent.subscribe(server.engine, api.account_id, Locator("email", email), [(Channel.PUSH, Purpose.MARKETING)])
    assert push_consent(api, email)["consent"] == "SUBSCRIBED"
    assert push_consent(api, email)["can_receive_push_marketing"] is False
    assert push_decision(api, email)["reasons"] == ["NO_PUSH_TOKEN"]
    register(api, device(), email)
    assert push_decision(api, email)["verdict"] == "ALLOW"


def test_a_profile_named_by_id_or_external_id_gets_the_token(api):
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"external_id": "crm-9"}}})
    profile_id = r.json()["data"]["id"]
    assert api.post("/api/push-tokens", json=token_body(device(), profile_id=profile_id)).status_code == 202
    assert api.post("/api/push-tokens", json=token_body(device(), {"external_id": "crm-9"})).status_code == 202
    assert len(tokens_of(api, **{"profile.id": profile_id})) == 2


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"token": 12345}, "/data/attributes/token"),
        ({"token": "x" * 600}, "/data/attributes/token"),
        ({"token": "   "}, "/data/attributes/token"),
        ({"platform": "windows"}, "/data/attributes/platform"),
        ({"vendor": "APNS-X"}, "/data/attributes/vendor"),
        ({"enablement_status": "MAYBE"}, "/data/attributes/enablement_status"),
        ({"background": "SOMETIMES"}, "/data/attributes/background"),
        ({"device_metadata": {"os_name": "beos"}}, "/data/attributes/device_metadata/os_name"),
        ({"device_metadata": {"app_name": "a" * 5000}}, "/data/attributes/device_metadata/app_name"),
        ({"profile": {"data": {"type": "profile", "attributes": {}}}}, "/data/attributes/profile/data"),
        (
            {"profile": {"data": {"type": "profile", "attributes": {"email": "not-an-email"}}}},
            "/data/attributes/profile/data/attributes/email",
        ),
        ({"profile": "someone"}, "/data/attributes/profile"),
    ],
)
def test_bad_push_token_input_is_a_400_naming_the_field_and_writes_nothing(api, change, pointer):
    body = token_body(device(), {"email": address()})
    body["data"]["attributes"].update(change)
    r = api.post("/api/push-tokens", json=body)
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert error["source"]["pointer"] == pointer, error
    assert tokens_of(api) == []


def test_unknown_profiles_and_tokens_are_404(api, other_api):
    r = api.post("/api/push-tokens", json=token_body(device(), profile_id="01JUNKNOWNPROFILE000000000"))
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/profile/data/id"
    register(other_api, device(), address())
    (theirs,) = tokens_of(other_api)
    assert api.get(f"/api/push-tokens/{theirs['id']}").status_code == 404
    assert api.delete(f"/api/push-tokens/{theirs['id']}").status_code == 404
    assert api.get("/api/push-tokens", params={"filter": "equals(platform,'windows')"}).status_code == 400


def test_identifiers_of_two_profiles_are_a_conflict(api):
    first, second = address(), address()
    register(api, device(), first)
    register(api, device(), second)
    r = api.post("/api/push-tokens", json=token_body(device(), {"email": first, "external_id": "x"}))
    assert r.status_code == 202  # the external id is new: it is filled in
    r = api.post("/api/push-tokens", json=token_body(device(), {"email": second, "external_id": "x"}))
    assert r.status_code == 409, r.text


# --- the client API ---------------------------------------------------------------------------


def test_client_push_tokens_register_and_unregister(server, api):
    company, email, token = public_id(server, api), address(), device()
    with httpx.Client(base_url=server.base_url, headers=CLIENT_HEADERS, timeout=30) as app:
        r = app.post("/client/push-tokens", params={"company_id": company},
                     json=token_body(token, {"email": email}, vendor="fcm", platform="android"))  # fmt: skip
        assert r.status_code == 202, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert push_consent(api, email)["consent"] == "SUBSCRIBED"
        unregister = {"data": {"type": "push-token-unregister", "attributes": {
            "token": token, "platform": "android", "vendor": "fcm",
            "profile": {"data": {"type": "profile", "attributes": {"email": email}}}}}}  # fmt: skip
        assert app.post("/client/push-token-unregister", params={"company_id": company},
                        json=unregister).status_code == 202  # fmt: skip
        assert tokens_of(api) == []
        assert push_consent(api, email)["consent"] == "UNSUBSCRIBED"

        preflight = app.options("/client/push-tokens", headers={"Origin": "https://app.example",
                                                                 "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert preflight.status_code == 204
        stranger = {"company_id": "nobody"}
        r = app.post("/client/push-tokens", params=stranger, json=token_body(device(), {"email": email}))
        assert r.status_code == 400 and r.json()["errors"][0]["source"]["parameter"] == "company_id"
        bad = token_body(device(), {"email": email}, platform="windows")
        r = app.post("/client/push-tokens", params={"company_id": company}, json=bad)
        assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/platform"
        assert tokens_of(api) == []


def test_profiles_include_their_push_tokens(api):
    email, token = address(), device()
    register(api, token, email)
    (listed,) = api.get("/api/profiles", params={"filter": f'equals(email,"{email}")',
                                                 "include": "push-tokens"}).json()["included"]  # fmt: skip
    assert listed["type"] == "push-token" and listed["attributes"]["token"] == token
    one = api.get(f"/api/profiles/{listed['relationships']['profile']['data']['id']}",
                  params={"include": "push-tokens,lists"})  # fmt: skip
    assert one.status_code == 200, one.text
    assert_klaviyo_shape("get_profile", one.json())
    assert [i["id"] for i in one.json()["included"]] == [listed["id"]]


def test_push_tokens_page_by_cursor_both_ways(api):
    email = address()
    for _ in range(5):
        register(api, device(), email)
    first = api.get("/api/push-tokens", params={"page[size]": 2}).json()
    second = api.get(first["links"]["next"]).json()
    third = api.get(second["links"]["next"]).json()
    ids = [t["id"] for page in (first, second, third) for t in page["data"]]
    assert len(ids) == len(set(ids)) == 5 and "next" not in third["links"]
    back = api.get(third["links"]["prev"]).json()
    assert [t["id"] for t in back["data"]] == [t["id"] for t in second["data"]]
    assert api.get("/api/push-tokens", params={"page[size]": 101}).status_code == 400


@pytest.mark.parametrize("key", [[10**30], [True], [None], [[1]], ["a", "b"], [1.5], [0]])
def test_a_push_token_cursor_not_of_this_listing_is_a_400_naming_it(api, key):
    """A cursor is the base64 of [direction, key], unsigned: one whose key is not an id (an integer
    past SQLite's range, a list, two parts) reached the query, a 500."""
    register(api, device(), address())
    forged = base64.urlsafe_b64encode(json.dumps(["n", key]).encode()).decode().rstrip("=")
    r = api.get("/api/push-tokens", params={"page[cursor]": forged})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"] == {"parameter": "page[cursor]"}
