"""The full copy works its rows out in SQL in the source database (store/mirror.py); on random
populations those rows are exactly the per-profile rows (domain/mirror.py), whose can_receive is
decide()'s answer for a flow send — on both sources, into a SQLite file and (from PostgreSQL, as
COPY text passed through) a PostgreSQL database."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assent.domain import ALL_CHANNEL_PURPOSES, Send, Via, decide
from assent.domain.mirror import TABLES, ConsentRow
from assent.integrations.sync_target import target_for
from assent.services.outbound import sync
from tests.store.test_audiences import T0, _write, states


@pytest.fixture
def to(db_url, tmp_path, request) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'target.db'}"
    return request.getfixturevalue("pg_target")


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(population=st.lists(states, max_size=20))
def test_full_copy_in_sql_gives_the_per_profile_rows_and_can_receive_is_decide(engine, to, population):
    account_id, _, by_id = _write(engine, population, False)
    target = target_for(to)
    try:
        report = sync.sync(engine, account_id, target)
        assert report.full_copy and report.profiles_copied == len(population)
        check = sync.verify(engine, account_id, target)  # the target against the per-profile rows
        assert check.ok, (check.missing, check.extra, check.examples[:4])
        rows = target.rows(account_id, frozenset(TABLES))
    finally:
        target.close()
    consent = {(r[1], r[2], r[3]): ConsentRow(*r) for r in rows["consent"]}
    assert len(consent) == len(rows["consent"])
    for pid, state in by_id.items():
        for channel, purpose in ALL_CHANNEL_PURPOSES:
            row = consent.get((pid, channel.value, purpose.value))
            allowed = decide(state, Send(channel, T0, purpose, Via.FLOW)).allowed
            assert (row is not None and row.can_receive) == allowed, (pid, channel, purpose)
