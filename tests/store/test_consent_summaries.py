"""The consent summary (domain/summary.py, the profiles' `consent_*` columns): derived from the
state in the domain, written with the projection, backfilled by migration 0018 from the projection
tables into a table of its own and moved into the profiles' rows by migration 0021, on SQLite and
PostgreSQL. Whatever wrote them, the stored summaries equal the derivation from the stored
projection."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from assent.domain import (
    ALL_CHANNEL_PURPOSES,
    Channel,
    ChannelConsent,
    ConsentStatus,
    ListSuppression,
    PendingOptIn,
    ProfileState,
    Purpose,
    SuppressionReason,
)
from assent.domain.pack_rules import CASL_IMPLIED_INQUIRY, CASL_IMPLIED_PURCHASE, SOFT_OPT_IN
from assent.domain.summary import PENDING_BITS, SUPPRESSION_BITS, summarize
from assent.services.accounts import accounts
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.lists import lists as list_service
from assent.store import bulk, projection
from assent.store.db import make_engine, upgrade
from assent.store.tables import PROJECTION_TABLES, UTCDateTime, profiles
from tests.conftest import BACKENDS, database_at

T0 = datetime(2024, 1, 31, 10, tzinfo=UTC)  # the 31st: adding months clamps the day
METHODS = ["API", "FORM", SOFT_OPT_IN, CASL_IMPLIED_PURCHASE, CASL_IMPLIED_INQUIRY, None]
LISTS = ["L1", "L2"]


def random_state(rng: random.Random) -> ProfileState:
    consents = {}
    for pair in rng.sample(ALL_CHANNEL_PURPOSES, rng.randint(0, 4)):
        at = rng.choice([None, T0, T0 - timedelta(days=rng.randint(0, 900)), datetime(2023, 2, 28, tzinfo=UTC)])
        consents[pair] = ChannelConsent(rng.choice(list(ConsentStatus)), at, rng.choice(METHODS), None, None,
                                        rng.choice([None, True, False]), T0)  # fmt: skip
    reasons = rng.sample(list(SuppressionReason), rng.choice([0, 0, 1, 2]))
    pending = {
        (rng.choice(list(Channel)), rng.choice(list(Purpose)), rng.choice(["", *LISTS])): PendingOptIn(T0, "FORM")
        for _ in range(rng.choice([0, 0, 1, 3]))
    }
    return ProfileState(
        consents=consents,
        suppressions=dict.fromkeys(reasons, T0),
        list_suppressions={"L1": ListSuppression("UNSUBSCRIBE", T0)} if rng.random() < 0.1 else {},
        lists={name: T0 for name in LISTS if rng.random() < 0.2},
        pending=pending,
    )


def test_summary_holds_what_the_rules_read() -> None:
    at = datetime(2024, 8, 31, tzinfo=UTC)
    state = ProfileState(
        consents={
            (Channel.EMAIL, Purpose.MARKETING): ChannelConsent(ConsentStatus.SUBSCRIBED, at, "API", None, None, None),
            (Channel.SMS, Purpose.MARKETING): ChannelConsent(ConsentStatus.SUBSCRIBED, at, CASL_IMPLIED_INQUIRY),
        },
        suppressions={SuppressionReason.HARD_BOUNCE: at, SuppressionReason.USER_SUPPRESSED: at},
        pending={(Channel.SMS, Purpose.MARKETING, "L1"): PendingOptIn(at), (Channel.SMS, Purpose.MARKETING, ""):
                 PendingOptIn(at)},
    )  # fmt: skip
    s = summarize(state)
    assert s is not None
    assert s.statuses[:3] == ("SUBSCRIBED", "SUBSCRIBED", None)
    assert s.email_unconfirmed
    assert s.expires[:2] == (None, datetime(2025, 2, 28, tzinfo=UTC))  # six months, the day clamped
    assert s.suppressed == SUPPRESSION_BITS[SuppressionReason.HARD_BOUNCE] | SUPPRESSION_BITS[
        SuppressionReason.USER_SUPPRESSED]  # fmt: skip
    assert s.pending == PENDING_BITS[(Channel.SMS, Purpose.MARKETING)]
    assert summarize(ProfileState(lists={"L1": at})) is None
    soft = ChannelConsent(ConsentStatus.SUBSCRIBED, at, SOFT_OPT_IN, None, None, None)
    confirmed = ChannelConsent(ConsentStatus.SUBSCRIBED, at, "FORM", None, None, True)
    for c in (soft, confirmed):
        summary = summarize(ProfileState(consents={(Channel.EMAIL, Purpose.MARKETING): c}))
        assert summary is not None and not summary.email_unconfirmed


def _stored(conn, account_id: str) -> set[tuple]:
    return set(projection.stored_rows(conn, account_id)[projection.SUMMARY])


def _derived(conn, account_id: str) -> set[tuple]:
    """The summary rows derived in Python from the stored projection of every profile."""
    ids = {pid: (None, None) for pid in conn.execute(select(profiles.c.id).where(profiles.c.account_id == account_id))
           .scalars()}  # fmt: skip
    for table in PROJECTION_TABLES:
        ids.update({pid: (None, None) for pid in conn.execute(select(table.c.profile_id).where(
            table.c.account_id == account_id)).scalars()})  # fmt: skip
    rows = projection.empty_rows()
    for pid, state in projection.load(conn, account_id, ids).items():
        projection.add_state_rows(rows, account_id, pid, state)
    return set(rows[projection.SUMMARY])


def test_stored_summaries_equal_the_derivation_after_writes_through_the_services(engine, account_id) -> None:
    rng = random.Random(18)
    double = list_service.create_list(engine, account_id, "Double", double_opt_in=True).id
    single = list_service.create_list(engine, account_id, "Single").id
    people = [Locator("email", f"p{i}@example.com") for i in range(6)]
    phones = [Locator("phone_number", f"+1415555010{i}") for i in range(4)]
    for _ in range(60):
        who = rng.choice(people + phones)
        channel = Channel.EMAIL if who.field == "email" else rng.choice([Channel.SMS, Channel.WHATSAPP])
        purpose = rng.choice([Purpose.MARKETING, Purpose.TRANSACTIONAL]) if channel is Channel.SMS else (
            Purpose.MARKETING)  # fmt: skip
        step = rng.randrange(6)
        if step == 0:
            consent.subscribe(engine, account_id, who, [(channel, purpose)], list_id=rng.choice([None, double, single]),
                              method=rng.choice(["API", CASL_IMPLIED_PURCHASE, SOFT_OPT_IN]))  # fmt: skip
        elif step == 1:
            at = T0 - timedelta(days=rng.randint(0, 400))
            consent.subscribe(engine, account_id, who, [(channel, purpose)], method=CASL_IMPLIED_INQUIRY,
                              consented_at=at, historical_import=True)  # fmt: skip
        elif step == 2:
            consent.unsubscribe(engine, account_id, who, channel, purpose)
        elif step == 3 and who.field == "email":
            consent.suppress(engine, account_id, who, rng.choice(list(SuppressionReason)))
        elif step == 4 and who.field == "email":
            consent.unsuppress(engine, account_id, who)
        elif step == 5 and rng.random() < 0.1:
            list_service.delete_list(engine, account_id, double)
            double = list_service.create_list(engine, account_id, "Double", double_opt_in=True).id
    # Last, one of each kind the summary digests, so the comparison below covers them whatever came before.
    consent.subscribe(engine, account_id, Locator("email", "new@example.com"), [(Channel.EMAIL, Purpose.MARKETING)],
                      list_id=double)  # fmt: skip
    consent.suppress(engine, account_id, people[0], SuppressionReason.HARD_BOUNCE)
    with engine.connect() as conn:
        stored = _stored(conn, account_id)
        assert stored == _derived(conn, account_id)
    assert any(r[-3] for r in stored) and any(r[-4] for r in stored)  # pending and suppressed were seen


@pytest.fixture(params=BACKENDS)
def old_db(request, tmp_path) -> Iterator[str]:
    """A database at revision 0017, before the summaries."""
    with database_at(request.param, tmp_path, "0017") as url:
        yield url


def test_migration_backfills_the_summaries_as_the_domain_derives_them(old_db) -> None:
    engine = make_engine(old_db)
    a = accounts.create_account(engine, "A", "US").account.id
    rng = random.Random(17)
    rows = projection.empty_rows()
    for i in range(400):
        projection.add_state_rows(rows, a, f"P{i:025d}", random_state(rng))
    want = set(rows.pop(projection.SUMMARY))
    dialect = engine.dialect.name
    with engine.begin() as conn:
        # The profiles themselves, as revision 0017 has them: 0021 moves the summaries into their rows.
        old = sa.table("profiles", *(sa.column(n) for n in ("account_id", "id", "properties")),
                       *(sa.column(n, UTCDateTime()) for n in ("created_at", "updated_at")))  # fmt: skip
        conn.execute(sa.insert(old), [dict(account_id=a, id=f"P{i:025d}", properties="{}", created_at=T0, updated_at=T0)
                                      for i in range(400)])  # fmt: skip
        for table in PROJECTION_TABLES:
            if table.name in rows and rows[table.name]:
                data = [tuple(bulk.db_time(dialect, v) if isinstance(v, datetime) else v for v in r)
                        for r in rows[table.name]]  # fmt: skip
                bulk.insert_rows(conn, table, projection.COLUMNS[table.name], bulk.ready_rows(dialect, data))
    upgrade(engine)
    with engine.connect() as conn:
        assert _stored(conn, a) == want
        assert "consent_summaries" not in sa.inspect(conn).get_table_names()
    assert len(want) > 100  # most of the random states have a summary, some have none
    engine.dispose()


def test_a_summary_update_stays_on_its_page_on_postgresql(engine, account_id) -> None:
    """The profiles' pages keep room (fillfactor, migration 0022), so writing a changed summary
    into profiles' rows is a heap-only update: no new entry in any of the table's indexes."""
    if engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")
    people = [Locator("email", f"hot{i}@example.com") for i in range(40)]
    for who in people:
        consent.subscribe(engine, account_id, who, [(Channel.EMAIL, Purpose.MARKETING)])
    with engine.begin() as conn:
        ids = conn.execute(select(profiles.c.id).where(profiles.c.account_id == account_id)).scalars().all()
        rows = projection.empty_rows()
        for pid in ids:
            state = ProfileState(suppressions={SuppressionReason.USER_SUPPRESSED: T0})
            projection.add_state_rows(rows, account_id, pid, state)
        projection.write_summaries(conn, rows[projection.SUMMARY])
        hot = conn.exec_driver_sql("SELECT pg_stat_get_xact_tuples_hot_updated('profiles'::regclass)").scalar()
        options = conn.exec_driver_sql("SELECT reloptions FROM pg_class WHERE relname = 'profiles'").scalar()
    assert "fillfactor=85" in options
    assert len(ids) == 40 and hot > 0  # as long as a page has room (15% of it: a few rows' versions)
