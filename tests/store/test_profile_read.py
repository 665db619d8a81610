"""The raw-driver read of one profile (GET /api/profiles/{id}) gives the same profile and state as
the SQLAlchemy reads every other path uses. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

from hypothesis import HealthCheck, given, settings
from sqlalchemy import insert

from assent.domain import Channel, ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState, Purpose
from assent.domain.channels import SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent.changes import Locator
from assent.services.profiles.views import profile_view
from assent.store import profile_read, projection
from assent.store import profiles as profile_store
from assent.store.db import read_transaction, write_transaction
from assent.store.tables import push_tokens
from tests.domain.test_properties import run, scenarios

EMAIL_MARKETING = [(Channel.EMAIL, Purpose.MARKETING)]
T1 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
T2 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def _profile(engine, account_id: str, email: str) -> str:
    consent.subscribe(engine, account_id, Locator("email", email), EMAIL_MARKETING)
    with read_transaction(engine) as conn:
        row = profile_store.find(conn, account_id, "email", email)
    assert row is not None
    return row.id


def _token(conn, account_id: str, profile_id: str, n: int, status: str) -> None:
    conn.execute(
        insert(push_tokens).values(
            account_id=account_id,
            id=f"01TOKEN{n:019d}",
            profile_id=profile_id,
            token=f"token-{profile_id}-{n}",
            platform="ios",
            vendor="apns",
            enablement_status=status,
            background="AVAILABLE",
            metadata=None,
            created_at=T1,
            recorded_at=T1,
        )  # fmt: skip
    )


def _sqlalchemy_read(engine, account_id: str, profile_id: str):
    with read_transaction(engine) as conn:
        row = profile_store.get(conn, account_id, profile_id)
        assert row is not None
        state = projection.load(conn, account_id, {row.id: (row.email, row.phone_number)})[row.id]
    return profile_view(row, state)


def test_every_part_of_the_state_reads_as_sqlalchemy_reads_it(engine, account_id):
    pid = _profile(engine, account_id, "rich@example.com")
    other = _profile(engine, account_id, "other@example.com")
    state = ProfileState(
        consents={
            (Channel.SMS, Purpose.MARKETING): ChannelConsent(
                ConsentStatus.SUBSCRIBED, T1, "API", "form", "x", True, T2
            ),
            (Channel.SMS, Purpose.TRANSACTIONAL): ChannelConsent(
                ConsentStatus.UNSUBSCRIBED, T1, None, None, None, False, T2
            ),
        },  # fmt: skip
        suppressions={SuppressionReason.HARD_BOUNCE: T1},
        list_suppressions={"01LIST00000000000000000001": ListSuppression("UNSUBSCRIBE", T2)},
        lists={"01LIST00000000000000000002": T1},
        pending={(Channel.EMAIL, Purpose.MARKETING, "01LIST00000000000000000003"): PendingOptIn(T2, "FORM", "f", None)},
    )
    with write_transaction(engine) as conn:
        projection.write(conn, account_id, {pid: state})  # in place of the email consent it had
        _token(conn, account_id, pid, 1, "AUTHORIZED")
        _token(conn, account_id, pid, 2, "AUTHORIZED")
        _token(conn, account_id, pid, 3, "DENIED")
        _token(conn, account_id, other, 4, "AUTHORIZED")  # another profile's device does not count

    found = profile_read.get(engine, account_id, pid, with_state=True)
    assert found is not None
    view = profile_view(*found)
    assert view == _sqlalchemy_read(engine, account_id, pid)

    async def on_the_event_loop():  # the server's inline read, on the connection it keeps (on SQLite, one statement)
        return [
            profile_read.get(engine, account_id, pid, with_state=True),
            profile_read.get(engine, account_id, pid, with_state=False),
            profile_read.get(engine, account_id, "01NOSUCHPROFILE00000000000", with_state=True),
            profile_read.get(engine, account_id, "01NOSUCHPROFILE00000000000", with_state=False),
            profile_read.get(engine, "01OTHERACCOUNT000000000000", pid, with_state=True),
        ]

    with_state, alone, *none = asyncio.run(on_the_event_loop())
    assert with_state is not None and profile_view(*with_state) == view
    assert alone is not None and alone[1] is None and profile_view(alone[0]) == profile_view(found[0])
    assert none == [None, None, None]
    assert view.state is not None
    assert view.state.push_tokens == 2
    assert view.state.consents[(Channel.SMS, Purpose.MARKETING)].double_optin is True
    assert view.state.consents[(Channel.SMS, Purpose.MARKETING)].consent_timestamp == T1
    assert view.state.suppressions == {SuppressionReason.HARD_BOUNCE: T1}
    assert view.state.lists == {"01LIST00000000000000000002": T1}
    assert view.created_at.tzinfo is UTC


def test_without_state_the_profile_alone(engine, account_id):
    pid = _profile(engine, account_id, "plain@example.com")
    found = profile_read.get(engine, account_id, pid, with_state=False)
    assert found is not None
    row, state = found
    assert state is None
    assert profile_view(row) == profile_view(*_sqlalchemy_read_row(engine, account_id, pid))


def _sqlalchemy_read_row(engine, account_id: str, profile_id: str):
    with read_transaction(engine) as conn:
        return profile_store.get(conn, account_id, profile_id), None


def test_an_unknown_id_or_another_accounts_profile_is_none(engine, account_id):
    pid = _profile(engine, account_id, "mine@example.com")
    assert profile_read.get(engine, account_id, "01NOSUCHPROFILE00000000000", with_state=True) is None
    assert profile_read.get(engine, "01OTHERACCOUNT000000000000", pid, with_state=True) is None


def test_reads_go_on_after_the_engine_is_disposed_and_from_another_thread(engine, account_id):
    pid = _profile(engine, account_id, "kept@example.com")
    assert profile_read.get(engine, account_id, pid, with_state=True) is not None
    engine.dispose()  # a new pool: the connection kept for these reads is given back, a new one taken
    found = profile_read.get(engine, account_id, pid, with_state=True)
    assert found is not None and found[0].email == "kept@example.com"
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(profile_read.get, engine, account_id, pid, with_state=False).result()
    assert other is not None and other[0].id == pid
    consent.unsubscribe(engine, account_id, Locator("email", "kept@example.com"), Channel.EMAIL)
    found = profile_read.get(engine, account_id, pid, with_state=True)  # sees the write just committed
    assert found is not None and found[1] is not None
    assert found[1].consent(Channel.EMAIL).status is ConsentStatus.UNSUBSCRIBED


def test_handler_threads_give_their_connection_back_so_the_pool_never_runs_dry(engine, account_id):
    """Reads from more threads than the pool holds (a server's handler threads, alive between
    requests) leave every connection free: only the event loop's thread keeps one."""
    pid = _profile(engine, account_id, "threads@example.com")
    threads = 20  # more than the default pool's 5 + 10 overflow
    started = Barrier(threads + 1)

    def read_and_stay_alive() -> None:
        assert profile_read.get(engine, account_id, pid, with_state=True) is not None
        started.wait(timeout=30)  # the thread lives on, as an idle handler thread does

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(read_and_stay_alive) for _ in range(threads)]
        started.wait(timeout=30)
        assert engine.pool.checkedout() == 0
        for f in futures:
            f.result()


def test_the_event_loop_thread_keeps_one_connection_between_reads(engine, account_id):
    pid = _profile(engine, account_id, "loop@example.com")

    async def two_reads() -> int:
        profile_read.get(engine, account_id, pid, with_state=True)
        profile_read.get(engine, account_id, pid, with_state=True)
        return engine.pool.checkedout()

    kept = asyncio.run(two_reads())
    assert kept == (1 if engine.dialect.name == "sqlite" else 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenarios)
def test_random_states_read_on_the_event_loop_as_sqlalchemy_reads_them(engine, account_id, scenario):
    """The server's inline read (on SQLite, one UNION ALL statement) on random states: every
    channel and purpose, suppressions, list suppressions, memberships, pending opt-ins."""
    pid = _profile(engine, account_id, "random@example.com")
    state = run(scenario)[1]
    with write_transaction(engine) as conn:
        projection.write(conn, account_id, {pid: state})

    async def on_the_event_loop():
        return profile_read.get(engine, account_id, pid, with_state=True)

    found = asyncio.run(on_the_event_loop())
    assert found is not None
    assert profile_view(*found) == _sqlalchemy_read(engine, account_id, pid)
