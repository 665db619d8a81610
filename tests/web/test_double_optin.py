"""Double opt-in end to end: a subscribe to a double opt-in list sends a real confirmation email
over SMTP; its link shows a page that confirms only by the page's POST; confirming is idempotent;
"this wasn't me" closes the request; expired and forged links change nothing."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import update

from assent.domain import Channel, ConsentStatus, Proof, Purpose
from assent.services.accounts import settings
from assent.services.accounts.accounts import signing_secret
from assent.services.consent import changes as consent
from assent.services.consent import double_optin
from assent.services.consent.changes import Locator
from assent.services.imports.importer import ImportOptions, import_profiles
from assent.services.lists.lists import create_list
from assent.services.profiles import reading as profiles
from assent.services.shared import outbox, tokens
from assent.store.db import make_engine, read_transaction, upgrade, write_transaction
from assent.store.tables import outbox as outbox_table
from tests.api.conftest import Server, start_server, stop_server
from tests.conftest import BACKENDS
from tests.web.mail import Inbox

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
BROWSER = "Mozilla/5.0 (test browser)"
LINK = re.compile(r"https?://[^\s\"'<>]+/c/[A-Za-z0-9_.\-]+(?:/cancel)?")


# --- a real SMTP server, and the Assent server sending to it --------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory, inbox) -> Iterator[Server]:
    """This module's server delivers over SMTP to `inbox`; its links point at itself."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ASSENT_SMTP_URL", f"smtp://127.0.0.1:{inbox.port}")
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('doi') / 'assent.db'}"
            engine = make_engine(url)
            upgrade(engine)
        else:
            url = request.getfixturevalue("pg_database")
            engine = make_engine(url)
        base, uv, thread = start_server(engine)
        env.setenv("ASSENT_PUBLIC_URL", base)  # read when a message is written
        yield Server(base, engine, url)
        stop_server(uv, thread)
        engine.dispose()


@pytest.fixture
def browser(server) -> Iterator[httpx.Client]:
    """A person's browser: plain HTTP, a user agent, no redirects followed."""
    with httpx.Client(base_url=server.base_url, headers={"User-Agent": BROWSER}, timeout=30) as client:
        yield client


@pytest.fixture
def news(server, api) -> str:
    """A double opt-in list of the test's account, with the account's sender settings."""
    settings.set_value(server.engine, api.account_id, "sender_email", "news@brand.example")
    settings.set_value(server.engine, api.account_id, "postal_address", "1 Main Street, Springfield")
    return create_list(server.engine, api.account_id, "News", double_opt_in=True).id


# --- helpers ------------------------------------------------------------------------------------


def new_address() -> str:
    return f"doi-{uuid.uuid4().hex[:12]}@example.com"


def subscribe(api, address: str, list_id: str) -> None:
    body = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": address,
                                "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
                            },
                        }
                    ]
                }
            },
            "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
        }
    }
    r = api.post(SUBSCRIBE, json=body)
    assert r.status_code == 202, r.text


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def links(message: EmailMessage) -> tuple[str, str]:
    """The confirm and "this wasn't me" links of a confirmation email (from its text part)."""
    found = LINK.findall(text_of(message))
    confirm = [u for u in found if not u.endswith("/cancel")]
    cancel = [u for u in found if u.endswith("/cancel")]
    assert len(confirm) == 1 and len(cancel) == 1, found
    assert cancel[0] == confirm[0] + "/cancel"
    return confirm[0], cancel[0]


def requested(api, inbox: Inbox, list_id: str) -> tuple[str, str, str]:
    """Subscribe a new address to the list; its address and the confirm and cancel links."""
    address = new_address()
    subscribe(api, address, list_id)
    (message,) = inbox.wait_for(address)
    return address, *links(message)


def profile_of(api, address: str) -> dict[str, Any]:
    r = api.get("/api/profiles", params={"filter": f'equals(email,"{address}")'})
    assert r.status_code == 200, r.text
    (found,) = r.json()["data"]
    r = api.get(f"/api/profiles/{found['id']}", params={"additional-fields[profile]": "subscriptions"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def email_marketing(api, address: str) -> dict[str, Any]:
    return profile_of(api, address)["attributes"]["subscriptions"]["email"]["marketing"]


def ledger_of(server, api, address: str) -> list[dict[str, Any]]:
    return profiles.timeline(server.engine, api.account_id, Locator("email", address))[1]


def metrics_of(api, profile_id: str) -> list[str]:
    r = api.get("/api/consent-events", params={"filter": f'equals(profile_id,"{profile_id}")'})
    assert r.status_code == 200, r.text
    return [e["attributes"]["metric"] for e in r.json()["data"] if e["attributes"]["metric"]]


def state_of(server, api, address: str):
    with read_transaction(server.engine) as conn:
        account = consent.load_account(conn, api.account_id)
        row = consent.find_profile(conn, account, Locator("email", address))
        return profiles.current_state(conn, api.account_id, row)


def token_of(link: str) -> str:
    return link.rstrip("/").split("/c/", 1)[1].removesuffix("/cancel")


def aged(server, token: str, days: float) -> str:
    """The same link as if it had been made `days` ago (signed with the real secret)."""
    data = tokens.read_token(server.engine, double_optin.TOKEN_KIND, token)
    then = int(time.time() - days * 86400)

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return then

    with read_transaction(server.engine) as conn:
        secret = signing_secret(conn)
    return URLSafeTimedSerializer(secret, salt=f"assent.{double_optin.TOKEN_KIND}", signer=Then).dumps(data)


def backdate_outbox(server, account_id: str, minutes: int) -> None:
    """Pretend the account's messages were written `minutes` ago (for the resend limit)."""
    rows = outbox.messages(server.engine, account_id)
    with write_transaction(server.engine) as conn:
        for m in rows:
            conn.execute(
                update(outbox_table)
                .where(outbox_table.c.account_id == account_id, outbox_table.c.id == m["id"])
                .values(created_at=datetime.fromisoformat(m["created_at"]) - timedelta(minutes=minutes))
            )


# --- the confirmation email ---------------------------------------------------------------------


def test_a_subscribe_to_a_double_opt_in_list_sends_a_real_confirmation_email(api, server, inbox, news) -> None:
    address = new_address()
    subscribe(api, address, news)
    (message,) = inbox.wait_for(address)
    assert message["Subject"] == "Please confirm your subscription to News"
    assert message["From"] == "API test brand <news@brand.example>"  # the account's name by default
    assert message["Auto-Submitted"] == "auto-generated"
    confirm, cancel = links(message)
    assert confirm.startswith(f"{server.base_url}/c/")
    text, page = text_of(message), html_of(message)
    assert "1 Main Street, Springfield" in text and "1 Main Street, Springfield" in page
    assert confirm in page.replace("&amp;", "&") and cancel in page.replace("&amp;", "&")
    assert "7 days" in text
    # Pending is not consent: nothing is granted until the person confirms.
    assert email_marketing(api, address)["consent"] == "NEVER_SUBSCRIBED"
    # The outbox marks it sent once the SMTP server has answered, a moment after it arrived there.
    deadline = time.monotonic() + 10
    while True:
        (row,) = [m for m in outbox.messages(server.engine, api.account_id) if m["recipient"] == address]
        if row["status"] == "sent" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (row["kind"], row["status"]) == ("doi_confirmation", "sent")


def test_the_single_profile_path_sends_the_confirmation_too(api, server, inbox, news) -> None:
    address = new_address()
    consent.subscribe(
        server.engine, api.account_id, Locator("email", address), [(Channel.EMAIL, Purpose.MARKETING)], list_id=news
    )
    (message,) = inbox.wait_for(address)
    links(message)


def test_the_sender_name_setting_names_the_sender(api, server, inbox, news) -> None:
    settings.set_value(server.engine, api.account_id, "sender_name", "The News Team")
    address = new_address()
    subscribe(api, address, news)
    (message,) = inbox.wait_for(address)
    assert message["From"] == "The News Team <news@brand.example>"


def test_a_list_or_sender_name_with_line_breaks_still_sends_one_plain_header(api, server, inbox) -> None:
    """A list named through the API (or a sender name) may hold line breaks; they were written into
    the Subject and From headers, where the message could not be built and stayed unsent, with a
    traceback each time the outbox tried. They are spaces in a header, and no header is added."""
    settings.set_value(server.engine, api.account_id, "sender_name", "The News\r\nTeam")
    r = api.post("/api/lists", json={"data": {"type": "list", "attributes": {
        "name": "News\nBcc: v@example.com\u2028W", "opt_in_process": "double_opt_in"}}})  # fmt: skip
    assert r.status_code == 201, r.text
    address = new_address()
    subscribe(api, address, r.json()["data"]["id"])
    (message,) = inbox.wait_for(address)
    assert message["Subject"] == "Please confirm your subscription to News Bcc: v@example.com W"
    assert message["From"].startswith("The News Team <") and message["Bcc"] is None
    links(message)


def test_a_single_opt_in_list_sends_no_confirmation(api, server, inbox) -> None:
    plain = create_list(server.engine, api.account_id, "Plain").id
    address = new_address()
    subscribe(api, address, plain)
    assert email_marketing(api, address)["consent"] == "SUBSCRIBED"
    assert [m for m in outbox.messages(server.engine, api.account_id) if m["recipient"] == address] == []


def test_a_repeated_subscribe_while_pending_sends_no_second_email(api, server, inbox, news) -> None:
    address, _, _ = requested(api, inbox, news)
    subscribe(api, address, news)
    time.sleep(0.5)
    assert len(inbox.to(address)) == 1


def test_without_an_smtp_server_the_confirmation_is_held_in_the_outbox(api, server, news, monkeypatch) -> None:
    monkeypatch.delenv("ASSENT_SMTP_URL")
    address = new_address()
    subscribe(api, address, news)
    (row,) = [m for m in outbox.messages(server.engine, api.account_id) if m["recipient"] == address]
    assert (row["kind"], row["status"]) == ("doi_confirmation", "held")
    assert "/c/" in row["body_text"]


def test_a_file_import_to_a_double_opt_in_list_sends_no_email(api, server, news, tmp_path) -> None:
    # An import is the brand's own list, not a person asking: no confirmation email is sent from it.
    address = new_address()
    path = tmp_path / "people.csv"
    path.write_text(f"email\n{address}\n")
    options = ImportOptions(
        account_id=api.account_id, subscribe=((Channel.EMAIL, Purpose.MARKETING),), list_id=news, workers=0
    )
    import_profiles(server.engine, path, options)
    assert state_of(server, api, address).is_pending(Channel.EMAIL, Purpose.MARKETING, news)
    assert outbox.messages(server.engine, api.account_id) == []


# --- confirming ---------------------------------------------------------------------------------


def test_opening_the_link_shows_a_page_and_changes_nothing(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    before = ledger_of(server, api, address)
    r = browser.get(confirm)
    assert r.status_code == 200
    assert "News" in r.text and "<form" in r.text and 'method="post"' in r.text
    assert r.headers["cache-control"] == "no-store"
    assert ledger_of(server, api, address) == before
    assert email_marketing(api, address)["consent"] == "NEVER_SUBSCRIBED"


def test_a_link_scanner_fetching_every_link_never_confirms(api, server, inbox, browser, news) -> None:
    address = new_address()
    subscribe(api, address, news)
    (message,) = inbox.wait_for(address)
    before = ledger_of(server, api, address)
    every = set(LINK.findall(text_of(message))) | set(LINK.findall(html_of(message)))
    assert len(every) == 2
    for url in every:
        for method in ("GET", "HEAD"):
            assert browser.request(method, url, headers={"User-Agent": "LinkScanner/1.0"}).status_code == 200
    assert ledger_of(server, api, address) == before
    assert state_of(server, api, address).is_pending(Channel.EMAIL, Purpose.MARKETING, news)


def test_the_confirm_button_subscribes_with_double_optin_and_the_proof(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    profile_id = profile_of(api, address)["id"]
    assert "Subscribed to Email Marketing" not in metrics_of(api, profile_id)  # not before confirmation
    assert "Subscribed to List" not in metrics_of(api, profile_id)

    r = browser.post(confirm)
    assert r.status_code == 200, r.text
    assert "You&#39;re subscribed" in r.text or "You're subscribed" in r.text

    m = email_marketing(api, address)
    assert (m["consent"], m["double_optin"], m["method"]) == ("SUBSCRIBED", True, "API")  # the original method
    assert news in state_of(server, api, address).lists
    assert {"Subscribed to Email Marketing", "Subscribed to List"} <= set(metrics_of(api, profile_id))

    (row,) = [m for m in outbox.messages(server.engine, api.account_id) if m["recipient"] == address]
    events = ledger_of(server, api, address)
    confirmed = [e for e in events if e["type"] != "optin.requested"]
    assert [e["type"] for e in confirmed] == ["optin.closed", "consent.changed", "list.joined"]
    assert confirmed[0]["outcome"] == "confirmed"
    granted = confirmed[1]
    assert granted["double_optin"] is True and granted["status"] == "SUBSCRIBED"
    for e in confirmed:
        assert e["context"] == {"source": "confirmation page", "message_id": row["id"]}
        assert e["personal"]["ip"] == "127.0.0.1"
        assert e["personal"]["user_agent"] == BROWSER
    assert granted["personal"]["email"] == address


def test_confirming_twice_is_idempotent(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    assert browser.post(confirm).status_code == 200
    after = ledger_of(server, api, address)
    again = browser.post(confirm)
    assert again.status_code == 200
    assert "already" in again.text
    assert browser.get(confirm).status_code == 200  # the page now says so too
    assert ledger_of(server, api, address) == after


# --- "this wasn't me" ---------------------------------------------------------------------------


def test_this_wasnt_me_closes_the_request_and_leaves_consent_alone(api, server, inbox, browser, news) -> None:
    address, confirm, cancel = requested(api, inbox, news)
    before = ledger_of(server, api, address)
    page = browser.get(cancel)
    assert page.status_code == 200 and 'method="post"' in page.text
    assert ledger_of(server, api, address) == before  # the GET changed nothing

    r = browser.post(cancel)
    assert r.status_code == 200, r.text
    state = state_of(server, api, address)
    assert not state.is_pending(Channel.EMAIL, Purpose.MARKETING)
    assert state.status(Channel.EMAIL) is ConsentStatus.NEVER_SUBSCRIBED
    closed = ledger_of(server, api, address)[-1]
    assert (closed["type"], closed["outcome"]) == ("optin.closed", "cancelled")
    assert closed["context"]["source"] == "confirmation page"
    assert closed["personal"]["user_agent"] == BROWSER

    # The confirm link of a cancelled request confirms nothing.
    after = ledger_of(server, api, address)
    assert browser.post(confirm).status_code == 409
    assert browser.post(cancel).status_code == 200  # nothing left to cancel, said plainly
    assert ledger_of(server, api, address) == after
    assert email_marketing(api, address)["consent"] == "NEVER_SUBSCRIBED"


# --- expired links and resending ----------------------------------------------------------------


def test_an_expired_link_confirms_nothing_and_offers_a_new_one(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    old = aged(server, token_of(confirm), days=8)  # older than the default 7 days
    before = ledger_of(server, api, address)
    for method in ("GET", "POST"):
        r = browser.request(method, f"/c/{old}")
        assert r.status_code == 410, r.text
        assert "expired" in r.text and f'action="/c/{old}/resend"' in r.text
    assert ledger_of(server, api, address) == before
    assert email_marketing(api, address)["consent"] == "NEVER_SUBSCRIBED"


def test_the_link_lifetime_is_the_accounts_setting(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    three_days = aged(server, token_of(confirm), days=3)
    assert browser.get(f"/c/{three_days}").status_code == 200
    settings.set_value(server.engine, api.account_id, "doi_token_days", "2")
    assert browser.get(f"/c/{three_days}").status_code == 410


def test_a_resend_sends_a_fresh_link_at_most_every_five_minutes(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    old = aged(server, token_of(confirm), days=8)
    r = browser.post(f"/c/{old}/resend")
    assert r.status_code == 429, r.text  # the first email went out a moment ago
    assert len(inbox.to(address)) == 1

    backdate_outbox(server, api.account_id, minutes=6)
    r = browser.post(f"/c/{old}/resend")
    assert r.status_code == 200, r.text
    _, second = inbox.wait_for(address, count=2)
    fresh, _ = links(second)
    assert fresh != confirm
    assert browser.post(f"/c/{old}/resend").status_code == 429  # once per five minutes

    assert browser.post(fresh).status_code == 200
    assert email_marketing(api, address)["double_optin"] is True
    # Confirmed: there is nothing to resend any more.
    backdate_outbox(server, api.account_id, minutes=6)
    assert browser.post(f"/c/{old}/resend").status_code == 200  # says "already subscribed"
    time.sleep(0.3)
    assert len(inbox.to(address)) == 2


# --- forged links -------------------------------------------------------------------------------


def test_a_forged_or_altered_link_is_refused_and_changes_nothing(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    token = token_of(confirm)
    data = tokens.read_token(server.engine, double_optin.TOKEN_KIND, token)
    other = requested(api, inbox, news)[0]
    other_id = profile_of(api, other)["id"]

    _, timestamp, signature = token.rsplit(".", 2)  # payload.timestamp.signature
    swapped = dict(data, p=other_id)
    # Another profile's id in the payload, under the original signature.
    payload = base64.urlsafe_b64encode(json.dumps(swapped, separators=(",", ":")).encode()).decode().rstrip("=")
    altered = f"{payload}.{timestamp}.{signature}"
    wrong_key = URLSafeTimedSerializer(b"not the secret", salt="assent.confirm").dumps(swapped)
    other_kind = tokens.make_token(server.engine, "unsubscribe", data)  # made for another purpose
    flipped = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    before = ledger_of(server, api, address), ledger_of(server, api, other)
    for bad in (altered, wrong_key, other_kind, flipped, "not-a-token"):
        for path in (f"/c/{bad}", f"/c/{bad}/cancel", f"/c/{bad}/resend"):
            r = browser.post(path)
            assert r.status_code == 400, (path, r.status_code)
        assert browser.get(f"/c/{bad}").status_code == 400
    assert (ledger_of(server, api, address), ledger_of(server, api, other)) == before


def test_a_link_sent_to_an_old_address_confirms_nothing(api, server, inbox, browser, news) -> None:
    address, confirm, _ = requested(api, inbox, news)
    profile_id = profile_of(api, address)["id"]
    moved = new_address()
    body = {"data": {"type": "profile", "id": profile_id, "attributes": {"email": moved}}}
    assert api.patch(f"/api/profiles/{profile_id}", json=body).status_code == 200
    assert browser.post(confirm).status_code == 409
    assert email_marketing(api, moved)["consent"] == "NEVER_SUBSCRIBED"


# --- SMS ----------------------------------------------------------------------------------------


def test_a_yes_reply_confirms_every_pending_sms_opt_in_of_the_number(api, server, news) -> None:
    vip = create_list(server.engine, api.account_id, "VIP texts", double_opt_in=True).id
    phone = "+14155550187"
    for list_id in (news, vip):
        consent.subscribe(
            server.engine, api.account_id, Locator("phone_number", phone), [(Channel.SMS, Purpose.MARKETING)],
            list_id=list_id, method="FORM",
        )  # fmt: skip
    assert outbox.messages(server.engine, api.account_id) == []  # no email for an SMS request
    proof = Proof(source="sms keyword", note="YES")
    assert double_optin.confirm_pending_sms(server.engine, api.account_id, "+1 415 555 0187", proof)
    profile_id, events = profiles.timeline(server.engine, api.account_id, Locator("phone_number", phone))
    granted = [e for e in events if e["type"] == "consent.changed"]
    assert len(granted) == 1 and granted[0]["double_optin"] is True and granted[0]["method"] == "FORM"
    assert granted[0]["context"] == {"source": "sms keyword", "note": "YES"}
    with read_transaction(server.engine) as conn:
        account = consent.load_account(conn, api.account_id)
        state = profiles.current_state(
            conn, api.account_id, consent.find_profile(conn, account, Locator("id", profile_id))
        )
    assert state.status(Channel.SMS) is ConsentStatus.SUBSCRIBED
    assert not state.pending and {news, vip} <= state.lists.keys()
    assert not double_optin.confirm_pending_sms(server.engine, api.account_id, phone, proof)  # nothing left
    assert not double_optin.confirm_pending_sms(server.engine, api.account_id, "+14155550100", proof)  # unknown
