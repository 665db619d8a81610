"""A bad-input battery against a real server, on SQLite and PostgreSQL: every operation of the
API catalog (iterated, not listed by hand), the public pages and the webhooks get invalid UTF-8,
NUL characters, deep nesting, huge numbers, 10 MB bodies, wrong types, forged cursors and filter
injection. The rules: no 5xx; every API refusal is a JSON:API error document; nothing is written
(the account's ledger head is unchanged); and the server log holds no traceback and no error —
a hostile request is one warning line."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from assent.api import catalog
from assent.services.accounts import accounts, settings
from assent.services.consent import ledger_checks as ledger
from assent.services.shared import tokens
from assent.wire.bodies import MAX_DEPTH

BIG = 10 * 1024 * 1024
SMS_NUMBER = "+14155550177"


class Collect(logging.Handler):
    """Every record at warning or above, and any that carries a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def bad(self) -> list[str]:
        return [
            f"{r.name} {r.levelname}: {r.getMessage()}"
            for r in self.records
            if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
        ]


@pytest.fixture
def server_log() -> Iterator[Collect]:
    handler = Collect()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _nested(depth: int) -> bytes:
    return b'{"data":' + b"[" * depth + b"]" * depth + b"}"


def _list_nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _document(resource_type: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": resource_type, "attributes": attributes}}


def _bodies(resource_type: str) -> list[tuple[str, bytes | Any]]:
    """(what, body): raw bytes are sent as they are; anything else as JSON."""
    nul = {"email": "nul\u0000@example.com", "name": "a\u0000b", "first_name": "x\u0000", "properties": {"k\u0000": 1}}
    return [
        ("invalid UTF-8", b'{"data":{"type":"\xff\xfe","attributes":{"name":"\xc3\x28"}}}'),
        ("invalid UTF-8 in a key", b'{"data":{"\xff":1}}'),
        ("lone surrogate", b'{"data":{"type":"profile","attributes":{"email":"\\ud800@example.com"}}}'),
        ("NUL", _document(resource_type, nul)),
        ("NUL in a key", {"data": {"type": resource_type, "attributes": {"properties": {"a\u0000": "b"}}}}),
        ("raw NUL byte", b'{"data":{"type":"profile","attributes":{"email":"a\x00b@example.com"}}}'),
        ("deep nesting", _nested(5000)),
        ("just too deep", _nested(MAX_DEPTH + 1)),
        ("deep properties", _document(resource_type, {"properties": {"p": _list_nest(200)}})),
        ("huge float", b'{"data":{"type":"%s","attributes":{"name":1e400,"value":1e999,"properties":{"x":1e400}}}}'
         % resource_type.encode()),
        ("huge integer", _document(resource_type, {"name": 10**40, "properties": {"n": 10**40, "m": -(10**40)},
                                                    "value": 10**40, "page": 10**30})),
        ("odd keys", _document(resource_type, {"": 1, "../../x": 2, "$where": 3, "a.b": {"__proto__": 4}})),
        ("wrong types: number", 5),
        ("wrong types: array", []),
        ("wrong types: string", "data"),
        ("wrong types: data", {"data": [1, "x", None]}),
        ("wrong types: attributes", {"data": {"type": 7, "id": {"a": 1}, "attributes": [], "relationships": "x"}}),
        ("null", None),
        ("empty", b""),
        ("not JSON", b"<xml/>"),
        ("truncated", b'{"data":{"type":"'),
    ]  # fmt: skip


_QUERIES = [
    {"page[cursor]": "forged"},
    {"page[cursor]": "bjpbIjk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5Il0"},  # base64 of a hand-made cursor
    {"page[cursor]": "\u0000\ufffd" * 10},
    {"page[size]": str(10**30)},
    {"page[size]": "-1"},
    {"filter": 'equals(email,"x\' OR 1=1 --")'},
    {"filter": 'equals(id,"\u0000")'},
    {"filter": "or(" * 500 + 'equals(id,"x")' + ")" * 500},
    {"filter": "greater-than(updated,9999999999-01-01T00:00:00Z)"},
    {"filter": "any(email,[" + ",".join(['"a@x.com"'] * 2000) + "])"},
    {"filter": "equals(seq," + "9" * 40 + ")"},
    {"filter": "greater-than(seq,1e400)"},
    {"sort": "-;drop table profiles"},
    {"fields[profile]": "\u0000", "include": "../../etc", "additional-fields[profile]": "x" * 5000},
    {"as_of": "\u0000"},
    {"as_of": "99999-99-99"},
]


def _path(template: str, known: str) -> list[str]:
    """The operation's path with a real id, a NUL, bytes that are not UTF-8, and a long id."""
    return [re.sub(r"\{[^}]+\}", value, template) for value in (known, "%00", "%FF%FE", "A" * 3000)]


def _head(server, account_id: str) -> tuple[Any, ...]:
    result = ledger.verify(server.engine, account_id)
    return (result.ok, result.events)


def _is_error_document(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return bool(errors) and all(e.get("status") == response.status_code and e.get("code") for e in errors)


def test_hostile_requests_to_every_api_operation_get_a_4xx_error_and_write_nothing(server, api, server_log) -> None:
    profile = api.post("/api/profiles", json=_document("profile", {"email": "hostile@example.com"}))
    assert profile.status_code == 201, profile.text
    profile_id = profile.json()["data"]["id"]
    listed = api.post("/api/lists", json=_document("list", {"name": "Hostile"}))
    assert listed.status_code == 201, listed.text
    before = _head(server, api.account_id)
    problems: list[str] = []

    def check(response: httpx.Response, what: str) -> None:
        if response.status_code >= 500:
            problems.append(f"{what}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400 and not _is_error_document(response):
            problems.append(f"{what}: {response.status_code} is not a JSON:API error: {response.text[:200]}")

    operations = catalog.operations()
    assert len(operations) > 20
    for op in operations:
        known = listed.json()["data"]["id"] if "/lists/" in op.path else profile_id
        paths = _path(op.path, known)
        for path in paths[1:]:
            check(api.request(op.method, path), f"{op.method} {path[:80]}")
        if op.method == "GET":
            for query in _QUERIES:
                check(api.get(paths[0], params=query), f"GET {op.path} {str(query)[:80]}")
            continue
        if op.body is None:
            continue  # reads no body (a DELETE): its hostile paths above are what it gets
        resource_type = op.operation_id.split("_", 1)[-1].replace("_", "-")
        for what, body in _bodies(resource_type):
            if isinstance(body, bytes):
                response = api.request(op.method, paths[0], content=body)
            else:
                response = api.request(op.method, paths[0], json=body)
            check(response, f"{op.method} {op.path} with {what}")
            if what.startswith(("NUL", "invalid UTF-8", "deep", "just too deep")) and response.status_code < 300:
                problems.append(f"{op.method} {op.path} with {what}: accepted ({response.status_code})")
        big = api.request(op.method, paths[0], content=b'{"data":"' + b"a" * BIG + b'"}')
        check(big, f"{op.method} {op.path} with 10 MB")
        if big.status_code != 413 and op.body is not None:
            problems.append(f"{op.method} {op.path} with 10 MB: {big.status_code}, not 413")
    assert not problems, "\n".join(problems)
    assert _head(server, api.account_id) == before
    assert not server_log.bad(), "\n".join(server_log.bad())


def test_a_nul_character_is_refused_naming_its_pointer_on_every_backend(server, api, server_log) -> None:
    before = _head(server, api.account_id)
    r = api.post("/api/profiles", json=_document("profile", {"email": "ok@example.com", "first_name": "A\u0000da"}))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/first_name"
    r = api.post("/api/lists", json=_document("list", {"name": "News\u0000"}))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/name"
    r = api.post("/api/profiles", json=_document("profile", {"email": "ok@example.com", "properties": {"k\u0000": 1}}))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/properties/k\u0000"
    # A backslash followed by u0000 is text, not a NUL: it is stored.
    r = api.post("/api/lists", json=_document("list", {"name": "back\\u0000slash"}))
    assert r.status_code == 201, r.text
    assert r.json()["data"]["attributes"]["name"] == "back\\u0000slash"
    assert api.get("/api/profiles", params={"filter": 'equals(email,"ok@example.com")'}).json()["data"] == []
    assert _head(server, api.account_id) == before
    assert not server_log.bad(), "\n".join(server_log.bad())


def test_deep_nesting_is_refused_before_decoding_and_a_normal_depth_passes(server, api) -> None:
    r = api.post("/api/profiles", content=_nested(100_000))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "too_deep", r.text
    nested: Any = "leaf"
    for _ in range(MAX_DEPTH - 6):  # the document's own levels come on top
        nested = {"n": nested}
    r = api.post("/api/profiles", json=_document("profile", {"email": "deep@example.com", "properties": nested}))
    assert r.status_code == 201, r.text


def _public(server, api) -> tuple[str, str, str]:
    account = next(a for a in accounts.list_accounts(server.engine) if a.id == api.account_id)
    settings.set_value(server.engine, api.account_id, "sms_number", SMS_NUMBER)
    r = api.post("/api/profiles", json=_document("profile", {"email": "page@example.com"}))
    profile_id = r.json()["data"]["id"]
    return (
        account.public_id,
        profile_id,
        tokens.make_token(server.engine, "preferences", {"a": api.account_id, "p": profile_id}),
    )


def test_hostile_requests_to_the_public_pages_and_webhooks_get_a_4xx_and_write_nothing(server, api, server_log) -> None:
    public_id, profile_id, preference_token = _public(server, api)
    unsubscribe = api.post("/api/unsubscribe-links", json=_document("unsubscribe-link", {
        "profile": {"email": "page@example.com"}}))  # fmt: skip
    unsubscribe_path = (
        "/u/" + unsubscribe.json()["data"]["attributes"]["url"].rsplit("/u/", 1)[-1]
        if unsubscribe.status_code < 300 else "/u/forged"
    )  # fmt: skip
    before = _head(server, api.account_id)
    form = "application/x-www-form-urlencoded"
    json_type = "application/json"
    bodies: list[tuple[str, str, bytes]] = [
        ("NUL", form, b"email=a%00@example.com&phone_number=%2B1415%00&reason=x%00&note=%00&scope=all&Body=STOP%00"),
        ("NUL name", form, b"a%00b=1&channel=email"),
        ("invalid UTF-8", form, b"email=%FF%FE@example.com&Body=%C3%28&From=%FF&To=" + SMS_NUMBER.encode()),
        ("raw bytes", form, b"\xff\xfe\x00\x00email=\x00"),
        ("bad multipart", "multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff"),
        ("NUL multipart", "multipart/form-data; boundary=x",
         b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na\x00b@example.com\r\n--x--\r\n'),
        ("too many fields", form, b"&".join(b"f%d=1" % i for i in range(2000))),
        ("NUL JSON", json_type, b'{"data":{"type":"subscription","attributes":{"profile":{"data":{"type":"profile",'
         b'"attributes":{"email":"a\\u0000@example.com"}}}}}}'),
        ("deep JSON", json_type, _nested(5000)),
        ("invalid UTF-8 JSON", json_type, b'{"Type":"\xff\xfe"}'),
        ("huge numbers JSON", json_type, b'[{"email":1e400,"timestamp":' + b"9" * 400 + b',"event":"bounce"}]'),
        ("wrong types JSON", json_type, b'{"Type":["Notification"],"Message":{"a":1}}'),
        ("NUL SendGrid", json_type, b'[{"email":"a\\u0000@example.com","event":"bounce","sg_event_id":"x"}]'),
        ("lone surrogate SendGrid", json_type,
         b'[{"email":"a@example.com","event":"bounce","reason":"550 \\ud800","sg_event_id":"y"}]'),
        ("10 MB", form, b"email=" + b"a" * BIG),
    ]  # fmt: skip
    targets = [
        ("POST", f"/client/subscriptions?company_id={public_id}"),
        ("POST", f"/p/{preference_token}"),
        ("POST", unsubscribe_path),
        ("POST", "/c/forged"),
        ("POST", "/webhooks/sms/twilio"),
        ("POST", f"/webhooks/email/ses/{public_id}"),
        ("POST", f"/webhooks/email/sendgrid/{public_id}"),
    ]
    problems = []
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for method, path in [*targets, ("GET", "/p/%00"), ("GET", "/u/%FF%FE"), ("GET", "/c/" + "A" * 5000)]:
            for what, ctype, body in bodies if method == "POST" else [("none", form, b"")]:
                r = client.request(method, path, content=body, headers={"content-type": ctype})
                if _head(server, api.account_id) != before:
                    problems.append(f"{method} {path[:40]} with {what}: wrote ({r.status_code}) {r.text[:300]}")
                    before = _head(server, api.account_id)
                if r.status_code >= 500:
                    problems.append(f"{method} {path[:40]} with {what}: {r.status_code} {r.text[:200]}")
                elif what.startswith(("NUL", "deep", "10 MB")) and r.status_code < 400:
                    problems.append(f"{method} {path[:40]} with {what}: accepted ({r.status_code}) {r.text[:200]}")
                json_error = path.startswith("/client/") and ctype == json_type and r.status_code >= 400
                if json_error and not _is_error_document(r):
                    problems.append(f"{path[:40]} with {what}: {r.status_code} not a JSON:API error")
    assert not problems, "\n".join(problems)
    assert _head(server, api.account_id) == before
    assert not server_log.bad(), "\n".join(server_log.bad())


def test_the_battery_sees_a_traceback_when_there_is_one(server_log) -> None:
    # The log check is live: an exception logged with its traceback is caught by it.
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    assert server_log.bad()


def test_a_client_that_leaves_before_its_body_arrives_is_one_warning_line(server, api, server_log) -> None:
    """A client that sends the start of a body and closes the connection (a dropped line, a slow
    loris giving up) leaves nobody to answer; the server logged a traceback for it, from the API,
    the public pages and the webhooks alike. It is one warning line, and nothing is written."""
    _, _, preference_token = _public(server, api)
    before = _head(server, api.account_id)
    host, port = server.base_url.removeprefix("http://").split(":")
    targets = [
        ("/api/lists", "application/vnd.api+json"),
        (f"/p/{preference_token}", "application/x-www-form-urlencoded"),
        ("/console/login", "application/x-www-form-urlencoded"),
        ("/webhooks/sms/twilio", "application/x-www-form-urlencoded"),
    ]
    for path, ctype in targets:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Klaviyo-API-Key {api.api_key}\r\n"
                f"revision: {api.headers['revision']}\r\nContent-Type: {ctype}\r\n"
                "Content-Length: 1000\r\n\r\n")  # fmt: skip
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(head.encode() + b'{"data":{"type":"li')
            time.sleep(0.2)  # the server is reading the body when the client goes
    deadline = time.monotonic() + 10
    while len([r for r in server_log.records if "closed" in r.getMessage() or r.exc_info]) < len(targets):
        assert time.monotonic() < deadline, [r.getMessage() for r in server_log.records]
        time.sleep(0.05)
    assert not server_log.bad(), "\n".join(server_log.bad())
    assert _head(server, api.account_id) == before
