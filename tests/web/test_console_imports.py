"""The console's lists and imports over HTTP, on SQLite and PostgreSQL: lists with counts and
members; a CSV upload shows its column mapping, runs in the background to the counts, keeps its
rejects for download; viewers cannot upload or run, and a post without the CSRF token is refused."""

from __future__ import annotations

import time

import pytest

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.profiles import reading as profiles
from assent.services.shared.errors import NotFound
from tests.web import test_console as base
from tests.web.test_console import _csrf

owner, viewer = base.owner, base.viewer  # the signed-in console clients, as fixtures of this module

CSV = (
    "email,phone_number,first_name,loyalty_tier\n"
    "zoe@example.com,+14155550123,Zoë,gold\n"
    "not-an-email,,Broken,\n"
    "yan@example.com,,Yan,silver\n"
)


@pytest.fixture(autouse=True)
def uploads(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSENT_CONSOLE_UPLOAD_DIR", str(tmp_path / "uploads"))


def test_lists_show_counts_and_members(server, owner):
    e, account_id = server.engine, owner.account_id
    vip = lists.create_list(e, account_id, "VIP").id
    for i in range(3):
        consent.subscribe(e, account_id, Locator("email", f"m{i}@example.com"), [(Channel.EMAIL, Purpose.MARKETING)],
                          list_id=vip)  # fmt: skip
    page = owner.get("/console/lists")
    assert page.status_code == 200 and "VIP" in page.text and ">3<" in page.text
    members = owner.get(f"/console/lists/{vip}")
    assert members.status_code == 200 and members.text.count('<a href="/console/profiles/') == 3
    assert "Can receive" in members.text
    assert all(f"m{i}@example.com" in members.text for i in range(3))
    assert owner.get("/console/lists/01NOTALIST000000000000000").status_code == 404
    assert owner.get(f"/console/lists/{vip}", params={"after": "garbage|x"}).status_code == 400
    empty = owner.get(f"/console/lists/{lists.create_list(e, account_id, 'Empty').id}")
    assert "No members" in empty.text


def _upload(c, body: str, name: str = "customers.csv"):
    token = _csrf(c.get("/console/imports").text)
    return c.post("/console/imports/upload", data={"csrf": token}, files={"file": (name, body.encode(), "text/csv")})


def test_an_upload_shows_the_mapping_then_imports_in_the_background(server, owner):
    r = _upload(owner, CSV)
    assert r.status_code == 303, r.text
    path = r.headers["location"]
    staged = owner.get(path)
    assert "Column mapping" in staged.text and "loyalty_tier" in staged.text and "first_name" in staged.text
    with pytest.raises(NotFound):  # nothing imported yet
        profiles.get_profile(server.engine, owner.account_id, Locator("email", "zoe@example.com"))
    run = owner.post(f"{path}/run", data={"csrf": _csrf(staged.text), "subscribe": "email"})
    assert run.status_code == 303
    deadline = time.monotonic() + 60
    while "Done" not in (page := owner.get(path)).text:
        assert "Stopped" not in page.text, page.text
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.2)
    assert 'id="count-created">2<' in page.text and 'id="count-rejected">1<' in page.text
    zoe = profiles.get_profile(server.engine, owner.account_id, Locator("email", "zoe@example.com"))
    assert zoe.state.status(Channel.EMAIL).value == "SUBSCRIBED"
    assert zoe.properties == {"loyalty_tier": "gold"}
    rejects = owner.get(f"{path}/rejects.csv")
    assert rejects.status_code == 200 and "not-an-email" in rejects.text
    again = owner.post(f"{path}/run", data={"csrf": _csrf(staged.text)})
    assert again.status_code == 400 and "already run" in again.text
    assert "customers.csv" in owner.get("/console/imports").text


def test_a_file_without_an_identifier_column_is_refused(server, owner):
    r = _upload(owner, "first_name,city\nAda,London\n")
    assert r.status_code == 400 and "email, phone_number or external_id" in r.text
    assert _upload(owner, "").status_code == 400


def test_viewers_cannot_upload_or_run_and_csrf_is_checked(server, owner, viewer):
    assert _upload(viewer, CSV).status_code == 403
    staged = _upload(owner, CSV).headers["location"]
    page = viewer.get(staged)
    assert page.status_code == 200 and "Start the import" not in page.text
    assert viewer.post(f"{staged}/run", data={"csrf": _csrf(page.text)}).status_code == 403
    assert owner.post(f"{staged}/run", data={"subscribe": "email"}).status_code == 403
    assert owner.post("/console/imports/upload", files={"file": ("a.csv", CSV.encode(), "text/csv")}).status_code == 403
    assert "staged" in owner.get("/console/imports").text


def test_a_list_page_breaks_down_who_a_send_could_reach(server, owner):
    e, account_id = server.engine, owner.account_id
    vip = lists.create_list(e, account_id, "Reach").id
    for i in range(3):
        consent.subscribe(e, account_id, Locator("email", f"r{i}@example.com"), [(Channel.EMAIL, Purpose.MARKETING)],
                          list_id=vip)  # fmt: skip
    consent.unsubscribe(e, account_id, Locator("email", "r0@example.com"), Channel.EMAIL)
    page = owner.get(f"/console/lists/{vip}")
    assert page.status_code == 200
    assert 'id="reach-summary"><strong>2</strong> of 3 may receive a email marketing campaign' in page.text
    assert "UNSUBSCRIBED" in page.text
    sms = owner.get(f"/console/lists/{vip}", params={"channel": "sms"})
    assert '<strong>0</strong> of 3 may receive a sms' in sms.text and "NO_ADDRESS" in sms.text
    bad = owner.get(f"/console/lists/{vip}", params={"channel": "fax"})
    assert bad.status_code == 200 and 'role="alert">channel is one of' in bad.text


def test_segments_show_counts_members_and_reach(server, owner, viewer):
    from assent.services.lists import segments

    e, account_id = server.engine, owner.account_id
    for i in range(4):
        consent.subscribe(e, account_id, Locator("email", f"g{i}@example.com"), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(e, account_id, Locator("email", "g3@example.com"), Channel.EMAIL)
    definition = {"condition_groups": [{"conditions": [{"type": "profile-marketing-consent", "consent": {
        "channel": "email", "can_receive_marketing": True, "consent_status": {"subscription": "subscribed"}}}]}]}
    seg = segments.create_segment(e, account_id, "Email subscribers", definition)
    page = viewer.get("/console/segments")
    assert page.status_code == 200 and "Email subscribers" in page.text and ">3<" in page.text
    one = viewer.get(f"/console/segments/{seg.id}")
    assert one.status_code == 200 and one.text.count('<a href="/console/profiles/') == 3
    assert "g3@example.com" not in one.text
    assert 'id="reach-summary"><strong>3</strong> of 3 may receive' in one.text
    assert viewer.get("/console/segments/01NOTASEGMENT0000000000000").status_code == 404


def test_a_profile_page_names_the_segments_it_is_in_now(server, owner):
    from assent.services.lists import segments

    e, account_id = server.engine, owner.account_id
    pid = consent.subscribe(e, account_id, Locator("email", "seg@example.com"), [(Channel.EMAIL, Purpose.MARKETING)],
                            ).profile_id  # fmt: skip
    subscribed = {"condition_groups": [{"conditions": [{"type": "profile-marketing-consent", "consent": {
        "channel": "email", "can_receive_marketing": True, "consent_status": {"subscription": "subscribed"}}}]}]}
    texting = {"type": "assent-can-receive", "channel": "sms", "can_receive": True}
    sms = {"condition_groups": [{"conditions": [texting]}]}
    inside = segments.create_segment(e, account_id, "Email fans", subscribed)
    segments.create_segment(e, account_id, "Texters", sms)
    page = owner.get(f"/console/profiles/{pid}")
    assert page.status_code == 200
    assert f'<a href="/console/segments/{inside.id}">Email fans</a>' in page.text and "Texters" not in page.text
    consent.unsubscribe(e, account_id, Locator("id", pid), Channel.EMAIL)
    assert "In no segment." in owner.get(f"/console/profiles/{pid}").text
