"""The list endpoints against a real server: lists, their members, a profile's lists, and how
membership changes and list deletion keep the consent ledger consistent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.profiles.reading import timeline
from tests.api.conftest import Client, make_client

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


def _make_list(api: Client, name: str, opt_in_process: str | None = None) -> str:
    attributes: dict[str, Any] = {"name": name}
    if opt_in_process is not None:
        attributes["opt_in_process"] = opt_in_process
    r = api.post("/api/lists", json={"data": {"type": "list", "attributes": attributes}})
    assert r.status_code == 201, r.text
    return r.json()["data"]["id"]


def _subscribed(server, api: Client, email: str, list_id: str | None = None) -> str:
    """A profile with email marketing consent (made through the services: the profile endpoints
    are not what these tests are about)."""
    return consent.subscribe(
        server.engine, api.account_id, consent.Locator("email", email), EMAIL, list_id=list_id
    ).profile_id


def _unconsented(server, api: Client, email: str) -> str:
    """A profile without email consent: an opt-out of an unknown address makes one, as in Klaviyo."""
    return consent.unsubscribe(server.engine, api.account_id, consent.Locator("email", email), Channel.EMAIL).profile_id


def _refs(*ids: str) -> dict[str, Any]:
    return {"data": [{"type": "profile", "id": i} for i in ids]}


def _add(api: Client, list_id: str, *ids: str) -> httpx.Response:
    return api.post(f"/api/lists/{list_id}/relationships/profiles", json=_refs(*ids))


def _remove(api: Client, list_id: str, *ids: str) -> httpx.Response:
    return api.request("DELETE", f"/api/lists/{list_id}/relationships/profiles", json=_refs(*ids))


def _member_ids(api: Client, list_id: str, **params: str) -> list[str]:
    r = api.get(f"/api/lists/{list_id}/relationships/profiles", params=params)
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["data"]]


def _events(server, api: Client) -> int:
    return ledger.verify(server.engine, api.account_id).events


def _ledger_clean(server, api: Client) -> None:
    check = ledger.verify(server.engine, api.account_id)
    assert check.ok, check.problem
    assert ledger.rebuild(server.engine, api.account_id, check=True).differences == []


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return r.json()["errors"][0]


def _walk(api: Client, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every page from `url`, following links.next; returns the pages' documents."""
    pages = [api.get(url, params=params).json()]
    while "next" in pages[-1]["links"]:
        r = api.get(pages[-1]["links"]["next"])
        assert r.status_code == 200, r.text
        pages.append(r.json())
        assert len(pages) < 50
    return pages


# --- lists ------------------------------------------------------------------------------------


def test_create_list_answers_201_with_the_list_and_single_opt_in_by_default(api, server):
    r = api.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": "Newsletter"}}})
    assert r.status_code == 201, r.text
    doc = r.json()
    data = doc["data"]
    assert data["type"] == "list"
    assert len(data["id"]) == 6
    assert data["attributes"]["name"] == "Newsletter"
    assert data["attributes"]["opt_in_process"] == "single_opt_in"
    assert "profile_count" not in data["attributes"]
    assert data["attributes"]["created"].endswith("+00:00")
    assert data["attributes"]["created"] == data["attributes"]["updated"]
    assert data["links"]["self"] == f"{server.base_url}/api/lists/{data['id']}/"
    assert data["relationships"]["profiles"]["links"] == {
        "self": f"{server.base_url}/api/lists/{data['id']}/relationships/profiles/",
        "related": f"{server.base_url}/api/lists/{data['id']}/profiles/",
    }
    assert doc["links"]["self"] == data["links"]["self"]


def test_create_list_keeps_a_double_opt_in_process(api):
    list_id = _make_list(api, "VIP", "double_opt_in")
    assert api.get(f"/api/lists/{list_id}").json()["data"]["attributes"]["opt_in_process"] == "double_opt_in"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": {"type": "list", "attributes": {}}}, "/data/attributes"),
        ({"data": {"type": "list", "attributes": {"name": "  "}}}, "/data/attributes/name"),
        ({"data": {"type": "list", "attributes": {"name": "x" * 201}}}, "/data/attributes/name"),
        ({"data": {"type": "profile", "attributes": {"name": "N"}}}, "/data/type"),
        (
            {"data": {"type": "list", "attributes": {"name": "N", "opt_in_process": "triple"}}},
            "/data/attributes/opt_in_process",
        ),
        ({"data": {"type": "list", "attributes": {"name": 5}}}, "/data/attributes/name"),
    ],
)  # fmt: skip
def test_create_list_refuses_a_bad_body_naming_the_field_and_writes_nothing(api, body, pointer):
    error = _error(api.post("/api/lists", json=body), 400)
    assert error["source"]["pointer"] == pointer
    assert api.get("/api/lists").json()["data"] == []


def test_get_list_and_its_profile_count_on_request(api, server):
    list_id = _make_list(api, "Newsletter")
    assert _add(api, list_id, _subscribed(server, api, "a@example.com")).status_code == 204
    plain = api.get(f"/api/lists/{list_id}/")
    assert plain.status_code == 200
    assert "profile_count" not in plain.json()["data"]["attributes"]
    counted = api.get(f"/api/lists/{list_id}", params={"additional-fields[list]": "profile_count"}).json()
    assert counted["data"]["attributes"]["profile_count"] == 1
    error = _error(api.get(f"/api/lists/{list_id}", params={"additional-fields[list]": "members"}), 400)
    assert error["source"]["parameter"] == "additional-fields[list]"


def test_get_list_keeps_only_the_fields_asked_for(api):
    list_id = _make_list(api, "Newsletter")
    data = api.get(f"/api/lists/{list_id}", params={"fields[list]": "name"}).json()["data"]
    assert data["attributes"] == {"name": "Newsletter"}
    error = _error(api.get(f"/api/lists/{list_id}", params={"fields[list]": "colour"}), 400)
    assert error["source"]["parameter"] == "fields[list]"


def test_include_tags_is_accepted_and_empty(api):
    list_id = _make_list(api, "Newsletter")
    doc = api.get(f"/api/lists/{list_id}", params={"include": "tags"}).json()
    assert doc["included"] == []
    assert doc["data"]["relationships"]["tags"] == {"data": []}
    assert _error(api.get("/api/lists", params={"include": "owners"}), 400)["source"]["parameter"] == "include"


def test_unknown_list_and_another_accounts_list_are_404(api, other_api):
    theirs = _make_list(other_api, "Theirs")
    for list_id in ("nosuch", theirs):
        error = _error(api.get(f"/api/lists/{list_id}"), 404)
        assert list_id in error["detail"]
        body = {"data": {"type": "list", "id": list_id, "attributes": {"name": "Mine now"}}}
        _error(api.patch(f"/api/lists/{list_id}", json=body), 404)
        _error(api.delete(f"/api/lists/{list_id}"), 404)
        _error(api.get(f"/api/lists/{list_id}/profiles"), 404)
        _error(api.get(f"/api/lists/{list_id}/relationships/profiles"), 404)
    assert other_api.get(f"/api/lists/{theirs}").json()["data"]["attributes"]["name"] == "Theirs"


def test_update_list_renames_and_changes_the_opt_in_process(api):
    list_id = _make_list(api, "Newsletter")
    before = api.get(f"/api/lists/{list_id}").json()["data"]["attributes"]
    body = {"data": {"type": "list", "id": list_id, "attributes": {"name": "Weekly"}}}
    r = api.patch(f"/api/lists/{list_id}", json=body)
    assert r.status_code == 200, r.text
    after = r.json()["data"]["attributes"]
    assert after["name"] == "Weekly"
    assert after["opt_in_process"] == "single_opt_in"
    assert after["created"] == before["created"]
    assert after["updated"] > before["updated"]
    body = {"data": {"type": "list", "id": list_id, "attributes": {"opt_in_process": "double_opt_in"}}}
    after = api.patch(f"/api/lists/{list_id}", json=body).json()["data"]["attributes"]
    assert (after["name"], after["opt_in_process"]) == ("Weekly", "double_opt_in")


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"name": ""}, "/data/attributes/name"),
        ({"opt_in_process": "sometimes"}, "/data/attributes/opt_in_process"),
    ],
)
def test_update_list_refuses_bad_attributes(api, attributes, pointer):
    list_id = _make_list(api, "Newsletter")
    body = {"data": {"type": "list", "id": list_id, "attributes": attributes}}
    assert _error(api.patch(f"/api/lists/{list_id}", json=body), 400)["source"]["pointer"] == pointer
    assert api.get(f"/api/lists/{list_id}").json()["data"]["attributes"]["name"] == "Newsletter"


def test_update_list_needs_the_body_id_to_be_the_path_id(api):
    list_id, other = _make_list(api, "Newsletter"), _make_list(api, "Other")
    body = {"data": {"type": "list", "id": other, "attributes": {"name": "Renamed"}}}
    error = _error(api.patch(f"/api/lists/{list_id}", json=body), 400)
    assert error["source"]["pointer"] == "/data/id"
    missing = {"data": {"type": "list", "attributes": {"name": "Renamed"}}}
    assert _error(api.patch(f"/api/lists/{list_id}", json=missing), 400)["source"]["pointer"] == "/data"
    names = sorted(d["attributes"]["name"] for d in api.get("/api/lists").json()["data"])
    assert names == ["Newsletter", "Other"]


def test_get_lists_pages_forward_and_back_with_links(api, server):
    made = [_make_list(api, f"List {i:02}") for i in range(12)]
    pages = _walk(api, "/api/lists", {"page[size]": "5"})
    assert [len(p["data"]) for p in pages] == [5, 5, 2]
    assert [d["id"] for p in pages for d in p["data"]] == made  # oldest first by default
    assert "prev" not in pages[0]["links"]
    assert pages[0]["links"]["self"].startswith(f"{server.base_url}/api/lists")
    assert pages[1]["links"]["next"].startswith(server.base_url)
    back = api.get(pages[2]["links"]["prev"]).json()
    assert [d["id"] for d in back["data"]] == made[5:10]
    assert api.get("/api/lists").json()["data"] == [
        d for p in pages for d in p["data"]
    ][:10]  # fmt: skip
    assert _error(api.get("/api/lists", params={"page[size]": "11"}), 400)["source"]["parameter"] == "page[size]"
    error = _error(api.get("/api/lists", params={"page[cursor]": "bm9wZQ"}), 400)
    assert error["source"]["parameter"] == "page[cursor]"


def test_a_cursor_for_another_sort_is_refused(api):
    for i in range(3):
        _make_list(api, f"L{i}")
    by_id = api.get("/api/lists", params={"sort": "id", "page[size]": "1"}).json()
    cursor = httpx.URL(by_id["links"]["next"]).params["page[cursor]"]
    error = _error(api.get("/api/lists", params={"sort": "name", "page[cursor]": cursor}), 400)
    assert error["source"]["parameter"] == "page[cursor]"


def test_get_lists_sorts_by_name_and_descending(api):
    for name in ("charlie", "alpha", "bravo"):
        _make_list(api, name)

    def names(sort: str) -> list[str]:
        return [d["attributes"]["name"] for d in api.get("/api/lists", params={"sort": sort}).json()["data"]]

    assert names("name") == ["alpha", "bravo", "charlie"]
    assert names("-name") == ["charlie", "bravo", "alpha"]
    assert names("-created") == ["bravo", "alpha", "charlie"]
    assert len(names("-updated")) == 3
    error = _error(api.get("/api/lists", params={"sort": "size"}), 400)
    assert error["source"]["parameter"] == "sort"


def test_get_lists_filters_by_name_id_and_created(api):
    first = _make_list(api, "alpha")
    cutoff = api.get(f"/api/lists/{first}").json()["data"]["attributes"]["created"]
    second, third = _make_list(api, "bravo"), _make_list(api, "charlie")

    def ids(expression: str) -> list[str]:
        r = api.get("/api/lists", params={"filter": expression})
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["data"]]

    assert ids('equals(name,"bravo")') == [second]
    assert ids("any(name,['alpha','charlie'])") == [first, third]
    assert ids(f'any(id,["{first}","{third}"])') == [first, third]
    assert ids(f'equals(id,"{second}")') == [second]
    assert ids(f"greater-than(created,{cutoff})") == [second, third]
    assert ids(f"greater-than(updated,{cutoff}),equals(name,'charlie')") == [third]


@pytest.mark.parametrize(
    "expression",
    ['equals(opt_in_process,"double_opt_in")', "less-than(created,2024-01-01T00:00:00Z)", 'contains(name,"a")'],
)
def test_get_lists_refuses_an_unsupported_filter_naming_what_is_allowed(api, expression):
    error = _error(api.get("/api/lists", params={"filter": expression}), 400)
    assert error["source"]["parameter"] == "filter"
    if expression.startswith("equals(opt_in_process"):
        assert "created, id, name, updated" in error["detail"]


# --- members ----------------------------------------------------------------------------------


def test_add_profiles_makes_them_members_without_changing_consent(api, server):
    list_id = _make_list(api, "Newsletter")
    subscribed, opted_out = _subscribed(server, api, "a@example.com"), _unconsented(server, api, "b@example.com")
    before = {
        pid: timeline(server.engine, api.account_id, consent.Locator("id", pid))[1] for pid in (subscribed, opted_out)
    }
    r = _add(api, list_id, subscribed, opted_out)
    assert r.status_code == 204 and r.content == b""
    assert sorted(_member_ids(api, list_id)) == sorted([subscribed, opted_out])
    for pid, old in before.items():
        new = timeline(server.engine, api.account_id, consent.Locator("id", pid))[1]
        assert [e["type"] for e in new[len(old) :]] == ["list.joined"]
        assert new[-1]["list_id"] == list_id and new[-1]["outcome"] == "added"
    doc = api.get(f"/api/lists/{list_id}/profiles", params={"additional-fields[profile]": "subscriptions"}).json()
    email = {d["attributes"]["email"]: d["attributes"]["subscriptions"]["email"]["marketing"] for d in doc["data"]}
    assert email["a@example.com"]["consent"] == "SUBSCRIBED"
    assert email["b@example.com"]["consent"] == "UNSUBSCRIBED"
    assert email["b@example.com"]["can_receive_email_marketing"] is False
    _ledger_clean(server, api)


def test_adding_and_removing_again_writes_no_new_ledger_events(api, server):
    list_id = _make_list(api, "Newsletter")
    a, b = _subscribed(server, api, "a@example.com"), _subscribed(server, api, "b@example.com")
    assert _add(api, list_id, a, b, a).status_code == 204  # a repeated id counts once
    after_add = _events(server, api)
    assert _add(api, list_id, a, b).status_code == 204
    assert _events(server, api) == after_add
    assert _remove(api, list_id, a).status_code == 204
    after_remove = _events(server, api)
    assert after_remove == after_add + 1
    assert _remove(api, list_id, a).status_code == 204
    assert _events(server, api) == after_remove
    assert _member_ids(api, list_id) == [b]
    _ledger_clean(server, api)


def test_remove_profiles_leaves_consent_and_adds_no_list_suppression(api, server):
    list_id = _make_list(api, "Newsletter")
    pid = _subscribed(server, api, "a@example.com", list_id=list_id)
    assert _member_ids(api, list_id) == [pid]
    assert _remove(api, list_id, pid).status_code == 204
    assert _member_ids(api, list_id) == []
    events = timeline(server.engine, api.account_id, consent.Locator("id", pid))[1]
    assert events[-1]["type"] == "list.left" and events[-1]["outcome"] == "removed"
    assert "metric" not in events[-1] or events[-1]["metric"] is None
    other = _make_list(api, "Other")
    _add(api, other, pid)
    doc = api.get(f"/api/lists/{other}/profiles", params={"additional-fields[profile]": "subscriptions"}).json()
    marketing = doc["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "SUBSCRIBED"
    assert marketing["list_suppressions"] == []
    assert [d["id"] for d in api.get(f"/api/profiles/{pid}/relationships/lists").json()["data"]] == [other]
    _ledger_clean(server, api)


def test_unknown_profile_ids_are_404_naming_them_and_nothing_is_written(api, other_api, server):
    list_id = _make_list(api, "Newsletter")
    mine = _subscribed(server, api, "a@example.com")
    theirs = _subscribed(server, other_api, "b@example.com")
    before = _events(server, api)
    for stranger in ("01NOSUCHPROFILE0000000000", theirs):
        error = _error(_add(api, list_id, mine, stranger), 404)
        assert stranger in error["detail"]
        assert error["source"]["pointer"] == "/data/1/id"
        _error(_remove(api, list_id, stranger), 404)
    assert _member_ids(api, list_id) == []
    assert _events(server, api) == before


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": []}, "/data"),
        ({"data": [{"type": "list", "id": "x"}]}, "/data/0/type"),
        ({"data": [{"type": "profile", "id": ""}]}, "/data/0/id"),
        ({"data": [{"type": "profile"}]}, "/data/0"),
        ({"data": {"type": "profile", "id": "x"}}, "/data"),
        ({"data": [{"type": "profile", "id": f"p{i}"} for i in range(1001)]}, "/data"),
    ],
)
def test_membership_bodies_are_checked(api, body, pointer):
    list_id = _make_list(api, "Newsletter")
    for method in ("POST", "DELETE"):
        error = _error(api.request(method, f"/api/lists/{list_id}/relationships/profiles", json=body), 400)
        assert error["source"]["pointer"] == pointer


def test_members_carry_joined_group_at_and_filter_and_sort_on_it(api, server):
    list_id = _make_list(api, "Newsletter")
    first, second = _subscribed(server, api, "a@example.com"), _subscribed(server, api, "b@example.com")
    _add(api, list_id, first)
    _add(api, list_id, second)
    doc = api.get(f"/api/lists/{list_id}/profiles").json()
    assert [d["id"] for d in doc["data"]] == [first, second]
    joined = {d["id"]: d["attributes"]["joined_group_at"] for d in doc["data"]}
    assert joined[first] < joined[second]
    assert "subscriptions" not in doc["data"][0]["attributes"]
    assert doc["data"][0]["links"]["self"] == f"{server.base_url}/api/profiles/{first}/"
    assert _member_ids(api, list_id, sort="-joined_group_at") == [second, first]
    at = joined[second]
    assert _member_ids(api, list_id, filter=f"greater-or-equal(joined_group_at,{at})") == [second]
    assert _member_ids(api, list_id, filter=f"greater-than(joined_group_at,{at})") == []
    assert _member_ids(api, list_id, filter=f"less-than(joined_group_at,{at})") == [first]
    assert _member_ids(api, list_id, filter=f"less-or-equal(joined_group_at,{at})") == [first, second]


def test_members_filter_by_email_and_phone_number(api, server):
    list_id = _make_list(api, "Newsletter")
    a, b = _subscribed(server, api, "a@example.com"), _subscribed(server, api, "b@example.com")
    sms = consent.subscribe(
        server.engine,
        api.account_id,
        consent.Locator("phone_number", "+14155550123"),
        [(Channel.SMS, Purpose.MARKETING)],
    ).profile_id
    _add(api, list_id, a, b, sms)
    assert _member_ids(api, list_id, filter='equals(email,"b@example.com")') == [b]
    assert _member_ids(api, list_id, filter='equals(email," b@EXAMPLE.com")') == [b]  # compared normalised
    assert sorted(_member_ids(api, list_id, filter="any(email,['a@example.com','b@example.com'])")) == sorted([a, b])
    assert _member_ids(api, list_id, filter='equals(phone_number,"+14155550123")') == [sms]
    assert _member_ids(api, list_id, filter='equals(email,"not an address")') == []
    for path in ("profiles", "relationships/profiles"):
        error = _error(api.get(f"/api/lists/{list_id}/{path}", params={"filter": 'equals(push_token,"x")'}), 400)
        assert "email, joined_group_at, phone_number" in error["detail"]
        assert error["source"]["parameter"] == "filter"
    assert (
        _error(api.get(f"/api/lists/{list_id}/profiles", params={"sort": "email"}), 400)["source"]["parameter"]
        == "sort"
    )


def test_members_page_across_pages_on_both_member_endpoints(api, server):
    list_id = _make_list(api, "Newsletter")
    ids = [_subscribed(server, api, f"p{i}@example.com") for i in range(25)]
    assert _add(api, list_id, *ids).status_code == 204
    for path in ("profiles", "relationships/profiles"):
        pages = _walk(api, f"/api/lists/{list_id}/{path}", {"page[size]": "10"})
        assert [len(p["data"]) for p in pages] == [10, 10, 5]
        seen = [d["id"] for p in pages for d in p["data"]]
        assert sorted(seen) == sorted(ids) and len(set(seen)) == 25  # one batch: ties broken by id
        back = api.get(pages[-1]["links"]["prev"]).json()
        assert [d["id"] for d in back["data"]] == [d["id"] for d in pages[1]["data"]]
    default = api.get(f"/api/lists/{list_id}/relationships/profiles").json()
    assert len(default["data"]) == 20 and default["data"][0] == {"type": "profile", "id": default["data"][0]["id"]}
    too_big = api.get(f"/api/lists/{list_id}/profiles", params={"page[size]": "101"})
    assert _error(too_big, 400)["source"]["parameter"] == "page[size]"


def test_member_profiles_keep_only_the_fields_asked_for(api, server):
    list_id = _make_list(api, "Newsletter")
    _add(api, list_id, _subscribed(server, api, "a@example.com"))
    params = {
        "fields[profile]": "email,subscriptions.email.marketing.consent",
        "additional-fields[profile]": "subscriptions",
    }
    attributes = api.get(f"/api/lists/{list_id}/profiles", params=params).json()["data"][0]["attributes"]
    assert attributes.pop("joined_group_at")  # required by Klaviyo's member schema, so always there
    assert attributes == {
        "email": "a@example.com",
        "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
    }
    bad = api.get(f"/api/lists/{list_id}/profiles", params={"fields[profile]": "shoe_size"})
    assert _error(bad, 400)["source"]["parameter"] == "fields[profile]"
    bad = api.get(f"/api/lists/{list_id}/profiles", params={"additional-fields[profile]": "predictive_analytics"})
    assert _error(bad, 400)["source"]["parameter"] == "additional-fields[profile]"


# --- a profile's lists ------------------------------------------------------------------------


def test_a_profiles_lists_and_list_ids(api, other_api, server):
    first, second, _ = _make_list(api, "First"), _make_list(api, "Second"), _make_list(api, "Not joined")
    pid = _subscribed(server, api, "a@example.com")
    _add(api, second, pid)
    _add(api, first, pid)
    doc = api.get(f"/api/profiles/{pid}/lists").json()
    assert [d["id"] for d in doc["data"]] == [first, second]
    assert doc["data"][0]["attributes"]["name"] == "First"
    assert doc["links"]["self"].startswith(f"{server.base_url}/api/profiles/{pid}/lists")
    sparse = api.get(f"/api/profiles/{pid}/lists", params={"fields[list]": "opt_in_process"}).json()
    assert sparse["data"][0]["attributes"] == {"opt_in_process": "single_opt_in"}
    ids = api.get(f"/api/profiles/{pid}/relationships/lists/").json()
    assert ids["data"] == [{"type": "list", "id": first}, {"type": "list", "id": second}]
    theirs = _subscribed(server, other_api, "b@example.com")
    for stranger in ("01NOSUCHPROFILE0000000000", theirs):
        assert stranger in _error(api.get(f"/api/profiles/{stranger}/lists"), 404)["detail"]
        _error(api.get(f"/api/profiles/{stranger}/relationships/lists"), 404)


# --- deleting a list --------------------------------------------------------------------------


def test_deleting_a_list_removes_its_members_through_the_ledger_and_keeps_list_suppressions(api, server):
    doomed, kept = _make_list(api, "Doomed", "double_opt_in"), _make_list(api, "Kept")
    members = [_subscribed(server, api, f"m{i}@example.com") for i in range(3)]
    _add(api, doomed, *members)
    _add(api, kept, members[0])
    # One member asked off the list (a list suppression), one is still waiting to confirm a double opt-in.
    leaver = _subscribed(server, api, "leaver@example.com")
    _add(api, doomed, leaver)
    consent.unsubscribe(server.engine, api.account_id, consent.Locator("id", leaver), Channel.EMAIL, list_id=doomed)
    waiting = consent.subscribe(
        server.engine, api.account_id, consent.Locator("email", "w@example.com"), EMAIL, list_id=doomed
    ).profile_id
    assert sorted(_member_ids(api, doomed)) == sorted(members)

    r = api.delete(f"/api/lists/{doomed}")
    assert r.status_code == 204 and r.content == b""

    for path in ("", "/profiles", "/relationships/profiles"):
        assert doomed in _error(api.get(f"/api/lists/{doomed}{path}"), 404)["detail"]
    _error(_add(api, doomed, members[0]), 404)
    _error(api.delete(f"/api/lists/{doomed}"), 404)
    assert [d["id"] for d in api.get("/api/lists").json()["data"]] == [kept]
    assert _member_ids(api, kept) == [members[0]]
    assert api.get(f"/api/profiles/{members[1]}/relationships/lists").json()["data"] == []
    for pid in members:
        last = timeline(server.engine, api.account_id, consent.Locator("id", pid))[1][-1]
        assert (last["type"], last["list_id"], last["outcome"]) == ("list.left", doomed, "list_deleted")
    last = timeline(server.engine, api.account_id, consent.Locator("id", waiting))[1][-1]
    assert (last["type"], last["outcome"]) == ("optin.closed", "cancelled")
    # The list suppression is history the deletion keeps; consent is untouched.
    _add(api, kept, leaver)
    doc = api.get(f"/api/lists/{kept}/profiles", params={"additional-fields[profile]": "subscriptions"}).json()
    marketing = {d["id"]: d["attributes"]["subscriptions"]["email"]["marketing"] for d in doc["data"]}
    assert [s["list_id"] for s in marketing[leaver]["list_suppressions"]] == [doomed]
    assert marketing[members[0]]["consent"] == "SUBSCRIBED"
    _ledger_clean(server, api)


def test_deleting_an_empty_list_writes_no_ledger_events(api, server):
    list_id = _make_list(api, "Empty")
    before = _events(server, api)
    assert api.delete(f"/api/lists/{list_id}/").status_code == 204
    assert _events(server, api) == before
    _error(api.get(f"/api/lists/{list_id}"), 404)


# --- scopes -----------------------------------------------------------------------------------


def test_list_endpoints_need_klaviyos_scopes(api, server):
    list_id = _make_list(api, "Newsletter")
    pid = _subscribed(server, api, "a@example.com")
    reader = accounts.create_key(server.engine, api.account_id, "lists:read")
    with make_client(server.base_url, reader.secret, api.account_id) as client:
        assert client.get("/api/lists").status_code == 200
        assert client.get(f"/api/lists/{list_id}").status_code == 200
        assert _error(client.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": "N"}}}), 403)
        assert _error(client.delete(f"/api/lists/{list_id}"), 403)
        # Members are profiles too: reading them needs profiles:read as well.
        assert "profiles:read" in _error(client.get(f"/api/lists/{list_id}/profiles"), 403)["detail"]
        assert _error(_add(client, list_id, pid), 403)
    writer = accounts.create_key(server.engine, api.account_id, "lists:write,profiles:write")
    with make_client(server.base_url, writer.secret, api.account_id) as client:
        assert _add(client, list_id, pid).status_code == 204
        assert client.get(f"/api/lists/{list_id}/relationships/profiles").status_code == 200
