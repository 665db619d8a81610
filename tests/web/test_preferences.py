"""The preference centre, `/p/{token}`, over a real server on both backends.

The rules: the page shows each channel and each public list with its current state; GET never
changes anything; a save applies exactly the differences, with method PREFERENCE_PAGE and the
proof (page, IP, user agent, text version) in the ledger; SMS needs a phone number (none, or an
invalid one, is a 400 that changes nothing); "unsubscribe from all email marketing" stops all
marketing email; a double opt-in list stays pending until confirmed; a forged token is refused."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from assent.domain import Channel, Purpose
from assent.domain.push_tokens import Platform, Vendor
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.push import tokens as push_tokens
from assent.services.shared import outbox, tokens
from assent.services.workflows import preferences

BROWSER = "Mozilla/5.0 (preference test)"
EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]
PHONE = "+14155550123"


# --- helpers ----------------------------------------------------------------------------------


class Inputs(HTMLParser):
    """The form controls of a page: (name, value) -> attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: dict[tuple[str, str], dict[str, str | None]] = {}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "button") and a.get("name"):
            self.found[(a["name"] or "", a.get("value") or "")] = a


def boxes(html: str) -> dict[tuple[str, str], str]:
    """Each checkbox as "checked", "unchecked" or "disabled" (disabled wins)."""
    out = {}
    for key, a in Inputs(html).found.items():
        if a.get("type") == "checkbox":
            out[key] = "disabled" if "disabled" in a else "checked" if "checked" in a else "unchecked"
    return out


@pytest.fixture
def browser(server) -> Any:
    with httpx.Client(base_url=server.base_url, headers={"User-Agent": BROWSER}, timeout=30) as client:
        yield client


def address() -> str:
    return f"pref-{uuid.uuid4().hex[:10]}@example.com"


def subscribed(server, api, email: str, *list_ids: str) -> str:
    """A profile with email marketing consent, a member of `list_ids`."""
    profile_id = consent.subscribe(server.engine, api.account_id, Locator("email", email), EMAIL).profile_id
    for list_id in list_ids:
        consent.subscribe(server.engine, api.account_id, Locator("id", profile_id), EMAIL, list_id=list_id)
    return profile_id


def public_list(server, api, name: str, *, double: bool = False) -> str:
    list_id = lists.create_list(server.engine, api.account_id, name, double_opt_in=double).id
    lists.set_public(server.engine, api.account_id, list_id)
    return list_id


def url(server, api, profile_id: str) -> str:
    return "/p/" + tokens.make_token(server.engine, "preferences", {"a": api.account_id, "p": profile_id})


def save(browser, page: str, *, channels=(), lists_=(), **extra: str) -> httpx.Response:
    form: dict[str, Any] = {"channel": list(channels), "list": list(lists_), "action": "save", **extra}
    return browser.post(page, data=form)


def subscriptions(api, profile_id: str) -> dict[str, Any]:
    r = api.get(f"/api/profiles/{profile_id}", params={"additional-fields[profile]": "subscriptions"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def events(api, profile_id: str) -> list[dict[str, Any]]:
    r = api.get("/api/consent-events", params={"filter": f'equals(profile_id,"{profile_id}")', "page[size]": "1000"})
    assert r.status_code == 200, r.text
    return [e["attributes"] for e in r.json()["data"]]


def member_lists(api, profile_id: str) -> set[str]:
    r = api.get(f"/api/profiles/{profile_id}/relationships/lists")
    assert r.status_code == 200, r.text
    return {d["id"] for d in r.json()["data"]}


def ledger_size(server, api) -> int:
    return ledger.verify(server.engine, api.account_id).events


def assert_page_proof(e: dict[str, Any]) -> None:
    assert e["context"]["source"] == "preference page"
    assert e["context"]["consent_text_version"] == preferences.CONSENT_TEXT_VERSION
    assert e["personal"]["ip"] == "127.0.0.1"
    assert e["personal"]["user_agent"] == BROWSER


# --- the page ---------------------------------------------------------------------------------


def test_page_shows_each_channel_and_each_public_list_with_its_state(server, api, browser) -> None:
    weekly = public_list(server, api, "Weekly deals")
    launches = public_list(server, api, "Product launches")
    private = lists.create_list(server.engine, api.account_id, "VIP (internal)").id
    profile_id = subscribed(server, api, address(), weekly, private)

    r = browser.get(url(server, api, profile_id))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    shown = boxes(r.text)
    assert shown == {
        ("channel", "email"): "checked",
        ("channel", "sms"): "unchecked",
        ("channel", "push"): "disabled",
        ("channel", "whatsapp"): "unchecked",
        ("channel", "postal"): "checked",  # direct mail needs no opt-in: ticked until an opt-out
        ("list", weekly): "checked",
        ("list", launches): "unchecked",
    }  # the private list is not offered
    assert "VIP (internal)" not in r.text
    assert "device's notification settings" in r.text  # why push can't be changed here
    # No phone number yet: the page asks for one beside the SMS box, and offers to stop all email.
    inputs = Inputs(r.text).found
    assert ("phone_number", "") in inputs
    assert ("action", "unsubscribe_all") in inputs
    assert inputs[("offered", "postal")]["type"] == "hidden"  # the form says the postal box was on it
    # Only the masked address is shown: the link may be forwarded.
    assert "•••@example.com" in r.text


def test_get_and_head_never_change_anything(server, api, browser) -> None:
    news = public_list(server, api, "News", double=True)
    profile_id = subscribed(server, api, address())
    page = url(server, api, profile_id)
    before = ledger_size(server, api)
    for _ in range(3):
        assert browser.get(page).status_code == 200
        assert browser.head(page).status_code == 200
        assert (
            browser.get(page, params={"channel": "sms", "list": news, "action": "unsubscribe_all"}).status_code == 200
        )
    assert ledger_size(server, api) == before
    assert outbox.messages(server.engine, api.account_id) == []


# --- saving -----------------------------------------------------------------------------------


def test_saving_applies_exactly_the_differences_with_method_and_proof(server, api, browser) -> None:
    weekly = public_list(server, api, "Weekly deals")
    launches = public_list(server, api, "Product launches")
    profile_id = subscribed(server, api, address(), weekly)
    page = url(server, api, profile_id)
    seen = len(events(api, profile_id))

    # Leave "Weekly deals", join "Product launches", keep email on.
    r = save(browser, page, channels=["email"], lists_=[launches])
    assert r.status_code == 200, r.text
    assert "Your preferences are saved" in r.text
    assert boxes(r.text)[("list", weekly)] == "unchecked"
    assert boxes(r.text)[("list", launches)] == "checked"

    new = events(api, profile_id)[seen:]
    assert sorted((e["type"], e["list_id"]) for e in new) == [
        ("list.joined", launches),
        ("list.left", weekly),
        ("list_suppression.added", weekly),
    ]
    assert next(e for e in new if e["type"] == "list.left")["method"] == "PREFERENCE_PAGE"
    for e in new:
        assert_page_proof(e)
    assert member_lists(api, profile_id) == {launches}
    email = subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED" and email["method"] == "API"  # untouched: it did not differ

    # The same form again changes nothing.
    assert save(browser, page, channels=["email"], lists_=[launches]).status_code == 200
    assert len(events(api, profile_id)) == seen + 3


def test_unticking_a_channel_unsubscribes_it_and_ticking_one_subscribes_it(server, api, browser) -> None:
    profile_id = subscribed(server, api, address())
    page = url(server, api, profile_id)
    r = save(browser, page, channels=["sms", "whatsapp"], phone_number="(415) 555-0123")
    assert r.status_code == 200, r.text

    attributes = subscriptions(api, profile_id)["attributes"]
    subs = attributes["subscriptions"]
    assert attributes["phone_number"] == PHONE  # the number typed on the page, normalised
    assert subs["email"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert subs["email"]["marketing"]["method"] == "PREFERENCE_PAGE"
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["marketing"]["method"] == "PREFERENCE_PAGE"
    assert subs["whatsapp"]["marketing"]["consent"] == "SUBSCRIBED"
    consent_events = [e for e in events(api, profile_id) if e["type"] == "consent.changed"][-3:]
    assert {(e["channel"], e["status"]) for e in consent_events} == {
        ("email", "UNSUBSCRIBED"),
        ("sms", "SUBSCRIBED"),
        ("whatsapp", "SUBSCRIBED"),
    }
    for e in consent_events:
        assert_page_proof(e)
    sms = next(e for e in consent_events if e["channel"] == "sms")
    assert sms["personal"]["phone_number"] == PHONE  # the number that consented, on record

    # Unticking SMS withdraws it (marketing and transactional, as SMS opt-outs do).
    r = save(browser, page, channels=["whatsapp"])
    assert r.status_code == 200, r.text
    subs = subscriptions(api, profile_id)["attributes"]["subscriptions"]
    assert subs["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert subs["whatsapp"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["email"]["marketing"]["consent"] == "UNSUBSCRIBED"


def postal_events(api, profile_id: str) -> list[dict[str, Any]]:
    return [e for e in events(api, profile_id) if e["type"] == "consent.changed" and e["channel"] == "postal"]


def test_unticking_the_offered_direct_mail_box_records_a_postal_opt_out(server, api, browser) -> None:
    profile_id = subscribed(server, api, address())
    page = url(server, api, profile_id)
    before = len(events(api, profile_id))

    r = save(browser, page, channels=["email"], offered="postal")  # the box was offered, left unticked
    assert r.status_code == 200, r.text
    assert boxes(r.text)[("channel", "postal")] == "unchecked"
    new = events(api, profile_id)[before:]
    assert [(e["type"], e["channel"], e["status"]) for e in new] == [("consent.changed", "postal", "UNSUBSCRIBED")]
    assert new[0]["method"] == "PREFERENCE_PAGE"
    assert_page_proof(new[0])
    assert not preferences.load(server.engine, api.account_id, profile_id).channels[-1].checked

    # The same form again changes nothing.
    assert save(browser, page, channels=["email"], offered="postal").status_code == 200
    assert len(events(api, profile_id)) == before + 1


def test_a_ticked_direct_mail_box_changes_nothing_and_after_an_opt_out_resubscribes(server, api, browser) -> None:
    profile_id = subscribed(server, api, address())
    page = url(server, api, profile_id)
    before = ledger_size(server, api)
    # Ticked as shown (no postal consent on record, none needed): nothing to record.
    r = save(browser, page, channels=["email", "postal"], offered="postal")
    assert r.status_code == 200, r.text
    assert boxes(r.text)[("channel", "postal")] == "checked"
    assert ledger_size(server, api) == before

    assert save(browser, page, channels=["email"], offered="postal").status_code == 200  # opt out
    r = browser.get(page)
    assert boxes(r.text)[("channel", "postal")] == "unchecked"
    r = save(browser, page, channels=["email", "postal"], offered="postal")  # and tick it again
    assert r.status_code == 200, r.text
    assert boxes(r.text)[("channel", "postal")] == "checked"
    assert [e["status"] for e in postal_events(api, profile_id)] == ["UNSUBSCRIBED", "SUBSCRIBED"]
    again = postal_events(api, profile_id)[-1]
    assert again["method"] == "PREFERENCE_PAGE"
    assert_page_proof(again)


def test_a_form_that_did_not_offer_direct_mail_changes_nothing_for_postal(server, api, browser) -> None:
    profile_id = subscribed(server, api, address())
    page = url(server, api, profile_id)
    before = ledger_size(server, api)
    # A page cached before the box existed, or a hand-made post: no `offered` field.
    assert save(browser, page, channels=["email"]).status_code == 200
    assert ledger_size(server, api) == before
    assert postal_events(api, profile_id) == []

    # After an opt-out, a form without the field (even one naming the channel) does not undo it.
    assert save(browser, page, channels=["email"], offered="postal").status_code == 200
    assert save(browser, page, channels=["email", "postal"]).status_code == 200
    assert save(browser, page, channels=["email"]).status_code == 200
    assert [e["status"] for e in postal_events(api, profile_id)] == ["UNSUBSCRIBED"]
    assert ledger_size(server, api) == before + 1


def test_sms_needs_a_phone_number_and_without_one_nothing_changes(server, api, browser) -> None:
    weekly = public_list(server, api, "Weekly deals")
    profile_id = subscribed(server, api, address())
    page = url(server, api, profile_id)
    before = ledger_size(server, api)

    # No number: the page again, with the error, and nothing else applied (not even the list).
    r = save(browser, page, channels=["email", "sms"], lists_=[weekly])
    assert r.status_code == 400, r.text
    assert "mobile number" in r.text and "Nothing was changed" in r.text
    assert boxes(r.text)[("channel", "sms")] == "checked"  # as ticked, to send again with a number
    assert boxes(r.text)[("list", weekly)] == "checked"
    # An invalid number: the same, and the number typed is shown back to correct it.
    r = save(browser, page, channels=["email", "sms"], lists_=[weekly], phone_number="12345")
    assert r.status_code == 400, r.text
    assert Inputs(r.text).found[("phone_number", "12345")]["aria-invalid"] == "true"
    assert ledger_size(server, api) == before
    assert subscriptions(api, profile_id)["attributes"]["phone_number"] is None

    # Another profile's number can't be taken over from here (and whose it is is not said).
    other = consent.subscribe(
        server.engine, api.account_id, Locator("phone_number", "+14155550199"), [(Channel.SMS, Purpose.MARKETING)]
    ).profile_id
    r = save(browser, page, channels=["email", "sms"], phone_number="+14155550199")
    assert r.status_code == 400, r.text
    assert other not in r.text
    assert ledger_size(server, api) == before + len(events(api, other))  # only the other's own subscribe


def test_a_profile_with_a_number_is_not_asked_for_one(server, api, browser) -> None:
    profile_id = consent.subscribe(
        server.engine, api.account_id, Locator("phone_number", "+14155550191"), [(Channel.SMS, Purpose.MARKETING)]
    ).profile_id
    r = browser.get(url(server, api, profile_id))
    assert r.status_code == 200, r.text
    assert not any(name == "phone_number" for name, _ in Inputs(r.text).found)
    shown = boxes(r.text)
    assert shown[("channel", "sms")] == "checked"
    assert shown[("channel", "email")] == "disabled"  # no address to email
    assert "no email address" in r.text
    assert ("action", "unsubscribe_all") not in Inputs(r.text).found


def test_unsubscribe_from_all_email_marketing_stops_all_marketing_email(server, api, browser) -> None:
    weekly = public_list(server, api, "Weekly deals")
    profile_id = subscribed(server, api, address(), weekly)
    page = url(server, api, profile_id)
    # The button wins over the boxes sent with it (they are still ticked in the form).
    r = browser.post(page, data={"channel": "email", "list": weekly, "action": "unsubscribe_all"})
    assert r.status_code == 200, r.text
    assert "unsubscribed from all email marketing" in r.text
    assert boxes(r.text)[("channel", "email")] == "unchecked"
    assert boxes(r.text)[("list", weekly)] == "unchecked"  # a member who gets nothing is shown so

    email = subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]
    assert email["consent"] == "UNSUBSCRIBED" and email["method"] == "PREFERENCE_PAGE"
    assert [s["reason"] for s in email["suppression"]] == ["UNSUBSCRIBE"]
    assert email["can_receive_email_marketing"] is False
    last = events(api, profile_id)[-2:]
    assert [(e["type"], e.get("status")) for e in last] == [
        ("consent.changed", "UNSUBSCRIBED"),
        ("suppression.added", None),
    ]
    for e in last:
        assert_page_proof(e)

    # Ticking the list again is a new opt-in: consent comes back, through the page.
    r = save(browser, page, channels=[], lists_=[weekly])
    assert r.status_code == 200, r.text
    email = subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED" and email["method"] == "PREFERENCE_PAGE"
    assert email["suppression"] == []


def test_joining_a_double_opt_in_list_stays_pending_until_confirmed(server, api, browser) -> None:
    news = public_list(server, api, "News", double=True)
    email_address = address()
    # Someone who once unsubscribed: joining a list asks them to confirm before anything is sent.
    profile_id = consent.unsubscribe(
        server.engine, api.account_id, Locator("email", email_address), Channel.EMAIL
    ).profile_id
    page = url(server, api, profile_id)

    r = save(browser, page, lists_=[news])
    assert r.status_code == 200, r.text
    assert "waiting for your confirmation" in r.text
    assert "We've sent you an email" in r.text
    assert boxes(r.text)[("list", news)] == "checked"

    (requested,) = [e for e in events(api, profile_id) if e["type"] == "optin.requested"]
    assert requested["list_id"] == news and requested["method"] == "PREFERENCE_PAGE"
    assert_page_proof(requested)
    email = subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]
    assert email["consent"] == "UNSUBSCRIBED"  # pending is not consent
    assert member_lists(api, profile_id) == set()
    (message,) = outbox.messages(server.engine, api.account_id)  # the confirmation, queued with it
    assert message["recipient"] == email_address

    # Saving the page again asks nothing twice; unticking the list withdraws the request.
    assert save(browser, page, lists_=[news]).status_code == 200
    assert len(outbox.messages(server.engine, api.account_id)) == 1
    r = save(browser, page)
    assert r.status_code == 200, r.text
    closed = events(api, profile_id)[-1]
    assert (closed["type"], closed["outcome"], closed["list_id"]) == ("optin.closed", "cancelled", news)
    assert subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == (
        "UNSUBSCRIBED"
    )


def test_push_is_shown_but_not_changed_here(server, api, browser) -> None:
    profile_id = subscribed(server, api, address())
    before = ledger_size(server, api)
    r = save(browser, url(server, api, profile_id), channels=["email", "push"])
    assert r.status_code == 200, r.text
    assert ledger_size(server, api) == before


def test_push_shows_the_devices_it_reaches_and_stays_read_only(server, api, browser) -> None:
    email = address()
    profile_id = subscribed(server, api, email)
    owner = push_tokens.Owner(email=email)
    for token in ("a" * 64, "b" * 64):
        push_tokens.register(server.engine, api.account_id, owner,
                             push_tokens.Device(token, Platform.IOS, Vendor.APNS))  # fmt: skip
    page = url(server, api, profile_id)
    r = browser.get(page)
    assert "(subscribed, on 2 devices)" in r.text
    assert boxes(r.text)[("channel", "push")] == "disabled"  # switched on the device, not here
    # Unticking it on the page (a crafted post) changes nothing: push follows the devices.
    before = ledger_size(server, api)
    assert save(browser, page, channels=["email"]).status_code == 200
    assert ledger_size(server, api) == before
    for token in push_tokens.page(server.engine, api.account_id, [], size=10)[0]:
        push_tokens.delete(server.engine, api.account_id, token.id)
    assert re.search(r"Push notifications \(marketing\)\s*<small>\(not subscribed\)</small>", browser.get(page).text)


def test_a_list_that_is_not_public_cannot_be_joined_or_left_from_the_page(server, api, browser) -> None:
    private = lists.create_list(server.engine, api.account_id, "Internal").id
    other = lists.create_list(server.engine, api.account_id, "Other").id
    profile_id = subscribed(server, api, address(), private)
    before = ledger_size(server, api)
    r = save(browser, url(server, api, profile_id), channels=["email"], lists_=[other])
    assert r.status_code == 400 and "does not offer" in r.text  # refused, not dropped while the rest is saved
    assert ledger_size(server, api) == before
    assert member_lists(api, profile_id) == {private}


# --- tokens -----------------------------------------------------------------------------------


def test_a_forged_or_wrong_purpose_token_is_400_and_changes_nothing(server, api, browser) -> None:
    profile_id = subscribed(server, api, address())
    good = url(server, api, profile_id).removeprefix("/p/")
    other_kind = tokens.make_token(server.engine, "unsubscribe", {"a": api.account_id, "p": profile_id})
    unsigned = good.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAA"
    before = ledger_size(server, api)
    for token in ("nonsense", unsigned, other_kind, good[:-2]):
        r = browser.get(f"/p/{token}")
        assert r.status_code == 400, token
        assert "not valid" in r.text
        r = browser.post(f"/p/{token}", data={"action": "unsubscribe_all"})
        assert r.status_code == 400, token
    assert ledger_size(server, api) == before
    assert subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == (
        "SUBSCRIBED"
    )


def test_a_token_for_a_profile_that_is_gone_is_404(server, api, browser) -> None:
    r = browser.get("/p/" + tokens.make_token(server.engine, "preferences", {"a": api.account_id, "p": "01NOSUCH"}))
    assert r.status_code == 404
    token = tokens.make_token(server.engine, "preferences", {"a": "01NOSUCHACCOUNT", "p": "01NOSUCH"})
    assert browser.post(f"/p/{token}", data={"action": "save"}).status_code == 404


def test_another_accounts_token_shows_only_that_accounts_profile(server, api, other_api, browser) -> None:
    mine = subscribed(server, api, address())
    # A token names its account: the same profile id under another account is not found.
    r = browser.get(url(server, other_api, mine))
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"channel": ["fax"], "offered": "postal"}, "channel"),  # once read as every box unticked
        ({"channel": ["email", "fax"]}, "channel"),
        ({"channel": ["email"], "offered": "telex"}, "offered"),
        ({"channel": ["email"], "list": ["NOPE"]}, "list"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field_an_unknown_value_is_refused_not_read_as_unticked(
    server, api, browser, form, field
) -> None:
    """Nothing is written and the page says so; nothing is taken as an opt-out."""
    profile_id = subscribed(server, api, address())
    before = ledger_size(server, api)
    r = browser.post(url(server, api, profile_id), data={"action": "save", **form})
    assert r.status_code == 400, r.text
    assert "does not offer" in r.text and "Your preferences are saved" not in r.text
    assert ledger_size(server, api) == before
    email = subscriptions(api, profile_id)["attributes"]["subscriptions"]["email"]["marketing"]
    assert email["consent"] == "SUBSCRIBED"


def test_bad_input_gets_a_4xx_naming_the_field_a_field_given_twice(server, api, browser) -> None:
    """Boxes (channel, list, offered) repeat; a typed field given twice is refused, nothing written."""
    profile_id = subscribed(server, api, address())
    before = ledger_size(server, api)
    form = [("action", "save"), ("channel", "email"), ("channel", "sms"), ("phone_number", "+14155550101"),
            ("phone_number", "+14155550102")]  # fmt: skip
    r = browser.post(url(server, api, profile_id), content=urlencode(form),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 400 and "phone_number more than once" in r.text, r.text
    assert ledger_size(server, api) == before
