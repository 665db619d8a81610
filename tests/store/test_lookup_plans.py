"""A batch's look-ups (profiles by email, phone number or id; a projection's rows by profile) probe
the (account_id, column) index once per value, however stale the planner's statistics are. On
PostgreSQL an account grown since the last ANALYZE (a new account: "1 row" by the statistics) had
its look-ups planned as a read of all the account's rows through another index, filtered: every
bulk subscribe job of a new account on a busy server read every profile the account had."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from assent.domain import Channel, Purpose
from assent.services.accounts import accounts
from assent.services.consent.bulk import ConsentItem, subscribe_profiles
from assent.services.imports import importer
from assent.store import bulk, forms, ledger, profiles
from assent.store.db import driver_connection, driver_rows, driver_target, make_engine
from assent.store.tables import consents
from assent.store.tables import profiles as profiles_table
from tests.conftest import database_at

EMAIL = ((Channel.EMAIL, Purpose.MARKETING),)


def _grow(engine, account_id: str, n: int) -> list[str]:
    """n profiles in the account, three of them subscribed through a job, the rest bare rows."""
    emails = [f"p{i}@example.com" for i in range(n)]
    subscribe_profiles(engine, account_id, [ConsentItem(None, e, None, EMAIL) for e in emails[:3]])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"account_id": account_id, "id": f"{account_id[:10]}{i:016d}", "email": e, "properties": "{}",
             "created_at": now, "updated_at": now} for i, e in enumerate(emails[3:])]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(profiles_table), rows)
    return emails


def _plan(conn, sql: str, params) -> str:
    if conn.dialect.name == "sqlite":
        return "\n".join(str(r[3]) for r in driver_rows(conn, "EXPLAIN QUERY PLAN " + sql, params))
    return "\n".join(str(r[0]) for r in driver_rows(conn, "EXPLAIN " + sql, params))


def test_lookups_probe_the_index_for_an_account_grown_since_analyze(engine, account_id):
    _grow(engine, account_id, 20_000)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    grown = accounts.create_account(engine, "Grown since ANALYZE").account.id
    emails = _grow(engine, grown, 20_000)
    wanted = emails[:3]
    with engine.connect() as conn:
        sql, account_first = profiles._ids_matching_sql(conn.dialect.name, "email")
        values = bulk.values_param(wanted)
        plan = _plan(conn, sql, (grown, values) if account_first else (values, grown))
        ids = profiles.ids_matching(conn, grown, "email", wanted)
        by_id = conn.execute(bulk.select_matching(conn, consents, grown, "profile_id", sorted(ids)))
        assert len({r.profile_id for r in by_id}) == 3
    assert len(ids) == 3
    if engine.dialect.name == "postgresql":
        assert "uq_profiles_account_id_email" in plan, plan
        assert "Filter" not in plan, plan  # the email is an index condition, not a filter on an account scan
    else:
        assert "INDEX uq_profiles_account_id_email (account_id=? AND email=?)" in plan, plan


def test_a_large_import_refreshes_the_planners_statistics_on_postgresql(engine, account_id, tmp_path, monkeypatch):
    # Until autovacuum gets to them (never, where it is off) the statistics describe the tables
    # before the load, and a re-import's "no ledger event since" look-up was planned on an index
    # that read every later event of the account for each row.
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's plans are fixed by the statements themselves")
    monkeypatch.setattr(importer, "ANALYZE_AFTER", 2)
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(3)))
    importer.import_profiles(engine, path, importer.ImportOptions(account_id=account_id, workers=0))
    with engine.connect() as conn:
        analyzed = conn.execute(
            text("SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY relname")
        ).scalars()
        assert {"consent_events", "profiles"} <= set(analyzed)


def test_a_large_imports_statistics_plan_the_next_imports_lookup_on_each_profiles_own_events(tmp_path):
    # A new database's tables were analyzed while empty. Planned on those statistics, the next
    # import's "no ledger event since" probe took the primary key (account_id, seq), reading every
    # later event of the account for each row (a re-import of 20,000 rows: 25 s, not 0.2 s). The
    # import's own ANALYZE at its end (at a low statistics target, which is cheap) is what keeps it
    # on the profile's own events.
    with database_at("postgres", tmp_path, "head") as url:
        engine = make_engine(url)
        try:
            account_id = accounts.create_account(engine, "New database", "US").account.id
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
            path = tmp_path / "people.csv"
            path.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(20_000)))
            options = importer.ImportOptions(account_id=account_id, subscribe=EMAIL, workers=0)
            assert importer.import_profiles(engine, path, options).created == 20_000 >= importer.ANALYZE_AFTER
            with engine.connect() as conn:
                digests = (
                    conn.execute(text("SELECT import_digest FROM profiles ORDER BY id LIMIT 1000")).scalars().all()
                )
                plan = _plan(conn, forms.unchanged_digests_sql("postgresql"), (account_id, bulk.values_param(digests)))
                bounds = conn.execute(
                    text(
                        "SELECT array_length(histogram_bounds::text::text[], 1) FROM pg_stats"
                        " WHERE tablename = 'consent_events' AND attname = 'seq'"
                    )
                ).scalar()
            assert "ix_consent_events_profile" in plan, plan
            assert "pk_consent_events" not in plan, plan
            assert bounds == bulk.ANALYZE_STATISTICS_TARGET + 1  # sampled at the low target, not the default 100
        finally:
            engine.dispose()


def test_a_reimports_lookup_reads_only_indexes(engine, account_id, tmp_path):
    # Each row's digest, then the seq kept with it, then the profile's ledger past that seq: all of it
    # in indexes (migration 0025 put the seq in the digest's), none of it in the profiles' rows.
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(50)))
    importer.import_profiles(engine, path, importer.ImportOptions(account_id=account_id, subscribe=EMAIL, workers=0))
    with engine.connect() as conn:
        digests = (
            conn.execute(text("SELECT import_digest FROM profiles WHERE account_id = :a"), {"a": account_id})
            .scalars()
            .all()
        )
        values, dialect = bulk.values_param(digests), conn.dialect.name
        params = (values, account_id) if dialect == "sqlite" else (account_id, values)
        plan = _plan(conn, forms.unchanged_digests_sql(dialect), params)
        assert len(forms.unchanged_digests(driver_connection(conn), dialect, account_id, digests)) == 50
    if engine.dialect.name == "sqlite":  # PostgreSQL fetches the rows' table pages until VACUUM sets the visibility map
        assert "USING COVERING INDEX ix_profiles_import_digest" in plan, plan
        assert "USING COVERING INDEX ix_consent_events_profile" in plan, plan


@pytest.mark.parametrize("asked", [0, 3], ids=["no-profiles", "three-profiles"])
def test_the_changed_since_probe_reads_only_the_events_since(engine, account_id, asked):
    # What a write worked out before the ledger lock asks once it holds it: an event since of its
    # profiles, or an erasure. Unordered with LIMIT 1, PostgreSQL read a new account's whole ledger
    # on its time index (estimated "1 row"), every job, and a job's profiles found none.
    _grow(engine, account_id, 2_000)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    grown = accounts.create_account(engine, "Grown since ANALYZE").account.id
    emails = [f"q{i}@example.com" for i in range(600)]
    subscribe_profiles(engine, grown, [ConsentItem(None, e, None, EMAIL) for e in emails])
    with engine.connect() as conn:
        ids = sorted(profiles.ids_matching(conn, grown, "email", emails[:asked]))
        head = ledger.head_seq(conn, grown)
        sql, params = ledger._changed_since(conn.dialect.name, grown, head - 10, ids)
        plan = _plan(conn, sql, params)
        assert ledger.changed_since(conn, grown, head - 10, ids) is False  # the 10 events since are others'
        assert ledger.changed_since(conn, grown, 0, ids) is (asked > 0)
    if engine.dialect.name == "postgresql":
        assert ("ix_consent_events_erasures" if not asked else "pk_consent_events") in plan, plan
        assert "Sort" not in plan, plan
    else:
        assert "PRIMARY KEY" in plan and "seq>?" in plan, plan


def test_postgresql_plans_each_statement_for_the_tables_as_they_are(engine):
    # A generic plan kept by a connection for a statement it prepared is the plan for the table's
    # size then: a look-up planned on a small table stayed a scan of it as it grew.
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans each statement as it prepares it")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
    bare = forms.connect(driver_target(engine))
    try:
        assert bare.execute("SHOW plan_cache_mode").fetchone()[0] == "force_custom_plan"
    finally:
        bare.close()
