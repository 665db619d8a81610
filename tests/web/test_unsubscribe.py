"""Unsubscribe links and RFC 8058 one-click unsubscribe, over a real server on both backends.

The rules: the API gives the List-Unsubscribe / List-Unsubscribe-Post values exactly as RFC 8058
wants them; a one-click POST (url-encoded or multipart) unsubscribes at once with a 200, no
redirect and no cookie; a GET never changes anything; the page unsubscribes from the list or from
all email marketing with a reason; everything lands in the ledger with the message id; repeats
change nothing; forged, altered or wrong-purpose tokens change nothing."""

from __future__ import annotations

import json
import zlib
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from itsdangerous.encoding import base64_decode, base64_encode

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.shared.tokens import make_token, read_token

PUBLIC = "https://mail.brand.example"
MESSAGE = "<campaign-42.7f3a@mail.brand.example>"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def public_url(monkeypatch) -> str:
    """The address the pages are served at, as a real deployment has it (https)."""
    monkeypatch.setenv("ASSENT_PUBLIC_URL", PUBLIC)
    return PUBLIC


@pytest.fixture
def visitor(server):
    """A browser or a mailbox provider: no API key, no cookies kept, redirects not followed."""
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as client:
        yield client


def make_profile(server, api, email: str, *, list_id: str | None = None, phone: str | None = None) -> str:
    attributes = {"email": email} | ({"phone_number": phone} if phone else {})
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": attributes}})
    assert r.status_code == 201, r.text
    profile_id = r.json()["data"]["id"]
    consent.subscribe(server.engine, api.account_id, Locator("id", profile_id), [(Channel.EMAIL, Purpose.MARKETING)],
                      list_id=list_id)  # fmt: skip
    if phone:  # SMS consent is given for the number itself
        sms = [(Channel.SMS, Purpose.MARKETING)]
        consent.subscribe(server.engine, api.account_id, Locator("phone_number", phone), sms)
    return profile_id


def make_list(server, api, name: str = "Weekly deals") -> str:
    return lists.create_list(server.engine, api.account_id, name).id


def link(api, profile: dict[str, str], list_id: str | None = None, message_id: str | None = MESSAGE) -> httpx.Response:
    attributes: dict[str, Any] = {"profile": profile, "message_id": message_id}
    if list_id is not None:
        attributes["list_id"] = list_id
    return api.post("/api/unsubscribe-links", json={"data": {"type": "unsubscribe-link", "attributes": attributes}})


def token_for(api, profile_id: str, list_id: str | None = None) -> str:
    r = link(api, {"id": profile_id}, list_id)
    assert r.status_code == 200, r.text
    return r.json()["data"]["id"]


def events(api, profile_id: str) -> list[dict[str, Any]]:
    r = api.get("/api/consent-events", params={"filter": f'equals(profile_id,"{profile_id}")', "page[size]": "1000"})
    assert r.status_code == 200, r.text
    return [e["attributes"] for e in r.json()["data"]]


def email_marketing(api, profile_id: str) -> dict[str, Any]:
    return subscriptions(api, profile_id)["email"]["marketing"]


def subscriptions(api, profile_id: str) -> dict[str, Any]:
    r = api.get(f"/api/profiles/{profile_id}", params={"additional-fields[profile]": "subscriptions"})
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]["subscriptions"]


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    (e,) = r.json()["errors"]
    return e


def tampered(token: str, **changes: Any) -> str:
    """The token with its data changed and its signature kept, as a forger would try."""
    compressed = token.startswith(".")
    payload, timestamp, signature = token.lstrip(".").rsplit(".", 2)
    raw = base64_decode(payload)
    data = json.loads(zlib.decompress(raw) if compressed else raw)
    data.update(changes)
    return f"{base64_encode(json.dumps(data, separators=(',', ':')).encode()).decode()}.{timestamp}.{signature}"


def assert_one_click_answer(r: httpx.Response) -> None:
    # RFC 8058 §3.2: unsubscribe at once, answer 200, never redirect; nothing to keep (no cookie).
    assert r.status_code == 200, r.text
    assert "location" not in r.headers and "set-cookie" not in r.headers
    assert len(r.content) < 100


# --- the links --------------------------------------------------------------------------------


def test_link_gives_the_rfc_8058_header_values_and_the_preference_centre(server, api, public_url) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "ann@example.com", list_id=list_id)
    r = link(api, {"email": " ann@EXAMPLE.com "}, list_id)
    assert r.status_code == 200, r.text
    doc = r.json()
    data = doc["data"]
    token = data["id"]
    a = data["attributes"]
    assert data["type"] == "unsubscribe-link"
    assert a["url"] == f"{PUBLIC}/u/{token}"
    # RFC 2369 angle brackets around one HTTPS URI; RFC 8058's key/value pair, exactly.
    assert a["list_unsubscribe"] == f"<{PUBLIC}/u/{token}>"
    assert a["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    assert (a["profile_id"], a["list_id"], a["message_id"]) == (profile_id, list_id, MESSAGE)
    assert data["links"]["self"] == a["url"]
    assert doc["links"]["self"].endswith("/api/unsubscribe-links")
    assert "meta" not in doc  # no warning: the link is https
    # The preference centre's token carries exactly the account and the profile.
    assert a["preferences_url"].startswith(f"{PUBLIC}/p/")
    preferences = a["preferences_url"].rsplit("/", 1)[1]
    assert read_token(server.engine, "preferences", preferences) == {"a": api.account_id, "p": profile_id}
    # The token is URL-safe as it stands, and names the profile only through its signed data.
    assert all(c.isalnum() or c in "-_." for c in token)
    assert "ann" not in token.lower()


def test_link_over_plain_http_warns_that_one_click_needs_https(server, api) -> None:
    profile_id = make_profile(server, api, "plain@example.com")
    r = link(api, {"id": profile_id})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["data"]["attributes"]["list_unsubscribe"] == f"<{server.base_url}/u/{doc['data']['id']}>"
    assert doc["data"]["attributes"]["list_id"] is None
    assert any("https" in w for w in doc["meta"]["warnings"])


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"profile": {}}, "/data/attributes/profile"),
        ({"profile": {"email": "a@example.com", "id": "x"}}, "/data/attributes/profile"),
        ({"profile": {"email": "not an address"}}, "/data/attributes/profile/email"),
        ({"profile": {"email": "a@example.com"}, "message_id": "m" * 256}, "/data/attributes/message_id"),
        ({"profile": {"email": "a@example.com"}, "list_id": " "}, "/data/attributes/list_id"),
        ({"profile": {"email": 7}}, "/data/attributes/profile/email"),
        ({}, "/data/attributes"),
    ],
)
def test_link_with_bad_input_is_400_pointing_at_it(server, api, attributes, pointer) -> None:
    make_profile(server, api, "a@example.com")
    body = {"data": {"type": "unsubscribe-link", "attributes": attributes}}
    e = error(api.post("/api/unsubscribe-links", json=body), 400)
    assert e["source"]["pointer"] == pointer, e


def test_link_for_an_unknown_profile_or_list_is_404(server, api) -> None:
    make_profile(server, api, "known@example.com")
    e = error(link(api, {"email": "nobody@example.com"}), 404)
    assert e["source"]["pointer"] == "/data/attributes/profile"
    error(link(api, {"id": "01NOSUCHPROFILE"}), 404)
    e = error(link(api, {"email": "known@example.com"}, "NoSuchList"), 404)
    assert e["source"]["pointer"] == "/data/attributes/list_id"


def test_link_for_a_profile_without_an_email_is_refused(server, api) -> None:
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"phone_number": "+15005550006"}}})
    assert r.status_code == 201, r.text
    e = error(link(api, {"phone_number": "+15005550006"}), 400)
    assert e["code"] == "missing_address"


def test_link_of_another_accounts_profile_or_list_cannot_be_made(server, api, other_api) -> None:
    theirs = make_profile(server, other_api, "theirs@example.com")
    their_list = make_list(server, other_api, "Their list")
    make_profile(server, api, "mine@example.com")
    error(link(api, {"id": theirs}), 404)
    error(link(api, {"email": "theirs@example.com"}), 404)
    error(link(api, {"email": "mine@example.com"}, their_list), 404)


def test_link_needs_the_profiles_read_scope(server, api) -> None:
    from tests.api.test_conventions import key_client

    _, lists_only = key_client(server, api.account_id, "lists:read")
    with lists_only:
        e = error(link(lists_only, {"email": "a@example.com"}), 403)
    assert "profiles:read" in e["detail"]


# --- one-click --------------------------------------------------------------------------------


def _post_one_click(visitor: httpx.Client, path: str, encoding: str) -> httpx.Response:
    if encoding == "urlencoded":
        r = visitor.post(path, data=ONE_CLICK)
        assert r.request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert r.request.content == b"List-Unsubscribe=One-Click"
        return r
    if encoding == "multipart":  # what RFC 8058 says mailbox providers SHOULD send
        r = visitor.post(path, files={"List-Unsubscribe": (None, "One-Click")})
        assert r.request.headers["content-type"].startswith("multipart/form-data; boundary=")
        return r
    # No content type at all: the bare body still says what it is.
    return visitor.post(path, content=b"List-Unsubscribe=One-Click")


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart", "bare"])
def test_one_click_post_unsubscribes_at_once_with_200_and_no_redirect(
    server, api, visitor, public_url, encoding
) -> None:
    profile_id = make_profile(server, api, "click@example.com", phone="+15005550006")
    url = link(api, {"email": "click@example.com"}).json()["data"]["attributes"]["url"]
    assert url.startswith(PUBLIC)
    before = len(events(api, profile_id))
    r = _post_one_click(visitor, urlsplit(url).path, encoding)
    assert_one_click_answer(r)
    email = email_marketing(api, profile_id)
    assert email["consent"] == "UNSUBSCRIBED" and email["method"] == "ONE_CLICK_UNSUBSCRIBE"
    assert [s["reason"] for s in email["suppression"]] == ["UNSUBSCRIBE"]
    # Email only: the SMS consent the profile gave is untouched.
    assert subscriptions(api, profile_id)["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    new = events(api, profile_id)[before:]
    changed = [e for e in new if e["type"] == "consent.changed"]
    assert [(e["channel"], e["status"]) for e in changed] == [("email", "UNSUBSCRIBED")]
    for e in new:
        assert e["context"] == {"source": "one-click", "message_id": MESSAGE}
        assert e["personal"]["ip"] == "127.0.0.1" and "python-httpx" in e["personal"]["user_agent"]


def test_one_click_from_a_list_link_leaves_the_list_and_keeps_email_consent(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "member@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    assert_one_click_answer(visitor.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")}))
    email = email_marketing(api, profile_id)
    assert email["consent"] == "SUBSCRIBED" and email["suppression"] == []
    assert [(s["list_id"], s["reason"]) for s in email["list_suppressions"]] == [(list_id, "UNSUBSCRIBE")]
    left = [e for e in events(api, profile_id) if e["type"] == "list.left"]
    assert left and left[-1]["list_id"] == list_id and left[-1]["method"] == "ONE_CLICK_UNSUBSCRIBE"
    assert left[-1]["context"]["message_id"] == MESSAGE


def test_one_click_from_a_list_the_profile_is_not_on_unsubscribes_from_all_email_marketing(
    server, api, visitor
) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "stranger@example.com")  # subscribed, but not on the list
    token = token_for(api, profile_id, list_id)
    assert_one_click_answer(visitor.post(f"/u/{token}", data=ONE_CLICK))
    assert email_marketing(api, profile_id)["consent"] == "UNSUBSCRIBED"  # as Klaviyo does


def test_one_click_after_the_list_was_deleted_still_unsubscribes(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "deleted-list@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    assert api.delete(f"/api/lists/{list_id}").status_code == 204
    assert_one_click_answer(visitor.post(f"/u/{token}", data=ONE_CLICK))
    assert email_marketing(api, profile_id)["consent"] == "UNSUBSCRIBED"


def test_one_click_repeated_changes_nothing(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "twice@example.com", list_id=list_id)
    for token in (token_for(api, profile_id, list_id), token_for(api, profile_id)):
        assert_one_click_answer(visitor.post(f"/u/{token}", data=ONE_CLICK))
        after_first = events(api, profile_id)
        for _ in range(3):  # a mailbox provider retrying, a person clicking again
            assert_one_click_answer(visitor.post(f"/u/{token}", data=ONE_CLICK))
            assert_one_click_answer(visitor.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")}))
        assert events(api, profile_id) == after_first
    # ...and the page, after the one-click, adds nothing either.
    r = visitor.post(f"/u/{token}", data={"scope": "all"})
    assert r.status_code == 200 and "unsubscribed" in r.text
    assert events(api, profile_id) == after_first


def test_one_click_needs_no_cookie_or_key_and_ignores_them(server, api) -> None:
    profile_id = make_profile(server, api, "nocookie@example.com")
    token = token_for(api, profile_id)
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as bare:
        r = bare.post(f"/u/{token}", data=ONE_CLICK, headers={"Cookie": "session=whatever"})
    assert_one_click_answer(r)
    assert email_marketing(api, profile_id)["consent"] == "UNSUBSCRIBED"


# --- GET never changes anything ---------------------------------------------------------------


def test_get_never_unsubscribes_however_often_a_scanner_fetches(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "scanned@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    before = events(api, profile_id)
    for _ in range(5):
        r = visitor.get(f"/u/{token}")
        assert r.status_code == 200
    assert visitor.head(f"/u/{token}").status_code == 200
    assert events(api, profile_id) == before
    assert email_marketing(api, profile_id)["consent"] == "SUBSCRIBED"
    assert email_marketing(api, profile_id)["list_suppressions"] == []
    assert r.headers["cache-control"] == "no-store" and "set-cookie" not in r.headers


def test_page_asks_list_only_or_all_with_reasons_and_a_preference_centre_link(server, api, visitor) -> None:
    list_id = make_list(server, api, "Weekly <b>deals</b>")
    profile_id = make_profile(server, api, "page@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    page = visitor.get(f"/u/{token}").text
    assert f'<form method="post" action="/u/{token}">' in page
    assert 'name="scope" value="list" checked' in page and 'name="scope" value="all"' in page
    assert "Only Weekly &lt;b&gt;deals&lt;/b&gt;" in page  # escaped: a list name is not markup
    for reason in ("too_many", "not_relevant", "never_signed_up", "other"):
        assert f'name="reason" value="{reason}"' in page
    assert 'name="note"' in page and 'type="submit"' in page
    assert 'href="/p/' in page
    assert "List-Unsubscribe" not in page  # the form can never pass for a one-click POST
    assert "p•••@example.com" in page and "page@example.com" not in page
    # A link naming no list offers all email marketing only.
    plain = visitor.get(f"/u/{token_for(api, profile_id)}").text
    assert 'type="hidden" name="scope" value="all"' in plain and 'value="list"' not in plain


# --- the page's unsubscribe -------------------------------------------------------------------


def test_page_unsubscribes_from_the_list_only_with_the_reason_in_the_ledger(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "listonly@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    before = len(events(api, profile_id))
    r = visitor.post(f"/u/{token}", data={"scope": "list", "reason": "too_many", "note": "  far   too\nmany  "})
    assert r.status_code == 200 and "You're unsubscribed" in r.text and "Weekly deals" in r.text
    assert 'href="/p/' in r.text
    email = email_marketing(api, profile_id)
    assert email["consent"] == "SUBSCRIBED"
    assert [s["list_id"] for s in email["list_suppressions"]] == [list_id]
    new = events(api, profile_id)[before:]
    assert {e["type"] for e in new} == {"list.left", "list_suppression.added"}
    for e in new:
        assert e["context"] == {
            "source": "unsubscribe page", "message_id": MESSAGE, "reason": "too_many", "note": "far too many",
        }  # fmt: skip
    assert next(e for e in new if e["type"] == "list.left")["method"] == "PREFERENCE_PAGE"
    # The answer offers the wider unsubscribe as one more plain form.
    assert f'<form method="post" action="/u/{token}">' in r.text and 'name="scope" value="all"' in r.text


def test_page_unsubscribes_from_all_email_marketing_never_sms(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "all@example.com", list_id=list_id, phone="+15005550007")
    token = token_for(api, profile_id, list_id)
    note = "x" * 600
    r = visitor.post(f"/u/{token}", data={"scope": "all", "reason": "other", "note": note})
    assert r.status_code == 200 and "no more marketing email" in r.text
    subs = subscriptions(api, profile_id)
    assert subs["email"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert subs["email"]["marketing"]["method"] == "PREFERENCE_PAGE"
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["transactional"]["consent"] != "UNSUBSCRIBED"
    (changed,) = [e for e in events(api, profile_id) if e.get("status") == "UNSUBSCRIBED"]
    assert changed["channel"] == "email"
    assert changed["context"]["reason"] == "other" and changed["context"]["note"] == "x" * 500
    assert changed["context"]["message_id"] == MESSAGE


def test_page_free_text_alone_is_recorded_as_another_reason(server, api, visitor) -> None:
    profile_id = make_profile(server, api, "textonly@example.com")
    r = visitor.post(f"/u/{token_for(api, profile_id)}", data={"scope": "all", "note": "moving abroad"})
    assert r.status_code == 200
    (changed,) = [e for e in events(api, profile_id) if e.get("status") == "UNSUBSCRIBED"]
    assert (changed["context"]["reason"], changed["context"]["note"]) == ("other", "moving abroad")


def test_page_multipart_form_is_a_page_unsubscribe_not_a_one_click(server, api, visitor) -> None:
    profile_id = make_profile(server, api, "multipage@example.com")
    form = {"scope": (None, "all"), "reason": (None, "not_relevant")}
    r = visitor.post(f"/u/{token_for(api, profile_id)}", files=form)
    assert r.status_code == 200 and "You're unsubscribed" in r.text
    (changed,) = [e for e in events(api, profile_id) if e.get("status") == "UNSUBSCRIBED"]
    assert changed["context"]["source"] == "unsubscribe page" and changed["context"]["reason"] == "not_relevant"


@pytest.mark.parametrize(
    "form",
    [
        {},  # not one-click, and no choice made
        {"List-Unsubscribe": "one-click"},  # not RFC 8058's value
        {"List": "One-Click"},  # the common bug RFC 8058 warns of
        {"scope": "everything"},
        {"scope": "all", "reason": "<script>"},
    ],
)
def test_a_post_that_is_neither_one_click_nor_a_valid_choice_changes_nothing(server, api, visitor, form) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "invalid-form@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    before = events(api, profile_id)
    r = visitor.post(f"/u/{token}", data=form)
    assert r.status_code == 400
    assert '<form method="post"' in r.text and "<script>" not in r.text  # the page again, with the error
    assert events(api, profile_id) == before


def test_list_scope_on_a_link_naming_no_list_is_refused(server, api, visitor) -> None:
    profile_id = make_profile(server, api, "nolist@example.com")
    before = events(api, profile_id)
    r = visitor.post(f"/u/{token_for(api, profile_id)}", data={"scope": "list"})
    assert r.status_code == 400
    assert events(api, profile_id) == before


# --- tokens -----------------------------------------------------------------------------------


def _refused_everywhere(visitor: httpx.Client, token: str) -> None:
    r = visitor.get(f"/u/{token}")
    assert r.status_code == 400 and "not valid" in r.text
    r = visitor.post(f"/u/{token}", data=ONE_CLICK)
    assert r.status_code == 400 and "location" not in r.headers
    r = visitor.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 400
    r = visitor.post(f"/u/{token}", data={"scope": "all", "reason": "other"})
    assert r.status_code == 400 and "not valid" in r.text


def test_forged_or_altered_tokens_are_refused_and_change_nothing(server, api, visitor) -> None:
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, "target@example.com", list_id=list_id)
    other_id = make_profile(server, api, "neighbour@example.com", list_id=list_id)
    token = token_for(api, profile_id, list_id)
    before = events(api, profile_id), events(api, other_id)
    # One character of the signature changed (not the last one: its low bits are padding).
    head, signature = token.rsplit(".", 1)
    flipped = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    forged = [
        flipped,
        token[:-5],
        tampered(token, p=other_id),  # someone else's unsubscribe
        tampered(token, l=None),  # widened to all email marketing
        tampered(token, c="sms"),
        "not-a-token",
        "eyJhIjoiYSJ9.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ]
    for bad in forged:
        _refused_everywhere(visitor, bad)
    assert (events(api, profile_id), events(api, other_id)) == before


def test_an_altered_token_cannot_reach_another_accounts_profile(server, api, other_api, visitor) -> None:
    mine = make_profile(server, api, "mine@example.com")
    theirs = make_profile(server, other_api, "theirs@example.com")
    before = events(other_api, theirs)
    _refused_everywhere(visitor, tampered(token_for(api, mine), a=other_api.account_id, p=theirs))
    assert events(other_api, theirs) == before
    assert email_marketing(other_api, theirs)["consent"] == "SUBSCRIBED"


def test_a_preferences_token_is_not_an_unsubscribe_token(server, api, visitor) -> None:
    profile_id = make_profile(server, api, "prefs@example.com")
    r = link(api, {"id": profile_id})
    preferences = r.json()["data"]["attributes"]["preferences_url"].rsplit("/", 1)[1]
    before = events(api, profile_id)
    _refused_everywhere(visitor, preferences)
    assert events(api, profile_id) == before
    assert email_marketing(api, profile_id)["consent"] == "SUBSCRIBED"


def test_a_genuine_link_whose_profile_is_gone_answers_without_error_and_changes_nothing(server, api, visitor) -> None:
    # A validly signed link to a profile id the account does not hold (erased since the send).
    data = {"a": api.account_id, "p": "01GONEPROFILE0000000000000", "c": "email", "l": None, "m": MESSAGE}
    token = make_token(server.engine, "unsubscribe", data)
    r = visitor.get(f"/u/{token}")
    assert r.status_code == 404 and "no longer on file" in r.text
    assert_one_click_answer(visitor.post(f"/u/{token}", data=ONE_CLICK))  # nobody left to send to
    assert visitor.post(f"/u/{token}", data={"scope": "all"}).status_code == 404
    assert api.get("/api/consent-events").json()["data"] == []


def _list_member_link(server, api, email: str) -> tuple[str, str, int]:
    """A new list member's profile id, the token of their link for that list, and how many events
    their profile has."""
    list_id = make_list(server, api)
    profile_id = make_profile(server, api, email, list_id=list_id)
    return profile_id, token_for(api, profile_id, list_id), len(events(api, profile_id))


def _post_raw(visitor, token: str, body: bytes):
    """The unsubscribe page's form posted as these very bytes (a field may come twice)."""
    return visitor.post(f"/u/{token}", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_bad_input_gets_a_4xx_naming_the_field_a_scope_given_twice_yet_one_click_twice_still_counts(
    server, api, visitor
) -> None:
    profile_id, token, before = _list_member_link(server, api, "twice@example.com")
    r = _post_raw(visitor, token, b"scope=list&scope=all")
    assert r.status_code == 400 and "scope more than once" in r.text, r.text
    assert len(events(api, profile_id)) == before
    assert_one_click_answer(_post_raw(visitor, token, b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click"))
    assert any(e["type"] == "list.left" for e in events(api, profile_id)[before:])


def test_bad_input_gets_a_4xx_naming_the_field_a_one_click_field_given_twice_with_two_values(
    server, api, visitor
) -> None:
    """The pair twice alike has one meaning (above); two different values have none to choose."""
    profile_id, token, before = _list_member_link(server, api, "two-values@example.com")
    for body in (
        b"List-Unsubscribe=One-Click&List-Unsubscribe=Other",
        b"List-Unsubscribe=Other&List-Unsubscribe=One-Click",
    ):
        r = _post_raw(visitor, token, body)
        assert r.status_code == 400 and "List-Unsubscribe more than once" in r.text, r.text
    assert len(events(api, profile_id)) == before
