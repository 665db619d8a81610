"""What every request goes through, over a real server: authentication, scopes, the revision
header, paths with and without a trailing slash, JSON:API errors for wrong methods, paths, media
types and bodies, rate limits per key, and tenancy for every operation in the catalog."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from assent.api import app as app_module
from assent.api import catalog
from assent.api.operation import Operation
from assent.services.accounts import accounts
from assent.services.lists.lists import create_list
from assent.wire.ratelimit import RateLimiter
from tests.api.conftest import REVISION, make_client, start_server, stop_server

_PARAM = re.compile(r"\{(\w+)\}")
PROBE_ID = "01TENANCYPROBE00000000000Z"


# --- helpers ----------------------------------------------------------------------------------


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    """The first error of a JSON:API error answer, after checking every error's shape."""
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/vnd.api+json"), r.headers
    errors = r.json()["errors"]
    assert errors
    for e in errors:
        assert {"id", "status", "code", "title", "detail"} <= e.keys(), e
        uuid.UUID(e["id"])
        assert e["status"] == status
        assert all(isinstance(e[k], str) and e[k] for k in ("code", "title", "detail")), e
    return errors[0]


def raw(server, headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=60)


def path_of(op: Operation, value: str) -> str:
    return _PARAM.sub(value, op.path)


def key_client(server, account_id: str, scopes: str) -> tuple[accounts.NewKey, httpx.Client]:
    new = accounts.create_key(server.engine, account_id, scopes)
    return new, make_client(server.base_url, new.secret, account_id)


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "not_authenticated"),
        ("", "not_authenticated"),
        ("Bearer pk_0123456789abcdef", "not_authenticated"),
        ("Klaviyo-API-Key", "not_authenticated"),
        ("Klaviyo-API-Key pk_notakeyanyonewasevergiven00000", "authentication_failed"),
    ],
    ids=["missing", "empty", "wrong-scheme", "no-key", "unknown-key"],
)
def test_requests_without_a_valid_key_are_401(server, authorization: str | None, code: str) -> None:
    headers = {"revision": REVISION}
    if authorization is not None:
        headers["Authorization"] = authorization
    with raw(server, headers) as client:
        for method, path in (("GET", "/api/profiles"), ("POST", "/api/profiles"), ("GET", f"/api/profiles/{PROBE_ID}")):
            e = error(client.request(method, path), 401)
            assert e["code"] == code


def test_a_revoked_key_is_refused_once_the_key_cache_forgets_it(server, api, monkeypatch) -> None:
    monkeypatch.setattr(app_module, "KEY_CACHE_SECONDS", 0.2)
    new, client = key_client(server, api.account_id, "profiles:read")
    with client:
        assert client.get("/api/profiles").status_code == 200
        accounts.revoke_key(server.engine, api.account_id, new.key.id)
        time.sleep(0.3)
        e = error(client.get("/api/profiles"), 401)
        assert e["code"] == "authentication_failed"
    assert api.get("/api/profiles").status_code == 200  # the account's other key still works


def test_scopes_limit_what_a_key_may_do_and_write_implies_read(server, api) -> None:
    body = {"data": {"type": "profile", "attributes": {"email": "scoped@example.com"}}}
    _, reader = key_client(server, api.account_id, "profiles:read")
    _, writer = key_client(server, api.account_id, "profiles:write")
    _, lists_only = key_client(server, api.account_id, "lists:read,lists:write")
    with reader, writer, lists_only:
        assert reader.get("/api/profiles").status_code == 200
        e = error(reader.post("/api/profiles", json=body), 403)
        assert e["code"] == "permission_denied" and "profiles:write" in e["detail"]
        assert writer.post("/api/profiles", json=body).status_code == 201
        assert writer.get("/api/profiles").status_code == 200  # write implies read
        e = error(lists_only.get("/api/profiles"), 403)
        assert "profiles:read" in e["detail"]
        subscribe = {
            "data": {
                "type": "profile-subscription-bulk-create-job",
                "attributes": {"profiles": {"data": []}},
            }
        }
        e = error(writer.post("/api/profile-subscription-bulk-create-jobs", json=subscribe), 403)
        assert "lists:write" in e["detail"] and "subscriptions:write" in e["detail"]
    assert [p["attributes"]["email"] for p in api.get("/api/profiles").json()["data"]] == ["scoped@example.com"]


def test_every_operation_refuses_a_key_without_its_scopes_and_admits_one_with_them(server, api) -> None:
    _, outsider = key_client(server, api.account_id, "segments:read")
    with outsider:
        for op in catalog.operations():
            if "segments:read" in op.scopes or not op.scopes:
                continue
            error(outsider.request(op.method, path_of(op, PROBE_ID)), 403)
    for op in catalog.operations():
        _, insider = key_client(server, api.account_id, ",".join(op.scopes))
        with insider:
            r = insider.request(op.method, path_of(op, PROBE_ID))
            assert r.status_code not in (401, 403), (op.operation_id, r.text)


# --- the revision header ----------------------------------------------------------------------


@pytest.mark.parametrize("revision", [None, "", "yesterday", "2026-13", "15-10-2026", "2026-10-15 ; drop"])
def test_a_missing_or_malformed_revision_is_400_naming_it(server, api, revision: str | None) -> None:
    headers = {"Authorization": f"Klaviyo-API-Key {api.api_key}"}
    if revision is not None:
        headers["revision"] = revision
    with raw(server, headers) as client:
        e = error(client.get("/api/profiles"), 400)
        assert e["source"] == {"parameter": "revision"}


@pytest.mark.parametrize("revision", ["2024-10-15", "2026-10-15", "2026-07-15.pre"])
def test_any_well_formed_revision_is_accepted(server, api, revision: str) -> None:
    assert api.get("/api/profiles", headers={"revision": revision}).status_code == 200


# --- paths, methods, media types and bodies ---------------------------------------------------


def test_paths_answer_with_and_without_a_trailing_slash(api) -> None:
    body = {"data": {"type": "profile", "attributes": {"email": "slash@example.com"}}}
    r = api.post("/api/profiles/", json=body)
    assert r.status_code == 201, r.text
    profile_id = r.json()["data"]["id"]
    for path in ("/api/profiles", "/api/profiles/", f"/api/profiles/{profile_id}", f"/api/profiles/{profile_id}/"):
        r = api.get(path)
        assert r.status_code == 200, (path, r.text)
    assert api.get("/api/profiles/").json()["data"] == api.get("/api/profiles").json()["data"]
    # The self links Klaviyo gives out carry the slash, and work.
    assert api.get(r.json()["data"]["links"]["self"]).status_code == 200


def test_a_wrong_method_is_a_json_api_405_naming_the_allowed_ones(api) -> None:
    served: dict[str, set[str]] = {}
    for op in catalog.operations():
        served.setdefault(op.path, set()).add(op.method)
    for path, methods in served.items():
        wrong = next(m for m in ("PUT", "DELETE", "PATCH", "POST") if m not in methods)
        for url in (path_of_path(path), path_of_path(path) + "/"):
            r = api.request(wrong, url)
            e = error(r, 405)
            assert e["code"] == "method_not_allowed"
            assert set(r.headers["Allow"].split(", ")) == methods, (path, r.headers["Allow"])


def path_of_path(path: str) -> str:
    return _PARAM.sub(PROBE_ID, path)


@pytest.mark.parametrize("path", ["/api/nothing-here", "/api/profiles/x/y/z", "/nope", "/", "/api"])
def test_an_unknown_path_is_a_json_api_404(api, path: str) -> None:
    for method in ("GET", "POST"):
        e = error(api.request(method, path), 404)
        assert e["code"] == "not_found"


def test_a_body_must_be_json_api_or_json(api) -> None:
    body = b'{"data": {"type": "profile", "attributes": {"email": "media@example.com"}}}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        e = error(api.post("/api/profiles", content=body, headers={"Content-Type": ctype}), 415)
        assert e["code"] == "unsupported_media_type"
    r = api.post("/api/profiles", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/vnd.api+json")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"data": ', "parse_error"),
        (b"not json at all", "parse_error"),
        (b'{"data": {"type": "profile", "attributes": {"email": "a@example.com",}}}', "parse_error"),
        (b"", "invalid"),
        (b"   ", "invalid"),
        (b"[]", "invalid"),
        (b"null", "invalid"),
    ],
    ids=["truncated", "text", "trailing-comma", "empty", "blank", "array", "null"],
)
def test_a_body_that_is_not_a_json_api_document_is_400(api, content: bytes, code: str) -> None:
    e = error(api.post("/api/profiles", content=content), 400)
    assert e["code"] == code
    assert e["source"]["pointer"] == "/"
    assert api.get("/api/profiles").json()["data"] == []


def test_a_body_over_the_payload_limit_is_413(api) -> None:
    padding = "x" * (app_module.MAX_BODY + 10)
    body = {"data": {"type": "profile", "attributes": {"email": "big@example.com", "properties": {"p": padding}}}}
    error(api.post("/api/profiles", json=body), 413)


# --- rate limits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(server) -> Iterator[str]:
    """A second server on the same database whose limits are 2% of Klaviyo's: one request a
    second and 14 a minute on the profile endpoints."""
    base, uv, thread = start_server(server.engine, limiter=RateLimiter(scale=0.02))
    yield base
    stop_server(uv, thread)


def _early_in_a_window() -> None:
    """Windows are aligned on the clock (every server process agrees on them): start just after a
    second begins, and not in the last seconds of a minute, so the requests share their windows."""
    now = time.time()
    if now % 60 > 50:
        time.sleep(60 - now % 60)
    time.sleep(1.02 - time.time() % 1)


def test_rate_limit_headers_then_429_with_retry_after_per_key(server, limited, api) -> None:
    other = accounts.create_key(server.engine, api.account_id, None)
    _early_in_a_window()
    with make_client(limited, api.api_key, api.account_id) as first, make_client(limited, other.secret) as second:
        r = first.get("/api/profiles")
        assert r.status_code == 200, r.text
        limit, remaining, reset = (
            int(r.headers[h]) for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
        )
        assert (limit, remaining) == (14, 13)
        assert 0 < reset <= 60
        r = first.get("/api/profiles")  # the second in the same second: over the burst
        e = error(r, 429)
        assert e["code"] == "throttled"
        assert re.fullmatch(r"[1-9]\d*", r.headers["Retry-After"])
        assert "RateLimit-Remaining" not in r.headers
        # Another key of the same account, and another operation, have their own counts.
        r = second.get("/api/profiles")
        assert r.status_code == 200 and r.headers["RateLimit-Remaining"] == "13"
        r = first.get("/api/consent-events")
        assert r.status_code == 200 and r.headers["RateLimit-Remaining"] == "13"
        time.sleep(float(first.get("/api/profiles").headers.get("Retry-After", "1")))
        r = first.get("/api/profiles")
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Remaining"] == "12"


def test_refused_requests_are_not_counted(server, limited, api) -> None:
    with make_client(limited, "pk_nobodyskey000000000000000000000") as stranger:
        for _ in range(3):
            error(stranger.get("/api/profiles"), 401)
    _early_in_a_window()
    with make_client(limited, api.api_key) as client:
        r = client.get("/api/profiles")
        assert r.status_code == 200 and r.headers["RateLimit-Remaining"] == "13"


# --- tenancy ----------------------------------------------------------------------------------


def _example(schema: dict[str, Any], defs: dict[str, Any], target: str, key: str = "") -> Any:
    """The smallest value `schema` accepts, with every `id` set to `target`."""
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, target, key)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        return _example(options[0], defs, target, key)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _example(props[name], defs, target, name) for name in schema.get("required", [])}
    if kind == "array":
        return [_example(schema.get("items", {}), defs, target, key)] * max(1, schema.get("minItems", 1))
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2020-01-01T00:00:00+00:00"
        return target if key == "id" else "x"
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return 1
    return {}


def body_for(op: Operation, target: str) -> dict[str, Any] | None:
    if op.body is None:
        return None
    schema = msgspec.json.schema(op.body)
    return _example(schema, schema.get("$defs", {}), target)


def _collection(op: Operation) -> str:
    return op.path.split("/{", 1)[0]


def _ids(client, path: str) -> list[str]:
    r = client.get(path, params={"page[size]": "100"} if "events" not in path else None)
    if r.status_code != 200:
        r = client.get(path)
    if r.status_code != 200:
        return []
    data = r.json().get("data")
    return [d["id"] for d in data if isinstance(d, dict) and "id" in d] if isinstance(data, list) else []


SECRET_EMAIL = "secret-customer@other-brand.example"
SECRET_LIST = "Other brand's VIP list"
SECRET_METRIC = "Other brand secret metric"


def _seed(server, other) -> dict[str, str]:
    """Give the other account one of everything the catalog can make."""
    r = other.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": SECRET_EMAIL}}})
    assert r.status_code == 201, r.text
    vip = create_list(server.engine, other.account_id, SECRET_LIST)
    ids = {"profile": r.json()["data"]["id"], "list": vip.id}
    profiles = {"data": [{"type": "profile", "attributes": {"email": SECRET_EMAIL}}]}
    subscribed = {"email": {"marketing": {"consent": "SUBSCRIBED"}}}
    seeds = {
        "bulk_subscribe_profiles": {
            "data": {
                "type": "profile-subscription-bulk-create-job",
                "attributes": {
                    "profiles": {
                        "data": [
                            {"type": "profile", "attributes": {"email": SECRET_EMAIL, "subscriptions": subscribed}}
                        ]
                    }
                },
                "relationships": {"list": {"data": {"type": "list", "id": vip.id}}},
            }
        },
        "create_event": {
            "data": {
                "type": "event",
                "attributes": {
                    "properties": {"sku": "secret"},
                    "metric": {"data": {"type": "metric", "attributes": {"name": SECRET_METRIC}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": SECRET_EMAIL}}},
                },
            }
        },
        "bulk_suppress_profiles": {
            "data": {"type": "profile-suppression-bulk-create-job", "attributes": {"profiles": profiles}}
        },
        "bulk_unsuppress_profiles": {
            "data": {"type": "profile-suppression-bulk-delete-job", "attributes": {"profiles": profiles}}
        },
        "bulk_import_profiles": {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": profiles},
                "relationships": {"lists": {"data": [{"type": "list", "id": vip.id}]}},
            }
        },
    }
    by_id = {op.operation_id: op for op in catalog.operations()}
    for operation_id, body in seeds.items():
        if operation_id in by_id:  # best effort: an operation still being built may refuse
            other.request(by_id[operation_id].method, by_id[operation_id].path, json=body)
    _settle(other)
    return ids


def _settle(client) -> None:
    """Wait (briefly) until the account's bulk jobs have run, so that what they write is not
    mistaken for the work of a probe."""
    listings = [
        op.path for op in catalog.operations() if op.method == "GET" and op.path.endswith("-jobs")
    ]  # the job collections
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        busy = False
        for path in listings:
            r = client.get(path)
            if r.status_code == 200:
                statuses = [d.get("attributes", {}).get("status") for d in r.json().get("data", [])]
                busy |= any(s in ("queued", "processing") for s in statuses)
        if not busy:
            return
        time.sleep(0.05)


def test_every_operation_on_another_accounts_id_is_404_and_changes_nothing(server, api, other_api) -> None:
    known = _seed(server, other_api)
    before = {path: _ids(other_api, path) for path in {_collection(op) for op in catalog.operations()}}
    probed = []
    for op in catalog.operations():
        if not _PARAM.search(op.path):
            continue
        collection = _collection(op)
        theirs = [i for i in before.get(collection, []) if i not in set(_ids(api, collection))]
        if collection == "/api/profiles":
            theirs = [known["profile"]]
        elif collection == "/api/lists":
            theirs = [known["list"]]
        for target in theirs[:1] or [PROBE_ID]:
            url = path_of(op, target)
            r = api.request(op.method, url, json=body_for(op, target))
            e = error(r, 404)
            assert e["code"] == "not_found", (op.operation_id, e)
            probed.append((op.operation_id, target != PROBE_ID))
    assert ("get_profile", True) in probed and ("update_profile", True) in probed
    # Nothing of theirs was touched.
    assert {path: _ids(other_api, path) for path in before} == before
    r = other_api.get(f"/api/profiles/{known['profile']}", params={"include": "lists"})
    assert r.status_code == 200
    assert r.json()["data"]["attributes"]["email"] == SECRET_EMAIL


def test_an_unknown_id_in_the_path_is_404_with_the_path_parameter_as_its_source(api) -> None:
    """The id is a path parameter (JSON:API source.parameter), not a place in a body."""
    sources = {}
    for op in catalog.operations():
        if _PARAM.findall(op.path) != ["id"]:
            continue
        r = api.request(op.method, path_of(op, PROBE_ID), json=body_for(op, PROBE_ID))
        e = error(r, 404)
        sources[op.operation_id] = e.get("source")
    assert {"get_profile", "update_profile", "get_segment", "get_event"} <= sources.keys()
    wrong = {op: source for op, source in sources.items() if source != {"parameter": "id"}}
    assert wrong == {}, sorted(wrong.items())


def test_no_listing_shows_another_accounts_data(server, api, other_api) -> None:
    known = _seed(server, other_api)
    api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "mine@example.com"}}})
    markers = [known["profile"], known["list"], SECRET_EMAIL, SECRET_LIST, SECRET_METRIC]
    listings = [op for op in catalog.operations() if op.method == "GET" and not _PARAM.search(op.path)]
    assert {"get_profiles", "get_consent_events"} <= {op.operation_id for op in listings}
    for op in listings:
        r = api.get(op.path)
        assert r.status_code == 200, (op.operation_id, r.text)
        for marker in markers:
            assert marker not in r.text, (op.operation_id, marker)
    # Their own listings do show it (so the check above could have failed).
    assert SECRET_EMAIL in other_api.get("/api/profiles").text
    r = api.post(
        "/api/decisions",
        json={"data": {"type": "decision", "attributes": {"profile": {"id": known["profile"]}, "channel": "email"}}},
    )
    error(r, 404)
    r = api.post(
        "/api/decisions",
        json={"data": {"type": "decision", "attributes": {"profile": {"email": SECRET_EMAIL}, "channel": "email"}}},
    )
    error(r, 404)
