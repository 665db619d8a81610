"""A JSON body whose object repeats a key is refused, with the pointer of the repeat: the
detector (colons counted in the text and in the re-encoded decode) answers as json.loads with
a pairs hook does, on any document of objects, arrays and strings with colons, escapes and
repeated keys; and the API and the public signup refuse such a body with a 400 on both backends."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from assent.services.consent import ledger_checks as ledger
from assent.wire.bodies import repeated_key

KEYS = st.text(alphabet='ab:"\\/~é', max_size=3)
STRINGS = st.text(alphabet='a:"\\/é\n', max_size=5)


def _string(draw: Any, value: str) -> str:
    text = json.dumps(value, ensure_ascii=draw(st.booleans()))
    return text.replace(":", draw(st.sampled_from([":", "\\u003a", "\\u003A"])))


@st.composite
def documents(draw: Any, depth: int = 0) -> str:
    """JSON text whose objects are drawn as lists of pairs, so that keys repeat (as written or escaped)."""
    space = draw(st.sampled_from(["", " ", "\n"]))
    kind = draw(st.sampled_from(["scalar", "string"] + (["object", "array"] if depth < 4 else [])))
    if kind == "scalar":
        return draw(st.sampled_from(["null", "true", "1", "-2.5e3"]))
    if kind == "string":
        return _string(draw, draw(STRINGS))
    if kind == "array":
        items = draw(st.lists(documents(depth + 1), max_size=3))
        return "[" + f",{space}".join(items) + "]"
    pairs = draw(st.lists(st.tuples(KEYS, documents(depth + 1)), max_size=4))
    return "{" + f",{space}".join(f"{_string(draw, k)}{space}:{space}{v}" for k, v in pairs) + "}"


def _repeats(raw: bytes) -> bool:
    """The reference: json.loads, every object's pairs looked at."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        keys = [k for k, _ in pairs]
        found = found or len(set(keys)) != len(keys)
        return dict(pairs)

    json.loads(raw, object_pairs_hook=hook)
    return found


def _resolve(document: Any, pointer: str) -> Any:
    """The object holding the pointer's last key (json.loads' last-wins reading)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    for part in parts[:-1]:
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document, parts[-1]


@settings(max_examples=600)
@given(documents())
def test_the_repeated_key_detector_answers_as_json_loads_with_a_pairs_hook(text):
    raw = text.encode()
    pointer = repeated_key(raw, msgspec.json.decode(raw))
    assert (pointer is not None) == _repeats(raw), (text, pointer)
    if pointer is not None:
        holder, key = _resolve(json.loads(raw), pointer)
        assert key in holder


# --- the API and the public signup ------------------------------------------------------------


def _ledger(server, api) -> int:
    return ledger.verify(server.engine, api.account_id).events


def test_bad_input_gets_a_4xx_naming_the_field_a_repeated_key_in_an_api_body(server, api):
    """This body had dup2 subscribed while whatever read the first value saw dup1."""
    raw = (b'{"data":{"type":"profile","attributes":{"email":"dup1@example.com",'
           b'"properties":{"plan":"a"},"email":"dup2@example.com"}}}')  # fmt: skip
    before = _ledger(server, api)
    r = api.post("/api/profiles", content=raw)
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert (error["code"], error["source"]["pointer"]) == ("invalid", "/data/attributes/email"), error
    assert api.get("/api/profiles", params={"filter": "equals(email,'dup2@example.com')"}).json()["data"] == []
    assert _ledger(server, api) == before
    nested = b'{"data":{"type":"profile","attributes":{"email":"one@example.com","properties":{"n":1,"n":2}}}}'
    r = api.post("/api/profiles", content=nested)
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/properties/n"


@pytest.fixture
def signup_budget(server) -> None:
    """A fresh signup budget for this client address. On PostgreSQL the per-address counters live in
    the database the whole test session shares, and other modules' signups from 127.0.0.1 within
    the same minute would otherwise count against these tests (429 instead of the 400 looked for)."""
    with server.engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_limit_windows WHERE scope = '' AND bucket LIKE 'signup:%'"))


def test_bad_input_gets_a_4xx_naming_the_field_a_repeated_key_in_the_public_signup_json(server, api, signup_budget):
    from assent.services.accounts import accounts

    public_id = accounts.get_account(server.engine, api.account_id).public_id
    raw = (b'{"data":{"type":"subscription","attributes":{"profile":{"data":{"type":"profile","attributes":'
           b'{"email":"dup1@example.com","email":"dup2@example.com"}}}}}}')  # fmt: skip
    before = _ledger(server, api)
    r = api.post(f"/client/subscriptions?company_id={public_id}", content=raw,
                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["source"]["pointer"] == "/data/attributes/profile/data/attributes/email", error
    assert _ledger(server, api) == before


@pytest.mark.parametrize("field", ["email", "g"])
def test_bad_input_gets_a_4xx_naming_the_field_a_field_given_twice_on_the_public_signup_form(
    server, api, signup_budget, field
):
    from assent.services.accounts import accounts

    public_id = accounts.get_account(server.engine, api.account_id).public_id
    form = [("g", "LIST"), ("email", "dup1@example.com"), (field, "dup2@example.com" if field == "email" else "X")]
    before = _ledger(server, api)
    r = api.post(f"/client/subscriptions?company_id={public_id}", content=urlencode(form),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 400 and "more than once" in r.text, r.text
    assert _ledger(server, api) == before
