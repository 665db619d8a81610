"""The public pages clicked through in a real browser (headless Chromium) against a real server.

The rules, as a person meets them: a double opt-in confirmation link from a real email shows a page
and confirms only when its button is clicked; the unsubscribe link asks first and records the
reason and the message id; the preference centre saves exactly what was ticked and unticked, with
method PREFERENCE_PAGE; and every page works with JavaScript switched off (plain forms).

Chromium comes from the system (ASSENT_TEST_CHROMIUM, default Debian's /usr/bin/chromium): without
it the module is skipped with a message, and with CI=true that fails the run instead."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.workflows import preferences
from assent.store.db import make_engine, upgrade
from tests.api.conftest import Server, start_server, stop_server
from tests.web.mail import Inbox
from tests.web.test_double_optin import email_marketing, links, subscribe

CHROMIUM = os.environ.get("ASSENT_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home while the tests run
    "--disable-component-update",
    "--disable-sync",
]
MESSAGE = "<spring-sale.41c2@mail.brand.example>"
EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]
TIMEOUT_MS = 10_000  # a page here answers in milliseconds; fail fast rather than after Playwright's 30 s

if not Path(CHROMIUM).exists():
    _message = (
        f"Chromium is not installed at {CHROMIUM}: install Debian's chromium package "
        "(apt-get install chromium), or point ASSENT_TEST_CHROMIUM at a Chromium binary."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(_message, pytrace=False)
    pytest.skip(_message, allow_module_level=True)


# --- a real server sending real email, and a real browser ----------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, inbox: Inbox) -> Iterator[Server]:
    """SQLite only: the browser checks the pages, and the HTTP tests of each page already run every
    rule on both SQLite and PostgreSQL. Email goes over SMTP to `inbox`; links point at this server."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ASSENT_SMTP_URL", f"smtp://127.0.0.1:{inbox.port}")  # read at send time
        url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'assent.db'}"
        engine = make_engine(url)
        upgrade(engine)
        base, uv, thread = start_server(engine)
        env.setenv("ASSENT_PUBLIC_URL", base)  # read when a message or a link is written
        yield Server(base, engine, url)
        stop_server(uv, thread)
        engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def open_page(chromium: Browser) -> Iterator[Callable[..., Page]]:
    """A new tab in a fresh browser context (no cookies or cache from another test)."""
    contexts = []

    def new(javascript: bool = True) -> Page:
        context = chromium.new_context(java_script_enabled=javascript)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page()


# --- helpers ------------------------------------------------------------------------------------


def shown(page: Page, url: str) -> Response:
    """Open `url` as a person would (typed or clicked in a mail client): it must answer 200."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return response


def submit(page: Page, click: Callable[[], None]) -> Response:
    """Click a form's button and wait for the page the POST answers with."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        click()
    response = answer.value
    page.wait_for_load_state()
    assert response.status == 200, response.text()
    return response


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000  # something was drawn, not an empty file


def new_address() -> str:
    return f"browser-{uuid.uuid4().hex[:10]}@example.com"


def events(api, profile_id: str) -> list[dict[str, Any]]:
    r = api.get("/api/consent-events", params={"filter": f'equals(profile_id,"{profile_id}")', "page[size]": "1000"})
    assert r.status_code == 200, r.text
    return [e["attributes"] for e in r.json()["data"]]


def subscriptions(api, profile_id: str) -> dict[str, Any]:
    r = api.get(f"/api/profiles/{profile_id}", params={"additional-fields[profile]": "subscriptions"})
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]["subscriptions"]


def member_lists(api, profile_id: str) -> set[str]:
    r = api.get(f"/api/profiles/{profile_id}/relationships/lists")
    assert r.status_code == 200, r.text
    return {d["id"] for d in r.json()["data"]}


def subscribed(server: Server, api, *list_ids: str) -> str:
    """A profile with email marketing consent, a member of `list_ids`."""
    locator = Locator("email", new_address())
    profile_id = consent.subscribe(server.engine, api.account_id, locator, EMAIL).profile_id
    for list_id in list_ids:
        consent.subscribe(server.engine, api.account_id, Locator("id", profile_id), EMAIL, list_id=list_id)
    return profile_id


def unsubscribe_links(api, profile_id: str, list_id: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"profile": {"id": profile_id}, "message_id": MESSAGE}
    if list_id is not None:
        attributes["list_id"] = list_id
    r = api.post("/api/unsubscribe-links", json={"data": {"type": "unsubscribe-link", "attributes": attributes}})
    assert r.status_code == 200, r.text
    return r.json()["data"]["attributes"]


# --- double opt-in ------------------------------------------------------------------------------


def test_the_emailed_confirmation_link_confirms_only_when_the_button_is_clicked(
    server, api, inbox, page, tmp_path
) -> None:
    news = lists.create_list(server.engine, api.account_id, "News", double_opt_in=True).id
    address = new_address()
    subscribe(api, address, news)
    (message,) = inbox.wait_for(address)  # the real email, as the SMTP server received it
    confirm, _ = links(message)

    shown(page, confirm)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your subscription")
    expect(page.get_by_text("News", exact=True)).to_be_visible()
    # Opening the link (with everything a browser fetches besides) confirmed nothing.
    assert email_marketing(api, address)["consent"] == "NEVER_SUBSCRIBED"

    sent = submit(page, lambda: page.get_by_role("button", name="Confirm my subscription").click())
    expect(page.get_by_role("heading", level=1)).to_have_text("You're subscribed")
    expect(page.get_by_text("Your subscription to News is confirmed.")).to_be_visible()
    screenshot(page, tmp_path, "confirmed")

    marketing = email_marketing(api, address)
    assert (marketing["consent"], marketing["double_optin"]) == ("SUBSCRIBED", True)
    profile_id = api.get("/api/profiles", params={"filter": f'equals(email,"{address}")'}).json()["data"][0]["id"]
    assert news in member_lists(api, profile_id)
    granted = next(e for e in events(api, profile_id) if e["type"] == "consent.changed")
    assert granted["context"]["source"] == "confirmation page"
    assert granted["personal"]["user_agent"] == sent.request.headers["user-agent"]  # this browser's


# --- unsubscribe --------------------------------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["with-javascript", "without-javascript"])
def test_the_unsubscribe_page_stops_all_email_marketing_with_the_reason_given(
    server, api, open_page, tmp_path, javascript
) -> None:
    weekly = lists.create_list(server.engine, api.account_id, "Weekly deals").id
    profile_id = subscribed(server, api, weekly)
    url = unsubscribe_links(api, profile_id, weekly)["url"]
    page = open_page(javascript)
    before = events(api, profile_id)

    shown(page, url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe")
    assert events(api, profile_id) == before  # the page only asks
    assert subscriptions(api, profile_id)["email"]["marketing"]["consent"] == "SUBSCRIBED"

    expect(page.get_by_label("Only Weekly deals")).to_be_checked()  # the narrower choice by default
    page.get_by_label("All email marketing from API test brand").check()
    page.get_by_label("I get too many emails").check()
    page.get_by_label("Anything else you'd like to tell us?").fill("Three a day is  too many.")
    sent = submit(page, lambda: page.get_by_role("button", name="Unsubscribe").click())
    expect(page.get_by_role("heading", level=1)).to_have_text("You're unsubscribed")
    expect(page.get_by_role("status")).to_contain_text("no more marketing email from API test brand")
    screenshot(page, tmp_path, f"unsubscribed-{'js' if javascript else 'nojs'}")

    marketing = subscriptions(api, profile_id)["email"]["marketing"]
    assert (marketing["consent"], marketing["method"]) == ("UNSUBSCRIBED", "PREFERENCE_PAGE")
    new = events(api, profile_id)[len(before) :]
    (changed,) = [e for e in new if e["type"] == "consent.changed"]
    assert (changed["channel"], changed["status"]) == ("email", "UNSUBSCRIBED")
    assert changed["context"] == {
        "source": "unsubscribe page", "message_id": MESSAGE, "reason": "too_many", "note": "Three a day is too many.",
    }  # fmt: skip
    assert changed["personal"]["user_agent"] == sent.request.headers["user-agent"]


def test_without_javascript_a_list_only_unsubscribe_then_offers_stopping_everything(
    server, api, open_page, tmp_path
) -> None:
    weekly = lists.create_list(server.engine, api.account_id, "Weekly deals").id
    profile_id = subscribed(server, api, weekly)
    page = open_page(javascript=False)
    # Really without JavaScript: a script on a page in this context does not run.
    page.set_content("<title>before</title><script>document.title = 'script ran'</script>")
    assert page.title() == "before"

    shown(page, unsubscribe_links(api, profile_id, weekly)["url"])
    page.get_by_label("The emails aren't relevant to me").check()  # "Only Weekly deals" is already chosen
    submit(page, lambda: page.get_by_role("button", name="Unsubscribe").click())
    expect(page.get_by_role("status")).to_contain_text("no more Weekly deals emails")
    email = subscriptions(api, profile_id)["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED"  # only the list was left
    assert [s["list_id"] for s in email["list_suppressions"]] == [weekly]
    left = next(e for e in events(api, profile_id) if e["type"] == "list.left")
    assert (left["context"]["reason"], left["context"]["message_id"]) == ("not_relevant", MESSAGE)

    # The answer's own plain form widens it to all email marketing.
    submit(page, lambda: page.get_by_role("button", name="Stop all email marketing from API test brand").click())
    expect(page.get_by_role("status")).to_contain_text("no more marketing email")
    screenshot(page, tmp_path, "unsubscribed-all-nojs")
    assert subscriptions(api, profile_id)["email"]["marketing"]["consent"] == "UNSUBSCRIBED"


# --- preference centre --------------------------------------------------------------------------


def test_the_preference_centre_saves_exactly_what_was_ticked_and_unticked(server, api, page, tmp_path) -> None:
    deals = lists.create_list(server.engine, api.account_id, "Deals", public=True).id
    weekly = lists.create_list(server.engine, api.account_id, "Weekly news", public=True).id
    hidden = lists.create_list(server.engine, api.account_id, "Staff only").id  # not public: not offered
    profile_id = subscribed(server, api, weekly, hidden)
    url = unsubscribe_links(api, profile_id)["preferences_url"]
    before = events(api, profile_id)

    shown(page, url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your preferences")
    assert events(api, profile_id) == before  # the page only shows
    email_box = page.get_by_role("checkbox", name=re.compile(r"^Email marketing"))
    sms_box = page.get_by_role("checkbox", name=re.compile(r"^SMS marketing"))
    deals_box = page.get_by_role("checkbox", name="Deals", exact=True)
    weekly_box = page.get_by_role("checkbox", name="Weekly news", exact=True)
    expect(email_box).to_be_checked()
    expect(sms_box).not_to_be_checked()
    expect(page.get_by_role("checkbox", name=re.compile(r"^Push notifications"))).to_be_disabled()
    expect(page.get_by_role("checkbox", name=re.compile(r"^Direct mail"))).to_be_checked()  # no opt-in needed
    expect(deals_box).not_to_be_checked()
    expect(weekly_box).to_be_checked()
    expect(page.get_by_text("Staff only")).to_have_count(0)

    # Join Deals, leave Weekly news, and start SMS marketing with the number it needs.
    deals_box.check()
    weekly_box.uncheck()
    sms_box.check()
    page.get_by_label("Mobile number (needed for SMS and WhatsApp)").fill("(415) 555-0123")
    sent = submit(page, lambda: page.get_by_role("button", name="Save my preferences").click())
    expect(page.get_by_role("status")).to_contain_text("Your preferences are saved.")
    expect(deals_box).to_be_checked()
    expect(weekly_box).not_to_be_checked()
    expect(sms_box).to_be_checked()
    screenshot(page, tmp_path, "preferences-saved")

    assert member_lists(api, profile_id) == {deals, hidden}  # the hidden list was never offered, so kept
    subs = subscriptions(api, profile_id)
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["marketing"]["method"] == "PREFERENCE_PAGE"
    assert subs["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["email"]["marketing"]["method"] == "API"  # untouched: the box did not change
    new = events(api, profile_id)[len(before) :]
    assert sorted((e["type"], e["channel"], e.get("list_id")) for e in new) == sorted(
        [
            ("list.joined", "email", deals),
            ("list.left", "email", weekly),
            ("list_suppression.added", "email", weekly),
            ("consent.changed", "sms", None),
        ]
    )  # nothing else: email consent, the hidden list and the untouched boxes changed nothing
    for e in new:
        assert e["context"] == {"source": "preference page", "consent_text_version": preferences.CONSENT_TEXT_VERSION}
        assert e["personal"]["user_agent"] == sent.request.headers["user-agent"]
    # A join records the list, not a method: the method is on the leave and the consent change.
    assert {e["type"]: e.get("method") for e in new if e["type"] in ("list.left", "consent.changed")} == {
        "list.left": "PREFERENCE_PAGE",
        "consent.changed": "PREFERENCE_PAGE",
    }
    (sms,) = [e for e in new if e["type"] == "consent.changed"]
    assert sms["personal"]["phone_number"] == "+14155550123"  # the number typed on the page, normalised
