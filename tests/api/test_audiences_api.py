"""POST /api/audiences over a real server, on both backends: counts by decide()'s reason codes,
exclusions, the allowed profiles streamed as NDJSON and CSV, and bad requests answered with a 4xx
naming the field. The answer document is validated against the server's own OpenAPI document."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from assent.domain import SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists.lists import add_members, create_list

from .test_consent_api import profile_id, subscribe, unsubscribe

URL = "/api/audiences"


def body(include: list[dict[str, Any]], **attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "audience", "attributes": {"include": include, **attributes}}}


@pytest.fixture
def population(api, server) -> dict[str, Any]:
    """Five profiles: subscribed, never subscribed, unsubscribed, hard-bounced, and a VIP list of two."""
    vip = create_list(server.engine, api.account_id, "VIP")
    for email in ("sub@example.com", "sub2@example.com"):
        subscribe(api, email)
    unsubscribe(api, "gone@example.com")
    consent.suppress(server.engine, api.account_id, Locator("email", "bounce@example.com"),
                     SuppressionReason.HARD_BOUNCE)  # fmt: skip
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "never@example.com"}}})
    assert r.status_code == 201, r.text
    ids = {e: profile_id(api, e) for e in ("sub@example.com", "sub2@example.com", "never@example.com",
                                            "gone@example.com", "bounce@example.com")}  # fmt: skip
    add_members(server.engine, api.account_id, vip.id, [ids["sub@example.com"], ids["gone@example.com"]])
    return {"vip": vip.id, "ids": ids}


def _schema(api) -> dict[str, Any]:
    doc = api.get("/api/openapi.json").json()
    schema = dict(doc["components"]["schemas"]["AudienceDocument"])
    schema["components"] = doc["components"]
    return schema


def test_audience_counts_by_reason_and_validates_against_the_served_spec(api, population) -> None:
    r = api.post(URL, json=body([{"type": "all"}]))
    assert r.status_code == 200, r.text
    doc = r.json()
    jsonschema.validate(doc, _schema(api))
    a = doc["data"]["attributes"]
    assert (a["candidates"], a["excluded"], a["allowed"], a["denied"]) == (5, 0, 3, 2)
    assert (a["deferred"], a["deferred_by"]) == (0, [])  # nobody is under quiet hours or a frequency cap
    assert {x["code"]: x["count"] for x in a["allowed_by"]} == {"SUBSCRIBED": 2, "NOT_OPTED_OUT": 1}
    denied = {x["code"]: (x["count"], x["with_reason"]) for x in a["denied_by"]}
    # The unsubscribed profile is suppressed (UNSUBSCRIBE) and unsubscribed: counted once, under its first reason.
    assert denied == {"SUPPRESSED_HARD_BOUNCE": (1, 1), "SUPPRESSED_UNSUBSCRIBE": (1, 1), "UNSUBSCRIBED": (0, 1)}


def test_audience_of_a_list_less_an_exclusion(api, population) -> None:
    r = api.post(URL, json=body([{"type": "list", "id": population["vip"]}], channel="email", via="flow"))
    a = r.json()["data"]["attributes"]
    assert (a["candidates"], a["allowed"], a["denied"]) == (2, 1, 1)
    r = api.post(URL, json=body([{"type": "all"}], exclude=[{"type": "list", "id": population["vip"]}]))
    a = r.json()["data"]["attributes"]
    assert (a["candidates"], a["excluded"], a["allowed"]) == (5, 2, 2)


def test_audience_for_sms_denies_everyone_without_a_number(api, population) -> None:
    a = api.post(URL, json=body([{"type": "all"}], channel="sms")).json()["data"]["attributes"]
    denied = {x["code"]: (x["count"], x["with_reason"]) for x in a["denied_by"]}
    assert a["allowed"] == 0 and denied == {"NO_ADDRESS": (5, 5), "NEVER_SUBSCRIBED": (0, 5)}


def test_audience_streams_allowed_ids_and_addresses(api, population) -> None:
    ids = population["ids"]
    r = api.post(URL, json=body([{"type": "all"}]), headers={"Accept": "application/x-ndjson"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    assert r.headers["x-audience-allowed"] == "3"
    rows = [json.loads(line) for line in r.text.splitlines()]
    expected = sorted(ids[e] for e in ("sub@example.com", "sub2@example.com", "never@example.com"))
    assert [row["id"] for row in rows] == expected
    assert {row["email"] for row in rows} == {"sub@example.com", "sub2@example.com", "never@example.com"}
    r = api.post(URL, json=body([{"type": "all"}]), headers={"Accept": "text/csv"})
    table = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in table] == expected and set(table[0]) == {"id", "email", "phone_number"}


@pytest.mark.parametrize(
    ("attributes", "status", "pointer"),
    [
        ({"include": [{"type": "list", "id": "NOSUCHLIST"}]}, 404, "/data/attributes/include/0/id"),
        ({"include": [{"type": "all"}], "exclude": [{"type": "list", "id": "NOPE"}]}, 404,
         "/data/attributes/exclude/0/id"),
        ({"include": [{"type": "list"}]}, 400, "/data/attributes/include/0/id"),
        ({"include": [{"type": "all", "id": "x"}]}, 400, "/data/attributes/include/0/id"),
        ({"include": []}, 400, "/data/attributes/include"),
        ({"include": [{"type": "all"}], "channel": "fax"}, 400, "/data/attributes/channel"),
        ({"include": [{"type": "all"}], "channel": "push", "purpose": "transactional"}, 400,
         "/data/attributes/purpose"),
        ({"include": [{"type": "all"}], "at": (datetime.now(UTC) - timedelta(days=2)).isoformat()}, 400,
         "/data/attributes/at"),
        ({"include": [{"type": "all"}], "list_id": "NOSUCHLIST"}, 404, "/data/attributes/list_id"),
    ],
)  # fmt: skip
def test_bad_audience_requests_name_the_field(api, attributes, status, pointer) -> None:
    r = api.post(URL, json={"data": {"type": "audience", "attributes": attributes}})
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == pointer


def test_an_audience_never_reads_another_account(api, other_api, population) -> None:
    r = other_api.post(URL, json=body([{"type": "list", "id": population["vip"]}]))
    assert r.status_code == 404
    a = other_api.post(URL, json=body([{"type": "all"}])).json()["data"]["attributes"]
    assert a["candidates"] == 0
