"""One profile's ledger events, and the change feed by metric, are read through an index, not by a
scan of the account's whole ledger: on SQLite (no planner statistics unless ANALYZE ran) the
primary key's (account_id) prefix looked as good as the profile index, and a data export, a consent
proof or a timeline of one profile read every event of the account; a metric filter with few
matches read every event too. Checked on the plans of the statements those reads run."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from assent.domain import Channel, Purpose
from assent.services.consent import changes as consent
from assent.services.consent import feed, proofs
from assent.services.consent.changes import Locator
from assent.services.privacy import access
from assent.store import ledger

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


def _whole_ledger_scans(engine, statements) -> list[str]:
    """The plan lines that read consent_events on no more than its account_id (and a seq range)."""
    found = []
    with engine.connect() as conn:
        for sql, params in statements:
            if "consent_events" not in sql or not sql.lstrip().upper().startswith("SELECT"):
                continue
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params):
                detail = row[3]
                # The primary key (account_id, seq) narrows to the account and a seq range, no further.
                if "consent_events" in detail and (detail.startswith("SCAN") or "PRIMARY KEY" in detail):
                    found.append(f"{detail}: {sql}")
    return found


@pytest.fixture
def sqlite_only(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics; the seeded plans here are SQLite's")
    return engine


def test_one_profiles_ledger_reads_use_the_profile_index(sqlite_only, account_id):
    engine = sqlite_only
    for n in range(3):
        consent.subscribe(engine, account_id, Locator("email", f"p{n}@example.com"), EMAIL)
    profile_id = consent.subscribe(engine, account_id, Locator("email", "ana@example.com"), EMAIL).profile_id
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, sql, params, context, many):
        statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        export = access.export_data(engine, account_id, Locator("id", profile_id))
        with pytest.raises(proofs.NoCheckpoint):  # read the profile's events before it looked for one
            proofs.consent_proof(engine, account_id, profile_id, "email")
        timeline = feed.profile_timeline(engine, account_id, profile_id, after_seq=0, limit=100, as_of=None)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [e["seq"] for e in export.consent_events] == [r[0] for r in timeline.events] == [4]
    assert any("profile_id" in sql for sql, _ in statements)
    assert _whole_ledger_scans(engine, statements) == []


@pytest.mark.parametrize("by_profile", [False, True])
def test_the_change_feed_by_metric_reads_the_metric_index(sqlite_only, account_id, by_profile):
    sql = ledger._page_sql("sqlite", by_profile, True, False)
    params = [account_id, 0] + (["01ZZZZZZZZZZZZZZZZZZZZZZZZ"] if by_profile else []) + ["nope", 100]
    assert _whole_ledger_scans(sqlite_only, [(sql, tuple(params))]) == []


def test_the_change_feed_by_metric_answers_only_that_metric(engine, account_id):
    consent.subscribe(engine, account_id, Locator("email", "ana@example.com"), EMAIL)
    consent.unsubscribe(engine, account_id, Locator("email", "ana@example.com"), Channel.EMAIL)
    wanted = "Unsubscribed from Email Marketing"
    rows = feed.feed(engine, account_id, after_seq=0, limit=10, metric=wanted)
    assert [(r[0], r[4]) for r in rows] == [(2, wanted)]
    assert feed.feed(engine, account_id, after_seq=0, limit=10, metric="nope") == []
