"""The staff console in a real browser (headless Chromium, no JavaScript needed): sign in, search,
the consent panel's three states, an action with its confirmation and reason, a viewer who sees
no action, keyboard use and labels. Screenshots of each page are kept in test-artifacts/console/
(ignored by git) for a person to look at."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.console import staff
from assent.services.lists import lists
from assent.services.profiles import reading as profiles
from assent.services.profiles.writes import ProfileInput, upsert_profile
from assent.store.db import make_engine, upgrade
from tests.api.conftest import Server, start_server, stop_server
from tests.web.test_browser import TIMEOUT_MS, chromium  # noqa: F401 — the browser fixture (skips without Chromium)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """SQLite: the browser checks the pages; test_console.py runs the rules on both backends."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'assent.db'}"
    engine = make_engine(url)
    upgrade(engine)
    base, uv, thread = start_server(engine)
    yield Server(base, engine, url)
    stop_server(uv, thread)
    engine.dispose()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _brand(server) -> tuple[str, dict[str, str]]:
    e = server.engine
    account_id = accounts.create_account(e, "Northwind Outfitters", "US").account.id
    vip = lists.create_list(e, account_id, "VIP customers").id
    ids = {}
    ids["ada"] = consent.subscribe(e, account_id, Locator("email", "ada@example.com"),
                                   [(Channel.EMAIL, Purpose.MARKETING)], method="SIGNUP_FORM", list_id=vip).profile_id
    ada = {"first_name": "Ada", "last_name": "Lovelace", "external_id": "cust-1815", "city": "London",
           "phone_number": "+12065550100"}
    upsert_profile(e, account_id, ids["ada"], ProfileInput(values=ada, properties={"loyalty_tier": "gold"}))
    consent.subscribe(e, account_id, Locator("phone_number", "+12065550100"), [(Channel.SMS, Purpose.MARKETING)])
    consent.unsubscribe(e, account_id, Locator("phone_number", "+12065550100"), Channel.SMS)
    ids["grace"] = consent.unsubscribe(e, account_id, Locator("email", "grace@example.com"), Channel.EMAIL).profile_id
    upsert_profile(e, account_id, ids["grace"], ProfileInput(values={"first_name": "Grace", "last_name": "Hopper"}))
    ids["alan"] = upsert_profile(e, account_id, None, ProfileInput(values={
        "email": "alan@example.com", "first_name": "Alan", "last_name": "Turing"})).row.id
    for i in range(30):
        upsert_profile(e, account_id, None, ProfileInput(values={"email": f"shopper{i}@example.com",
                       "first_name": "Shopper", "last_name": f"No. {i}"}))
    return account_id, ids


def _invited(server, account_id: str, role: str) -> str:
    email = f"{role}.{uuid.uuid4().hex[:6]}@northwind.example"
    staff.accept_invite(server.engine, staff.create_user(server.engine, account_id, email, role).token, PASSWORD)
    return email


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/console")
    expect(page).to_have_url(f"{base}/console/login?next=/console")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Profiles")).to_be_visible()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:  # noqa: F811
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    p = context.new_page()
    yield p
    context.close()


def test_invite_then_sign_in_search_and_see_the_consent_panel(server, page: Page):
    account_id, ids = _brand(server)
    invite = staff.create_user(server.engine, account_id, "support@northwind.example", "editor")
    page.goto(f"{server.base_url}/console/invite/{invite.token}")
    shot(page, "invite")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("heading", name="Profiles")).to_be_visible()
    shot(page, "profiles")
    expect(page.get_by_role("link", name="Older →")).to_be_visible()  # 33 profiles: two pages
    page.get_by_label("Search").fill("lovelace")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    email = page.locator("#consent-email-marketing")
    expect(email.locator(".state")).to_have_text("✓ Subscribed")
    expect(email.locator(".state")).to_have_css("color", "rgb(15, 123, 63)")  # green
    expect(page.locator("#consent-sms-marketing .state")).to_have_text("✗ Unsubscribed")
    expect(page.locator("#consent-sms-marketing .state")).to_have_css("color", "rgb(180, 35, 24)")  # red
    expect(page.locator("#consent-push-marketing .state")).to_have_text("! Never subscribed")
    expect(page.locator("#consent-push-marketing .state")).to_have_css("color", "rgb(138, 90, 0)")  # yellow/amber
    email.locator("summary").click()  # <details>: no script needed to expand
    expect(email.get_by_text("SIGNUP_FORM")).to_be_visible()
    page.locator("#consent-sms-marketing summary").click()
    shot(page, "profile")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "profile-phone")


def test_an_action_asks_for_a_reason_and_lands_in_the_timeline(server, page: Page):
    account_id, ids = _brand(server)
    email = _invited(server, account_id, "editor")
    _sign_in(page, server.base_url, email)
    page.goto(f"{server.base_url}/console/profiles/{ids['alan']}")
    page.locator("#consent-email-marketing summary").click()
    page.locator("#consent-email-marketing").get_by_role("link", name="Suppress…").click()
    expect(page.get_by_role("heading", name="Suppress email")).to_be_visible()
    shot(page, "confirm")
    page.get_by_role("button", name="Confirm: suppress email").click()  # the browser asks for the reason first
    expect(page).to_have_url(f"{server.base_url}/console/profiles/{ids['alan']}/do/suppress")
    page.get_by_label("Reason").fill("Asked by phone, ticket 5120")
    page.get_by_role("button", name="Confirm: suppress email").click()
    expect(page.get_by_role("status")).to_have_text("Email suppressed.")
    expect(page.locator("#consent-email-marketing summary .tag.no")).to_have_text("Suppressed")
    timeline = page.locator("ol.timeline li").first
    expect(timeline).to_contain_text("Manually Suppressed from Email Marketing")
    expect(timeline).to_contain_text(f"by staff:{email}")
    expect(timeline).to_contain_text("Asked by phone, ticket 5120")
    # The subscribe action with its method and evidence
    page.locator("#consent-sms-marketing summary").click()
    assert page.locator("#consent-sms-marketing").get_by_role("link", name="Subscribe…").count() == 1
    page.goto(f"{server.base_url}/console/profiles/{ids['grace']}/do/subscribe?channel=email&purpose=marketing")
    page.get_by_label("How they consented").select_option("written")
    page.get_by_label("Evidence").fill("Signed form #88")
    page.get_by_label("Reason").fill("Resubscribed in store")
    page.get_by_role("button", name="Confirm: subscribe").click()
    expect(page.locator("#consent-email-marketing .state")).to_have_text("✓ Subscribed")
    grace = profiles.get_profile(server.engine, account_id, Locator("id", ids["grace"]))
    assert grace.state.consent(Channel.EMAIL).method == "STAFF"


def test_the_decision_tester_and_as_of(server, page: Page):
    account_id, ids = _brand(server)
    _sign_in(page, server.base_url, _invited(server, account_id, "viewer"))
    page.goto(f"{server.base_url}/console/profiles/{ids['alan']}")
    page.get_by_role("button", name="Test").click()  # SMS campaign by default
    expect(page.locator("#verdict")).to_have_text("DENY")
    expect(page.get_by_text("NO_ADDRESS")).to_be_visible()
    shot(page, "decide")
    page.goto(f"{server.base_url}/console/profiles/{ids['ada']}?as_of=2020-01-01")
    expect(page.locator("#consent-email-marketing .state")).to_have_text("! Never subscribed")


def test_a_viewer_sees_no_action(server, page: Page):
    account_id, ids = _brand(server)
    _sign_in(page, server.base_url, _invited(server, account_id, "viewer"))
    page.goto(f"{server.base_url}/console/profiles/{ids['ada']}")
    expect(page.get_by_text("viewer", exact=True)).to_be_visible()
    assert page.locator("a[href*='/do/']").count() == 0
    page.goto(f"{server.base_url}/console/profiles/{ids['ada']}/do/suppress")
    page.get_by_label("Reason").fill("trying")
    page.get_by_role("button", name="Confirm: suppress email").click()
    expect(page.get_by_role("heading", name="You can look but not change")).to_be_visible()


def test_keyboard_and_labels(server, page: Page):
    account_id, _ = _brand(server)
    page.goto(f"{server.base_url}/console/login")
    shot(page, "login")
    # Every form control has a label; the sign-in works from the keyboard alone.
    for control in page.locator("input:not([type=hidden]), select, textarea").all():
        cid = control.get_attribute("id")
        assert cid and page.locator(f"label[for='{cid}']").count() == 1
    email = _invited(server, account_id, "owner")
    expect(page.get_by_label("Email")).to_be_focused()  # the page starts where the typing does
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Profiles")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()


def test_import_a_file_with_progress_then_see_the_list(server, page: Page, tmp_path, monkeypatch):
    monkeypatch.setenv("ASSENT_CONSOLE_UPLOAD_DIR", str(tmp_path / "uploads"))
    account_id, _ = _brand(server)
    lists.create_list(server.engine, account_id, "Spring launch")
    rows = ["email,first_name,last_name,city"] + [f"buyer{i}@example.com,Buyer,No. {i},Leeds" for i in range(3000)]
    rows.append("broken-address,Broken,Row,Nowhere")
    csv = tmp_path / "spring-buyers.csv"
    csv.write_text("\n".join(rows) + "\n")
    _sign_in(page, server.base_url, _invited(server, account_id, "editor"))
    page.get_by_role("link", name="Imports").click()
    shot(page, "imports-empty")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="Column mapping")).to_be_visible()
    shot(page, "import-mapping")
    page.get_by_label("Email marketing").check()
    page.get_by_label("Add every row to a list").select_option(label="Spring launch")
    page.get_by_role("button", name="Start the import").click()
    expect(page.locator("#progress")).to_be_visible()
    shot(page, "import-progress")
    expect(page.get_by_role("heading", name="Done")).to_be_visible(timeout=120_000)  # the page refreshes itself
    expect(page.locator("#count-created")).to_have_text("3,000")
    expect(page.locator("#count-rejected")).to_have_text("1")
    shot(page, "import-done")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    assert "broken-address" in Path(download.value.path()).read_text()
    page.get_by_role("link", name="Lists").click()
    expect(page.get_by_role("cell", name="3,000")).to_be_visible()
    shot(page, "lists")
    page.get_by_role("link", name="Spring launch").click()
    expect(page.get_by_role("link", name="Next →")).to_be_visible()
    shot(page, "list")


def test_the_analytics_page(server, page: Page):
    from tests.web.test_console_analytics import _activity

    account_id, _ = _brand(server)
    _activity(server.engine, account_id)
    _sign_in(page, server.base_url, _invited(server, account_id, "viewer"))
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    expect(page.locator("#complaint-warning")).to_contain_text("above the 0.3% line")
    assert page.locator("svg.pygal-chart").count() >= 4
    page.get_by_label("Per").select_option("week")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"every=week"))
    shot(page, "analytics")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").first.click()
    assert Path(download.value.path()).read_text().startswith("period,subscribed,unsubscribed,net,sent")


def test_the_settings_page(server, page: Page):
    account_id, _ = _brand(server)
    _sign_in(page, server.base_url, _invited(server, account_id, "owner"))
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("New key's label").fill("Shop integration")
    page.get_by_label("profiles:read").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("pk_")
    shot(page, "settings")


def test_a_segment_with_its_members_and_the_breakdown_by_reason(server, page: Page):
    from assent.services.lists import segments

    account_id, _ = _brand(server)
    definition = {"condition_groups": [{"conditions": [{"type": "profile-property", "property": "first_name",
                                                        "filter": {"type": "string", "operator": "equals",
                                                                   "value": "Shopper"}}]}]}  # fmt: skip
    segments.create_segment(server.engine, account_id, "Shoppers", definition)
    _sign_in(page, server.base_url, _invited(server, account_id, "viewer"))
    page.get_by_role("link", name="Segments").click()
    expect(page.get_by_role("heading", name="Segments")).to_be_visible()
    page.get_by_role("link", name="Shoppers").click()
    expect(page.locator("#reach-summary")).to_contain_text("30 of 30 may receive a email marketing campaign")
    page.get_by_label("Channel").select_option("sms")
    page.get_by_role("button", name="Break down").click()
    expect(page).to_have_url(re.compile(r"channel=sms"))
    expect(page.locator("#reach-summary")).to_contain_text("0 of 30 may receive a sms")
    expect(page.get_by_role("cell", name="NO_ADDRESS")).to_be_visible()
    shot(page, "segment")
