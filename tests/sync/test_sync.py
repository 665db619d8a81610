"""`assent sync`: every profile's consent, suppressions and list memberships mirrored into a real
SQLite file, PostgreSQL database and MariaDB database, from SQLite and PostgreSQL sources, kept
current from the ledger and checked row by row."""

from __future__ import annotations

import json
import sqlite3

from assent.domain import Channel, Purpose, SuppressionReason
from assent.domain.mirror import ConsentRow, parse_tables
from assent.integrations.sync_target import target_for
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists
from assent.services.outbound import sync
from assent.services.profiles import writes as profile_writes
from tests.cli.test_cli import assent

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


def _history(engine, account_id: str) -> dict[str, str]:
    """Profiles in every kind of state; returns their ids by name."""
    ids = {}
    ids["a"] = consent.subscribe(engine, account_id, Locator("email", "a@example.com"), EMAIL).profile_id
    ids["b"] = consent.subscribe(
        engine, account_id, Locator("phone_number", "+12065550100"), [(Channel.SMS, Purpose.MARKETING)]
    ).profile_id
    ids["c"] = consent.suppress(engine, account_id, Locator("email", "c@example.com")).profile_id
    ids["d"] = consent.subscribe(engine, account_id, Locator("email", "d@example.com"), EMAIL).profile_id
    consent.unsubscribe(engine, account_id, Locator("email", "d@example.com"), Channel.EMAIL)
    members = lists.create_list(engine, account_id, "Newsletter")
    lists.add_members(engine, account_id, members.id, [ids["a"], ids["d"]])
    doi = lists.create_list(engine, account_id, "Confirmed", double_opt_in=True)
    ids["e"] = consent.subscribe(
        engine, account_id, Locator("email", "e@example.com"), EMAIL, list_id=doi.id
    ).profile_id
    ids["list"] = members.id
    return ids


def _consent(rows, profile_id: str, channel: str = "email", purpose: str = "marketing") -> ConsentRow | None:
    found = [r for r in rows["consent"] if r.profile_id == profile_id and (r.channel, r.purpose) == (channel, purpose)]
    assert len(found) <= 1
    return found[0] if found else None


def test_sync_mirrors_consent_suppressions_and_lists_then_keeps_them_current(engine, account_id, target_url):
    ids = _history(engine, account_id)
    target = target_for(target_url)
    tables = parse_tables(None)
    try:
        first = sync.sync(engine, account_id, target, tables)
        assert first.full_copy and first.profiles_copied == 5
        rows = target.rows(account_id, tables)
        a = _consent(rows, ids["a"])
        assert a is not None and a.status == "SUBSCRIBED" and a.can_receive and a.email == "a@example.com"
        assert a.method == "API" and a.consent_timestamp is not None
        assert _consent(rows, ids["b"], "sms").can_receive
        # SMS marketing consent covers transactional SMS: a row says so, though nothing is stored for it.
        sms_t = _consent(rows, ids["b"], "sms", "transactional")
        assert sms_t.status == "NEVER_SUBSCRIBED" and sms_t.can_receive and sms_t.phone_number == "+12065550100"
        assert _consent(rows, ids["c"]) is None  # suppressed, never subscribed: nothing to say
        # An email unsubscribe is also Klaviyo's UNSUBSCRIBE suppression.
        assert sorted((s.profile_id, s.list_id, s.reason) for s in rows["suppression"]) == sorted(
            [(ids["c"], "", "USER_SUPPRESSED"), (ids["d"], "", "UNSUBSCRIBE")]
        )
        d = _consent(rows, ids["d"])
        assert d.status == "UNSUBSCRIBED" and not d.can_receive
        assert sorted(m.profile_id for m in rows["lists"]) == sorted([ids["a"], ids["d"]])
        e = _consent(rows, ids["e"])
        assert e.double_optin_pending and e.status == "NEVER_SUBSCRIBED"
        assert sync.verify(engine, account_id, target, tables).ok

        again = sync.sync(engine, account_id, target, tables)  # re-running is a no-op
        assert not again.full_copy and again.events_applied == 0 and again.last_seq == first.last_seq
        assert _sorted(target.rows(account_id, tables)) == _sorted(rows)

        # Changes after the copy, an identifier change among them, flow through from the ledger.
        consent.unsubscribe(engine, account_id, Locator("email", "a@example.com"), Channel.EMAIL)
        consent.unsuppress(engine, account_id, Locator("email", "c@example.com"))
        profile_writes.update_profile(
            engine, account_id, ids["d"], profile_writes.ProfileInput(values={"email": "d.new@example.com"})
        )
        lists.remove_members(engine, account_id, ids["list"], [ids["a"]])
        later = sync.sync(engine, account_id, target, tables)
        assert not later.full_copy and later.events_applied >= 4 and later.last_seq > first.last_seq
        rows = target.rows(account_id, tables)
        assert _consent(rows, ids["a"]).status == "UNSUBSCRIBED"
        assert sorted((s.profile_id, s.reason) for s in rows["suppression"]) == sorted(
            [(ids["a"], "UNSUBSCRIBE"), (ids["d"], "UNSUBSCRIBE")]
        )
        assert _consent(rows, ids["c"]).can_receive  # unsuppressed: a never-subscribed address may be emailed
        assert _consent(rows, ids["d"]).email == "d.new@example.com"
        assert [m.profile_id for m in rows["lists"]] == [ids["d"]]
        assert sync.verify(engine, account_id, target, tables).ok
    finally:
        target.close()


def _sorted(rows):
    return {t: sorted(v, key=repr) for t, v in rows.items()}


def test_sync_of_some_tables_only_and_a_change_of_tables_copies_again(engine, account_id, tmp_path):
    _history(engine, account_id)
    target = target_for(f"sqlite:///{tmp_path / 'mirror.db'}")
    try:
        report = sync.sync(engine, account_id, target, parse_tables("suppression"))
        assert report.full_copy and report.rows_copied == {"suppression": 2}
        assert target.rows(account_id, frozenset({"consent"}))["consent"] == []
        report = sync.sync(engine, account_id, target, parse_tables("consent,suppression"))
        assert report.full_copy and report.rows_copied["consent"] > 0
    finally:
        target.close()


def test_sync_command_copies_follows_nothing_twice_and_verify_reports_tampering(engine, account_id, db_url, tmp_path):
    ids = _history(engine, account_id)
    mirror = tmp_path / "mirror.db"
    to = f"sqlite:///{mirror}"
    first = json.loads(assent("sync", "--account", account_id, "--to", to, "--json", db=db_url, check=True).stdout)
    assert first["full_copy"] and first["profiles_copied"] == 5 and first["rows_copied"]["lists"] == 2
    again = json.loads(assent("sync", "--account", account_id, "--to", to, "--json", db=db_url, check=True).stdout)
    assert not again["full_copy"] and again["events_applied"] == 0 and again["last_seq"] == first["last_seq"]
    ok = assent("sync", "--account", account_id, "--to", to, "--verify", db=db_url, check=True)
    assert ok.stdout.startswith("target matches Assent at seq")

    with sqlite3.connect(mirror) as conn:  # someone edits the mirror by hand
        conn.execute("DELETE FROM assent_list_members WHERE profile_id = ?", (ids["a"],))
        conn.execute(
            "UPDATE assent_consent SET status = 'SUBSCRIBED' WHERE profile_id = ? AND channel = 'email'", (ids["d"],)
        )
    bad = assent("sync", "--account", account_id, "--to", to, "--verify", "--json", db=db_url)
    assert bad.returncode == 1, bad.stderr
    report = json.loads(bad.stdout)
    assert not report["ok"] and report["missing"] == {"consent": 1, "lists": 1, "suppression": 0}
    assert report["extra"]["consent"] == 1
    assert {(e["table"], e["side"]) for e in report["examples"]} == {
        ("consent", "missing"), ("consent", "extra"), ("lists", "missing"),
    }  # fmt: skip


def test_sync_command_refuses_bad_tables_and_targets(engine, account_id, db_url, tmp_path):
    bad = assent("sync", "--account", account_id, "--to", f"sqlite:///{tmp_path / 'm.db'}", "--tables", "consent,x",
                 db=db_url)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.startswith("error: tables")
    assert "consent, suppression, lists" in bad.stderr
    bad = assent("sync", "--account", account_id, "--to", "oracle://db", db=db_url)
    assert bad.returncode == 1 and bad.stderr.startswith("error: to") and "mysql://" in bad.stderr
    closed = assent("sync", "--account", account_id, "--to", "postgresql://127.0.0.1:1/none", db=db_url)
    assert closed.returncode == 1 and "cannot reach the PostgreSQL target" in closed.stderr
    assert len(closed.stderr.splitlines()) == 1


def test_suppression_reasons_and_list_suppressions_are_one_row_each(engine, account_id, tmp_path):
    x = Locator("email", "x@example.com")
    pid = consent.suppress(engine, account_id, x, SuppressionReason.HARD_BOUNCE).profile_id
    consent.suppress(engine, account_id, Locator("email", "x@example.com"))
    target = target_for(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        sync.sync(engine, account_id, target)
        rows = target.rows(account_id, frozenset({"suppression"}))["suppression"]
        assert sorted((r.profile_id, r.reason) for r in rows) == [(pid, "HARD_BOUNCE"), (pid, "USER_SUPPRESSED")]
    finally:
        target.close()
