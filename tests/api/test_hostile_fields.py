"""Every field of every request body, made hostile one at a time, on SQLite and PostgreSQL.

Each operation that reads a body has a valid example here (a test fails when an operation has
none, so a new one cannot slip past). The example must succeed as it is; then each of its values,
objects and lists in turn is replaced by a hostile value (wrong types, out-of-range numbers,
impossible dates, huge strings, empty containers), removed, or joined by an unknown key. The
rules: no 5xx, every refusal is a JSON:API error document, and the server logs no traceback."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from assent.api import catalog
from tests.api.conftest import Client
from tests.api.test_hostile_input import _is_error_document, server_log  # noqa: F401  (fixture)

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
NOW = "2026-11-28T12:00:00+00:00"

# A long string that does not compress: "x" * 70_000 shrinks to a few bytes in PostgreSQL, so it
# passed where an index holds the value; this one (8,000 characters) does not fit an index entry.
INCOMPRESSIBLE = base64.b64encode(hashlib.shake_256(b"hostile").digest(6000)).decode()
HOSTILE: list[Any] = [
    None, True, -1, 0, 10**40, -(10**40), 1.5, 1e308, "", " ", "x" * 70_000, INCOMPRESSIBLE, "9999-99-99T99:99:99Z",
    "0000-01-01T00:00:00Z", "-1", "' OR 1=1 --", "<script>alert(1)</script>", "\u202e\ufeff", [], [None],
    {}, {"type": None}, [[[[[]]]]], ["x"] * 1000,
]  # fmt: skip


def _ref(kind: str, ident: str) -> dict[str, Any]:
    return {"data": {"type": kind, "id": ident}}


def _profile(email: str) -> dict[str, Any]:
    return {"data": {"type": "profile", "attributes": {"email": email}}}


def _examples(ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A valid body per operation id. `ids` holds a profile, a list, a segment and a webhook."""
    subscriptions = {"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": NOW}},
                     "sms": {"marketing": {"consent": "SUBSCRIBED", "consented_at": NOW}}}  # fmt: skip
    sub_profile = {"data": {"type": "profile", "attributes": {
        "email": "fields@example.com", "phone_number": "+14155550123", "subscriptions": subscriptions}}}  # fmt: skip
    unsub_profile = {
        "data": {
            "type": "profile",
            "attributes": {
                "email": "fields@example.com",
                "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
            },
        }
    }
    suppress_profile = {"data": {"type": "profile", "attributes": {"email": "fields@example.com"}}}
    definition = {
        "condition_groups": [
            {
                "conditions": [
                    {
                        "type": "profile-marketing-consent",
                        "consent": {
                            "channel": "email",
                            "can_receive_marketing": True,
                            "consent_status": {"subscription": "subscribed"},
                        },
                    }
                ]
            }
        ]
    }
    members = {"data": [{"type": "profile", "id": ids["profile"]}]}
    return {
        "create_profile": {"data": {"type": "profile", "attributes": {
            "email": "new@example.com", "phone_number": "+14155550124", "external_id": "ext-1", "first_name": "Ann",
            "location": {"country": "Germany", "city": "Berlin", "zip": "10115", "timezone": "Europe/Berlin"},
            "properties": {"plan": "gold", "score": 3}}}},
        "update_profile": {"data": {"type": "profile", "id": ids["profile"], "attributes": {
            "first_name": "Bea", "location": {"country": "Canada"}, "properties": {"plan": "silver"}}}},
        "create_or_update_profile": {"data": {"type": "profile", "attributes": {
            "email": "upsert@example.com", "first_name": "Cy", "properties": {"k": "v"}}}},
        "bulk_subscribe_profiles": {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {
            "custom_source": "Fields", "historical_import": True, "profiles": {"data": [sub_profile["data"]]}},
            "relationships": {"list": _ref("list", ids["list"])}}},
        "bulk_unsubscribe_profiles": {"data": {"type": "profile-subscription-bulk-delete-job", "attributes": {
            "profiles": {"data": [unsub_profile["data"]]}}, "relationships": {"list": _ref("list", ids["list"])}}},
        "bulk_suppress_profiles": {"data": {"type": "profile-suppression-bulk-create-job", "attributes": {
            "profiles": {"data": [suppress_profile["data"]]}}}},
        "bulk_unsuppress_profiles": {"data": {"type": "profile-suppression-bulk-delete-job", "attributes": {
            "profiles": {"data": [suppress_profile["data"]]}}}},
        "bulk_import_profiles": {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [
            {"type": "profile", "attributes": {"email": "imp@example.com", "first_name": "Imp"}}]}},
            "relationships": {"lists": {"data": [{"type": "list", "id": ids["list"]}]}}}},
        "create_list": {"data": {"type": "list", "attributes": {"name": "Fields list"}}},
        "update_list": {"data": {"type": "list", "id": ids["list"], "attributes": {"name": "Renamed"}}},
        "add_profiles_to_list": members,
        "remove_profiles_from_list": members,
        "create_segment": {"data": {"type": "segment", "attributes": {"name": "Fields", "definition": definition}}},
        "update_segment": {"data": {"type": "segment", "id": ids["segment"], "attributes": {
            "name": "Renamed", "definition": definition}}},
        "create_event": {"data": {"type": "event", "attributes": {
            "properties": {"value": 10}, "time": NOW, "value": 10.5, "unique_id": "order-1",
            "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": "fields@example.com"}}}}}},
        "create_decisions": {"data": {"type": "decision", "attributes": {
            "profile": {"email": "fields@example.com"}, "channel": "email", "purpose": "marketing", "at": NOW}}},
        "create_message_sends": {"data": {"type": "message-send", "attributes": {
            "profile": {"email": "fields@example.com"}, "channel": "email", "message_id": "m-1", "sent_at": NOW}}},
        "create_unsubscribe_link": {"data": {"type": "unsubscribe-link", "attributes": {
            "profile": {"email": "fields@example.com"}}}},
        "create_webhook": {"data": {"type": "webhook", "attributes": {
            "name": "Mirror", "endpoint_url": "https://hooks.example.com/in", "secret_key": SECRET},
            "relationships": {"webhook-topics": {"data": [
                {"type": "webhook-topic", "id": "event:klaviyo.subscribed_to_email_marketing"}]}}}},
        "update_webhook": {"data": {"type": "webhook", "id": ids["webhook"], "attributes": {
            "name": "Mirror 2", "enabled": False}}},
        "create_consent_text": {"data": {"type": "consent-text", "attributes": {
            "version": "fields-1", "text": "Yes, email me offers.", "language": "en"}}},
        "create_push_token": {"data": {"type": "push-token", "attributes": {
            "token": "f" * 64, "platform": "ios", "vendor": "apns", "enablement_status": "AUTHORIZED",
            "background": "AVAILABLE", "device_metadata": {"device_id": "D-1", "klaviyo_sdk": "swift",
                                                           "os_name": "ios", "environment": "release"},
            "profile": {"data": {"type": "profile", "attributes": {"email": "fields@example.com"}}}}}},
        # Erases a profile _seed makes for it alone; the variants then meet a 404 or a 400 (never a 5xx).
        "request_profile_deletion": {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {
            "data": {"type": "profile", "attributes": {"email": "erase-fields@example.com"}}}}}},
        "create_audience": {"data": {"type": "audience", "attributes": {
            "include": [{"type": "list", "id": ids["list"]}, {"type": "segment", "id": ids["segment"]}],
            "exclude": [], "channel": "email", "purpose": "marketing", "via": "campaign"}}},
    }  # fmt: skip


def _spots(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (the root excepted), parents before children."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from _spots(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield (*path, i)
            yield from _spots(child, (*path, i))


def _replaced(body: Any, path: tuple[Any, ...], new: Any) -> Any:
    out = copy.deepcopy(body)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return out


def _removed(body: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(body)
    node = out
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return out


def _variants(body: Any) -> Iterator[tuple[str, Any]]:
    for path in _spots(body):
        where = "/" + "/".join(map(str, path))
        for value in HOSTILE:
            yield f"{where} = {str(value)[:30]!r}", _replaced(body, path, value)
        yield f"{where} removed", _removed(body, path)
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict):
            yield f"{where} beside an unknown key", _replaced(body, (*path[:-1], "unknown\u00e9"), {"x": 1})


def _seed(api: Client) -> dict[str, str]:
    profile = api.post("/api/profiles", json=_profile("seed-fields@example.com"))
    api.post("/api/profiles", json=_profile("erase-fields@example.com"))  # for request_profile_deletion
    listed = api.post("/api/lists", json={"data": {"type": "list", "attributes": {"name": "Seed"}}})
    ids = {"profile": profile.json()["data"]["id"], "list": listed.json()["data"]["id"]}
    examples = _examples(ids | {"segment": "", "webhook": ""})
    segment = api.post("/api/segments", json=examples["create_segment"])
    webhook = api.post("/api/webhooks", json=examples["create_webhook"])
    assert segment.status_code == webhook.status_code == 201, (segment.text, webhook.text)
    return ids | {"segment": segment.json()["data"]["id"], "webhook": webhook.json()["data"]["id"]}


def test_every_operation_with_a_body_has_a_valid_example_here() -> None:
    examples = _examples({"profile": "p", "list": "l", "segment": "s", "webhook": "w"})
    with_body = [op.operation_id for op in catalog.operations() if op.body is not None]
    missing = [name for name in with_body if name not in examples]
    assert not missing, f"add a valid example body for {missing}"


def test_every_field_of_every_body_made_hostile_gets_a_4xx_error_never_a_5xx(api, server_log) -> None:  # noqa: F811
    ids = _seed(api)
    examples = _examples(ids)
    problems: list[str] = []
    operations = [op for op in catalog.operations() if op.body is not None]
    for op in operations:
        path = op.path.replace("{id}", ids["segment"] if "/segments/" in op.path else
                               ids["webhook"] if "/webhooks/" in op.path else
                               ids["list"] if "/lists/" in op.path else ids["profile"])  # fmt: skip
        example = examples[op.operation_id]
        first = api.request(op.method, path, json=example)
        if first.status_code >= 300:
            problems.append(f"{op.operation_id}: the valid example is refused: {first.status_code} {first.text[:300]}")
            continue
        for what, body in _variants(example):
            r = api.request(op.method, path, json=body)
            if r.status_code >= 500:
                problems.append(f"{op.operation_id} {what}: {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400 and not _is_error_document(r):
                problems.append(f"{op.operation_id} {what}: {r.status_code} not a JSON:API error {r.text[:200]}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:60])
    assert not server_log.bad(), "\n".join(server_log.bad()[:20])


@pytest.mark.parametrize("field", ["channel", "purpose", "via"])
def test_a_hostile_enum_in_a_decision_is_refused_naming_the_field(api, field) -> None:
    body = _examples({"profile": "", "list": "", "segment": "", "webhook": ""})["create_decisions"]
    r = api.post("/api/decisions", json=_replaced(body, ("data", "attributes", field), "carrier-pigeon"))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == f"/data/attributes/{field}"
