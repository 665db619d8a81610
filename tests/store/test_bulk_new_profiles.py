"""Bulk subscribe and unsubscribe take a job's new profiles straight from its rows: a new profile of
a change already worked out in the job gets that change, readdressed, without being matched, merged
and changed again. On random jobs (new and stored profiles, suppressed ones, the same person twice,
rows naming two people, unknown ids, rows that fail the job) the ledger, the projection, the
profiles and each job's report or error are what the general path, every row changed on its own,
makes of the same jobs at the same instant. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.accounts import accounts
from assent.services.consent import bulk, changes
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.bulk import ConsentItem
from assent.services.profiles.batch import ProfileBatch
from assent.store import projection

NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
EMAILS = [f"p{i}@example.com" for i in range(8)]  # the first four may be stored before the jobs
PHONES = [f"+1415555010{i}" for i in range(4)]
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
EMAIL_M, SMS_M = (Channel.EMAIL, Purpose.MARKETING), (Channel.SMS, Purpose.MARKETING)
TARGETS = [(EMAIL_M,), (SMS_M,), (EMAIL_M, SMS_M), ((Channel.WHATSAPP, Purpose.MARKETING),)]
PROFILE_ID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
DATES = [datetime(1985, 1, 1, tzinfo=UTC), datetime(2020, 5, 5, 12, tzinfo=UTC)]

# A stored profile before the jobs: (email index, phone index or None, what was done to it).
stored = st.tuples(
    st.integers(0, 3),
    st.none() | st.integers(0, len(PHONES) - 1),
    st.sampled_from(["email", "sms", "unsubscribed", "suppressed"]),
)
# A job's row: (email index or None, phone index or None, targets, named by: None, a stored profile's email, unknown).
rows = st.tuples(
    st.none() | st.integers(0, len(EMAILS) - 1),
    st.none() | st.integers(0, len(PHONES) - 1),
    st.sampled_from(TARGETS),
    st.sampled_from([None] * 12 + ["stored", "stored", "unknown"]),
    st.integers(0, 3),
)
jobs = st.tuples(st.sampled_from(["subscribe", "subscribe", "unsubscribe", "historical"]), st.lists(rows, max_size=10))
scenarios = st.tuples(st.lists(stored, max_size=4), st.lists(jobs, min_size=1, max_size=3))


@contextmanager
def _frozen_clock() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for module in (bulk, changes):
            mp.setattr(module, "utcnow", lambda: NOW)
        yield


@contextmanager
def _general_path() -> Iterator[None]:
    """Every row matched, merged and changed on its own: no row taken straight in, no change copied."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ProfileBatch, "unknown", lambda self, email, phone: False)
        mp.setattr(bulk, "_blank", lambda state: False)
        yield


def _profile_id(engine, account_id: str, email: str) -> str | None:
    with engine.connect() as conn:
        sql = "SELECT id FROM profiles WHERE account_id = :a AND email = :e"
        return conn.execute(text(sql), {"a": account_id, "e": email}).scalar()


def _run(engine, account_id: str, scenario: Any) -> list[Any]:
    """The scenario's stored profiles, then its jobs; each job's report, or its error."""
    setup, job_list = scenario
    outcomes: list[Any] = []
    for e, p, kind in setup:
        email, phone = EMAILS[e], None if p is None else PHONES[p]
        try:
            if kind == "unsubscribed":
                bulk.unsubscribe_profiles(engine, account_id, [ConsentItem(None, email, phone, (EMAIL_M,))])
            else:
                target = SMS_M if kind == "sms" and phone else EMAIL_M
                bulk.subscribe_profiles(engine, account_id, [ConsentItem(None, email, phone, (target,))])
            if kind == "suppressed":
                changes.suppress(engine, account_id, changes.Locator("email", email), SuppressionReason.HARD_BOUNCE)
        except Exception as e:  # a phone another stored profile has
            outcomes.append(type(e).__name__)
    for kind, job_rows in job_list:
        items = []
        for n, (e, p, targets, named, stored_email) in enumerate(job_rows):
            profile_id = None
            if named == "stored":
                profile_id = _profile_id(engine, account_id, EMAILS[stored_email]) or UNKNOWN_ID
            elif named == "unknown":
                profile_id = UNKNOWN_ID
            email = None if e is None else EMAILS[e]
            phone = None if p is None else PHONES[p]
            dates = {t: DATES[n % 2] for t in targets} if kind == "historical" else {}
            items.append(ConsentItem(profile_id, email, phone, targets, dates))
        try:
            if kind == "unsubscribe":
                report = bulk.unsubscribe_profiles(engine, account_id, [i for i in items if i.profile_id is None])
            else:
                report = bulk.subscribe_profiles(engine, account_id, items, historical_import=kind == "historical")
            outcomes.append(report.as_dict())
        except Exception as e:
            # Profile ids are random: a message names one as "<id>".
            outcomes.append((type(e).__name__, PROFILE_ID.sub("<id>", str(e)), getattr(e, "field", None)))
    return outcomes


def _stored(engine, account_id: str) -> dict[str, Any]:
    """The account's ledger, projection and profiles with each profile named by its identifiers
    (ids are random) and personal data without its salt (random too)."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id, email, phone_number, created_at, updated_at FROM profiles WHERE account_id = :a"),
            {"a": account_id},
        ).all()
        names = {r.id: (r.email, r.phone_number) for r in found}
        events = []
        sql = (
            "SELECT seq, profile_id, occurred_at, type, metric, payload, personal FROM consent_events "
            "WHERE account_id = :a ORDER BY seq"
        )
        for r in conn.execute(text(sql), {"a": account_id}):
            personal = msgspec.json.decode(r.personal) if r.personal else None
            if personal:
                personal.pop("salt")
            events.append((r.seq, names[r.profile_id], str(r.occurred_at), r.type, r.metric, r.payload, personal))
        rows = projection.stored_rows(conn, account_id)
    tables = {}
    for table, table_rows in rows.items():
        columns = projection.COLUMNS[table]
        at, account_at = columns.index("profile_id"), columns.index("account_id")
        # Every row without its account id, its profile named.
        tables[table] = sorted(
            repr(tuple(names[v] if i == at else v for i, v in enumerate(r) if i != account_at)) for r in table_rows
        )
    profiles = sorted(repr((r.email, r.phone_number, str(r.created_at), str(r.updated_at))) for r in found)
    return {"events": events, "projection": tables, "profiles": profiles}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenarios)
def test_new_profiles_taken_straight_from_the_rows_end_as_the_general_path_leaves_them(engine, scenario):
    lean = accounts.create_account(engine, "Lean").account.id
    general = accounts.create_account(engine, "General").account.id
    with _frozen_clock():
        lean_outcomes = _run(engine, lean, scenario)
        with _general_path():
            general_outcomes = _run(engine, general, scenario)
    assert lean_outcomes == general_outcomes
    assert _stored(engine, lean) == _stored(engine, general)
    for account_id in (lean, general):
        assert ledger.verify(engine, account_id).ok
        assert ledger.rebuild(engine, account_id, check=True).differences == []


def test_the_general_path_stand_in_changes_what_runs(engine):
    """The comparison above is between two paths: with the stand-in, no row is taken straight in."""
    account_id = accounts.create_account(engine, "Spy").account.id
    taken: list[str] = []
    add_new = ProfileBatch.add_new

    def spy(self, *args, **kwargs):
        taken.append(add_new(self, *args, **kwargs))
        return taken[-1]

    items = [ConsentItem(None, e, None, (EMAIL_M,)) for e in EMAILS]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ProfileBatch, "add_new", spy)
        bulk.subscribe_profiles(engine, account_id, items[:3])
        assert len(taken) == 2  # the first row works the change out; the two alike take it
        with _general_path():
            bulk.subscribe_profiles(engine, account_id, items[3:])
        assert len(taken) == 2
