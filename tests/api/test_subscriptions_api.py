"""Klaviyo's bulk subscribe and unsubscribe jobs over a real server: list opt-in processes,
historical imports, custom sources, list-scoped unsubscribes, and the all-or-nothing rule (one bad
profile fails the job, names the profile and writes nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from assent.services.lists.lists import create_list
from tests.api.klaviyo_schema import assert_klaviyo_shape

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"
PROFILES = "/data/attributes/profiles/data"


# --- helpers ----------------------------------------------------------------------------------


def member(
    email: str | None = None,
    phone: str | None = None,
    channels: dict[str, Any] | None = None,
    profile_id: str | None = None,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "subscriptions": channels if channels is not None else {"email": {"marketing": {"consent": "SUBSCRIBED"}}}
    }
    if email is not None:
        attributes["email"] = email
    if phone is not None:
        attributes["phone_number"] = phone
    item: dict[str, Any] = {"type": "profile", "attributes": attributes}
    if profile_id is not None:
        item["id"] = profile_id
    return item


def leaver(email: str | None = None, phone: str | None = None, channels: dict | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "subscriptions": channels if channels is not None else {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}}
    }
    if email is not None:
        attributes["email"] = email
    if phone is not None:
        attributes["phone_number"] = phone
    return {"type": "profile", "attributes": attributes}


def job(kind: str, profiles: list[dict[str, Any]], list_id: str | None = None, **attributes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"data": {"type": kind, "attributes": {"profiles": {"data": profiles}, **attributes}}}
    if list_id is not None:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return body


def subscribe(api, profiles: list[dict[str, Any]], list_id: str | None = None, **attributes: Any):
    return api.post(SUBSCRIBE, json=job("profile-subscription-bulk-create-job", profiles, list_id, **attributes))


def unsubscribe(api, profiles: list[dict[str, Any]], list_id: str | None = None):
    return api.post(UNSUBSCRIBE, json=job("profile-subscription-bulk-delete-job", profiles, list_id))


def accepted(r) -> None:
    assert r.status_code == 202, r.text
    assert r.content == b""  # Klaviyo's jobs answer 202 with no body


def error(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    e = r.json()["errors"][0]
    assert {"id", "status", "code", "title", "detail"} <= e.keys(), e
    return e


def profile(api, email: str) -> dict[str, Any]:
    """The profile with this email, with its subscriptions and lists."""
    r = api.get("/api/profiles", params={"filter": f'equals(email,"{email}")'})
    assert r.status_code == 200, r.text
    (found,) = r.json()["data"]
    r = api.get(
        f"/api/profiles/{found['id']}", params={"additional-fields[profile]": "subscriptions", "include": "lists"}
    )
    assert r.status_code == 200, r.text
    assert_klaviyo_shape("get_profile", r.json())
    return r.json()


def email_marketing(api, email: str) -> dict[str, Any]:
    return profile(api, email)["data"]["attributes"]["subscriptions"]["email"]["marketing"]


def lists_of(api, email: str) -> list[str]:
    return [i["id"] for i in profile(api, email)["included"] if i["type"] == "list"]


def written(api) -> tuple[int, int]:
    """How much the account holds: profiles and ledger events."""
    counts = []
    for url in ("/api/profiles?page%5Bsize%5D=100", "/api/consent-events?page%5Bsize%5D=1000"):
        count = 0
        while url:
            r = api.get(url)
            assert r.status_code == 200, r.text
            count += len(r.json()["data"])
            url = r.json()["links"].get("next")
        counts.append(count)
    return counts[0], counts[1]


def events_of(api, profile_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/api/profiles/{profile_id}/consent-events")
    assert r.status_code == 200, r.text
    return [e["attributes"] for e in r.json()["data"]]


# --- subscribe --------------------------------------------------------------------------------


def test_subscribing_to_a_single_opt_in_list_subscribes_and_adds_to_the_list(api, server) -> None:
    newsletter = create_list(server.engine, api.account_id, "Newsletter")
    accepted(subscribe(api, [member("single@example.com")], newsletter.id))
    m = email_marketing(api, "single@example.com")
    assert (m["consent"], m["method"], m["can_receive_email_marketing"]) == ("SUBSCRIBED", "API", True)
    assert m["double_optin"] is False
    assert lists_of(api, "single@example.com") == [newsletter.id]


def test_subscribing_to_a_double_opt_in_list_waits_for_confirmation(api, server) -> None:
    confirmed = create_list(server.engine, api.account_id, "Confirmed only", double_opt_in=True)
    accepted(subscribe(api, [member("pending@example.com")], confirmed.id))
    doc = profile(api, "pending@example.com")
    assert doc["data"]["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert doc["included"] == []  # not a member until confirmed
    kinds = [e["type"] for e in events_of(api, doc["data"]["id"])]
    assert kinds == ["optin.requested"]


def test_subscribing_without_a_list_subscribes_the_channels_named(api) -> None:
    channels = {"email": {"marketing": {"consent": "SUBSCRIBED"}}, "sms": {"marketing": {"consent": "SUBSCRIBED"}}}
    accepted(subscribe(api, [member("nolist@example.com", "+1 415 555 0142", channels)]))
    doc = profile(api, "nolist@example.com")
    subscriptions = doc["data"]["attributes"]["subscriptions"]
    assert subscriptions["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subscriptions["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subscriptions["sms"]["transactional"]["consent"] == "NEVER_SUBSCRIBED"  # not named, not changed
    assert doc["data"]["attributes"]["phone_number"] == "+14155550142"
    assert doc["included"] == []


def test_an_existing_profile_is_found_by_id_or_identifier(api) -> None:
    r = api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "known@example.com"}}})
    known = r.json()["data"]["id"]
    accepted(subscribe(api, [member(profile_id=known)]))
    accepted(
        subscribe(api, [member("known@example.com", "+14155550143", {"sms": {"marketing": {"consent": "SUBSCRIBED"}}})])
    )
    doc = profile(api, "known@example.com")
    assert doc["data"]["id"] == known
    assert doc["data"]["attributes"]["subscriptions"]["sms"]["marketing"]["consent"] == "SUBSCRIBED"
    assert written(api)[0] == 1


def test_a_historical_import_records_the_given_consent_date_and_skips_double_opt_in(api, server) -> None:
    confirmed = create_list(server.engine, api.account_id, "Confirmed only", double_opt_in=True)
    at = "2021-03-04T05:06:07+00:00"
    channels = {"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": at}}}
    accepted(subscribe(api, [member("old@example.com", channels=channels)], confirmed.id, historical_import=True))
    m = email_marketing(api, "old@example.com")
    assert m["consent"] == "SUBSCRIBED"
    assert datetime.fromisoformat(m["consent_timestamp"]) == datetime.fromisoformat(at)
    assert lists_of(api, "old@example.com") == [confirmed.id]
    (first, *_) = events_of(api, profile(api, "old@example.com")["data"]["id"])
    assert first["historical_import"] is True


def test_custom_source_shows_as_custom_method_detail(api) -> None:
    accepted(subscribe(api, [member("source@example.com")], custom_source="Spring pop-up"))
    m = email_marketing(api, "source@example.com")
    assert m["custom_method_detail"] == "Spring pop-up"
    assert m["method"] == "API"


def test_a_bad_phone_beside_an_email_is_dropped_with_a_partial_failure_header(api) -> None:
    r = subscribe(api, [member("phoneless@example.com", "+1 555")])
    accepted(r)
    assert r.headers["X-Klaviyo-Partial-Failure"] == "phone_number"
    assert profile(api, "phoneless@example.com")["data"]["attributes"]["phone_number"] is None
    assert "X-Klaviyo-Partial-Failure" not in subscribe(api, [member("fine@example.com")]).headers


SMS = {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}
EMAIL_AND_SMS = {"email": {"marketing": {"consent": "SUBSCRIBED"}}, **SMS}


def test_consent_never_lands_on_a_shared_line_a_number_with_an_extension_is_refused(api) -> None:
    # "+1 ... ext. 12" is a switchboard's line: SMS consent for the number without the extension
    # would land on whoever else answers it (and Klaviyo takes E.164 numbers only).
    e = error(subscribe(api, [member(phone="+1 206 555 0100 ext. 12", channels=SMS)]), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/phone_number"
    assert "extension" in e["detail"]
    assert api.get("/api/profiles", params={"filter": "equals(phone_number,'+12065550100')"}).json()["data"] == []
    # Beside an email, the number is dropped as any bad one is: email consent goes ahead, SMS does not.
    r = subscribe(api, [member("switchboard@example.com", "+1 206 555 0100 x12", EMAIL_AND_SMS)])
    accepted(r)
    assert r.headers["X-Klaviyo-Partial-Failure"] == "phone_number"
    attributes = profile(api, "switchboard@example.com")["data"]["attributes"]
    assert attributes["phone_number"] is None
    assert attributes["subscriptions"]["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    # Beside an email but asked only for SMS: nothing is left to do, and the error says why.
    e = error(subscribe(api, [member("only-sms@example.com", "+12065550100#12", SMS)]), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/phone_number"
    assert "has an extension" in e["detail"]
    e = error(unsubscribe(api, [leaver(phone="+12065550100;ext=12", channels={"sms": {"marketing": {
        "consent": "UNSUBSCRIBED"}}})]), 400)  # fmt: skip
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/phone_number"


@pytest.mark.parametrize("born", ["nope", "1990-13-01", "01/05/1990", 19900501])
def test_a_date_of_birth_that_is_no_date_is_refused_naming_it(api, born) -> None:
    item = member("born@example.com")
    item["attributes"]["age_gated_date_of_birth"] = born
    e = error(subscribe(api, [item]), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/age_gated_date_of_birth"
    assert api.get("/api/profiles", params={"filter": "equals(email,'born@example.com')"}).json()["data"] == []


@pytest.mark.parametrize("born", ["1990-05-01", None])
def test_a_date_of_birth_as_klaviyo_takes_it_is_accepted(api, born) -> None:
    item = member("born-ok@example.com")
    item["attributes"]["age_gated_date_of_birth"] = born
    accepted(subscribe(api, [item]))


def test_a_thousand_profiles_fit_in_one_job(api) -> None:
    accepted(subscribe(api, [member(f"bulk{i}@example.com") for i in range(1000)]))
    r = api.get("/api/profiles", params={"filter": "equals(email,'bulk999@example.com')"})
    assert len(r.json()["data"]) == 1


_FUTURE = (datetime.now(UTC) + timedelta(days=30)).isoformat()
_PAST = "2020-01-01T00:00:00+00:00"
_AT = f"{PROFILES}/0/attributes/subscriptions/email/marketing/consented_at"


@pytest.mark.parametrize(
    ("build", "pointer"),
    [
        (
            lambda: job("profile-subscription-bulk-create-job", [member("h@example.com")], historical_import=True),
            _AT,
        ),
        (
            lambda: job(
                "profile-subscription-bulk-create-job",
                [
                    member(
                        "h@example.com",
                        channels={"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": _FUTURE}}},
                    )
                ],
                historical_import=True,
            ),
            _AT,
        ),
        (
            lambda: job(
                "profile-subscription-bulk-create-job",
                [
                    member(
                        "h@example.com",
                        channels={"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": _PAST}}},
                    )
                ],
            ),
            _AT,
        ),
        (
            lambda: job(
                "profile-subscription-bulk-create-job",
                [
                    member(
                        "h@example.com",
                        channels={"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": "soon"}}},
                    )
                ],
                historical_import=True,
            ),
            _AT,
        ),
        (
            lambda: job(
                "profile-subscription-bulk-create-job",
                [
                    member(
                        "h@example.com",
                        channels={"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": _PAST}}},
                    )
                ],
                historical_import=False,
            ),
            _AT,
        ),
    ],
    ids=[
        "historical-without-date",
        "historical-in-the-future",
        "date-without-historical",
        "bad-date",
        "historical-false",
    ],
)
def test_consented_at_goes_with_historical_import_and_the_past(api, build, pointer: str) -> None:
    before = written(api)
    e = error(api.post(SUBSCRIBE, json=build()), 400)
    assert e["source"]["pointer"] == pointer
    assert written(api) == before


def test_a_custom_source_longer_than_a_signup_forms_is_refused_naming_it(api) -> None:
    before = written(api)
    long = job("profile-subscription-bulk-create-job", [member("long.source@example.com")])
    long["data"]["attributes"]["custom_source"] = "x" * 501
    assert error(api.post(SUBSCRIBE, json=long), 400)["source"]["pointer"] == "/data/attributes/custom_source"
    assert written(api) == before
    long["data"]["attributes"]["custom_source"] = "x" * 500
    assert api.post(SUBSCRIBE, json=long).status_code == 202


def test_a_null_consented_at_is_no_date(api) -> None:
    # Klaviyo's schema has consented_at nullable, and its SDK's typed model sends null when unset.
    null = {"email": {"marketing": {"consent": "SUBSCRIBED", "consented_at": None}}}
    plain = job("profile-subscription-bulk-create-job", [member("null.date@example.com", channels=null)])
    assert api.post(SUBSCRIBE, json=plain).status_code == 202
    historical = job(
        "profile-subscription-bulk-create-job", [member("null.old@example.com", channels=null)], historical_import=True
    )
    assert error(api.post(SUBSCRIBE, json=historical), 400)["source"]["pointer"] == _AT


@pytest.mark.parametrize(
    ("profiles", "pointer"),
    [
        (
            [member("sms@example.com", channels={"sms": {"marketing": {"consent": "SUBSCRIBED"}}})],
            f"{PROFILES}/0/attributes/phone_number",
        ),
        (
            [member("wa@example.com", channels={"whatsapp": {"marketing": {"consent": "SUBSCRIBED"}}})],
            f"{PROFILES}/0/attributes/phone_number",
        ),
        ([member("+14155550100")], f"{PROFILES}/0/attributes/email"),
        ([member(channels={"email": {"marketing": {"consent": "SUBSCRIBED"}}})], f"{PROFILES}/0/attributes"),
        ([member("none@example.com", channels={})], f"{PROFILES}/0/attributes/subscriptions"),
        ([member(phone="12")], f"{PROFILES}/0/attributes/phone_number"),
        (
            [member("x@example.com", channels={"email": {"marketing": {"consent": "UNSUBSCRIBED"}}})],
            f"{PROFILES}/0/attributes/subscriptions/email/marketing/consent",
        ),
        ([{"type": "profile", "attributes": {"email": "x@example.com"}}], f"{PROFILES}/0/attributes"),
        ([{"type": "list", "attributes": {"subscriptions": {}}}], f"{PROFILES}/0/type"),
        ([], PROFILES),
        ([member(f"many{i}@example.com") for i in range(1001)], PROFILES),
    ],
    ids=[
        "sms-without-phone",
        "whatsapp-without-phone",
        "bad-email",
        "no-identifier",
        "no-channel",
        "bad-phone-alone",
        "wrong-consent",
        "no-subscriptions",
        "wrong-type",
        "no-profiles",
        "1001-profiles",
    ],
)
def test_bad_subscribe_jobs_are_400_naming_the_profile(api, profiles: list, pointer: str) -> None:
    before = written(api)
    e = error(subscribe(api, profiles), 400)
    assert e["source"]["pointer"] == pointer
    assert written(api) == before


@pytest.mark.parametrize(
    ("channels", "pointer"),
    [
        ({"email": {"marketing": {"consent": "SUBSCRIBED"}}, "sms": {"marketting": {"consent": "SUBSCRIBED"}}},
         "sms/marketting"),
        ({"email": {"marketing": {"consent": "SUBSCRIBED"}}, "smss": {"marketing": {"consent": "SUBSCRIBED"}}},
         "smss"),
        ({"fax": {"marketing": {"consent": "SUBSCRIBED"}}}, "fax"),
    ],
    ids=["misspelt-purpose", "misspelt-channel", "unknown-channel"],
)  # fmt: skip
def test_a_misspelt_channel_or_purpose_fails_the_job_naming_it(api, channels, pointer) -> None:
    # Ignoring it would answer 202 while the consent the client asked for is not recorded.
    before = written(api)
    e = error(subscribe(api, [member("typo@example.com", "+14155550123", channels)]), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/subscriptions/{pointer}"
    assert pointer.rsplit("/", 1)[-1] in e["detail"]
    assert written(api) == before
    leaving = {k: {p: {"consent": "UNSUBSCRIBED"} for p in v} for k, v in channels.items()}
    e = error(unsubscribe(api, [leaver("typo@example.com", "+14155550123", leaving)]), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/subscriptions/{pointer}"


def test_one_bad_profile_fails_the_whole_job(api) -> None:
    accepted(subscribe(api, [member("already@example.com")]))
    before = written(api)
    profiles = [
        member("good1@example.com"),
        member("already@example.com", "+14155550144", {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}),
        member("good2@example.com"),
        member("nophone@example.com", channels={"sms": {"marketing": {"consent": "SUBSCRIBED"}}}),
        member("good3@example.com"),
    ]
    e = error(subscribe(api, profiles), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/3/attributes/phone_number"
    assert written(api) == before
    assert profile(api, "already@example.com")["data"]["attributes"]["phone_number"] is None
    e = error(subscribe(api, [member("good1@example.com"), member(profile_id="01NOSUCHPROFILE00000000000")]), 404)
    assert e["source"]["pointer"] == f"{PROFILES}/1/id"
    assert written(api) == before


def test_a_list_of_another_account_or_none_at_all_is_404_and_writes_nothing(api, other_api, server) -> None:
    theirs = create_list(server.engine, other_api.account_id, "Theirs")
    before = written(api)
    for list_id in (theirs.id, "nolist"):
        for r in (
            subscribe(api, [member("a@example.com")], list_id),
            unsubscribe(api, [leaver("a@example.com")], list_id),
        ):
            e = error(r, 404)
            assert e["source"]["pointer"] == "/data/relationships/list/data/id"
    e = error(subscribe(api, [member("a@example.com")], ""), 400)
    assert e["source"]["pointer"] == "/data/relationships/list/data/id"
    assert written(api) == before
    assert written(other_api) == (0, 0)


def test_another_accounts_profile_id_is_not_found(api, other_api) -> None:
    r = other_api.post("/api/profiles", json={"data": {"type": "profile", "attributes": {"email": "t@example.com"}}})
    theirs = r.json()["data"]["id"]
    before = written(api)
    e = error(subscribe(api, [member(profile_id=theirs)]), 404)
    assert e["code"] == "not_found"
    assert written(api) == before
    assert written(other_api) == (1, 0)


# --- unsubscribe ------------------------------------------------------------------------------


def test_unsubscribing_a_member_with_its_list_leaves_the_list_and_keeps_consent(api, server) -> None:
    newsletter = create_list(server.engine, api.account_id, "Newsletter")
    accepted(subscribe(api, [member("member@example.com")], newsletter.id))
    accepted(unsubscribe(api, [leaver("member@example.com")], newsletter.id))
    m = email_marketing(api, "member@example.com")
    assert m["consent"] == "SUBSCRIBED"
    assert m["suppression"] == []
    assert [(s["list_id"], s["reason"]) for s in m["list_suppressions"]] == [(newsletter.id, "UNSUBSCRIBE")]
    assert lists_of(api, "member@example.com") == []


def test_unsubscribing_a_non_member_with_a_list_unsubscribes_globally(api, server) -> None:
    newsletter = create_list(server.engine, api.account_id, "Newsletter")
    accepted(subscribe(api, [member("outsider@example.com")]))
    accepted(unsubscribe(api, [leaver("outsider@example.com")], newsletter.id))
    m = email_marketing(api, "outsider@example.com")
    assert (m["consent"], m["can_receive_email_marketing"]) == ("UNSUBSCRIBED", False)
    assert [s["reason"] for s in m["suppression"]] == ["UNSUBSCRIBE"]


def test_unsubscribing_an_unknown_address_remembers_the_opt_out(api) -> None:
    accepted(unsubscribe(api, [leaver("stranger@example.com")]))
    m = email_marketing(api, "stranger@example.com")
    assert m["consent"] == "UNSUBSCRIBED"


def test_unsubscribing_sms_by_phone(api) -> None:
    sms = {"sms": {"marketing": {"consent": "SUBSCRIBED"}}}
    accepted(subscribe(api, [member("texts@example.com", "+14155550145", sms)]))
    accepted(
        unsubscribe(
            api, [leaver(phone="+1 415 555 0145", channels={"sms": {"marketing": {"consent": "UNSUBSCRIBED"}}})]
        )
    )
    subscriptions = profile(api, "texts@example.com")["data"]["attributes"]["subscriptions"]
    assert subscriptions["sms"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert subscriptions["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"


def test_resubscribing_lifts_the_unsubscribe_suppression(api) -> None:
    accepted(subscribe(api, [member("back@example.com")]))
    accepted(unsubscribe(api, [leaver("back@example.com")]))
    assert [s["reason"] for s in email_marketing(api, "back@example.com")["suppression"]] == ["UNSUBSCRIBE"]
    accepted(subscribe(api, [member("back@example.com")]))
    m = email_marketing(api, "back@example.com")
    assert (m["consent"], m["suppression"], m["can_receive_email_marketing"]) == ("SUBSCRIBED", [], True)


@pytest.mark.parametrize(
    ("profiles", "pointer"),
    [
        ([leaver()], f"{PROFILES}/0/attributes"),
        ([leaver("x@example.com", channels={})], f"{PROFILES}/0/attributes/subscriptions"),
        ([leaver("bad-email")], f"{PROFILES}/0/attributes/email"),
        (
            [leaver("x@example.com", channels={"email": {"marketing": {"consent": "SUBSCRIBED"}}})],
            f"{PROFILES}/0/attributes/subscriptions/email/marketing/consent",
        ),
        ([leaver(f"u{i}@example.com") for i in range(101)], PROFILES),
        ([], PROFILES),
    ],
    ids=["no-identifier", "no-channel", "bad-email", "wrong-consent", "101-profiles", "no-profiles"],
)
def test_bad_unsubscribe_jobs_are_400_naming_the_profile(api, profiles: list, pointer: str) -> None:
    accepted(subscribe(api, [member("x@example.com")]))
    before = written(api)
    e = error(unsubscribe(api, profiles), 400)
    assert e["source"]["pointer"] == pointer
    assert written(api) == before


@pytest.mark.parametrize(
    ("send", "consent", "hint"),
    [
        (subscribe, "UNSUBSCRIBED", "for UNSUBSCRIBED, POST to /api/profile-subscription-bulk-delete-jobs"),
        (subscribe, "unsubscribed", "for UNSUBSCRIBED, POST to /api/profile-subscription-bulk-delete-jobs"),
        (subscribe, "subscribed", "write it SUBSCRIBED, in capitals"),
        (subscribe, "YES", "the one value accepted is SUBSCRIBED"),
        (unsubscribe, "SUBSCRIBED", "for SUBSCRIBED, POST to /api/profile-subscription-bulk-create-jobs"),
        (unsubscribe, "Unsubscribed", "write it UNSUBSCRIBED, in capitals"),
    ],
)
def test_a_consent_the_job_does_not_take_is_400_saying_what_to_send_instead(api, send, consent, hint) -> None:
    channels = {"sms": {"marketing": {"consent": consent}}}
    before = written(api)
    e = error(send(api, [member(phone="+14155550123", channels=channels)]), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/0/attributes/subscriptions/sms/marketing/consent"
    assert e["detail"].startswith(f"Invalid enum value '{consent}'") and e["detail"].endswith(hint), e["detail"]
    assert written(api) == before


def test_a_hundred_unsubscribes_fit_in_one_job_and_a_bad_one_fails_them_all(api) -> None:
    accepted(subscribe(api, [member(f"u{i}@example.com") for i in range(100)]))
    before = written(api)
    leavers = [leaver(f"u{i}@example.com") for i in range(99)] + [leaver("u99@")]
    e = error(unsubscribe(api, leavers), 400)
    assert e["source"]["pointer"] == f"{PROFILES}/99/attributes/email"
    assert written(api) == before
    accepted(unsubscribe(api, [leaver(f"u{i}@example.com") for i in range(100)]))
    assert email_marketing(api, "u57@example.com")["consent"] == "UNSUBSCRIBED"
