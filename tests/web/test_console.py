"""The staff console over HTTP, on SQLite and PostgreSQL: who may enter (invites, argon2 passwords,
signed session cookies, CSRF, the login rate limit, idle expiry), a viewer refused every change,
API keys and console sessions kept apart, and every staff change recorded in the ledger with the
staff user as actor, method STAFF and the reason given."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.console import staff
from assent.services.profiles import reading as profiles
from assent.services.shared import tokens
from tests.api.conftest import make_client

PASSWORD = "correct-horse-battery"
ACTIONS = ("subscribe", "unsubscribe", "suppress", "unsuppress", "remove-list-suppression", "resend", "identifier")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Console(httpx.Client):
    """A browser-like client. Each comes from its own loopback address (127.x.y.z), as people sign
    in from their own machines: the sign-in limits count per address, and the tests of one database
    would otherwise share one address's budget."""

    account_id: str
    email: str

    def __init__(self, **kwargs: Any) -> None:
        address = f"127.{random.randrange(1, 255)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        super().__init__(transport=httpx.HTTPTransport(local_address=address), **kwargs)

    def form(self, path: str) -> str:
        page = self.get(path)
        assert page.status_code == 200, page.text
        return _csrf(page.text)


def _account(server) -> str:
    return accounts.create_account(server.engine, f"Brand {uuid.uuid4().hex[:6]}", "US").account.id


def _user(server, account_id: str, role: str) -> tuple[str, str]:
    email = f"{role}.{uuid.uuid4().hex[:8]}@staff.example"
    invite = staff.create_user(server.engine, account_id, email, role)
    staff.accept_invite(server.engine, invite.token, PASSWORD)
    return email, invite.token


def _login(server, account_id: str, email: str) -> Console:
    c = Console(base_url=server.base_url, timeout=30, follow_redirects=False)
    c.account_id, c.email = account_id, email
    token = c.form("/console/login")
    r = c.post("/console/login", data={"csrf": token, "email": email, "password": PASSWORD, "next": "/console"})
    assert r.status_code == 303, r.text
    return c


@pytest.fixture
def owner(server) -> Iterator[Console]:
    account_id = _account(server)
    email, _ = _user(server, account_id, "owner")
    c = _login(server, account_id, email)
    yield c
    c.close()


@pytest.fixture
def viewer(server, owner) -> Iterator[Console]:
    email, _ = _user(server, owner.account_id, "viewer")
    c = _login(server, owner.account_id, email)
    yield c
    c.close()


def _ada(server, account_id: str) -> str:
    change = consent.subscribe(server.engine, account_id, Locator("email", "ada@example.com"),
                               [(Channel.EMAIL, Purpose.MARKETING)], method="API")  # fmt: skip
    return change.profile_id


def _events(server, account_id: str, profile_id: str) -> list[dict]:
    return profiles.timeline(server.engine, account_id, Locator("id", profile_id))[1]


def test_invite_link_sets_a_password_once_and_signs_in(server):
    account_id = _account(server)
    invite = staff.create_user(server.engine, account_id, "Lin@Staff.example", "editor")
    assert invite.user.email == "lin@staff.example" and not invite.user.active
    with Console(base_url=server.base_url, timeout=30) as c:
        path = f"/console/invite/{invite.token}"
        token = c.form(path)
        short = c.post(path, data={"csrf": token, "password": "short", "password_again": "short"})
        assert short.status_code == 400 and "at least 10 characters" in short.text
        r = c.post(path, data={"csrf": token, "password": PASSWORD, "password_again": PASSWORD},
                   follow_redirects=False)  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == "/console"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        assert c.get("/console/profiles").status_code == 200
        again = c.get(path)
        assert again.status_code == 400 and "used or replaced" in again.text


def test_passwords_are_stored_as_argon2_hashes(server):
    account_id = _account(server)
    email, _ = _user(server, account_id, "owner")
    from assent.store import staff as store  # the stored row, to see what is kept
    from assent.store.db import read_transaction

    with read_transaction(server.engine) as conn:
        row = store.user_by_email(conn, account_id, email)
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert staff.authenticate(server.engine, email, "wrong-password-here") is None
    assert staff.authenticate(server.engine, email.upper(), PASSWORD).id == row.id


def test_wrong_password_is_refused_without_saying_which_part(server):
    account_id = _account(server)
    email, _ = _user(server, account_id, "owner")
    with Console(base_url=server.base_url, timeout=30) as c:
        token = c.form("/console/login")
        for who in (email, "nobody@staff.example"):
            r = c.post("/console/login", data={"csrf": token, "email": who, "password": "not-the-password"})
            assert r.status_code == 400 and "do not match" in r.text
        assert c.get("/console/profiles", follow_redirects=False).status_code == 303


def test_a_next_that_is_no_url_signs_in_to_the_console_home(server):
    """A `next` with an unclosed IPv6 bracket made the URL parser raise: the sign-in page, the
    sign-in and a signed-in visit to the page were each a 500."""
    account_id = _account(server)
    email, _ = _user(server, account_id, "owner")
    with Console(base_url=server.base_url, timeout=30, follow_redirects=False) as c:
        for value in ("http://[::1", "//[x/console"):
            page = c.get("/console/login", params={"next": value})
            assert page.status_code == 200 and 'name="next" value="/console"' in page.text
        token = c.form("/console/login")
        r = c.post("/console/login", data={"csrf": token, "email": email, "password": PASSWORD, "next": "http://[::1"})
        assert r.status_code == 303 and r.headers["location"] == "/console"
        again = c.get("/console/login", params={"next": "http://[::1"})
        assert again.status_code == 303 and again.headers["location"] == "/console"


def test_login_is_rate_limited(server):
    account_id = _account(server)
    email, _ = _user(server, account_id, "owner")
    with Console(base_url=server.base_url, timeout=30) as c:
        token = c.form("/console/login")
        # 10 a minute, in windows of the clock's minutes: the attempts start in a minute with time
        # left for all of them (a boundary among them would leave the last ones in a fresh window).
        if (left := 60 - time.time() % 60) < 20:
            time.sleep(left + 0.2)
        bad = {"csrf": token, "email": email, "password": "bad-password-x"}
        codes = [c.post("/console/login", data=bad).status_code for _ in range(21)]
        assert codes[:10] == [400] * 10 and 429 in codes, codes
        assert codes[-1] == 429  # the last attempt falls in a full window
        # The right password is refused too while the window lasts.
        r = c.post("/console/login", data={"csrf": token, "email": email, "password": PASSWORD})
        assert r.status_code == 429 and "Retry-After" in r.headers


def test_forms_without_the_csrf_token_are_refused(server, owner):
    pid = _ada(server, owner.account_id)
    before = len(_events(server, owner.account_id, pid))
    for path in [f"/console/profiles/{pid}/do/{a}" for a in ACTIONS] + ["/console/logout"]:
        for data in ({"reason": "no token"}, {"reason": "forged", "csrf": "x" * 32}):
            r = owner.post(path, data={**data, "channel": "email", "purpose": "marketing", "basis": "verbal",
                                       "evidence": "t-1", "field": "external_id", "value": "x"})  # fmt: skip
            assert r.status_code == 403, path
    with Console(base_url=server.base_url, timeout=30) as anonymous:
        r = anonymous.post("/console/login", data={"email": owner.email, "password": PASSWORD})
        assert r.status_code == 403
    assert len(_events(server, owner.account_id, pid)) == before
    assert owner.get("/console/profiles").status_code == 200  # still signed in


def test_viewer_is_refused_every_change(server, owner, viewer):
    pid = _ada(server, owner.account_id)
    consent.suppress(server.engine, owner.account_id, Locator("id", pid), SuppressionReason.USER_SUPPRESSED)
    before = _events(server, owner.account_id, pid)
    page = viewer.get(f"/console/profiles/{pid}")
    assert page.status_code == 200 and "Subscribe…" not in page.text and "/do/" not in page.text
    token = _csrf(page.text)
    for action in ACTIONS:
        r = viewer.post(f"/console/profiles/{pid}/do/{action}", data={
            "csrf": token, "reason": "I should not", "channel": "sms", "purpose": "marketing", "basis": "verbal",
            "evidence": "t-1", "field": "external_id", "value": "new-id", "list": "",
        })  # fmt: skip
        assert r.status_code == 403, action
        assert "can look but not change" in r.text
    assert _events(server, owner.account_id, pid) == before
    with pytest.raises(staff.Forbidden):
        staff.require_change(staff.get_user(server.engine, owner.account_id, _user_id(server, viewer)))


def _user_id(server, c: Console) -> str:
    return next(u.id for u in staff.list_users(server.engine, c.account_id) if u.email == c.email)


def test_an_api_key_never_opens_the_console_and_a_session_never_opens_the_api(server, owner):
    new = accounts.create_key(server.engine, owner.account_id)
    with make_client(server.base_url, new.secret, owner.account_id) as api:
        r = api.get("/console/profiles", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    r = owner.get("/api/profiles", headers={"revision": "2026-10-15"})
    assert r.status_code == 401


def test_logout_ends_the_session(server, owner):
    token = owner.form("/console/profiles")
    cookie = owner.cookies.get("assent_console")
    r = owner.post("/console/logout", data={"csrf": token})
    assert r.status_code == 303
    assert owner.get("/console/profiles").status_code == 303
    # A copy of the cookie kept by hand (stolen, or a second tab's) no longer opens the console:
    # the sign-out is recorded on the server, not only in the browser.
    assert cookie
    with Console(base_url=server.base_url, timeout=30, follow_redirects=False) as copy:
        copy.cookies.set("assent_console", cookie, path="/console")
        assert copy.get("/console/profiles").status_code == 303
    # Signing in again starts a new session, which works.
    again = _login(server, owner.account_id, owner.email)
    assert again.get("/console/profiles").status_code == 200
    again.close()


def test_an_idle_session_expires(server, owner):
    data = tokens.read_token(server.engine, "console.session", owner.cookies.get("assent_console"))
    secret = tokens._serializer(server.engine, "console.session").secret_keys[-1]

    class Stale(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - 31 * 60  # signed 31 minutes ago: past the 30-minute idle timeout

    stale = URLSafeTimedSerializer(secret, salt="assent.console.session", signer=Stale).dumps(data)
    with Console(base_url=server.base_url, timeout=30, cookies={"assent_console": stale}) as c:
        r = c.get("/console/profiles", follow_redirects=False)
        assert r.status_code == 303 and "/console/login" in r.headers["location"]


def test_a_new_password_ends_older_sessions(server, owner):
    invite = staff.reinvite(server.engine, owner.account_id, owner.email)
    staff.accept_invite(server.engine, invite.token, "another-password-1")
    assert owner.get("/console/profiles", follow_redirects=False).status_code == 303


def test_search_finds_by_email_phone_external_id_and_name(server, owner):
    e = server.engine
    consent.subscribe(e, owner.account_id, Locator("phone_number", "+12065550123"), [(Channel.SMS, Purpose.MARKETING)])
    from assent.services.profiles.writes import ProfileInput, upsert_profile

    w = upsert_profile(e, owner.account_id, None, ProfileInput(values={
        "email": "grace@example.com", "external_id": "cust-77", "first_name": "Grace", "last_name": "Hopper"}))
    for q in ("grace@ex", "cust-77", "hopper", "Grace H"):
        r = owner.get("/console/profiles", params={"q": q})
        assert f"/console/profiles/{w.row.id}" in r.text, q
    r = owner.get("/console/profiles", params={"q": "(206) 555-0123"})
    assert "+12065550123" in r.text
    empty = owner.get("/console/profiles", params={"q": "nobody-here"})
    assert "No profile matches" in empty.text


def test_consent_panel_shows_the_three_states(server, owner):
    pid = _ada(server, owner.account_id)
    consent.unsubscribe(server.engine, owner.account_id, Locator("id", pid), Channel.EMAIL)
    consent.subscribe(server.engine, owner.account_id, Locator("phone_number", "+12065550199"),
                      [(Channel.SMS, Purpose.MARKETING)])  # fmt: skip
    html = owner.get(f"/console/profiles/{pid}").text
    assert re.search(r'id="consent-email-marketing" data-status="UNSUBSCRIBED"', html)
    assert re.search(r'id="consent-push-marketing" data-status="NEVER_SUBSCRIBED"', html)
    sms = owner.get(f"/console/profiles/{_by_phone(server, owner.account_id)}").text
    assert re.search(r'id="consent-sms-marketing" data-status="SUBSCRIBED"', sms)
    assert "✓" in sms and "✗" in html and "!" in html


def _by_phone(server, account_id: str) -> str:
    found = profiles.decide_for(server.engine, account_id, Locator("phone_number", "+12065550199"), Channel.SMS)
    return found.profile_id


def test_staff_changes_are_recorded_with_actor_method_staff_and_reason(server, owner):
    pid = _ada(server, owner.account_id)
    path = f"/console/profiles/{pid}/do/suppress"
    token = owner.form(path)
    missing = owner.post(path, data={"csrf": token, "reason": "  "})
    assert missing.status_code == 400 and "Reason:" in missing.text
    r = owner.post(path, data={"csrf": token, "reason": "Customer asked on the phone, ticket 4411"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/console/profiles/{pid}?done=")
    last = _events(server, owner.account_id, pid)[-1]
    assert last["type"] == "suppression.added" and last["reason"] == "USER_SUPPRESSED"
    assert last["method"] == "STAFF"
    assert last["context"] == {"source": "console", "actor": f"staff:{owner.email}",
                               "note": "Customer asked on the phone, ticket 4411"}  # fmt: skip
    page = owner.get(f"/console/profiles/{pid}").text
    assert f"by staff:{owner.email}" in page and "ticket 4411" in page


def test_each_action_through_the_console(server, owner):
    e, account_id = server.engine, owner.account_id
    pid = consent.subscribe(e, account_id, Locator("phone_number", "+12065550142"), [(Channel.SMS, Purpose.MARKETING)],
                            ).profile_id  # fmt: skip

    def do(action: str, **data: str) -> httpx.Response:
        token = owner.form(f"/console/profiles/{pid}/do/{action}?channel={data.get('channel', '')}")
        return owner.post(f"/console/profiles/{pid}/do/{action}", data={"csrf": token, "reason": "test", **data})

    assert do("identifier", field="email", value="Kim@Example.com").status_code == 303
    assert do("subscribe", channel="email", purpose="marketing", basis="verbal", evidence="call 2026-11-02"
              ).status_code == 303  # fmt: skip
    view = profiles.get_profile(e, account_id, Locator("id", pid))
    email = view.state.consent(Channel.EMAIL)
    assert view.email == "kim@example.com"
    assert (email.status.value, email.method, email.method_detail) == ("SUBSCRIBED", "STAFF", "verbal")
    assert do("subscribe", channel="email", basis="verbal", evidence="").status_code == 400
    assert do("unsubscribe", channel="sms", purpose="marketing").status_code == 303
    sms = profiles.get_profile(e, account_id, Locator("id", pid)).state
    assert sms.status(Channel.SMS).value == "UNSUBSCRIBED"
    assert sms.status(Channel.SMS, Purpose.TRANSACTIONAL).value == "UNSUBSCRIBED"
    assert do("suppress").status_code == 303
    assert do("unsuppress").status_code == 303
    list_id = _list(server, account_id)
    consent.suppress(e, account_id, Locator("id", pid), SuppressionReason.USER_SUPPRESSED, list_id=list_id)
    assert do("remove-list-suppression", list=list_id).status_code == 303
    consent.unsubscribe(e, account_id, Locator("id", pid), Channel.EMAIL, list_id=list_id)
    refused = do("remove-list-suppression", list=list_id)
    assert refused.status_code in (303, 400)
    r = do("resend")
    assert r.status_code == 303 and "Nothing+is+waiting" in r.headers["location"]
    assert do("identifier", field="phone_number", value="+12065550143").status_code == 303
    after = profiles.get_profile(e, account_id, Locator("id", pid))
    assert after.phone_number == "+12065550143"
    assert after.state.status(Channel.SMS).value == "NEVER_SUBSCRIBED"  # rule 3
    # The timeline names the reset for what it is (it is neither an unsubscribe nor a raw event type).
    page = owner.get(f"/console/profiles/{pid}").text
    titles = re.findall(r'<div class="title">([^<]*)</div>', page)
    assert "SMS Marketing Consent Reset by Phone Number Change" in titles
    assert "SMS Transactional Consent Reset by Phone Number Change" in titles
    assert "Consent changed" not in titles
    staff_events = [ev for ev in _events(server, account_id, pid) if ev.get("context", {}).get("source") == "console"]
    assert staff_events and all(ev["method"] == "STAFF" for ev in staff_events)
    assert all(ev["context"]["actor"] == f"staff:{owner.email}" for ev in staff_events)


def test_bad_input_gets_a_4xx_naming_the_field_a_console_subscribe_to_an_unknown_list(server, owner):
    """As the API and CLI do: an unknown list is refused (nothing written), a known one is subscribed
    to; a change the ledger already had says so rather than "Consent recorded."."""
    e, account_id = server.engine, owner.account_id
    pid = _ada(server, account_id)

    def do(action: str, **data: str) -> httpx.Response:
        token = owner.form(f"/console/profiles/{pid}/do/{action}?channel={data.get('channel', '')}")
        return owner.post(f"/console/profiles/{pid}/do/{action}", data={"csrf": token, "reason": "test", **data})

    before = _events(server, account_id, pid)
    unknown = do("subscribe", channel="email", purpose="marketing", list="NOPE", basis="verbal", evidence="call 7")
    assert unknown.status_code == 404 and "no such list" in unknown.text.lower(), unknown.text
    assert _events(server, account_id, pid) == before
    list_id = _list(server, account_id)
    r = do("subscribe", channel="email", purpose="marketing", list=list_id, basis="verbal", evidence="call 7")
    assert r.status_code == 303 and "Consent+recorded" in r.headers["location"], r.headers
    assert list_id in profiles.get_profile(e, account_id, Locator("id", pid)).state.lists
    assert any(ev.get("list_id") == list_id for ev in _events(server, account_id, pid))
    again = do("subscribe", channel="email", purpose="marketing", list=list_id, basis="verbal", evidence="call 7")
    assert again.status_code == 303 and "Already+so" in again.headers["location"], again.headers
    assert do("unsubscribe", channel="email", purpose="marketing", list="NOPE").status_code == 404


def _list(server, account_id: str) -> str:
    from assent.services.lists import lists

    return lists.create_list(server.engine, account_id, f"VIP {uuid.uuid4().hex[:4]}").id


def test_the_decision_tester_explains_a_denial(server, owner, viewer):
    pid = _ada(server, owner.account_id)
    r = viewer.get(f"/console/profiles/{pid}/decide", params={"channel": "sms", "purpose": "marketing",
                                                              "via": "campaign"})  # fmt: skip
    assert r.status_code == 200 and "DENY" in r.text and "NO_ADDRESS" in r.text
    r = viewer.get(f"/console/profiles/{pid}/decide", params={"channel": "email", "purpose": "marketing"})
    assert 'class="verdict ALLOW"' in r.text and "SUBSCRIBED" in r.text


def test_the_profile_as_of_a_past_date(server, owner):
    pid = _ada(server, owner.account_id)
    consent.unsubscribe(server.engine, owner.account_id, Locator("id", pid), Channel.EMAIL)
    now = owner.get(f"/console/profiles/{pid}").text
    assert 'id="consent-email-marketing" data-status="UNSUBSCRIBED"' in now
    then = owner.get(f"/console/profiles/{pid}", params={"as_of": "2020-01-01"}).text
    assert 'id="consent-email-marketing" data-status="NEVER_SUBSCRIBED"' in then and "No ledger events by then" in then
    bad = owner.get(f"/console/profiles/{pid}", params={"as_of": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    for edge in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"):  # off the calendar in UTC: no 500
        off = owner.get(f"/console/profiles/{pid}", params={"as_of": edge})
        assert off.status_code == 400 and "calendar" in off.text, off.text
    assert owner.get(f"/console/profiles/{pid}", params={"as_of": "9999-12-31"}).status_code == 200


def test_another_accounts_profile_is_not_found(server, owner):
    other = _account(server)
    pid = _ada(server, other)
    assert owner.get(f"/console/profiles/{pid}").status_code == 404
    token = owner.form("/console/profiles")
    r = owner.post(f"/console/profiles/{pid}/do/suppress", data={"csrf": token, "reason": "x"})
    assert r.status_code == 404
    assert len(_events(server, other, pid)) == 1


def test_users_create_prints_an_invite_link(server):
    from typer.testing import CliRunner

    from assent.cli import app

    account_id = _account(server)
    out = CliRunner().invoke(app, ["users", "create", "--account", account_id, "--email", "ops@staff.example",
                                   "--role", "viewer", "--db", server.db_url, "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    import json

    data = json.loads(out.output)
    assert data["role"] == "viewer" and "/console/invite/" in data["invite_link"]
    bad = CliRunner().invoke(app, ["users", "create", "--account", account_id, "--email", "x@staff.example",
                                   "--role", "admin", "--db", server.db_url])  # fmt: skip
    assert bad.exit_code == 1 and "roles are owner, editor, viewer" in bad.output
