"""The API's lean path (api.app.LeanReads: GET /api/profiles/{id} answered from the ASGI scope)
gives the very answers of the general path through Starlette's router, on random requests:
existing, unknown, another account's and odd ids, with and without a trailing slash; every mix of
fields, include and additional-fields, repeated and escaped; good, unknown, revoked, unscoped,
malformed and missing keys; good, bad and missing revision headers; and rate limits that run out.
Each request is sent twice, so the second finds the key remembered and takes the lean path where
it can. Status, headers and body must match (error ids aside: each error gets a new one). The same
holds for the walk over every profile (GET /api/profiles): random page sizes, cursors good, stale
and forged, filters, sorts, includes, fields, additional-fields and unknown parameters, links and all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assent.api.app import LeanReads
from assent.api.paging import write_cursor
from assent.domain import Channel, Purpose, SuppressionReason
from assent.server import create_app
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.profiles.writes import ProfileInput, create_profile
from assent.store.db import make_engine, upgrade
from assent.wire.ratelimit import RateLimiter
from tests.api.conftest import REVISION

NOW = [1_000_000.0]


class World(msgspec.Struct):
    engine: Any
    apps: tuple[Any, Any]  # (lean, general)
    ids: list[str]
    keys: dict[str, str | None]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('lean') / 'assent.db'}")
    upgrade(engine)
    mine = accounts.create_account(engine, "Lean brand", "US")
    theirs = accounts.create_account(engine, "Other brand", "US")
    account = mine.account.id
    ids = []
    for n, values in enumerate(
        [
            {"email": "plain@example.com"},
            {"email": "sub@example.com", "phone_number": "+14155550101", "first_name": "Ada", "city": "Oslo"},
            {"phone_number": "+14155550102", "locale": "fr-FR", "title": "Dr"},
            {"external_id": "x-1", "organization": "Acme \u00e9"},
        ]
    ):
        inp = ProfileInput(values=values)
        inp.properties = {"n": n, "tags": ["a", "b"]}
        ids.append(create_profile(engine, account, inp).row.id)
    consent.subscribe(engine, account, Locator("email", "sub@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.subscribe(engine, account, Locator("phone_number", "+14155550101"),
                      [(Channel.SMS, Purpose.MARKETING), (Channel.WHATSAPP, Purpose.MARKETING)])  # fmt: skip
    consent.suppress(engine, account, Locator("email", "plain@example.com"), SuppressionReason.HARD_BOUNCE)
    other = create_profile(engine, theirs.account.id, ProfileInput(values={"email": "theirs@example.com"})).row.id
    revoked = accounts.create_key(engine, account, "profiles:read")
    accounts.revoke_key(engine, account, revoked.key.id)
    keys: dict[str, str | None] = {
        "full": mine.api_key,
        "reader": accounts.create_key(engine, account, "profiles:read").secret,
        "lists only": accounts.create_key(engine, account, "lists:read").secret,
        "theirs": theirs.api_key,
        "revoked": revoked.secret,
        "unknown": "pk_" + "0" * 34,
        "missing": None,
    }

    def app(lean: bool) -> Any:
        # The test's clock, moved on before each example: both apps count the same requests in the
        # same windows, and a key runs out of its allowance now and then.
        return create_app(engine, limiter=RateLimiter(scale=1, clock=lambda: NOW[0]), lean=lean)

    yield World(engine, (app(True), app(False)), [*ids, other, "01NOSUCHPROFILE0000000000"], keys)
    engine.dispose()


_values = {
    "additional-fields[profile]": ["subscriptions", "predictive_analytics", "subscriptions,predictive_analytics",
                                   "", " subscriptions ", "nosuch"],
    "fields[profile]": ["email", "", "email,subscriptions.email", "nosuch"],
    "include": ["", "lists", "push-tokens", "nosuch"],
    "other": ["1"],
}  # fmt: skip
params = st.lists(st.sampled_from(list(_values)).flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(_values[k]))),
                  max_size=2)  # fmt: skip


def _query(pairs: list[tuple[str, str]], escape: bool) -> str:
    return "&".join(f"{quote(k) if escape else k}={quote(v)}" for k, v in pairs)


def _normal(r: httpx.Response) -> tuple[int, list[tuple[str, str]], Any]:
    body: Any = r.content
    if r.status_code >= 400 and r.content:  # (a HEAD answer has no body)
        body = msgspec.json.decode(r.content)
        for e in body["errors"]:
            e.pop("id")
    return r.status_code, [(k, v) for k, v in r.headers.multi_items() if k != "content-length"], body


async def _both(world: World, method: str, url: str, headers: dict[str, str]) -> list[Any]:
    out = []
    for app in world.apps:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            out.append([_normal(await client.request(method, url, headers=headers)) for _ in range(2)])
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(0, 20), st.sampled_from(["", "/"]), params, st.booleans(),
    st.sampled_from(["full"] * 6 + ["reader", "reader", "lists only", "theirs", "revoked", "unknown", "missing"]),
    st.sampled_from(["Klaviyo-API-Key"] * 5 + ["Bearer"]),
    st.sampled_from([REVISION] * 5 + ["2026-10-15.pre", "bad", "", None]),
    st.sampled_from(["GET", "GET", "GET", "HEAD"]),
)  # fmt: skip
def test_the_lean_path_answers_as_the_general_one(world, pick, slash, pairs, escape, key, scheme, revision,
                                                  method) -> None:  # fmt: skip
    odd = ["abc-def", "x" * 70, "%C3%A9", "01J0ABC%20DEF"]
    pool = world.ids + odd
    profile_id = pool[pick % len(pool)]
    url = f"/api/profiles/{profile_id}{slash}" + (f"?{_query(pairs, escape)}" if pairs else "")
    headers = {"Accept": "application/vnd.api+json"}
    secret = world.keys[key]
    if secret is not None:
        headers["Authorization"] = f"{scheme} {secret}"
    if revision is not None:
        headers["revision"] = revision
    NOW[0] += 0.01
    lean, general = asyncio.run(_both(world, method, url, headers))
    assert lean == general


_page_values = {
    "page[size]": ["1", "2", "3", "100", "0", "101", "x", " 2", "", "2_0", "\u0662"],
    "page[cursor]": ["", "nosuch", "=nosuch", "n", "p"],  # n and p: a cursor from one of the ids
    "additional-fields[profile]": ["subscriptions", "", "predictive_analytics", "nosuch"],
    "fields[profile]": ["email", "subscriptions.email.marketing", "", "id,location", "nosuch"],
    "filter": ['equals(email,"sub@example.com")', ""],
    "sort": ["-id", ""],
    "include": ["", "push-tokens"],
    "other": ["1", "a b"],
}
_cursor_params = st.tuples(st.integers(0, 10), st.sampled_from(["n", "p", "n2", "url"]))
page_params = st.lists(
    st.sampled_from(list(_page_values)).flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(_page_values[k]))),
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["", "/"]), page_params, _cursor_params, st.booleans(),
    st.sampled_from(["full"] * 6 + ["reader", "lists only", "theirs", "revoked", "missing"]),
    st.sampled_from([REVISION] * 6 + ["bad", None]),
)  # fmt: skip
def test_the_lean_walk_answers_as_the_general_one(world, slash, pairs, cursor, escape, key, revision) -> None:
    pick, form = cursor
    after = sorted(world.ids)[pick % len(world.ids)]
    made = {
        "n": write_cursor("n", [after]),
        "p": write_cursor("p", [after]),
        "n2": write_cursor("n", [after, after]),  # a cursor of another sort
        "url": f"http://testserver/api/profiles?page%5Bcursor%5D={write_cursor('n', [after])}",
    }[form]
    pairs = [(k, made if k == "page[cursor]" and v in ("n", "p") else v) for k, v in pairs]
    url = f"/api/profiles{slash}" + (f"?{_query(pairs, escape)}" if pairs else "")
    headers = {"Accept": "application/vnd.api+json"}
    secret = world.keys[key]
    if secret is not None:
        headers["Authorization"] = f"Klaviyo-API-Key {secret}"
    if revision is not None:
        headers["revision"] = revision
    NOW[0] += 0.01
    lean, general = asyncio.run(_both(world, "GET", url, headers))
    assert lean == general


def _watched_app(world) -> tuple[Any, list[bool]]:
    """The app, and the list to which each request the lean path looks at adds whether it answered."""
    app = create_app(world.engine, limiter=RateLimiter(scale=0))
    app.middleware_stack = app.build_middleware_stack()
    lean_reads = app.middleware_stack.app
    while not isinstance(lean_reads, LeanReads):  # below the middleware outside it
        lean_reads = lean_reads.app
    served: list[bool] = []
    original = lean_reads.api.lean

    async def spy(*args: Any) -> bool:
        served.append(answered := await original(*args))
        return answered

    lean_reads.api.lean = spy
    return app, served


def test_the_lean_path_answers_the_plain_request(world) -> None:
    """The common request does take the lean path (the comparison above would pass without it)."""
    app, served = _watched_app(world)
    headers = {"Authorization": f"Klaviyo-API-Key {world.keys['reader']}", "revision": REVISION}
    url = f"/api/profiles/{world.ids[1]}/?additional-fields%5Bprofile%5D=subscriptions"

    async def thrice() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return [(await client.get(url, headers=headers)).status_code for _ in range(3)]

    assert asyncio.run(thrice()) == [200, 200, 200]
    assert served == [False, True, True]  # the first finds the key unknown


def test_the_lean_walk_pages_through_every_profile(world) -> None:
    """A sync job's walk following links.next takes the lean path on every page after the first
    (which finds the key unknown) and reads every profile of the account once, as the general
    path's walk does."""
    app, served = _watched_app(world)
    headers = {"Authorization": f"Klaviyo-API-Key {world.keys['reader']}", "revision": REVISION}
    first = "/api/profiles?page%5Bsize%5D=1&additional-fields%5Bprofile%5D=subscriptions&fields%5Bprofile%5D=email"

    async def walk(app: Any) -> list[Any]:
        pages, url = [], first
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            while url:
                response = await client.get(url, headers=headers)
                assert response.status_code == 200
                pages.append(response.json())
                url = pages[-1]["links"].get("next")
        return pages

    pages = asyncio.run(walk(app))
    assert [p["data"][0]["id"] for p in pages] == sorted(world.ids[:4])
    assert served == [False, True, True, True]
    assert pages == asyncio.run(walk(create_app(world.engine, limiter=RateLimiter(scale=0), lean=False)))
