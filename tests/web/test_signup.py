"""Public signup, `POST /client/subscriptions?company_id=…`, over a real server on both backends.

The rules: Klaviyo's client-API JSON body subscribes and answers 202 with no body; a plain HTML
form post subscribes and answers a small thanks page; method FORM with the custom source (or the
referring page) and the proof (IP, user agent, consent text version) go to the ledger; a double
opt-in list leaves the request pending with a confirmation queued; CORS preflights are answered for
any origin; a filled honeypot gets the same answer and writes nothing; each client IP is limited
(429 with Retry-After); an unknown company or an invalid address is a 400 that writes nothing."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from assent.domain import Channel, Purpose
from assent.services.accounts.accounts import load_account
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent import texts
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.shared import outbox
from assent.store.db import read_transaction
from assent.wire.ratelimit import RateLimiter, Throttled

BROWSER = "Mozilla/5.0 (signup test)"
SITE = "https://shop.brand.example/pages/newsletter"
_addresses = itertools.count(1)


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def ip() -> str:
    """A client address of the test's own, so the per-IP limit of one test never meets another's
    (the server trusts X-Forwarded-For from the loopback proxy, as behind a reverse proxy)."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


@pytest.fixture
def site(server, ip) -> Any:
    """A browser on the brand's site: no API key, its own IP."""
    headers = {"User-Agent": BROWSER, "X-Forwarded-For": ip}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30, follow_redirects=False) as client:
        yield client


def public_id(server, api) -> str:
    with read_transaction(server.engine) as conn:
        return load_account(conn, api.account_id).public_id


def address() -> str:
    return f"signup-{uuid.uuid4().hex[:10]}@example.com"


def klaviyo_body(
    email: str | None = None,
    phone: str | None = None,
    list_id: str | None = None,
    subscriptions: dict[str, Any] | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    """The body Klaviyo's onsite JavaScript and SDKs send to create_client_subscription."""
    profile: dict[str, Any] = {}
    if email is not None:
        profile["email"] = email
    if phone is not None:
        profile["phone_number"] = phone
    if subscriptions is not None:
        profile["subscriptions"] = subscriptions
    data: dict[str, Any] = {
        "type": "subscription",
        "attributes": {"profile": {"data": {"type": "profile", "attributes": profile}}, **attributes},
    }
    if list_id is not None:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


EMAIL_MARKETING = {"email": {"marketing": {"consent": "SUBSCRIBED"}}}
JSON_HEADERS = {"revision": "2026-10-15", "Content-Type": "application/json", "Origin": "https://shop.brand.example"}


def post_json(site, company: str, body: Any) -> httpx.Response:
    return site.post("/client/subscriptions", params={"company_id": company}, json=body, headers=JSON_HEADERS)


def post_form(site, company: str, form: dict[str, str], **headers: str) -> httpx.Response:
    return site.post("/client/subscriptions", params={"company_id": company}, data=form, headers=headers)


def profile_of(api, **identifier: str) -> dict[str, Any] | None:
    ((field, value),) = identifier.items()
    r = api.get("/api/profiles", params={"filter": f'equals({field},"{value}")'})
    assert r.status_code == 200, r.text
    found = r.json()["data"]
    if not found:
        return None
    r = api.get(f"/api/profiles/{found[0]['id']}", params={"additional-fields[profile]": "subscriptions"})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def events(api, profile_id: str) -> list[dict[str, Any]]:
    r = api.get("/api/consent-events", params={"filter": f'equals(profile_id,"{profile_id}")', "page[size]": "1000"})
    assert r.status_code == 200, r.text
    return [e["attributes"] for e in r.json()["data"]]


def members(api, list_id: str) -> list[str]:
    r = api.get(f"/api/lists/{list_id}/relationships/profiles")
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["data"]]


FOOTER_WORDS = (
    "Yes, send me Brand Co news by email, and recurring marketing texts at this number. Consent is "
    "not a condition of purchase. Msg & data rates may apply. Reply STOP to stop, HELP for help."
)


def sms_wording(server, api, version: str = "brand-sms-2026-01") -> Any:
    """The account's own signup wording, stored and named by signup_consent_text_version (what a
    brand using Klaviyo's onsite script or SDK, which post no wording, sets up for SMS)."""
    from assent.services.accounts import settings
    from assent.services.consent import texts

    stored = texts.create(
        server.engine, api.account_id, version=version,
        text="Yes, Brand Co may text me recurring marketing offers at this number. Consent is not a condition "
        "of purchase. Msg & data rates may apply. Reply STOP to stop, HELP for help.",
    )  # fmt: skip
    settings.set_value(server.engine, api.account_id, "signup_consent_text_version", version)
    return stored


def ledger_size(server, api) -> int:
    return ledger.verify(server.engine, api.account_id).events


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["access-control-allow-origin"] == "*"  # a script can read why it failed
    (e,) = r.json()["errors"]
    return e


# --- Klaviyo's JSON body ----------------------------------------------------------------------


def test_klaviyo_client_body_subscribes_with_method_form_and_proof(server, api, site, ip) -> None:
    weekly = lists.create_list(server.engine, api.account_id, "Weekly").id
    email = address()
    body = klaviyo_body(
        email, list_id=weekly, subscriptions=EMAIL_MARKETING, custom_source="Footer form",
        consent_text_version="footer-2026-01",
    )  # fmt: skip
    r = post_json(site, public_id(server, api), body)
    assert r.status_code == 202, r.text
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == "*"

    profile = profile_of(api, email=email)
    assert profile is not None
    marketing = profile["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "SUBSCRIBED"
    assert marketing["method"] == "FORM"
    assert marketing["method_detail"] == "Footer form"
    assert marketing["custom_method_detail"] == "Footer form"
    assert marketing["double_optin"] is False
    assert members(api, weekly) == [profile["id"]]
    granted = next(e for e in events(api, profile["id"]) if e["type"] == "consent.changed")
    assert granted["context"]["source"] == "client subscriptions API"
    assert granted["context"]["consent_text_version"] == "footer-2026-01"
    assert granted["personal"] == {"email": email, "ip": ip, "user_agent": BROWSER}
    # Only the channels named were subscribed.
    assert profile["attributes"]["subscriptions"]["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_without_a_subscriptions_object_each_identifier_gets_marketing(server, api, site) -> None:
    sms_wording(server, api)
    email = address()
    r = post_json(site, public_id(server, api), klaviyo_body(email, "+1 415 555 0171"))
    assert r.status_code == 202, r.text
    profile = profile_of(api, email=email)
    assert profile is not None
    subs = profile["attributes"]["subscriptions"]
    assert profile["attributes"]["phone_number"] == "+14155550171"
    assert subs["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["marketing"]["method"] == "FORM"
    assert subs["sms"]["transactional"]["consent"] == "NEVER_SUBSCRIBED"
    # No list and no custom source: the referring page is the detail (none sent here).
    assert subs["email"]["marketing"]["method_detail"] == ""


def test_sms_only_subscription_sets_the_number_without_subscribing_email(server, api, site) -> None:
    sms_wording(server, api)
    email = address()
    sms = {"sms": {"marketing": {"consent": "SUBSCRIBED"}, "transactional": {"consent": "SUBSCRIBED"}}}
    r = post_json(site, public_id(server, api), klaviyo_body(email, "+14155550172", subscriptions=sms))
    assert r.status_code == 202, r.text
    profile = profile_of(api, email=email)
    assert profile is not None
    subs = profile["attributes"]["subscriptions"]
    assert subs["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert subs["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subs["sms"]["transactional"]["consent"] == "SUBSCRIBED"


# --- SMS consent and its wording (TCPA: prior express written consent) ------------------------------


def test_sms_marketing_from_a_body_naming_no_wording_records_the_accounts_signup_wording(server, api, site) -> None:
    """Klaviyo's body has no place for the wording: the account's signup_consent_text_version is
    recorded with the SMS consent, with the digest of its words and where the version came from."""
    stored = sms_wording(server, api)
    r = post_json(site, public_id(server, api), klaviyo_body(None, "+14155550191"))  # Klaviyo's default: SMS marketing
    assert r.status_code == 202, r.text
    profile = profile_of(api, phone_number="+14155550191")
    assert profile is not None
    assert profile["attributes"]["subscriptions"]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    (granted,) = [e for e in events(api, profile["id"]) if e["type"] == "consent.changed"]
    assert granted["context"] == {
        "source": "client subscriptions API", "consent_text_version": stored.version,
        "consent_text_sha256": stored.sha256, "consent_text_origin": "account_setting",
    }  # fmt: skip
    # A body that names its wording keeps it: the account's is not recorded over it.
    popup = texts.create(server.engine, api.account_id, version="popup-7", text="Texts from Brand Co. Reply STOP.")
    body = klaviyo_body(None, "+14155550192", consent_text_version="popup-7")
    assert post_json(site, public_id(server, api), body).status_code == 202
    (granted,) = [e for e in events(api, profile_of(api, phone_number="+14155550192")["id"])
                  if e["type"] == "consent.changed"]  # fmt: skip
    assert granted["context"] == {"source": "client subscriptions API", "consent_text_version": "popup-7",
                                  "consent_text_sha256": popup.sha256}  # fmt: skip


def refused_for_its_wording(server, api, site, body: dict, email: str | None, phone: str) -> dict:
    """Post the signup `body`: a 400 pointing at consent_text_version, with nothing written, neither
    the number's profile nor the email's; the error."""
    before = ledger_size(server, api)
    e = error(post_json(site, public_id(server, api), body), 400)
    assert e["source"]["pointer"] == "/data/attributes/consent_text_version"
    assert ledger_size(server, api) == before
    assert profile_of(api, phone_number=phone) is None
    assert email is None or profile_of(api, email=email) is None
    return e


@pytest.mark.parametrize("email", [False, True])
def test_sms_marketing_naming_a_wording_that_is_not_stored_is_a_400_that_writes_nothing(
    server, api, site, email
) -> None:
    """The version docs/signup-form.html ships, not stored: the SMS consent would be recorded with
    no words. The account's own signup wording is not recorded in its place (the person saw the
    named form's), and the email beside the number is not written either."""
    sms_wording(server, api)
    given = address() if email else None
    body = klaviyo_body(given, "+14155550197", consent_text_version="footer-form-2026-01")
    e = refused_for_its_wording(server, api, site, body, given, "+14155550197")
    assert "footer-form-2026-01" in e["detail"] and "assent consent-texts create" in e["detail"]


def test_a_form_asking_for_a_number_under_a_wording_that_is_not_stored_writes_nothing(
    server, api, site, caplog
) -> None:
    sms_wording(server, api)
    before = ledger_size(server, api)
    form = {"email": address(), "phone_number": "+14155550198", "consent_text_version": "footer-form-2026-01"}
    with caplog.at_level("WARNING", logger="assent.web.signup"):
        r = post_form(site, public_id(server, api), form)
    assert r.status_code == 400
    assert "This form is not working" in r.text
    assert any("consent-texts create" in m for m in caplog.messages)
    assert ledger_size(server, api) == before
    assert profile_of(api, email=form["email"]) is None


def test_an_email_signup_records_a_wording_that_is_not_stored_as_given(server, api, site) -> None:
    email = address()
    body = klaviyo_body(email, subscriptions=EMAIL_MARKETING, consent_text_version="footer-form-2026-01")
    assert post_json(site, public_id(server, api), body).status_code == 202
    (granted,) = [e for e in events(api, profile_of(api, email=email)["id"]) if e["type"] == "consent.changed"]
    assert granted["context"] == {"source": "client subscriptions API", "consent_text_version": "footer-form-2026-01"}


def test_a_consent_text_version_longer_than_a_stored_one_is_a_400_naming_it(server, api, site) -> None:
    """It was cut at 500 characters and recorded: a version no form named and none can store (100)."""
    before = ledger_size(server, api)
    email = address()
    body = klaviyo_body(email, subscriptions=EMAIL_MARKETING, consent_text_version="v" * 101)
    e = error(post_json(site, public_id(server, api), body), 400)
    assert e["source"]["pointer"] == "/data/attributes/consent_text_version"
    assert "at most 100 characters" in e["detail"]
    r = post_form(site, public_id(server, api), {"email": email, "consent_text_version": "v" * 101})
    assert r.status_code == 400
    assert ledger_size(server, api) == before
    assert profile_of(api, email=email) is None
    body = klaviyo_body(email, subscriptions=EMAIL_MARKETING, consent_text_version="v" * 100)
    assert post_json(site, public_id(server, api), body).status_code == 202


SMS_MARKETING = {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}


@pytest.mark.parametrize(
    ("email", "subscriptions"),
    [
        (False, None),  # a number alone: SMS marketing by Klaviyo's default
        (True, None),  # email and number: both by default, and neither is written
        (False, SMS_MARKETING),
        (True, {**EMAIL_MARKETING, **SMS_MARKETING}),
    ],
)
def test_sms_marketing_with_no_wording_to_record_is_a_400_that_writes_nothing(
    server, api, site, email, subscriptions
) -> None:
    given = address() if email else None
    body = klaviyo_body(given, "+14155550193", subscriptions=subscriptions)
    e = refused_for_its_wording(server, api, site, body, given, "+14155550193")
    assert "consent_text_version" in e["detail"] and "signup_consent_text_version" in e["detail"]


def test_without_sms_marketing_a_signup_needs_no_wording(server, api, site) -> None:
    """Email consent, a number given beside it, and SMS transactional consent (prior express
    consent, not written) are taken with no wording recorded."""
    email = address()
    r = post_json(site, public_id(server, api), klaviyo_body(email, "+14155550194", subscriptions=EMAIL_MARKETING))
    assert r.status_code == 202, r.text
    subs = profile_of(api, email=email)["attributes"]["subscriptions"]
    assert (subs["email"]["marketing"]["consent"], subs["sms"]["marketing"]["consent"]) == (
        "SUBSCRIBED", "NEVER_SUBSCRIBED",
    )  # fmt: skip
    transactional = {"sms": {"transactional": {"consent": "SUBSCRIBED"}}}
    r = post_json(site, public_id(server, api), klaviyo_body(None, "+14155550195", subscriptions=transactional))
    assert r.status_code == 202, r.text
    subs = profile_of(api, phone_number="+14155550195")["attributes"]["subscriptions"]
    assert (subs["sms"]["transactional"]["consent"], subs["sms"]["marketing"]["consent"]) == (
        "SUBSCRIBED", "NEVER_SUBSCRIBED",
    )  # fmt: skip


def test_a_form_asking_for_a_number_without_wording_is_logged_and_the_person_told_it_is_not_working(
    server, api, site, caplog
) -> None:
    before = ledger_size(server, api)
    with caplog.at_level("WARNING", logger="assent.web.signup"):
        r = post_form(site, public_id(server, api), {"email": address(), "phone_number": "+14155550196"})
    assert r.status_code == 400
    assert "This form is not working" in r.text
    assert any("consent_text_version" in m for m in caplog.messages)
    assert ledger_size(server, api) == before


def test_a_number_already_on_a_profile_is_never_replaced_from_a_public_form(server, api, site) -> None:
    email = address()
    mine = consent.subscribe(
        server.engine, api.account_id, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)]
    )
    r = api.patch(
        f"/api/profiles/{mine.profile_id}",
        json={"data": {"type": "profile", "id": mine.profile_id, "attributes": {"phone_number": "+14155550181"}}},
    )
    assert r.status_code == 200, r.text
    consent.subscribe(
        server.engine, api.account_id, Locator("phone_number", "+14155550181"), [(Channel.SMS, Purpose.MARKETING)]
    )
    # Anyone may post this; it must not take the owner's number (and its SMS consent) away, nor
    # join another number to the owner's address: it is refused, naming nobody.
    sms = {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}
    r = post_json(site, public_id(server, api), klaviyo_body(email, "+14155550182", subscriptions=sms))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"].endswith("phone_number")
    assert email not in r.text
    owner = profile_of(api, email=email)
    assert owner is not None
    assert owner["attributes"]["phone_number"] == "+14155550181"
    assert owner["attributes"]["subscriptions"]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert profile_of(api, phone_number="+14155550182") is None


def test_an_invalid_number_beside_an_email_is_dropped_as_a_partial_failure(server, api, site) -> None:
    email = address()
    body = klaviyo_body(email, "12345", subscriptions=EMAIL_MARKETING)
    r = post_json(site, public_id(server, api), body)
    assert r.status_code == 202, r.text
    assert r.headers["x-klaviyo-partial-failure"] == "phone_number"
    profile = profile_of(api, email=email)
    assert profile is not None and profile["attributes"]["phone_number"] is None


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (
            klaviyo_body("not an address", subscriptions=EMAIL_MARKETING),
            "/data/attributes/profile/data/attributes/email",
        ),
        (klaviyo_body(None, "12345"), "/data/attributes/profile/data/attributes/phone_number"),
        (klaviyo_body(None, None), "/data/attributes/profile/data/attributes/email"),
        (klaviyo_body("a@example.com", list_id="NoSuch"), "/data/relationships/list/data/id"),
        ({"data": {"type": "profile", "attributes": {}}}, "/data/type"),
        (
            klaviyo_body("a@example.com", subscriptions={"email": {"marketing": {"consent": "UNSUBSCRIBED"}}}),
            "/data/attributes/profile/data/attributes/subscriptions/email/marketing/consent",
        ),
        (
            klaviyo_body(
                "a@example.com",
                subscriptions={
                    "email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": "2020-01-01T00:00:00Z"}}
                },
            ),
            "/data/attributes/profile/data/attributes/subscriptions/email/marketing/consented_at",
        ),
    ],
)
def test_invalid_json_is_a_json_api_400_that_writes_nothing(server, api, site, body, pointer) -> None:
    before = ledger_size(server, api)
    e = error(post_json(site, public_id(server, api), body), 400)
    assert e["source"]["pointer"] == pointer, e
    assert {"id", "status", "code", "title", "detail"} <= set(e)
    assert ledger_size(server, api) == before


def test_unknown_company_id_is_400_like_klaviyo(server, api, site) -> None:
    for company in ("NoSuch", ""):
        e = error(post_json(site, company, klaviyo_body(address(), subscriptions=EMAIL_MARKETING)), 400)
        assert e["source"] == {"parameter": "company_id"}
    r = site.post("/client/subscriptions", json=klaviyo_body(address()), headers=JSON_HEADERS)
    assert error(r, 400)["source"] == {"parameter": "company_id"}
    r = post_form(site, "NoSuch", {"email": address()})
    assert r.status_code == 400 and "This form is not working" in r.text and "NoSuch" not in r.text


# --- plain HTML forms -------------------------------------------------------------------------


def test_a_plain_form_post_subscribes_and_thanks(server, api, site, ip) -> None:
    weekly = lists.create_list(server.engine, api.account_id, "Weekly").id
    footer = texts.create(server.engine, api.account_id, version="footer-2026-01", text=FOOTER_WORDS)
    email = address()
    form = {
        "email": email, "phone_number": "+14155550173", "list_id": weekly, "website": "",
        "consent_text_version": "footer-2026-01", "redirect": "https://shop.brand.example/",
    }  # fmt: skip
    r = post_form(site, public_id(server, api), form, Referer=SITE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "Thanks — check your inbox" in r.text
    assert 'href="https://shop.brand.example/"' in r.text

    profile = profile_of(api, email=email)
    assert profile is not None
    subs = profile["attributes"]["subscriptions"]
    for channel in ("email", "sms"):
        assert subs[channel]["marketing"]["consent"] == "SUBSCRIBED"
        assert subs[channel]["marketing"]["method"] == "FORM"
        assert subs[channel]["marketing"]["method_detail"] == SITE  # the page the form was on
    assert members(api, weekly) == [profile["id"]]
    granted = [e for e in events(api, profile["id"]) if e["type"] == "consent.changed"]
    assert len(granted) == 2
    for e in granted:
        assert e["context"] == {"source": "signup form", "consent_text_version": "footer-2026-01",
                                "consent_text_sha256": footer.sha256}  # fmt: skip
        assert e["personal"]["ip"] == ip and e["personal"]["user_agent"] == BROWSER


def test_a_form_whose_redirect_or_referer_is_no_url_thanks_without_a_link_back(server, api, site) -> None:
    """An unclosed IPv6 bracket ("http://[::1") made the URL parser raise: a 500 after the form
    was read. Such a link is no link back; the signup itself goes through."""
    for form, referer in (({"redirect": "http://[::1"}, SITE), ({}, "http://[x/form"),
                          ({"redirect": "https://[::1]:99999/"}, "https://a.example:bad/")):  # fmt: skip
        email = address()
        r = post_form(site, public_id(server, api), {"email": email, **form}, Referer=referer)
        assert r.status_code == 200, r.text
        assert "Thanks — check your inbox" in r.text and "[" not in r.text
        profile = profile_of(api, email=email)
        assert profile is not None
        assert profile["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"


def test_a_multipart_form_post_works_the_same(server, api, site) -> None:
    email = address()
    r = site.post(
        "/client/subscriptions",
        params={"company_id": public_id(server, api)},
        files={"email": (None, email), "custom_source": (None, "Popup")},
    )
    assert r.status_code == 200, r.text
    profile = profile_of(api, email=email)
    assert profile is not None
    marketing = profile["attributes"]["subscriptions"]["email"]["marketing"]
    assert (marketing["consent"], marketing["method_detail"]) == ("SUBSCRIBED", "Popup")


def test_an_invalid_email_shows_the_form_again_and_writes_nothing(server, api, site) -> None:
    before = ledger_size(server, api)
    form = {"email": "not an address", "list_id": "", "custom_source": "Footer <b>form</b>"}
    r = post_form(site, public_id(server, api), form)
    assert r.status_code == 400, r.text
    assert "Email address" in r.text and 'aria-invalid="true"' in r.text
    assert 'value="not an address"' in r.text  # kept, to correct it
    alert = r.text.split('role="alert">', 1)[1].split("<", 1)[0]
    assert alert.startswith("Email address: ") and ".." not in alert, alert  # one full stop, not two
    assert "Footer &lt;b&gt;form&lt;/b&gt;" in r.text and "<b>form" not in r.text  # escaped
    assert 'name="website"' in r.text  # the form shown again keeps its honeypot
    assert ledger_size(server, api) == before


def test_a_filled_honeypot_gets_the_same_answer_and_writes_nothing(server, api, site) -> None:
    company = public_id(server, api)
    real = post_form(site, company, {"email": address(), "website": ""}, Referer=SITE)
    assert real.status_code == 200, real.text
    before = ledger_size(server, api)
    bot_address = address()
    bot = post_form(site, company, {"email": bot_address, "website": "https://spam.example"}, Referer=SITE)
    assert (bot.status_code, bot.text) == (real.status_code, real.text)
    assert ledger_size(server, api) == before
    assert profile_of(api, email=bot_address) is None


# --- double opt-in, no list -------------------------------------------------------------------


def test_a_double_opt_in_list_leaves_the_signup_pending(server, api, site) -> None:
    news = lists.create_list(server.engine, api.account_id, "News", double_opt_in=True).id
    email = address()
    r = post_json(site, public_id(server, api), klaviyo_body(email, list_id=news, subscriptions=EMAIL_MARKETING))
    assert r.status_code == 202, r.text
    profile = profile_of(api, email=email)
    assert profile is not None
    assert profile["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert members(api, news) == []
    (requested,) = [e for e in events(api, profile["id"]) if e["type"] == "optin.requested"]
    assert (requested["list_id"], requested["method"]) == (news, "FORM")
    (message,) = [m for m in outbox.messages(server.engine, api.account_id) if m["recipient"] == email]
    assert message["channel"] == "email"
    # A second post while pending asks nothing twice.
    assert post_json(site, public_id(server, api), klaviyo_body(email, list_id=news)).status_code == 202
    assert len([m for m in outbox.messages(server.engine, api.account_id) if m["recipient"] == email]) == 1


def test_without_a_list_the_channel_is_subscribed_single_opt_in(server, api, site) -> None:
    lists.create_list(server.engine, api.account_id, "News", double_opt_in=True)  # not named: not used
    email = address()
    r = post_form(site, public_id(server, api), {"email": email})
    assert r.status_code == 200, r.text
    profile = profile_of(api, email=email)
    assert profile is not None
    assert profile["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert [(e["type"], e.get("list_id")) for e in events(api, profile["id"])] == [("consent.changed", None)]


# --- CORS and the rate limit ------------------------------------------------------------------


def test_cors_preflight_is_answered_for_any_origin(server, api, site) -> None:
    before = ledger_size(server, api)
    for path in ("/client/subscriptions", "/client/subscriptions/"):
        r = site.options(
            path,
            params={"company_id": public_id(server, api)},
            headers={
                "Origin": "https://shop.brand.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,revision",
            },
        )
        assert r.status_code == 204, r.text
        assert r.headers["access-control-allow-origin"] == "*"
        assert "POST" in r.headers["access-control-allow-methods"]
        allowed = {h.strip() for h in r.headers["access-control-allow-headers"].split(",")}
        assert {"content-type", "revision"} <= allowed
    assert ledger_size(server, api) == before


def test_each_client_ip_is_limited_with_retry_after(server, api, site, ip) -> None:
    company = public_id(server, api)
    for _ in range(10):
        assert post_form(site, company, {"email": address()}).status_code == 200
    before = ledger_size(server, api)
    limited = post_form(site, company, {"email": address()})
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    e = error(post_json(site, company, klaviyo_body(address())), 429)
    assert e["code"] == "throttled"
    assert ledger_size(server, api) == before
    # Another visitor is not held back by this one.
    r = site.post(
        "/client/subscriptions", params={"company_id": company}, data={"email": address()},
        headers={"X-Forwarded-For": "203.0.113.77"},
    )  # fmt: skip
    assert r.status_code == 200, r.text


def test_the_fixed_window_resets_each_minute() -> None:
    now = [120.0]
    limiter = RateLimiter(scale=1, clock=lambda: now[0])
    window = ((60, 2),)
    limiter.take("", "signup:a", window)
    now[0] = 130.0
    limiter.take("", "signup:a", window)
    now[0] = 150.0
    with pytest.raises(Throttled) as refused:
        limiter.take("", "signup:a", window)
    assert refused.value.retry == 30
    limiter.take("", "signup:b", window)
    now[0] = 180.0  # a new minute
    limiter.take("", "signup:a", window)


def test_the_embeddable_form_example_posts_a_working_signup(server, api, site) -> None:
    """docs/signup-form.html, filled in as a person would, is accepted as it stands."""
    from html.parser import HTMLParser

    html = (Path(__file__).parents[2] / "docs" / "signup-form.html").read_text()

    class Form(HTMLParser):
        action, method, fields = "", "", {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "form":
                self.action, self.method = a["action"] or "", a["method"] or ""
            if tag == "input" and a.get("name"):
                self.fields[a["name"]] = a.get("value") or ""

    form = Form()
    form.feed(html)
    assert form.method == "post" and form.action.endswith("/client/subscriptions?company_id=PUBLIC_ID")
    assert form.fields["website"] == ""  # the honeypot, empty
    weekly = lists.create_list(server.engine, api.account_id, "Weekly").id
    email = address()
    fields = form.fields | {"email": email, "list_id": weekly}
    r = post_form(site, public_id(server, api), fields)
    assert r.status_code == 200, r.text
    profile = profile_of(api, email=email)
    assert profile is not None and members(api, weekly) == [profile["id"]]
    # With a number, as its comment says: refused until its version's wording is stored, then taken.
    with_phone = fields | {"email": address(), "phone_number": "+14155550199"}
    assert post_form(site, public_id(server, api), with_phone).status_code == 400
    stored = texts.create(server.engine, api.account_id, version=form.fields["consent_text_version"], text=FOOTER_WORDS)
    assert post_form(site, public_id(server, api), with_phone).status_code == 200
    sms = profile_of(api, phone_number="+14155550199")["attributes"]["subscriptions"]["sms"]["marketing"]
    assert sms["consent"] == "SUBSCRIBED"
    assert stored.version == "footer-form-2026-01"


def test_a_body_over_64_kb_is_refused_unread(server, api, site) -> None:
    before = ledger_size(server, api)
    big = {"email": address(), "custom_source": "x" * 70_000}
    r = post_form(site, public_id(server, api), big)
    assert r.status_code == 413
    assert error(post_json(site, public_id(server, api), klaviyo_body(address(), note="x" * 70_000)), 413)
    assert ledger_size(server, api) == before


def test_the_retry_page_shows_the_brands_own_consent_text_and_records_its_version(server, api, site) -> None:
    from assent.services.accounts import settings
    from assent.services.consent import texts

    wording = "Yes, Brand Co may text me offers. Reply STOP to stop."
    texts.create(server.engine, api.account_id, version="brand-2026-03", text=wording)
    # The stored version's words win over the setting's older wording.
    settings.set_value(server.engine, api.account_id, "signup_consent_text", "An older wording.")
    settings.set_value(server.engine, api.account_id, "signup_consent_text_version", "brand-2026-03")
    form = {"email": "not an address", "phone_number": "+14155550174", "consent_text_version": "other-version"}
    r = post_form(site, public_id(server, api), form)
    assert r.status_code == 400, r.text
    assert wording in r.text
    assert "recurring automated marketing texts" not in r.text  # no wording of Assent's own
    assert 'name="consent_text_version" value="brand-2026-03"' in r.text and "other-version" not in r.text
    assert "An older wording." not in r.text


def test_without_the_brands_consent_text_the_retry_page_asks_for_no_phone_number(server, api, site) -> None:
    form = {"email": "not an address", "phone_number": "+14155550175", "consent_text_version": "footer-1"}
    r = post_form(site, public_id(server, api), form)
    assert r.status_code == 400, r.text
    assert 'name="phone_number"' not in r.text and "consent_text_version" not in r.text
    assert "recurring automated marketing texts" not in r.text


def test_a_wording_without_a_version_is_shown_but_the_retry_page_asks_for_no_phone_number(server, api, site) -> None:
    """The setting's words alone name no version: SMS consent given under them could not say what
    the person was told, so the page shows them and asks for no number."""
    from assent.services.accounts import settings

    settings.set_value(server.engine, api.account_id, "signup_consent_text", "Brand Co news by email.")
    r = post_form(site, public_id(server, api), {"email": "not an address"})
    assert r.status_code == 400, r.text
    assert "Brand Co news by email." in r.text
    assert 'name="phone_number"' not in r.text and "consent_text_version" not in r.text


def test_an_unknown_list_on_a_form_is_logged_and_the_person_gets_a_generic_message(server, api, site, caplog) -> None:
    before = ledger_size(server, api)
    with caplog.at_level("WARNING", logger="assent.web.signup"):
        r = post_form(site, public_id(server, api), {"email": address(), "list_id": "NoSuchList"})
    assert r.status_code == 400
    assert "This form is not working" in r.text and "NoSuchList" not in r.text and "List" not in r.text
    assert any("NoSuchList" in m for m in caplog.messages)
    assert ledger_size(server, api) == before


def test_a_signup_naming_a_stored_consent_text_records_the_digest_of_its_words(server, api, site) -> None:
    from assent.services.consent import texts

    stored = texts.create(server.engine, api.account_id, version="footer-2026-05", text="Email me offers.")
    email, other = address(), address()
    form = {"email": email, "consent_text_version": stored.version}
    assert post_form(site, public_id(server, api), form).status_code == 200
    granted = next(e for e in events(api, profile_of(api, email=email)["id"]) if e["type"] == "consent.changed")
    assert granted["context"] == {
        "source": "signup form", "consent_text_version": "footer-2026-05", "consent_text_sha256": stored.sha256,
    }  # fmt: skip
    # A version the account never stored is recorded as given, without a digest.
    assert post_form(site, public_id(server, api), {"email": other, "consent_text_version": "old-1"}).status_code == 200
    granted = next(e for e in events(api, profile_of(api, email=other)["id"]) if e["type"] == "consent.changed")
    assert granted["context"] == {"source": "signup form", "consent_text_version": "old-1"}


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"email": "nul\u0000@example.com"}, 400, "NUL"),
        ({"email": "big@example.com", "custom_source": "x" * (70 * 1024)}, 413, "over 64 KB"),
    ],
)
def test_a_refused_form_post_is_answered_with_a_page_not_a_json_api_error(
    server, api, site, form, status, says
) -> None:
    """A browser's form post gets a page in every answer, a body refused before it is read included."""
    before = ledger_size(server, api)
    r = post_form(site, public_id(server, api), form)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html") and says in r.text, r.text
    assert ledger_size(server, api) == before
