"""Klaviyo's events and metrics endpoints, over HTTP against a real server on both backends:
creating events (profile and metric made on first use, unique_id dedupe, input errors), the
timeline that lists posted and consent events together, metrics, scopes and tenancy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.activity import metrics as activity
from assent.services.consent import changes as consent
from assent.store import profiles as profile_store
from tests.api.conftest import make_client
from tests.api.klaviyo_schema import assert_klaviyo_shape

# Klaviyo's response schemas for these resources (from its OpenAPI spec, nullable written as a
# type list), strict about keys: a key Klaviyo does not define is an error.
_REL_LINKS = {
    "type": "object",
    "required": ["self", "related"],
    "additionalProperties": False,
    "properties": {"self": {"type": "string"}, "related": {"type": "string"}},
}
_SELF = {
    "type": "object",
    "required": ["self"],
    "additionalProperties": False,
    "properties": {"self": {"type": "string"}},
}


def _to_one(kind: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "data": {
                "type": "object",
                "required": ["type", "id"],
                "additionalProperties": False,
                "properties": {"type": {"const": kind}, "id": {"type": "string"}},
            },
            "links": _REL_LINKS,
        },
    }


EVENT_SCHEMA = {
    "type": "object",
    "required": ["type", "id", "attributes", "links"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "event"},
        "id": {"type": "string"},
        "attributes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "timestamp": {"type": ["integer", "null"]},
                "event_properties": {"type": ["object", "null"]},
                "datetime": {"type": ["string", "null"]},
                "uuid": {"type": ["string", "null"]},
            },
        },
        "relationships": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"profile": _to_one("profile"), "metric": _to_one("metric")},
        },
        "links": _SELF,
    },
}
METRIC_SCHEMA = {
    "type": "object",
    "required": ["type", "id", "attributes", "links"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "metric"},
        "id": {"type": "string"},
        "attributes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": ["string", "null"]},
                "created": {"type": ["string", "null"]},
                "updated": {"type": ["string", "null"]},
                "integration": {"type": ["object", "null"]},
            },
        },
        "relationships": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "flow-triggers": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"data": {"type": "array"}, "links": _REL_LINKS},
                }
            },
        },
        "links": _SELF,
    },
}
_COLLECTION_LINKS = {
    "type": "object",
    "required": ["self"],
    "additionalProperties": False,
    "properties": {
        "self": {"type": "string"},
        "next": {"type": ["string", "null"]},
        "prev": {"type": ["string", "null"]},
    },
}


def _document(data: dict[str, Any], links: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data"],
        "additionalProperties": False,
        "properties": {
            "data": data,
            "links": links,
            "included": {
                "type": "array",
                "items": {"type": "object", "required": ["type", "id", "attributes", "links"]},
            },
            "meta": {"type": "object"},
        },
    }


EVENTS_DOCUMENT = _document({"type": "array", "items": EVENT_SCHEMA}, _COLLECTION_LINKS)
EVENT_DOCUMENT = _document(EVENT_SCHEMA, _SELF)
METRICS_DOCUMENT = _document({"type": "array", "items": METRIC_SCHEMA}, _COLLECTION_LINKS)
METRIC_DOCUMENT = _document(METRIC_SCHEMA, _SELF)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SUBSCRIBED_EMAIL = "Subscribed to Email Marketing"
_PROFILE = "/data/attributes/profile/data"  # where the event's profile sits in its body


def valid(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(doc, schema)
    resources = doc["data"] if isinstance(doc["data"], list) else [doc["data"]]
    for resource in resources + doc.get("included", []):
        if resource["type"] == "metric":
            jsonschema.validate(resource, METRIC_SCHEMA)
        for name in ("datetime", "created", "updated"):
            if resource["attributes"].get(name) is not None:
                assert datetime.fromisoformat(resource["attributes"][name]).tzinfo is not None
    return doc


def event_body(
    email: str | None = "ada@example.com",
    metric: str = "Viewed Product",
    *,
    time: datetime | str | None = T0,
    properties: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    if profile is None:
        profile = {"type": "profile", "attributes": {"email": email} if email else {}}
    attrs: dict[str, Any] = {
        "properties": {"ProductID": 1111} if properties is None else properties,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": profile},
        **attributes,
    }
    if time is not None:
        attrs["time"] = time.isoformat() if isinstance(time, datetime) else time
    return {"data": {"type": "event", "attributes": attrs}}


def post_event(api, *args: Any, **kwargs: Any) -> None:
    response = api.post("/api/events", json=event_body(*args, **kwargs))
    assert response.status_code == 202, response.text
    assert response.content == b""


def events(api, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/events{query}")
    assert response.status_code == 200, response.text
    return valid(response.json(), EVENTS_DOCUMENT)


def metrics(api, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/metrics{query}")
    assert response.status_code == 200, response.text
    return valid(response.json(), METRICS_DOCUMENT)


def metric_id(api, name: str) -> str:
    return next(m["id"] for m in metrics(api)["data"] if m["attributes"]["name"] == name)


def stored_profile(server, account_id: str, field: str, value: str):
    with server.engine.connect() as conn:
        return profile_store.find(conn, account_id, field, value)


def error_of(response) -> dict[str, Any]:
    body = response.json()
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


# --- creating events ----------------------------------------------------------------------------


def test_an_event_creates_its_profile_and_its_metric(server, api):
    post_event(
        api,
        profile={
            "type": "profile",
            "attributes": {
                "email": "Ada@Example.COM",
                "first_name": "Ada",
                "location": {"city": "London", "latitude": 51.5},
                "properties": {"plan": "gold"},
            },
        },
        properties={"ProductID": 1111, "Brand": "Kids Book"},
        value=9.99,
        value_currency="usd",
    )
    profile = stored_profile(server, api.account_id, "email", "ada@example.com")
    assert profile is not None
    assert (profile.first_name, profile.city, profile.latitude) == ("Ada", "London", "51.5")
    assert '"plan":"gold"' in profile.properties
    assert profile.last_event_at == T0

    [event] = events(api)["data"]
    assert event["attributes"]["datetime"] == T0.isoformat()
    assert event["attributes"]["timestamp"] == int(T0.timestamp())
    assert event["attributes"]["event_properties"] == {
        "ProductID": 1111,
        "Brand": "Kids Book",
        "$value": 9.99,
        "$value_currency": "USD",
    }
    assert event["relationships"]["profile"]["data"] == {"type": "profile", "id": profile.id}
    metric = event["relationships"]["metric"]["data"]["id"]

    response = api.get(f"/api/metrics/{metric}")
    assert response.status_code == 200
    attributes = valid(response.json(), METRIC_DOCUMENT)["data"]["attributes"]
    assert attributes["name"] == "Viewed Product"
    assert attributes["integration"] == {
        "object": "integration",
        "id": "api",
        "key": "api",
        "name": "API",
        "category": "API",
    }


def test_a_repeated_unique_id_records_the_event_once(api):
    post_event(api, unique_id="order-1")
    post_event(api, unique_id="order-1", time=T0 + timedelta(hours=1))  # same profile and metric: ignored
    post_event(api, unique_id="order-2")
    post_event(api, "grace@example.com", unique_id="order-1")  # another profile: its own event
    post_event(api, metric="Placed Order", unique_id="order-1")  # another metric: its own event
    assert len(events(api)["data"]) == 4


def test_without_a_unique_id_one_event_per_profile_and_metric_each_second(api):
    post_event(api, time="2024-03-01T12:00:00.250+00:00")
    post_event(api, time="2024-03-01T12:00:00.750+00:00")  # truncated to the same second
    post_event(api, time="2024-03-01T12:00:01+00:00")
    assert [e["attributes"]["datetime"] for e in events(api)["data"]] == [
        "2024-03-01T12:00:00+00:00",
        "2024-03-01T12:00:01+00:00",
    ]


def test_an_event_finds_its_profile_by_id_or_by_a_normalised_identifier(server, api):
    post_event(api, "ada@example.com")
    profile = stored_profile(server, api.account_id, "email", "ada@example.com")
    post_event(api, profile={"type": "profile", "id": profile.id, "attributes": {"external_id": "ext-1"}})
    post_event(api, profile={"type": "profile", "attributes": {"external_id": "ext-1"}}, unique_id="x")
    post_event(api, "  ada@EXAMPLE.com ", unique_id="y")
    assert {e["relationships"]["profile"]["data"]["id"] for e in events(api)["data"]} == {profile.id}
    assert stored_profile(server, api.account_id, "email", "ada@example.com").external_id == "ext-1"


def test_concurrent_first_events_make_one_profile_and_one_metric(server, api):
    def post(n: int) -> int:
        with make_client(server.base_url, api.api_key, api.account_id) as client:
            return client.post(
                "/api/events", json=event_body("new@example.com", "Launched", unique_id=str(n))
            ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(pool.map(post, range(12))) == {202}
    listed = events(api)["data"]
    assert len(listed) == 12
    assert len({e["relationships"]["profile"]["data"]["id"] for e in listed}) == 1
    assert len({e["relationships"]["metric"]["data"]["id"] for e in listed}) == 1
    assert [m["attributes"]["name"] for m in metrics(api)["data"]].count("Launched") == 1


def test_an_event_without_a_time_happens_now_to_the_second(api):
    before = datetime.now(UTC).replace(microsecond=0)
    post_event(api, time=None)
    [event] = events(api)["data"]
    moment = datetime.fromisoformat(event["attributes"]["datetime"])
    assert moment.microsecond == 0
    assert before <= moment <= datetime.now(UTC)


def test_an_event_may_not_give_its_profile_another_profiles_email(server, api):
    post_event(api, "ada@example.com")
    post_event(api, "grace@example.com")
    grace = stored_profile(server, api.account_id, "email", "grace@example.com")
    body = event_body(profile={"type": "profile", "id": grace.id, "attributes": {"email": "ada@example.com"}})
    response = api.post("/api/events", json=body)
    assert response.status_code == 409  # identifier_conflict: an identity clash, not malformed input
    assert error_of(response)["code"] == "identifier_conflict"
    assert error_of(response)["source"] == {"pointer": f"{_PROFILE}/attributes/email"}
    assert len(events(api)["data"]) == 2


def test_an_earlier_event_leaves_the_profiles_last_event_time(server, api):
    post_event(api, time=T0)
    post_event(api, time=T0 - timedelta(days=3))
    assert stored_profile(server, api.account_id, "email", "ada@example.com").last_event_at == T0


def test_a_bad_phone_beside_an_email_is_dropped_as_a_partial_failure(server, api):
    body = event_body(profile={"type": "profile", "attributes": {"email": "ada@example.com", "phone_number": "12"}})
    response = api.post("/api/events", json=body)
    assert response.status_code == 202
    assert response.headers["X-Klaviyo-Partial-Failure"] == "phone_number"
    assert stored_profile(server, api.account_id, "email", "ada@example.com").phone_number is None


def _without(key: str) -> dict[str, Any]:
    body = event_body()
    del body["data"]["attributes"][key]
    return body


_FUTURE = (datetime.now(UTC) + timedelta(days=400)).isoformat()
BAD_EVENTS = {
    "missing properties": (_without("properties"), 400, "/data/attributes/properties"),
    "properties not an object": (event_body(properties=[1]), 400, "/data/attributes/properties"),  # type: ignore[arg-type]
    "too many properties": (
        event_body(properties={f"p{i}": i for i in range(401)}),
        400,
        "/data/attributes/properties",
    ),
    "time before 1990": (event_body(time="1989-12-31T23:59:59Z"), 400, "/data/attributes/time"),
    "time over a year ahead": (event_body(time=_FUTURE), 400, "/data/attributes/time"),
    "time not a time": (event_body(time="yesterday"), 400, "/data/attributes/time"),
    "no identifier": (event_body(email=None), 400, _PROFILE),
    "bad email": (event_body(email="not-an-address"), 400, f"{_PROFILE}/attributes/email"),
    "bad phone alone": (
        event_body(profile={"type": "profile", "attributes": {"phone_number": "12"}}),
        400,
        f"{_PROFILE}/attributes/phone_number",
    ),
    "unknown profile id": (
        event_body(profile={"type": "profile", "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ"}),
        404,
        f"{_PROFILE}/id",
    ),
    "wrong type": ({"data": {**event_body()["data"], "type": "profile"}}, 400, "/data/type"),
    "missing metric": (_without("metric"), 400, "/data/attributes/metric"),
    "blank metric name": (event_body(metric="  "), 400, "/data/attributes/metric/data/attributes/name"),
    "long metric name": (event_body(metric="m" * 128), 400, "/data/attributes/metric/data/attributes/name"),
    "missing profile": (_without("profile"), 400, "/data/attributes/profile"),
    "value not a number": (event_body(value="9.99"), 400, "/data/attributes/value"),
    "bad currency": (event_body(value=1, value_currency="dollars"), 400, "/data/attributes/value_currency"),
}


@pytest.mark.parametrize("case", BAD_EVENTS)
def test_bad_events_are_refused_naming_the_field_and_write_nothing(server, api, case):
    body, status, pointer = BAD_EVENTS[case]
    response = api.post("/api/events", json=body)
    assert response.status_code == status, response.text
    assert error_of(response)["source"] == {"pointer": pointer}
    assert events(api)["data"] == []
    assert {m["attributes"]["integration"]["name"] for m in metrics(api)["data"]} == {"Klaviyo"}
    assert stored_profile(server, api.account_id, "email", "ada@example.com") is None


def test_writing_events_needs_the_events_write_scope(server, api):
    reader = accounts.create_key(server.engine, api.account_id, "events:read")
    with make_client(server.base_url, reader.secret, api.account_id) as client:
        assert client.get("/api/events").status_code == 200
        assert client.post("/api/events", json=event_body()).status_code == 403
        assert client.get("/api/metrics").status_code == 403


# --- reading events -----------------------------------------------------------------------------


@pytest.fixture
def timeline(api) -> dict[str, Any]:
    """Six events: two profiles, two metrics, a minute apart."""
    plan = [
        ("ada@example.com", "Viewed Product"),
        ("grace@example.com", "Viewed Product"),
        ("ada@example.com", "Placed Order"),
        ("grace@example.com", "Placed Order"),
        ("ada@example.com", "Viewed Product"),
        ("grace@example.com", "Viewed Product"),
    ]
    for n, (email, metric) in enumerate(plan):
        post_event(api, email, metric, time=T0 + timedelta(minutes=n), properties={"n": n})
    data = events(api)["data"]
    return {
        "events": data,
        "viewed": metric_id(api, "Viewed Product"),
        "ada": data[0]["relationships"]["profile"]["data"]["id"],
    }


def numbers(doc: dict[str, Any]) -> list[int]:
    return [e["attributes"]["event_properties"]["n"] for e in doc["data"]]


def test_events_are_listed_in_time_order_either_way(api, timeline):
    assert numbers(events(api)) == [0, 1, 2, 3, 4, 5]
    assert numbers(events(api, "?sort=-datetime")) == [5, 4, 3, 2, 1, 0]
    assert numbers(events(api, "?sort=timestamp")) == [0, 1, 2, 3, 4, 5]
    assert numbers(events(api, "?sort=-timestamp")) == [5, 4, 3, 2, 1, 0]


def test_events_filter_by_metric_profile_and_time(api, timeline):
    assert numbers(events(api, f'?filter=equals(metric_id,"{timeline["viewed"]}")')) == [0, 1, 4, 5]
    assert numbers(events(api, f'?filter=equals(profile_id,"{timeline["ada"]}")')) == [0, 2, 4]
    both = f'equals(metric_id,"{timeline["viewed"]}"),equals(profile_id,"{timeline["ada"]}")'
    assert numbers(events(api, f"?filter={both}")) == [0, 4]
    t1, t4 = (T0 + timedelta(minutes=1)).isoformat(), (T0 + timedelta(minutes=4)).isoformat()
    window = f"greater-than(datetime,{t1}),less-or-equal(datetime,{t4})"
    assert numbers(events(api, "?filter=" + window.replace("+", "%2B"))) == [2, 3, 4]
    s1, s4 = int(T0.timestamp()) + 60, int(T0.timestamp()) + 240
    assert numbers(events(api, f"?filter=greater-or-equal(timestamp,{s1}),less-than(timestamp,{s4})")) == [1, 2, 3]
    assert events(api, '?filter=equals(metric_id,"nothing")')["data"] == []


def test_event_pages_walk_forward_and_back_without_gaps(api, timeline):
    for sort, expected in (("datetime", [0, 1, 2, 3, 4, 5]), ("-datetime", [5, 4, 3, 2, 1, 0])):
        doc = events(api, f"?page[size]=4&sort={sort}")
        seen, pages = numbers(doc), [doc]
        while doc["links"].get("next"):
            doc = valid(api.get(doc["links"]["next"]).json(), EVENTS_DOCUMENT)
            seen += numbers(doc)
            pages.append(doc)
        assert seen == expected
        assert [len(p["data"]) for p in pages] == [4, 2]
        assert "prev" not in pages[0]["links"]
        back = valid(api.get(pages[-1]["links"]["prev"]).json(), EVENTS_DOCUMENT)
        assert numbers(back) == expected[:4]


def test_bad_event_queries_name_the_parameter(api):
    for query, parameter in (
        ('?filter=equals(email,"a@b.c")', "filter"),
        ("?filter=greater-than(timestamp,1e300)", "filter"),
        ("?sort=created", "sort"),
        ("?page[size]=1001", "page[size]"),
        ("?page[cursor]=bm9wZQ", "page[cursor]"),
        ("?include=attributions", "include"),
    ):
        response = api.get(f"/api/events{query}")
        assert response.status_code == 400, query
        assert error_of(response)["source"] == {"parameter": parameter}, query
    assert "metric, profile" in error_of(api.get("/api/events?include=attributions"))["detail"]


def test_an_event_is_read_by_id_with_its_metric_and_profile(api, timeline):
    first = timeline["events"][0]
    response = api.get(f"/api/events/{first['id']}?include=metric,profile")
    assert response.status_code == 200
    doc = valid(response.json(), EVENT_DOCUMENT)
    assert doc["data"] == first
    included = {(r["type"], r["id"]): r for r in doc["included"]}
    assert included[("metric", timeline["viewed"])]["attributes"]["name"] == "Viewed Product"
    assert included[("profile", timeline["ada"])]["attributes"]["email"] == "ada@example.com"
    listed = events(api, "?include=metric&fields[event]=datetime&fields[metric]=name")
    assert {r["attributes"]["name"] for r in listed["included"]} == {"Viewed Product", "Placed Order"}
    assert all(set(r["attributes"]) == {"name"} for r in listed["included"])
    assert all(set(e["attributes"]) == {"datetime"} for e in listed["data"])


# --- consent events -----------------------------------------------------------------------------


def test_consent_changes_are_listed_as_events_of_klaviyos_consent_metrics(server, api):
    email = consent.Locator("email", "ada@example.com")
    consent.subscribe(server.engine, api.account_id, email, [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(server.engine, api.account_id, email, Channel.EMAIL)
    post_event(api, time=datetime.now(UTC) + timedelta(minutes=5))
    profile = stored_profile(server, api.account_id, "email", "ada@example.com")

    doc = events(api, "?include=metric")
    names = {m["id"]: m["attributes"]["name"] for m in doc["included"]}
    assert [names[e["relationships"]["metric"]["data"]["id"]] for e in doc["data"]] == [
        SUBSCRIBED_EMAIL,
        "Unsubscribed from Email Marketing",
        "Viewed Product",
    ]
    assert {e["relationships"]["profile"]["data"]["id"] for e in doc["data"]} == {profile.id}
    subscribed = doc["data"][0]
    assert subscribed["attributes"]["event_properties"]["channel"] == "email"
    assert "ada@example.com" not in str(subscribed["attributes"]["event_properties"])  # no personal data
    klaviyo = next(m for m in doc["included"] if m["attributes"]["name"] == SUBSCRIBED_EMAIL)
    assert klaviyo["attributes"]["integration"]["name"] == "Klaviyo"

    only = events(api, f'?filter=equals(metric_id,"{klaviyo["id"]}")')["data"]
    assert [e["id"] for e in only] == [subscribed["id"]]
    response = api.get(f"/api/events/{subscribed['id']}")
    assert response.status_code == 200
    assert valid(response.json(), EVENT_DOCUMENT)["data"] == subscribed


def test_consent_metric_ids_are_the_same_in_every_account(api, other_api):
    assert metric_id(api, SUBSCRIBED_EMAIL) == metric_id(other_api, SUBSCRIBED_EMAIL)


# --- metrics ------------------------------------------------------------------------------------


def test_metrics_are_the_consent_ones_and_those_events_named(api):
    post_event(api, metric="Viewed Product")
    post_event(api, metric="Placed Order")
    listed = metrics(api)["data"]
    names = [m["attributes"]["name"] for m in listed]
    assert set(activity.CONSENT_METRICS) <= set(names)
    assert names[-2:] == ["Viewed Product", "Placed Order"]  # built-in first, then by creation
    assert len(names) == len(set(m["id"] for m in listed))

    def names_where(condition: str) -> set[str]:
        return {m["attributes"]["name"] for m in metrics(api, f"?filter={condition}")["data"]}

    assert names_where('equals(integration.category,"Internal")') == set(activity.CONSENT_METRICS)
    assert names_where('equals(integration.name,"Klaviyo")') == set(activity.CONSENT_METRICS)
    assert names_where('equals(integration.category,"API")') == {"Viewed Product", "Placed Order"}
    assert names_where('equals(integration.name,"Shopify")') == set()

    builtin = metric_id(api, SUBSCRIBED_EMAIL)
    response = api.get(f"/api/metrics/{builtin}")
    assert valid(response.json(), METRIC_DOCUMENT)["data"]["attributes"]["name"] == SUBSCRIBED_EMAIL
    assert api.get("/api/metrics/nothing").status_code == 404
    with_flows = metrics(api, "?include=flow-triggers")
    assert with_flows["included"] == []
    assert all(m["relationships"]["flow-triggers"]["data"] == [] for m in with_flows["data"])
    assert api.get("/api/metrics?include=segments").status_code == 400


def test_metric_pages_run_through_the_built_in_then_the_stored_metrics(server, api):
    for n in range(7):
        post_event(api, metric=f"Custom {n}")
    everything = [m.name for m in activity.list_metrics(server.engine, api.account_id).metrics]
    assert len(everything) == len(activity.CONSENT_METRICS) + 7
    for size in (1, 5, 18, 19):
        pages = [activity.list_metrics(server.engine, api.account_id, limit=size)]
        while pages[-1].page.has_next:
            pages.append(activity.list_metrics(server.engine, api.account_id, after=pages[-1].page.last, limit=size))
        assert [m.name for p in pages for m in p.metrics] == everything, size
        backwards = [pages[-1]]
        while backwards[-1].page.has_prev:
            backwards.append(
                activity.list_metrics(server.engine, api.account_id, before=backwards[-1].page.first, limit=size)
            )
        assert [m.name for p in reversed(backwards) for m in p.metrics] == everything, size


# --- tenancy ------------------------------------------------------------------------------------


def test_another_accounts_events_metrics_and_profiles_stay_out_of_sight(server, api, other_api):
    post_event(api)
    email = consent.Locator("email", "ada@example.com")
    consent.subscribe(server.engine, api.account_id, email, [(Channel.EMAIL, Purpose.MARKETING)])
    mine = events(api)["data"]
    custom = metric_id(api, "Viewed Product")
    profile = mine[0]["relationships"]["profile"]["data"]["id"]
    assert len(mine) == 2

    for event in mine:
        response = other_api.get(f"/api/events/{event['id']}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert other_api.get(f"/api/metrics/{custom}").status_code == 404
    assert events(other_api)["data"] == []
    assert events(other_api, f'?filter=equals(profile_id,"{profile}")')["data"] == []
    assert events(other_api, f'?filter=equals(metric_id,"{custom}")')["data"] == []
    builtin = metric_id(api, SUBSCRIBED_EMAIL)
    assert events(other_api, f'?filter=equals(metric_id,"{builtin}")')["data"] == []
    assert "Viewed Product" not in {m["attributes"]["name"] for m in metrics(other_api)["data"]}


def test_an_unknown_sparse_field_name_is_a_400_naming_its_parameter_and_known_ones_answer(api, timeline):
    event_id, metric = timeline["events"][0]["id"], timeline["viewed"]
    asked = [
        ("/api/events", "fields[event]"),
        ("/api/events?include=metric", "fields[metric]"),
        ("/api/events?include=profile", "fields[profile]"),
        (f"/api/events/{event_id}", "fields[event]"),
        ("/api/metrics", "fields[metric]"),
        (f"/api/metrics/{metric}", "fields[metric]"),
    ]
    for path, name in asked:
        e = error_of(api.get(path, params={name: "datetime,nosuch"}))
        assert (e["status"], e["source"]["parameter"]) == (400, name), (path, e)
        assert "nosuch" in e["detail"]
    # Every name the spec lists for them still answers, sparse.
    sparse = {"fields[event]": "datetime,id", "include": "metric,profile", "fields[metric]": "name",
              "fields[profile]": "email,location.city"}  # fmt: skip
    doc = api.get("/api/events", params=sparse)
    assert doc.status_code == 200, doc.text
    body = doc.json()
    assert set(body["data"][0]["attributes"]) == {"datetime"}
    kinds = {i["type"]: set(i["attributes"]) for i in body["included"]}
    assert kinds["metric"] == {"name"} and "email" in kinds["profile"]


def test_an_events_relationship_links_answer_its_metric_and_profile_in_klaviyos_shapes(api, timeline):
    event = timeline["events"][0]
    metric_id = event["relationships"]["metric"]["data"]["id"]
    profile_id = event["relationships"]["profile"]["data"]["id"]
    for name, kind, want, related_op, id_op in (
        ("metric", "metric", metric_id, "get_metric_for_event", "get_metric_id_for_event"),
        ("profile", "profile", profile_id, "get_profile_for_event", "get_profile_id_for_event"),
    ):
        links = event["relationships"][name]["links"]
        related = api.get(links["related"])
        assert related.status_code == 200, related.text
        assert_klaviyo_shape(related_op, related.json())
        assert (related.json()["data"]["type"], related.json()["data"]["id"]) == (kind, want)
        linkage = api.get(links["self"])
        assert linkage.status_code == 200, linkage.text
        assert_klaviyo_shape(id_op, linkage.json())
        assert linkage.json()["data"] == {"type": kind, "id": want}
    assert api.get(f"/api/events/{event['id']}/metric").json()["data"]["attributes"]["name"] == "Viewed Product"
    profile = api.get(f"/api/events/{event['id']}/profile", params={"additional-fields[profile]": "subscriptions"})
    assert profile.json()["data"]["attributes"]["email"] == "ada@example.com"
    assert "subscriptions" in profile.json()["data"]["attributes"]
    for tail in ("metric", "profile", "relationships/metric", "relationships/profile"):
        assert error_of(api.get(f"/api/events/NOSUCHEVENT/{tail}"))["status"] == 404, tail


def test_an_event_s_profile_location_that_is_not_degrees_is_a_400_naming_it(server, api):
    for location, name in (({"latitude": "abc"}, "latitude"), ({"longitude": 181}, "longitude")):
        attributes = {"email": "far@example.com", "location": location}
        response = api.post("/api/events", json=event_body(profile={"type": "profile", "attributes": attributes}))
        assert response.status_code == 400, response.text
        assert name in error_of(response)["source"]["pointer"]
    assert events(api)["data"] == []


def test_an_event_s_profile_field_longer_than_it_takes_is_a_400_naming_it(server, api):
    attributes = {"email": "long@example.com", "first_name": "N" * 100_000}
    response = api.post("/api/events", json=event_body(profile={"type": "profile", "attributes": attributes}))
    assert response.status_code == 400, response.text
    assert error_of(response)["source"]["pointer"].endswith("/first_name")
    assert events(api)["data"] == []
