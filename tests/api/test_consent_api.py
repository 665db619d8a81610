"""Assent's own consent endpoints over a real server: the ledger as a lossless, resumable change
feed; a profile's timeline and its state as of a time; send decisions with their reasons; and the
ledger's verification."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists.lists import create_list

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"


# --- helpers ----------------------------------------------------------------------------------


def _job(kind: str, email: str, consent_value: str, list_id: str | None) -> dict[str, Any]:
    item = {
        "type": "profile",
        "attributes": {"email": email, "subscriptions": {"email": {"marketing": {"consent": consent_value}}}},
    }
    body: dict[str, Any] = {"data": {"type": kind, "attributes": {"profiles": {"data": [item]}}}}
    if list_id:
        body["data"]["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return body


def subscribe(api, email: str, list_id: str | None = None) -> None:
    r = api.post(SUBSCRIBE, json=_job("profile-subscription-bulk-create-job", email, "SUBSCRIBED", list_id))
    assert r.status_code == 202, r.text


def unsubscribe(api, email: str, list_id: str | None = None) -> None:
    r = api.post(UNSUBSCRIBE, json=_job("profile-subscription-bulk-delete-job", email, "UNSUBSCRIBED", list_id))
    assert r.status_code == 202, r.text


def profile_id(api, email: str) -> str:
    r = api.get("/api/profiles", params={"filter": f"equals(email,'{email}')"})
    (p,) = r.json()["data"]
    return p["id"]


def feed(api, **params: str) -> dict[str, Any]:
    r = api.get("/api/consent-events", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def walk(api, url: str) -> list[dict[str, Any]]:
    """Every event from `url` on, following links.next."""
    out: list[dict[str, Any]] = []
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.text
        doc = r.json()
        check_page(doc)
        out += doc["data"]
        url = doc["links"].get("next")
    return out


def check_page(doc: dict[str, Any]) -> None:
    assert doc["links"]["self"].startswith("http")
    seqs = [e["attributes"]["seq"] for e in doc["data"]]
    assert seqs == sorted(set(seqs))
    assert doc["meta"]["last_seq"] == (seqs[-1] if seqs else None)
    for e in doc["data"]:
        assert e["type"] == "consent-event" and e["id"] == str(e["attributes"]["seq"])
        assert e["relationships"]["profile"]["data"] == {"type": "profile", "id": e["attributes"]["profile_id"]}
        assert datetime.fromisoformat(e["attributes"]["occurred_at"]).tzinfo is not None


def error(r, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    e = r.json()["errors"][0]
    assert {"id", "status", "code", "title", "detail"} <= e.keys(), e
    return e


def decide(api, data: Any):
    return api.post("/api/decisions", json={"data": data})


def ask(channel: str = "email", **profile: str) -> dict[str, Any]:
    return {"type": "decision", "attributes": {"profile": profile, "channel": channel}}


@pytest.fixture
def history(api, server) -> dict[str, Any]:
    """A small account history: subscribes, a list join and leave, unsubscribes and a bounce."""
    newsletter = create_list(server.engine, api.account_id, "Newsletter")
    subscribe(api, "a@example.com", newsletter.id)
    subscribe(api, "b@example.com")
    unsubscribe(api, "a@example.com", newsletter.id)  # a member: leaves the list
    unsubscribe(api, "b@example.com")  # global
    consent.suppress(server.engine, api.account_id, Locator("email", "c@example.com"), SuppressionReason.HARD_BOUNCE)
    subscribe(api, "b@example.com")  # back again
    return {"list_id": newsletter.id}


# --- the change feed --------------------------------------------------------------------------


def test_the_feed_is_in_seq_order_and_loses_no_opt_out_or_suppression(api, other_api, history) -> None:
    subscribe(other_api, "a@example.com")  # another account's events never show
    doc = feed(api)
    check_page(doc)
    events = [e["attributes"] for e in doc["data"]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    a, b, c = (profile_id(api, f"{x}@example.com") for x in "abc")
    summary = [(e["profile_id"], e["type"], e.get("status") or e.get("reason")) for e in events]
    for expected in [
        (a, "consent.changed", "SUBSCRIBED"),
        (a, "list.joined", None),
        (a, "list_suppression.added", "UNSUBSCRIBE"),
        (a, "list.left", None),
        (b, "consent.changed", "UNSUBSCRIBED"),
        (b, "suppression.added", "UNSUBSCRIBE"),
        (c, "suppression.added", "HARD_BOUNCE"),
        (b, "suppression.removed", "UNSUBSCRIBE"),
    ]:
        assert expected in summary, (expected, summary)
    assert [s for s in summary if s[0] == b and s[1] == "consent.changed"] == [
        (b, "consent.changed", "SUBSCRIBED"),
        (b, "consent.changed", "UNSUBSCRIBED"),
        (b, "consent.changed", "SUBSCRIBED"),
    ]
    assert {e["profile_id"] for e in events} == {a, b, c}


def test_the_feed_pages_forward_and_resumes_after_a_seq(api, history) -> None:
    everything = feed(api, **{"page[size]": "1000"})["data"]
    paged = walk(api, "/api/consent-events?page%5Bsize%5D=2")
    assert paged == everything
    middle = everything[len(everything) // 2]["attributes"]["seq"]
    resumed = walk(api, f"/api/consent-events?page%5Bsize%5D=3&filter=greater-than(seq,{middle})")
    assert resumed == [e for e in everything if e["attributes"]["seq"] > middle]
    assert feed(api, filter=f"greater-than(seq,{everything[-1]['attributes']['seq']})")["data"] == []
    # The consumer's loop: remember meta.last_seq, ask again later, see only what is new.
    last = feed(api)["meta"]["last_seq"]
    unsubscribe(api, "d@example.com")
    new = feed(api, filter=f"greater-than(seq,{last})")["data"]
    assert [e["attributes"]["type"] for e in new] == ["consent.changed", "suppression.added"]


@pytest.mark.parametrize(
    ("path", "expression", "expected"),
    [
        ("/api/consent-events", "greater-than(seq,abc)", "'seq' needs a number, unquoted, e.g. greater-than(seq,5)"),
        ("/api/consent-events", 'greater-than(seq,"5")', "'seq' needs a number, unquoted, e.g. greater-than(seq,5)"),
        ("/api/profiles", "greater-than(created,notadate)", "e.g. greater-than(created,2023-03-01T00:00:00Z)"),
    ],
)
def test_a_filter_hint_fits_the_field_type(api, path: str, expression: str, expected: str) -> None:
    e = error(api.get(path, params={"filter": expression}), 400)
    assert expected in e["detail"] and "put strings in quotes" not in e["detail"]
    assert e["source"] == {"parameter": "filter"}


def test_the_feed_filters_by_profile_metric_and_seq(api, history) -> None:
    b = profile_id(api, "b@example.com")
    everything = feed(api, **{"page[size]": "1000"})["data"]
    only_b = feed(api, filter=f"equals(profile_id,'{b}')")["data"]
    assert only_b == [e for e in everything if e["attributes"]["profile_id"] == b]
    metric = "Unsubscribed from Email Marketing"
    unsubscribed = feed(api, filter=f"equals(metric,'{metric}')")["data"]
    assert unsubscribed and unsubscribed == [e for e in everything if e["attributes"]["metric"] == metric]
    third = everything[2]
    assert feed(api, filter="equals(seq,3)")["data"] == [third]
    r = api.get(third["links"]["self"])
    assert r.status_code == 200 and r.json()["data"] == [third]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page[size]": "0"}, "page[size]"),
        ({"page[size]": "1001"}, "page[size]"),
        ({"page[cursor]": "garbage"}, "page[cursor]"),
        ({"page[cursor]": "WyJuIixbIjAxQUJDIl1d"}, "page[cursor]"),  # a profile listing's cursor
        ({"filter": "greater-than(seq,'ten')"}, "filter"),
        ({"filter": "less-than(seq,10)"}, "filter"),
        ({"filter": "equals(channel,'email')"}, "filter"),
        ({"filter": "greater-than(seq,99999999999999999999999)"}, "filter"),
        # Parameters the feed does not take: ignored, sort=-seq gave the oldest events first.
        ({"sort": "-seq"}, "sort"),
        ({"fields[consent-event]": "seq"}, "fields[consent-event]"),
        ({"include": "profile"}, "include"),
    ],
)
def test_bad_feed_parameters_are_400_naming_them(api, history, params: dict, parameter: str) -> None:
    e = error(api.get("/api/consent-events", params=params), 400)
    assert e["source"]["parameter"] == parameter


# --- a profile's timeline ---------------------------------------------------------------------


def test_a_profile_timeline_holds_its_events_and_its_state_as_of_a_time(api, history) -> None:
    b = profile_id(api, "b@example.com")
    r = api.get(f"/api/profiles/{b}/consent-events")
    assert r.status_code == 200, r.text
    doc = r.json()
    check_page(doc)
    events = [e["attributes"] for e in doc["data"]]
    assert {e["profile_id"] for e in events} == {b}
    assert doc["meta"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    first, unsubscribed = events[0], next(e for e in events if e.get("status") == "UNSUBSCRIBED")
    # As of the first subscribe: only it, and the profile subscribed.
    r = api.get(f"/api/profiles/{b}/consent-events", params={"as_of": first["occurred_at"]})
    doc = r.json()
    assert all(e["attributes"]["occurred_at"] <= first["occurred_at"] for e in doc["data"])
    assert doc["data"][0]["attributes"] == first
    assert datetime.fromisoformat(doc["meta"]["as_of"]) == datetime.fromisoformat(first["occurred_at"])
    assert doc["meta"]["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    # As of the unsubscribe: unsubscribed and suppressed.
    r = api.get(f"/api/profiles/{b}/consent-events", params={"as_of": unsubscribed["occurred_at"]})
    marketing = r.json()["meta"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "UNSUBSCRIBED"
    assert [s["reason"] for s in marketing["suppression"]] == ["UNSUBSCRIBE"]
    # Before anything: never subscribed, no events.
    before = (datetime.fromisoformat(first["occurred_at"]) - timedelta(days=1)).isoformat()
    doc = api.get(f"/api/profiles/{b}/consent-events", params={"as_of": before}).json()
    assert doc["data"] == []
    assert doc["meta"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    # A naive time is UTC; Z is accepted.
    naive = datetime.fromisoformat(first["occurred_at"]).replace(tzinfo=None).isoformat()
    assert (
        api.get(f"/api/profiles/{b}/consent-events", params={"as_of": naive}).json()["data"][0]["attributes"] == first
    )
    zulu = first["occurred_at"].replace("+00:00", "Z")
    assert api.get(f"/api/profiles/{b}/consent-events", params={"as_of": zulu}).status_code == 200


def test_a_profile_timeline_pages(api, history) -> None:
    b = profile_id(api, "b@example.com")
    everything = api.get(f"/api/profiles/{b}/consent-events").json()["data"]
    assert len(everything) >= 4
    assert walk(api, f"/api/profiles/{b}/consent-events?page%5Bsize%5D=1") == everything


def test_a_phone_number_change_shows_on_the_timeline_as_a_named_reset_not_an_unsubscribe(server, api) -> None:
    """Rule 3 resets SMS consent when the number changes; the timeline names that reset (rule 10)
    for what it is: the person neither unsubscribed nor was asked."""
    pid = consent.subscribe(
        server.engine, api.account_id, Locator("phone_number", "+14155550161"),
        [(Channel.SMS, Purpose.MARKETING), (Channel.SMS, Purpose.TRANSACTIONAL)],
    ).profile_id  # fmt: skip
    body = {"data": {"type": "profile", "id": pid, "attributes": {"phone_number": "+14155550162"}}}
    assert api.patch(f"/api/profiles/{pid}", json=body).status_code == 200
    events = [e["attributes"] for e in api.get(f"/api/profiles/{pid}/consent-events").json()["data"]]
    resets = [e for e in events if e["type"] == "consent.changed" and e["status"] == "NEVER_SUBSCRIBED"]
    assert [(e["purpose"], e["metric"], e["outcome"]) for e in resets] == [
        ("marketing", "SMS Marketing Consent Reset by Phone Number Change", "phone_number_changed"),
        ("transactional", "SMS Transactional Consent Reset by Phone Number Change", "phone_number_changed"),
    ]
    assert not any((e["metric"] or "").startswith("Unsubscribed") for e in events)
    # The change feed finds the resets by that name.
    named = feed(api, filter='equals(metric,"SMS Marketing Consent Reset by Phone Number Change")')["data"]
    assert [e["attributes"]["profile_id"] for e in named] == [pid]


def test_bad_timeline_requests(api, other_api, history) -> None:
    b = profile_id(api, "b@example.com")
    e = error(api.get(f"/api/profiles/{b}/consent-events", params={"as_of": "last tuesday"}), 400)
    assert e["source"]["parameter"] == "as_of"
    e = error(api.get(f"/api/profiles/{b}/consent-events", params={"page[size]": "-1"}), 400)
    assert e["source"]["parameter"] == "page[size]"
    e = error(api.get(f"/api/profiles/{b}/consent-events", params={"sort": "-seq"}), 400)
    assert e["source"]["parameter"] == "sort"
    error(api.get("/api/profiles/01NOSUCHPROFILE0000000000/consent-events"), 404)
    error(other_api.get(f"/api/profiles/{b}/consent-events"), 404)


# --- decisions --------------------------------------------------------------------------------


def test_a_single_decision_explains_itself(api, server, history) -> None:
    r = decide(api, ask(email="b@example.com"))
    assert r.status_code == 200, r.text
    d = r.json()["data"]
    b = profile_id(api, "b@example.com")
    assert d["type"] == "decision" and d["relationships"]["profile"]["data"]["id"] == b
    a = d["attributes"]
    assert (a["verdict"], a["allowed"], a["channel"], a["purpose"], a["via"]) == (
        "ALLOW",
        True,
        "email",
        "marketing",
        "campaign",
    )
    assert "SUBSCRIBED" in a["reasons"]
    assert datetime.fromisoformat(a["at"]).tzinfo is not None
    denied = decide(api, ask(email="c@example.com")).json()["data"]["attributes"]
    assert (denied["verdict"], denied["allowed"]) == ("DENY", False)
    assert "SUPPRESSED_HARD_BOUNCE" in denied["reasons"]
    by_id = decide(api, ask(id=b)).json()["data"]["attributes"]
    assert by_id["profile_id"] == b


def test_a_batch_of_decisions_answers_each_in_order(api, history) -> None:
    lst = history["list_id"]
    asks = [
        ask(email="a@example.com"),
        {"type": "decision", "attributes": {"profile": {"email": "a@example.com"}, "channel": "email", "list_id": lst}},
        ask(email="b@example.com"),
        {"type": "decision", "attributes": {"profile": {"email": "b@example.com"}, "channel": "email", "list_id": lst}},
        ask("sms", email="b@example.com"),
    ]
    r = decide(api, asks)
    assert r.status_code == 200, r.text
    answers = [d["attributes"] for d in r.json()["data"]]
    assert [x["verdict"] for x in answers] == ["ALLOW", "DENY", "ALLOW", "DENY", "DENY"]
    assert "LIST_SUPPRESSED" in answers[1]["reasons"]
    assert "NOT_IN_LIST" in answers[3]["reasons"]
    assert "NO_ADDRESS" in answers[4]["reasons"]


def test_an_unknown_profile_in_a_batch_is_its_own_deny_and_the_others_are_answered(api, history) -> None:
    asks = [ask(email="b@example.com"), ask(email="nobody@example.com"), ask("sms", phone_number="+14155550100")]
    r = decide(api, asks)
    assert r.status_code == 200, r.text
    known, by_email, by_phone = r.json()["data"]
    assert known["attributes"]["verdict"] == "ALLOW"
    assert known["attributes"]["profile_id"] == profile_id(api, "b@example.com")
    for d, channel in ((by_email, "email"), (by_phone, "sms")):
        a = d["attributes"]
        assert (a["verdict"], a["allowed"], a["reasons"], a["profile_id"]) == ("DENY", False, ["UNKNOWN_PROFILE"], None)
        assert (a["channel"], a["purpose"]) == (channel, "marketing")
        assert d["type"] == "decision" and d["id"] and d["relationships"]["profile"]["data"] is None
    # Asked alone (not in a list), an unknown profile is still the 404 of the call.
    e = error(decide(api, ask(email="nobody@example.com")), 404)
    assert e["source"]["pointer"] == "/data/attributes/profile/email"


def test_a_decision_in_the_past_is_judged_on_the_state_then(api, history) -> None:
    b = profile_id(api, "b@example.com")
    events = api.get(f"/api/profiles/{b}/consent-events").json()["data"]
    unsubscribed = next(e["attributes"] for e in events if e["attributes"].get("status") == "UNSUBSCRIBED")
    d = decide(
        api,
        {
            "type": "decision",
            "attributes": {"profile": {"id": b}, "channel": "email", "at": unsubscribed["occurred_at"]},
        },
    )
    assert d.status_code == 200, d.text
    a = d.json()["data"]["attributes"]
    assert a["verdict"] == "DENY" and "UNSUBSCRIBED" in a["reasons"]


def test_a_thousand_decisions_fit_in_one_batch_and_1001_do_not(api, history) -> None:
    r = decide(api, [ask(email="b@example.com")] * 1000)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 1000
    e = error(decide(api, [ask(email="b@example.com")] * 1001), 400)
    assert e["source"]["pointer"] == "/data"
    e = error(decide(api, []), 400)
    assert e["source"]["pointer"] == "/data"


@pytest.mark.parametrize(
    ("data", "status", "pointer"),
    [
        (ask("carrier-pigeon", email="b@example.com"), 400, "/data/attributes/channel"),
        (ask(), 400, "/data/attributes/profile"),
        (ask(email="b@example.com", id="x"), 400, "/data/attributes/profile"),
        (ask(email="not an email"), 400, "/data/attributes/profile/email"),
        (ask(email="nobody@example.com"), 404, "/data/attributes/profile/email"),
        (
            {
                "type": "decision",
                "attributes": {"profile": {"email": "b@example.com"}, "channel": "email", "purpose": "gossip"},
            },
            400,
            "/data/attributes/purpose",
        ),
        (
            {
                "type": "decision",
                "attributes": {"profile": {"email": "b@example.com"}, "channel": "email", "via": "pigeon"},
            },
            400,
            "/data/attributes/via",
        ),
        ({"type": "decision", "attributes": {"profile": {"email": "b@example.com"}}}, 400, "/data/attributes"),
        ([ask(email="b@example.com"), ask("fax", email="b@example.com")], 400, "/data/1/attributes/channel"),
        # An unknown profile is answered in a batch; a malformed identifier still refuses it whole.
        ([ask(email="nobody@example.com"), ask(email="not an email")], 400, "/data/1/attributes/profile/email"),
    ],
    ids=[
        "bad-channel",
        "no-profile",
        "two-locators",
        "bad-email",
        "unknown-profile",
        "bad-purpose",
        "bad-via",
        "no-channel",
        "batch-bad-channel",
        "batch-unknown-profile-and-bad-email",
    ],
)
def test_bad_decision_requests_name_the_item(api, history, data: Any, status: int, pointer: str) -> None:
    e = error(decide(api, data), status)
    assert e["source"]["pointer"] == pointer


# --- the ledger's verification ----------------------------------------------------------------


def test_the_ledger_verifies(api, history) -> None:
    r = api.get("/api/ledger/verify")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["data"]["type"] == "ledger-verification" and doc["data"]["id"] == api.account_id
    a = doc["data"]["attributes"]
    assert (a["ok"], a["first_bad_seq"], a["problem"]) == (True, None, None)
    assert a["events"] == len(feed(api, **{"page[size]": "1000"})["data"])


def test_a_fresh_ledger_verifies_empty(api) -> None:
    a = api.get("/api/ledger/verify").json()["data"]["attributes"]
    assert (a["ok"], a["events"]) == (True, 0)
