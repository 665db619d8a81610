"""SMS keywords through Twilio's inbound webhook, over a real server on both backends.

The rules: the texted number names the account (unknown → 404); with an auth token configured the
X-Twilio-Signature must sign the request (else 403, nothing changes); without one, a post is
unsigned and may only withdraw consent or ask for HELP: an unsigned JOIN / START / UNSTOP / YES
grants, restores and confirms nothing (anyone can post one naming anyone's number); the FCC/CTIA
opt-out words withdraw SMS marketing and transactional consent (never email) and are confirmed once per
opt-out; an opt-out from an unknown number is remembered on a new profile; START / UNSTOP / YES
confirm a pending SMS double opt-in or give back the consent the number withdrew, and grant
nothing to a number that never consented; HELP / INFO answer and change nothing; the account's
join keyword subscribes; Twilio's OptOutType is honoured; a replayed MessageSid changes nothing
and is not answered again; every change carries the keyword, the MessageSid and the text."""

from __future__ import annotations

import base64
import hmac
import random
import secrets
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from assent.domain import Channel, Purpose
from assent.domain.identity import normalize_phone
from assent.integrations import twilio
from assent.services.accounts import settings
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.workflows import sms_keywords

PATH = "/webhooks/sms/twilio"
STOP_REPLY = settings.SETTINGS["sms_reply_stop"].default
START_REPLY = settings.SETTINGS["sms_reply_start"].default
HELP_REPLY = settings.SETTINGS["sms_reply_help"].default
JOIN_REPLY = settings.SETTINGS["sms_reply_join"].default
UNSIGNED_REPLY = sms_keywords.UNSIGNED_REPLY
BRAND = "API test brand"  # the account name the `api` fixture gives


# --- helpers ----------------------------------------------------------------------------------


def a_number() -> str:
    """A fresh valid US number: accounts share the PostgreSQL database, so numbers must not clash."""
    while True:
        candidate = f"+1415{random.randint(2_000_000, 9_999_999)}"
        try:
            return normalize_phone(candidate)
        except ValueError:
            continue


def reference_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's algorithm written again, independently of the module under test."""
    message = url
    for key in sorted(params):
        message += key + params[key]
    return base64.b64encode(hmac.digest(token.encode("utf-8"), message.encode("utf-8"), "sha1")).decode("ascii")


@dataclass
class Reply:
    status: int
    message: str | None  # the <Message> text; None for an empty <Response/>
    response: httpx.Response


def parse(r: httpx.Response) -> Reply:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].split(";")[0] == "text/xml"
    root = ET.fromstring(r.content)  # well-formed XML, or this raises
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) <= 1 and len(root) == len(messages)
    return Reply(r.status_code, messages[0].text if messages else None, r)


class Phone:
    """The account's SMS number and a handset texting it, through Twilio's webhook."""

    def __init__(self, server, api) -> None:
        self.server = server
        self.api = api
        self.number = a_number()
        self.token: str | None = None
        settings.set_value(server.engine, api.account_id, "sms_number", self.number)
        self.http = httpx.Client(base_url=server.base_url, timeout=30)

    def sign(self) -> None:
        """Give the account its Twilio auth token: from now on every text is posted signed, as Twilio does."""
        self.token = secrets.token_hex(16)
        settings.set_value(self.server.engine, self.api.account_id, "twilio_auth_token", self.token)

    def params(self, body: str, frm: str, sid: str, **extra: str) -> dict[str, str]:
        # Everything Twilio posts for an inbound SMS (the signature covers every one of them).
        return {
            "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "SAN FRANCISCO",
            "FromZip": "94105", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received", "FromCity": "SAN FRANCISCO",
            "Body": body, "FromCountry": "US", "To": self.number, "ToZip": "94105", "NumSegments": "1",
            "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": frm, "ApiVersion": "2010-04-01",
            **extra,
        }  # fmt: skip

    def post(self, params: dict[str, str], signature: str | None = None) -> httpx.Response:
        headers = {"X-Twilio-Signature": signature} if signature is not None else {}
        headers["User-Agent"] = "TwilioProxy/1.1"
        return self.http.post(PATH, data=params, headers=headers)

    def text(self, body: str, frm: str, *, sid: str | None = None, url: str | None = None, **extra: str) -> Reply:
        params = self.params(body, frm, sid or "SM" + secrets.token_hex(16), **extra)
        signature = reference_signature(self.token, url or self.server.base_url + PATH, params) if self.token else None
        return parse(self.post(params, signature))


@pytest.fixture
def phone(server, api):
    p = Phone(server, api)
    yield p
    p.http.close()


def subscriptions(api, number: str) -> dict[str, Any] | None:
    """The profile with this number's subscriptions, as the API shows them (None: no such profile)."""
    r = api.get(
        "/api/profiles",
        params={"filter": f'equals(phone_number,"{number}")', "additional-fields[profile]": "subscriptions"},
    )
    assert r.status_code == 200, r.text
    found = r.json()["data"]
    assert len(found) <= 1
    return found[0]["attributes"]["subscriptions"] if found else None


def sms(api, number: str, purpose: str = "marketing") -> dict[str, Any]:
    subs = subscriptions(api, number)
    assert subs is not None, f"no profile has {number}"
    return subs["sms"][purpose]


def ledger(api) -> list[dict[str, Any]]:
    r = api.get("/api/consent-events", params={"page[size]": "1000"})
    assert r.status_code == 200, r.text
    return [e["attributes"] for e in r.json()["data"]]


def subscribe_sms(server, api, number: str, *purposes: Purpose, email: str | None = None) -> None:
    targets = [(Channel.SMS, p) for p in purposes or (Purpose.MARKETING, Purpose.TRANSACTIONAL)]
    if email:
        r = api.post(
            "/api/profiles",
            json={"data": {"type": "profile", "attributes": {"email": email, "phone_number": number}}},
        )
        assert r.status_code == 201, r.text
        consent.subscribe(server.engine, api.account_id, Locator("email", email), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", number), targets)


# --- the signature ----------------------------------------------------------------------------


def test_signature_matches_twilios_published_example():
    # Twilio's documented example: auth token 12345, this URL and these parameters.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    expected = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio.compute_signature("12345", url, params.items()) == expected
    assert twilio.valid_signature("12345", url, params.items(), expected)
    # A proxy that adds the default port, or a configured URL that names it, still verifies.
    assert twilio.valid_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", params.items(), expected)
    assert not twilio.valid_signature("12345", url, params.items(), None)
    assert not twilio.valid_signature("54321", url, params.items(), expected)
    assert not twilio.valid_signature("12345", url, [*params.items(), ("Digits2", "1")], expected)


def test_signature_agrees_with_an_independent_implementation():
    rng = random.Random(7)
    alphabet = "abcXYZ019 +&=%é\u00e9\u4e2d"
    for _ in range(200):
        params = {
            "".join(rng.choices(alphabet, k=rng.randint(1, 8))): "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
            for _ in range(rng.randint(0, 8))
        }
        token = secrets.token_hex(16)
        url = f"https://hooks.example/{rng.randint(0, 9)}?q={rng.randint(0, 9)}"
        assert twilio.compute_signature(token, url, params.items()) == reference_signature(token, url, params)


def test_twiml_escapes_the_reply_and_stays_well_formed():
    doc = twilio.twiml("Tom & Jerry <3 \"quotes\" 'apostrophes' \x07bell")
    assert ET.fromstring(doc).find("Message").text == "Tom & Jerry <3 \"quotes\" 'apostrophes' bell"
    assert ET.fromstring(twilio.twiml(None)).tag == "Response"
    assert len(ET.fromstring(twilio.twiml(None))) == 0


def test_with_a_token_a_correctly_signed_request_is_applied(server, api, phone):
    phone.token = secrets.token_hex(16)
    settings.set_value(server.engine, api.account_id, "twilio_auth_token", phone.token)
    frm = a_number()
    subscribe_sms(server, api, frm)
    assert phone.text("STOP", frm).message == f"{BRAND}: {STOP_REPLY}"
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl", "wrong"])
def test_with_a_token_a_missing_or_wrong_signature_is_refused_and_changes_nothing(server, api, phone, signature):
    token = secrets.token_hex(16)
    settings.set_value(server.engine, api.account_id, "twilio_auth_token", token)
    frm = a_number()
    subscribe_sms(server, api, frm)
    before = ledger(api)
    r = phone.post(phone.params("STOP", frm, "SM" + secrets.token_hex(16)), signature)
    assert r.status_code == 403
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    assert ledger(api) == before


def test_a_signature_made_with_another_token_or_over_other_fields_is_refused(server, api, phone):
    token = secrets.token_hex(16)
    settings.set_value(server.engine, api.account_id, "twilio_auth_token", token)
    frm = a_number()
    subscribe_sms(server, api, frm)
    params = phone.params("STOP", frm, "SM" + secrets.token_hex(16))
    url = server.base_url + PATH
    assert phone.post(params, reference_signature("another-token", url, params)).status_code == 403
    tampered = dict(params, Body="HELP")  # signed as HELP, sent as STOP
    assert phone.post(params, reference_signature(token, url, tampered)).status_code == 403
    assert sms(api, frm)["consent"] == "SUBSCRIBED"


def test_the_signature_covers_the_public_url_when_one_is_configured(server, api, phone, monkeypatch):
    # Behind a proxy Twilio calls the public https address, not the server's own.
    public = "https://assent.brand.example"
    monkeypatch.setenv("ASSENT_PUBLIC_URL", public)
    phone.token = secrets.token_hex(16)
    settings.set_value(server.engine, api.account_id, "twilio_auth_token", phone.token)
    frm = a_number()
    subscribe_sms(server, api, frm)
    params = phone.params("STOP", frm, "SM" + secrets.token_hex(16))
    assert phone.post(params, reference_signature(phone.token, server.base_url + PATH, params)).status_code == 403
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    assert phone.text("STOP", frm, url=public + PATH).message == f"{BRAND}: {STOP_REPLY}"
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"


def test_without_a_token_unsigned_requests_are_accepted(server, api, phone):
    frm = a_number()
    subscribe_sms(server, api, frm)
    r = phone.post(phone.params("STOP", frm, "SM" + secrets.token_hex(16)))
    assert parse(r).message == f"{BRAND}: {STOP_REPLY}"


# --- unsigned posts: withdrawals only -----------------------------------------------------------
# Without the auth token anyone who knows the brand's (public) SMS number can post any `From`:
# nothing unsigned may land consent on a person who never gave it.


def unsigned_reply() -> str:
    return f"{BRAND}: {UNSIGNED_REPLY}"


@pytest.mark.parametrize("join_keyword", ["JOIN", "Deals", "YES"])
def test_consent_never_lands_on_the_wrong_person_an_unsigned_join_grants_nothing(server, api, phone, join_keyword):
    settings.set_value(server.engine, api.account_id, "sms_join_keyword", join_keyword)
    stranger, known = a_number(), a_number()
    email = f"{secrets.token_hex(4)}@example.com"
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": email,
                                                                                  "phone_number": known}}})  # fmt: skip
    assert r.status_code == 201, r.text
    before = ledger(api)
    sid = "SM" + secrets.token_hex(16)
    assert phone.text(join_keyword, stranger, sid=sid).message == unsigned_reply()
    assert phone.text(join_keyword.lower() + "!", known).message == unsigned_reply()
    assert subscriptions(api, stranger) is None  # no profile made for the number
    assert sms(api, known)["consent"] == "NEVER_SUBSCRIBED"
    assert ledger(api) == before
    # Nothing at all was written, not even the message's receipt: once the account has its token,
    # Twilio's signed delivery of that message is applied as any other.
    phone.sign()
    assert phone.text(join_keyword, stranger, sid=sid).message == f"{BRAND}: {JOIN_REPLY}"
    assert sms(api, stranger)["consent"] == "SUBSCRIBED"


@pytest.mark.parametrize(("body", "extra"), [("START", {}), ("UNSTOP", {}), ("Yes", {}), ("y", {}),
                                             ("please start again", {"OptOutType": "START"})])  # fmt: skip
def test_consent_never_lands_on_the_wrong_person_an_unsigned_start_unstop_or_yes_restores_nothing(
    server, api, phone, body, extra
):
    frm = a_number()
    subscribe_sms(server, api, frm)
    assert phone.text("STOP", frm).message == f"{BRAND}: {STOP_REPLY}"  # withdrawn, unsigned
    before = ledger(api)
    assert phone.text(body, frm, **extra).message == unsigned_reply()
    for purpose in ("marketing", "transactional"):
        assert sms(api, frm, purpose)["consent"] == "UNSUBSCRIBED"
    assert ledger(api) == before
    # Signed, the same words give back what the number withdrew, as before.
    phone.sign()
    assert phone.text(body, frm, **extra).message == f"{BRAND}: {START_REPLY}"
    assert sms(api, frm)["consent"] == "SUBSCRIBED"


def test_consent_never_lands_on_the_wrong_person_an_unsigned_yes_confirms_no_pending_double_opt_in(server, api, phone):
    frm = a_number()
    doi = lists.create_list(server.engine, api.account_id, "SMS club", double_opt_in=True).id
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", frm), [(Channel.SMS, Purpose.MARKETING)],
                      list_id=doi, method="FORM", method_detail="footer")  # fmt: skip
    before = ledger(api)
    for body in ("YES", "Y", "START"):
        assert phone.text(body, frm).message == unsigned_reply()
    assert sms(api, frm)["consent"] == "NEVER_SUBSCRIBED"  # pending is not consent, and still pending
    assert ledger(api) == before
    phone.sign()
    assert phone.text("YES", frm).message == f"{BRAND}: {START_REPLY}"  # the request was left as it was
    block = sms(api, frm)
    assert (block["consent"], block["method"], block["method_detail"]) == ("SUBSCRIBED", "FORM", "footer")


@pytest.mark.parametrize(
    ("body", "extra", "keyword"),
    [("STOP", {}, "STOP"), ("opt out", {}, "OPT OUT"), ("stop texting me", {"OptOutType": "STOP"}, "STOP")],
)
def test_a_withdrawal_is_never_lost_an_unsigned_stop_still_withdraws_and_help_still_answers(
    server, api, phone, body, extra, keyword
):
    frm = a_number()
    subscribe_sms(server, api, frm)
    assert phone.text(body, frm, **extra).message == f"{BRAND}: {STOP_REPLY}"
    for purpose in ("marketing", "transactional"):
        block = sms(api, frm, purpose)
        assert (block["consent"], block["method"], block["method_detail"]) == ("UNSUBSCRIBED", "TEXT", keyword)
    count = len(ledger(api))
    assert phone.text("HELP", frm).message == f"{BRAND}: {HELP_REPLY}"
    assert len(ledger(api)) == count


def test_an_unsigned_join_from_a_sender_no_handset_uses_is_still_ignored_without_a_reply(server, api, phone):
    before = ledger(api)
    for frm in ("Acme", "12345", a_number() + " ext. 4", "whatsapp:" + a_number()):
        assert phone.text("JOIN", frm).message is None
    assert ledger(api) == before


# --- routing ----------------------------------------------------------------------------------


def test_a_number_no_account_uses_is_not_found_and_changes_nothing(server, api, phone):
    params = phone.params("STOP", a_number(), "SM" + secrets.token_hex(16))
    params["To"] = a_number()
    r = phone.post(params)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/plain")
    assert ledger(api) == []


def test_the_texted_number_is_matched_in_e164_whatever_form_it_was_saved_in(server, api, phone):
    # Saved as the operator typed it; Twilio sends E.164.
    national = f"({phone.number[2:5]}) {phone.number[5:8]}-{phone.number[8:]}"
    settings.set_value(server.engine, api.account_id, "sms_number", national)
    frm = a_number()
    subscribe_sms(server, api, frm)
    assert phone.text("STOP", frm).message == f"{BRAND}: {STOP_REPLY}"
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"


def test_a_texted_number_is_routed_to_its_own_account_only(server, api, other_api, phone):
    frm = a_number()
    subscribe_sms(server, api, frm)
    subscribe_sms(server, other_api, frm)
    phone.text("STOP", frm)
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"
    assert sms(other_api, frm)["consent"] == "SUBSCRIBED"


def test_a_number_two_accounts_claim_is_refused_rather_than_guessed(server, api, other_api, phone):
    settings.set_value(server.engine, other_api.account_id, "sms_number", phone.number)
    frm = a_number()
    subscribe_sms(server, api, frm)
    r = phone.post(phone.params("STOP", frm, "SM" + secrets.token_hex(16)))
    assert r.status_code == 409
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    assert ledger(other_api) == []


# --- opting out -------------------------------------------------------------------------------

OPT_OUTS = [
    ("STOP", "STOP"), ("stop", "STOP"), ("  Stop \n", "STOP"), ("Stop.", "STOP"), ("STOPALL", "STOPALL"),
    ("StopAll", "STOPALL"), ("UNSUBSCRIBE", "UNSUBSCRIBE"), ("unsubscribe", "UNSUBSCRIBE"), ("CANCEL", "CANCEL"),
    ("cancel", "CANCEL"), ("END", "END"), ("End", "END"), ("QUIT", "QUIT"), ("quit", "QUIT"),
    ("REVOKE", "REVOKE"), ("revoke", "REVOKE"), ("OPTOUT", "OPTOUT"), ("optout", "OPTOUT"),
    ("OPT OUT", "OPT OUT"), ("opt out", "OPT OUT"), ("Opt  Out", "OPT OUT"), ("\topt\n out ", "OPT OUT"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "keyword"), OPT_OUTS)
def test_an_opt_out_keyword_withdraws_sms_marketing_and_transactional_and_leaves_email(
    server, api, phone, body, keyword
):
    frm = a_number()
    email = f"{secrets.token_hex(4)}@example.com"
    subscribe_sms(server, api, frm, email=email)
    reply = phone.text(body, frm)
    assert reply.message == f"{BRAND}: {STOP_REPLY}"
    subs = subscriptions(api, frm)
    for purpose in ("marketing", "transactional"):
        block = subs["sms"][purpose]
        assert (block["consent"], block["method"], block["method_detail"]) == ("UNSUBSCRIBED", "TEXT", keyword)
    assert subs["sms"]["marketing"]["can_receive_sms_marketing"] is False
    assert subs["email"]["marketing"]["consent"] == "SUBSCRIBED"  # another channel: untouched
    assert subs["email"]["marketing"]["suppression"] == []


def test_an_opt_out_is_recorded_with_the_keyword_the_message_sid_and_the_text(server, api, phone):
    frm = a_number()
    subscribe_sms(server, api, frm)
    before = len(ledger(api))
    sid = "SM" + secrets.token_hex(16)
    phone.text("  Stop  ", frm, sid=sid)
    new = ledger(api)[before:]
    changed = [e for e in new if e["type"] == "consent.changed"]
    assert {(e["channel"], e["purpose"], e["status"]) for e in changed} == {
        ("sms", "marketing", "UNSUBSCRIBED"),
        ("sms", "transactional", "UNSUBSCRIBED"),
    }
    for e in changed:
        assert e["context"] == {"source": "sms keyword", "message_id": sid, "note": "Stop"}
        assert (e["method"], e["method_detail"]) == ("TEXT", "STOP")
        assert e["personal"]["phone_number"] == frm  # the identifier that opted out
        assert "ip" not in e["personal"]  # the request came from Twilio, not from the person


def test_an_opt_out_from_an_unknown_number_creates_a_profile_unsubscribed_from_sms(server, api, phone):
    frm = a_number()
    assert subscriptions(api, frm) is None
    assert phone.text("STOP", frm).message == f"{BRAND}: {STOP_REPLY}"
    subs = subscriptions(api, frm)
    assert subs is not None
    assert subs["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert subs["sms"]["transactional"]["consent"] == "UNSUBSCRIBED"
    assert subs["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_a_second_opt_out_is_not_confirmed_again_and_records_nothing(server, api, phone):
    frm = a_number()
    subscribe_sms(server, api, frm)
    assert phone.text("STOP", frm).message == f"{BRAND}: {STOP_REPLY}"
    count = len(ledger(api))
    again = phone.text("QUIT", frm)  # a new message, not a replay
    assert again.message is None
    assert len(ledger(api)) == count
    assert sms(api, frm)["method_detail"] == "STOP"


def test_an_opt_out_withdraws_a_pending_sms_double_opt_in(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    doi = lists.create_list(server.engine, api.account_id, "SMS club", double_opt_in=True).id
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", frm), [(Channel.SMS, Purpose.MARKETING)],
                      list_id=doi)  # fmt: skip
    phone.text("STOP", frm)
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"
    assert phone.text("YES", frm).message is None  # nothing pending any more, nothing to give back
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"


# --- Twilio's own classification (OptOutType) ------------------------------------------------


def test_twilios_opt_out_type_stop_is_honoured_whatever_the_words(server, api, phone):
    frm = a_number()
    subscribe_sms(server, api, frm)
    before = len(ledger(api))
    body = "stop texting me please " + "x" * 300
    assert phone.text(body, frm, OptOutType="STOP").message == f"{BRAND}: {STOP_REPLY}"
    block = sms(api, frm)
    assert (block["consent"], block["method"], block["method_detail"]) == ("UNSUBSCRIBED", "TEXT", "STOP")
    note = ledger(api)[before]["context"]["note"]
    assert note == body[:160]


def test_twilios_opt_out_type_start_resubscribes_and_help_answers(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    subscribe_sms(server, api, frm)
    phone.text("STOP", frm)
    assert phone.text("Please start again", frm, OptOutType="START").message == f"{BRAND}: {START_REPLY}"
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    count = len(ledger(api))
    assert phone.text("what is this", frm, OptOutType="HELP").message == f"{BRAND}: {HELP_REPLY}"
    assert len(ledger(api)) == count


def test_other_messages_change_nothing_and_get_no_reply(server, api, phone):
    frm = a_number()
    for body in ("hello", "stop texting me please", "STOP IT", "", "JOINED", "yes please"):
        assert phone.text(body, frm).message is None
    assert subscriptions(api, frm) is None
    assert ledger(api) == []


# --- opting in again --------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "keyword"), [("START", "START"), ("start", "START"), (" Unstop ", "UNSTOP"),
                                               ("YES", "YES"), ("yes", "YES"), ("Y", "Y"), ("y", "Y")])  # fmt: skip
def test_start_unstop_yes_give_back_the_consent_the_number_withdrew(server, api, phone, body, keyword):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    subscribe_sms(server, api, frm)
    phone.text("STOP", frm)
    assert phone.text(body, frm).message == f"{BRAND}: {START_REPLY}"
    for purpose in ("marketing", "transactional"):
        block = sms(api, frm, purpose)
        assert (block["consent"], block["method"], block["method_detail"]) == ("SUBSCRIBED", "TEXT", keyword)


def test_start_gives_back_only_what_was_held(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    subscribe_sms(server, api, frm, Purpose.TRANSACTIONAL)
    phone.text("STOP", frm)
    phone.text("START", frm)
    assert sms(api, frm, "transactional")["consent"] == "SUBSCRIBED"
    assert sms(api, frm, "marketing")["consent"] == "UNSUBSCRIBED"  # never given: START does not grant it


def test_start_from_a_number_that_never_consented_grants_nothing(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    stranger = a_number()
    assert phone.text("START", stranger).message is None
    assert subscriptions(api, stranger) is None  # no profile made for it
    opted_out = a_number()
    phone.text("STOP", opted_out)  # remembered as an opt-out, but it never opted in
    count = len(ledger(api))
    assert phone.text("UNSTOP", opted_out).message is None
    assert sms(api, opted_out)["consent"] == "UNSUBSCRIBED"
    assert len(ledger(api)) == count


def test_start_while_subscribed_confirms_and_records_nothing(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    subscribe_sms(server, api, frm)
    count = len(ledger(api))
    assert phone.text("START", frm).message == f"{BRAND}: {START_REPLY}"
    assert len(ledger(api)) == count


def test_yes_confirms_a_pending_sms_double_opt_in(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    doi = lists.create_list(server.engine, api.account_id, "SMS club", double_opt_in=True).id
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", frm), [(Channel.SMS, Purpose.MARKETING)],
                      list_id=doi, method="FORM", method_detail="footer")  # fmt: skip
    assert sms(api, frm)["consent"] == "NEVER_SUBSCRIBED"  # pending is not consent
    sid = "SM" + secrets.token_hex(16)
    assert phone.text("Yes", frm, sid=sid).message == f"{BRAND}: {START_REPLY}"
    block = sms(api, frm)
    assert (block["consent"], block["method"], block["method_detail"]) == ("SUBSCRIBED", "FORM", "footer")
    confirmed = [e for e in ledger(api) if e["type"] == "consent.changed"]
    assert confirmed[-1]["double_optin"] is True
    assert confirmed[-1]["context"]["message_id"] == sid
    # A replay of the same reply neither confirms again nor answers again.
    assert phone.text("Yes", frm, sid=sid).message is None


# --- help and join ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["HELP", "help", " Info ", "INFO"])
def test_help_and_info_answer_with_the_help_text_and_change_nothing(server, api, phone, body):
    frm = a_number()
    assert phone.text(body, frm).message == f"{BRAND}: {HELP_REPLY}"
    assert subscriptions(api, frm) is None
    assert ledger(api) == []


def test_replies_are_the_accounts_own_texts_escaped_and_named_with_the_brand(server, api, phone):
    settings.set_value(server.engine, api.account_id, "sms_reply_help", "Help & <info>: reply STOP to end.")
    assert phone.text("HELP", a_number()).message == f"{BRAND}: Help & <info>: reply STOP to end."
    # A text that already names the brand is sent as written; a sender name is the brand when set.
    settings.set_value(server.engine, api.account_id, "sms_reply_help", "api TEST brand help: reply STOP.")
    assert phone.text("HELP", a_number()).message == "api TEST brand help: reply STOP."
    settings.set_value(server.engine, api.account_id, "sender_name", "Acme")
    assert phone.text("HELP", a_number()).message == "Acme: api TEST brand help: reply STOP."


@pytest.mark.parametrize("body", ["JOIN", "join", " Join "])
def test_the_join_keyword_subscribes_sms_marketing_by_text(server, api, phone, body):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    sid = "SM" + secrets.token_hex(16)
    assert phone.text(body, frm, sid=sid).message == f"{BRAND}: {JOIN_REPLY}"
    block = sms(api, frm)
    assert (block["consent"], block["method"], block["method_detail"]) == ("SUBSCRIBED", "TEXT", "JOIN")
    assert block["can_receive_sms_marketing"] is True
    event = next(e for e in ledger(api) if e["type"] == "consent.changed")
    assert event["context"] == {"source": "sms keyword", "message_id": sid, "note": body.strip()}


def test_the_join_keyword_is_the_accounts_choice(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    settings.set_value(server.engine, api.account_id, "sms_join_keyword", "deals")
    frm = a_number()
    assert phone.text("JOIN", frm).message is None
    assert subscriptions(api, frm) is None
    assert phone.text("Deals", frm).message == f"{BRAND}: {JOIN_REPLY}"
    assert sms(api, frm)["method_detail"] == "DEALS"


def test_join_after_an_opt_out_subscribes_again(server, api, phone):
    phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    phone.text("STOP", frm)
    phone.text("JOIN", frm)
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    assert phone.text("STOP", frm).message == f"{BRAND}: {STOP_REPLY}"  # a new opt-out: confirmed again


# --- replays ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["STOP", "JOIN", "HELP", "START"])
def test_a_replayed_message_sid_changes_nothing_and_is_not_answered_again(server, api, phone, body):
    if body in ("JOIN", "START"):
        phone.sign()  # only a signed text grants or restores consent
    frm = a_number()
    subscribe_sms(server, api, frm)
    if body == "START":
        phone.text("STOP", frm)
    sid = "SM" + secrets.token_hex(16)
    first = phone.text(body, frm, sid=sid)
    assert first.message is not None
    # Undo what the first delivery did, so that applying it again would show.
    if body in ("STOP",):
        consent.subscribe(server.engine, api.account_id, Locator("phone_number", frm),
                          [(Channel.SMS, Purpose.MARKETING)])  # fmt: skip
    elif body in ("JOIN", "START"):
        consent.unsubscribe(server.engine, api.account_id, Locator("phone_number", frm), Channel.SMS)
    state = subscriptions(api, frm)
    count = len(ledger(api))
    replay = phone.text(body, frm, sid=sid)
    assert replay.message is None
    assert subscriptions(api, frm) == state
    assert len(ledger(api)) == count


def test_concurrent_deliveries_of_one_message_are_applied_and_answered_once(server, api, phone):
    frm = a_number()
    subscribe_sms(server, api, frm)
    count = len(ledger(api))
    params = phone.params("STOP", frm, "SM" + secrets.token_hex(16))
    with ThreadPoolExecutor(6) as pool:
        replies = [parse(r) for r in pool.map(lambda _: phone.post(params), range(6))]
    assert [r.message for r in replies if r.message] == [f"{BRAND}: {STOP_REPLY}"]
    assert len(ledger(api)) == count + 2  # marketing and transactional withdrawn, once


def test_a_replay_with_a_valid_signature_is_still_a_replay(server, api, phone):
    phone.token = secrets.token_hex(16)
    settings.set_value(server.engine, api.account_id, "twilio_auth_token", phone.token)
    frm = a_number()
    subscribe_sms(server, api, frm)
    sid = "SM" + secrets.token_hex(16)
    assert phone.text("STOP", frm, sid=sid).message is not None
    consent.subscribe(server.engine, api.account_id, Locator("phone_number", frm), [(Channel.SMS, Purpose.MARKETING)])
    assert phone.text("STOP", frm, sid=sid).message is None
    assert sms(api, frm)["consent"] == "SUBSCRIBED"


def test_the_same_message_sid_in_another_account_is_another_message(server, api, other_api, phone):
    other = Phone(server, other_api)
    try:
        sid = "SM" + secrets.token_hex(16)
        frm = a_number()
        assert phone.text("STOP", frm, sid=sid).message is not None
        assert other.text("STOP", frm, sid=sid).message is not None
        assert sms(other_api, frm)["consent"] == "UNSUBSCRIBED"
    finally:
        other.http.close()


# --- the request itself -----------------------------------------------------------------------


def test_a_request_without_from_or_message_sid_is_refused(server, api, phone):
    params = phone.params("STOP", a_number(), "SM" + secrets.token_hex(16))
    for missing in ("From", "MessageSid"):
        assert phone.post({k: v for k, v in params.items() if k != missing}).status_code == 400
    assert ledger(api) == []


def test_a_body_that_is_not_a_form_is_refused(server, api, phone):
    r = phone.http.post(PATH, json={"To": phone.number, "From": a_number(), "Body": "STOP", "MessageSid": "SM1"})
    assert r.status_code == 415
    assert ledger(api) == []


# --- identity: a keyword reaches the one profile that owns the number, in the texted account ----


def _spaced(number: str) -> str:
    return f"{number[:2]} {number[2:5]} {number[5:8]} {number[8:]}"


def _national(number: str) -> str:
    return f"({number[2:5]}) {number[5:8]}-{number[8:]}"


@pytest.mark.parametrize("form", [_spaced, _national, lambda n: n[2:], lambda n: f"1-{n[2:5]}-{n[5:8]}-{n[8:]}"])
def test_consent_lands_on_the_owner_of_the_normalised_number_in_the_texted_account_only(
    server, api, other_api, phone, form
):
    frm = a_number()
    subscribe_sms(server, api, frm)
    subscribe_sms(server, other_api, frm)  # the same person's number, held by another brand
    profiles = len(api.get("/api/profiles").json()["data"])
    assert phone.text("STOP", form(frm)).message == f"{BRAND}: {STOP_REPLY}"
    assert sms(api, frm)["consent"] == "UNSUBSCRIBED"
    assert sms(other_api, frm)["consent"] == "SUBSCRIBED"
    assert len(api.get("/api/profiles").json()["data"]) == profiles  # no second profile for another spelling


@pytest.mark.parametrize(
    ("body", "keyword"),
    [("ＳＴＯＰ", "STOP"), ("ｓｔｏｐ！", "STOP"), ("STOP\u200b", "STOP"), ("\ufeffUnsubscribe", "UNSUBSCRIBE"),
     ("Ｏｐｔ\u3000Ｏｕｔ", "OPT OUT"), ("\u2060cancel\u200d", "CANCEL")],
)  # fmt: skip
def test_an_opt_out_typed_in_full_width_letters_or_with_invisible_characters_is_an_opt_out(
    server, api, phone, body, keyword
):
    frm = a_number()
    subscribe_sms(server, api, frm)
    assert phone.text(body, frm).message == f"{BRAND}: {STOP_REPLY}"
    block = sms(api, frm)
    assert (block["consent"], block["method_detail"]) == ("UNSUBSCRIBED", keyword)


def test_a_look_alike_of_a_keyword_from_another_script_is_another_word_and_changes_nothing(server, api, phone):
    frm, stranger = a_number(), a_number()
    subscribe_sms(server, api, frm)
    before = ledger(api)
    assert phone.text("ЅТОР", frm).message is None  # Cyrillic DZE, TE, O, ER
    assert phone.text("ЈОІN", stranger).message is None  # Cyrillic JE, O, Byelorussian-Ukrainian I
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    assert subscriptions(api, stranger) is None
    assert ledger(api) == before


@pytest.mark.parametrize("suffix", [" ext. 12", ";ext=5", " x7"])
def test_consent_never_lands_on_a_number_nobody_texted_from_a_sender_with_an_extension_is_ignored(
    server, api, phone, suffix
):
    # No handset texts from an extension: the number without it may be somebody else's (a switchboard).
    owner, stranger = a_number(), a_number()
    subscribe_sms(server, api, owner)
    before = ledger(api)
    assert phone.text("JOIN", stranger + suffix).message is None
    assert phone.text("STOP", owner + suffix).message is None
    assert subscriptions(api, stranger) is None
    assert sms(api, owner)["consent"] == "SUBSCRIBED"
    assert ledger(api) == before


def test_a_texted_number_with_an_extension_routes_to_no_account(server, api, phone):
    params = phone.params("STOP", a_number(), "SM" + secrets.token_hex(16))
    params["To"] = phone.number + " ext. 3"
    assert phone.post(params).status_code == 404
    assert ledger(api) == []


@pytest.mark.parametrize("field", ["From", "To", "Body", "MessageSid", "OptOutType"])
def test_consent_never_lands_on_a_guess_a_field_twilio_posts_once_given_twice_is_refused(server, api, phone, field):
    owner, other = a_number(), a_number()
    subscribe_sms(server, api, owner)
    before = ledger(api)
    params = phone.params("STOP", owner, "SM" + secrets.token_hex(16), OptOutType="STOP")
    second = {"From": other, "To": phone.number, "Body": "JOIN", "MessageSid": "SM" + secrets.token_hex(16),
              "OptOutType": "START"}[field]  # fmt: skip
    r = phone.http.post(PATH, content=str(httpx.QueryParams([*params.items(), (field, second)])),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 400 and field in r.text, r.text
    assert sms(api, owner)["consent"] == "SUBSCRIBED"
    assert subscriptions(api, other) is None
    assert ledger(api) == before


def test_no_request_reaches_a_500_an_over_long_message_sid_is_refused_on_every_backend(server, api, phone):
    # A receipt's key holds 200 characters: PostgreSQL refused a longer one, SQLite stored it.
    frm = a_number()
    subscribe_sms(server, api, frm)
    before = ledger(api)
    r = phone.post(phone.params("STOP", frm, "SM" + "0" * 300))
    assert r.status_code == 400 and "MessageSid" in r.text, r.text
    assert sms(api, frm)["consent"] == "SUBSCRIBED"
    assert ledger(api) == before


@pytest.mark.parametrize("channel", ["whatsapp", "messenger", "rcs"])
def test_consent_is_per_channel_a_whatsapp_message_on_the_sms_webhook_changes_no_sms_consent(
    server, api, phone, channel
):
    # Twilio posts WhatsApp (and RCS, Messenger) messages to the same webhook as SMS, its numbers
    # written "whatsapp:+1…": a WhatsApp STOP is not an SMS opt-out, a WhatsApp JOIN no SMS opt-in.
    owner, stranger = a_number(), a_number()
    subscribe_sms(server, api, owner)
    before = ledger(api)
    for body, frm in (("STOP", owner), ("JOIN", stranger)):
        params = phone.params(body, f"{channel}:{frm}", "SM" + secrets.token_hex(16))
        params["To"] = f"{channel}:{phone.number}"
        assert phone.post(params).status_code == 404
        params["To"] = phone.number  # the texted number plain, the sender another channel's
        assert parse(phone.post(params)).message is None
    assert sms(api, owner)["consent"] == "SUBSCRIBED"
    assert subscriptions(api, stranger) is None
    assert ledger(api) == before
