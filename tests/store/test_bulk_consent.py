"""Bulk subscribe works a job out before it locks the account's ledger, then locks it only to
append. A write that lands in between and changes what the job read (a profile it changes, an
identifier it gives, an erasure) makes the job work itself out again under the lock: the ledger
still verifies, a replay still equals the projection, and nothing written in between is lost.
Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text

from assent.domain import Channel, ConsentStatus, Purpose, SuppressionReason
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.bulk import ConsentItem, ItemError, subscribe_profiles
from assent.services.consent.changes import Locator
from assent.services.privacy import erasure
from assent.services.profiles import batch as batch_module
from assent.services.profiles import reading as profiles
from assent.services.profiles import writes as profile_writes
from assent.services.profiles.batch import ProfileBatch
from assent.services.webhooks import endpoints

EMAIL_M = (Channel.EMAIL, Purpose.MARKETING)


def _between(monkeypatch, write: Callable[[], None]) -> list[int]:
    """Make `write` land once, after the next job is worked out and before it locks the ledger;
    returns a list that counts how often that happened."""
    prepare, landed = ProfileBatch.prepare, []

    def prepare_then_write(self, *args, **kwargs):
        prepared = prepare(self, *args, **kwargs)
        if not landed:
            landed.append(1)
            write()
        return prepared

    monkeypatch.setattr(ProfileBatch, "prepare", prepare_then_write)
    return landed


def _consistent(engine, account_id: str) -> None:
    assert ledger.verify(engine, account_id).ok
    assert ledger.rebuild(engine, account_id, check=True).differences == []


def _count(engine, account_id: str, email: str) -> int:
    with engine.connect() as conn:
        sql = "SELECT count(*) FROM profiles WHERE account_id = :a AND email = :e"
        return conn.execute(text(sql), {"a": account_id, "e": email}).scalar()


def _status(engine, account_id: str, email: str) -> ConsentStatus:
    state = profiles.get_profile(engine, account_id, Locator("email", email)).state
    return state.consents[EMAIL_M].status


def test_a_job_is_worked_out_again_when_its_profile_got_an_event_in_between(engine, account_id, monkeypatch):
    profile_writes.create_profile(engine, account_id, profile_writes.ProfileInput({"email": "p@example.com"}))
    landed = _between(
        monkeypatch,
        lambda: consent.suppress(engine, account_id, Locator("email", "p@example.com"), SuppressionReason.HARD_BOUNCE),
    )
    subscribe_profiles(engine, account_id, [ConsentItem(None, "p@example.com", None, (EMAIL_M,))])
    assert landed
    state = profiles.get_profile(engine, account_id, Locator("email", "p@example.com")).state
    assert SuppressionReason.HARD_BOUNCE in state.suppressions  # the bounce is kept, not written over
    assert state.consents[EMAIL_M].status is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


def test_a_job_is_worked_out_again_when_its_new_profile_was_created_in_between(engine, account_id, monkeypatch):
    landed = _between(
        monkeypatch, lambda: consent.subscribe(engine, account_id, Locator("email", "new@example.com"), [EMAIL_M])
    )
    items = [ConsentItem(None, e, None, (EMAIL_M,)) for e in ("new@example.com", "other@example.com")]
    report = subscribe_profiles(engine, account_id, items)
    assert landed
    assert (report.created, report.unchanged) == (1, 1)  # the profile made in between is matched, not doubled
    assert _count(engine, account_id, "new@example.com") == 1
    assert _status(engine, account_id, "other@example.com") is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


def test_an_identifier_taken_in_between_fails_the_first_write_whole_and_the_job_is_redone(
    engine, account_id, monkeypatch
):
    # The profile made in between writes no ledger event, so only the unique index sees it: the
    # job's first write (profiles, events, projection, sent with the commit on PostgreSQL) fails
    # as a whole, and the job is worked out again under the lock.
    landed = _between(
        monkeypatch,
        lambda: profile_writes.create_profile(
            engine, account_id, profile_writes.ProfileInput({"email": "taken@example.com"})
        ),
    )
    redone: list[int] = []
    write = ProfileBatch.write

    def counted(self, *args, **kwargs):
        redone.append(1)
        return write(self, *args, **kwargs)

    monkeypatch.setattr(ProfileBatch, "write", counted)
    items = [ConsentItem(None, e, None, (EMAIL_M,)) for e in ("other@example.com", "taken@example.com")]
    report = subscribe_profiles(engine, account_id, items)
    assert landed and redone == [1]
    assert (report.created, report.updated, report.events) == (1, 1, 2)
    assert _count(engine, account_id, "taken@example.com") == _count(engine, account_id, "other@example.com") == 1
    assert _status(engine, account_id, "taken@example.com") is ConsentStatus.SUBSCRIBED
    assert _status(engine, account_id, "other@example.com") is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


def test_a_job_deadlocked_with_a_write_of_its_new_email_is_worked_out_again(engine, account_id, monkeypatch):
    # A job inserts its new profiles before it waits for the account's lock. A write that holds the
    # lock and then creates a profile of the same email waits for the job, which waits for it:
    # PostgreSQL ends the deadlock by rolling back the job (it waited first), and the job is worked
    # out again under the lock, once the other write is in. Neither fails; the email is one profile.
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: its writes cannot deadlock")
    locked, job_waits, failed = threading.Event(), threading.Event(), []
    load_account = profile_writes.load_account

    def load_then_wait(conn, account):
        locked.set()  # the create holds the account's lock: let the job insert, then wait for it
        assert job_waits.wait(10)
        return load_account(conn, account)

    monkeypatch.setattr(profile_writes, "load_account", load_then_wait)

    def create() -> None:
        try:
            profile_writes.create_profile(
                engine, account_id, profile_writes.ProfileInput({"email": "both@example.com"})
            )
        except Exception as e:  # noqa: BLE001 - the test reports it
            failed.append(e)

    def watch() -> None:  # the job's backend waiting on a lock: it has inserted its profile
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        with engine.connect() as conn:
            for _ in range(500):
                waiting = conn.execute(text(sql)).scalar()
                conn.rollback()  # pg_stat_activity is read once per transaction
                if waiting:
                    break
                threading.Event().wait(0.02)
        job_waits.set()

    creating = threading.Thread(target=create)
    creating.start()
    assert locked.wait(10)
    watching = threading.Thread(target=watch)
    watching.start()
    report = subscribe_profiles(engine, account_id, [ConsentItem(None, "both@example.com", None, (EMAIL_M,))])
    creating.join(10)
    watching.join(10)
    assert failed == []
    assert (report.created, report.updated) == (0, 1)  # matched to the profile the create made
    assert _count(engine, account_id, "both@example.com") == 1
    assert _status(engine, account_id, "both@example.com") is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


def test_an_edit_in_between_without_an_event_is_not_written_over(engine, account_id, monkeypatch):
    made = profile_writes.create_profile(
        engine, account_id, profile_writes.ProfileInput({"email": "p@example.com", "first_name": "Ann"})
    )
    landed = _between(
        monkeypatch,
        lambda: profile_writes.update_profile(
            engine, account_id, made.row.id, profile_writes.ProfileInput({"first_name": "Bea"})
        ),
    )
    subscribe_profiles(engine, account_id, [ConsentItem(made.row.id, None, "+14155550101", (EMAIL_M,))])
    assert landed
    view = profiles.get_profile(engine, account_id, Locator("id", made.row.id))
    assert (view.first_name, view.phone_number) == ("Bea", "+14155550101")
    assert view.state.consents[EMAIL_M].status is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


def test_an_identifier_erased_in_between_with_its_opt_out_is_refused(engine, account_id, monkeypatch):
    def made_and_erased() -> None:
        consent.unsubscribe(engine, account_id, Locator("email", "gone@example.com"), Channel.EMAIL)
        erasure.erase(engine, account_id, Locator("email", "gone@example.com"), actor="test")

    landed = _between(monkeypatch, made_and_erased)
    with pytest.raises(ItemError) as refused:
        subscribe_profiles(engine, account_id, [ConsentItem(None, "gone@example.com", None, (EMAIL_M,))])
    assert landed and refused.value.code == "erased_identifier"
    assert _count(engine, account_id, "gone@example.com") == 0
    _consistent(engine, account_id)


def test_an_unrelated_write_in_between_leaves_the_job_as_worked_out(engine, account_id, monkeypatch):
    landed = _between(
        monkeypatch, lambda: consent.subscribe(engine, account_id, Locator("email", "x@example.com"), [EMAIL_M])
    )
    report = subscribe_profiles(engine, account_id, [ConsentItem(None, "y@example.com", None, (EMAIL_M,))])
    assert landed and report.created == 1
    assert _status(engine, account_id, "y@example.com") is ConsentStatus.SUBSCRIBED
    _consistent(engine, account_id)


def test_jobs_run_at_once_on_overlapping_profiles_keep_one_profile_each_and_one_chain(engine, account_id):
    emails = [f"c{i}@example.com" for i in range(40)]
    failures: list[BaseException] = []

    def run(offset: int) -> None:
        try:
            for j in range(4):  # every thread's jobs cover every email, each thread from another place
                start = (offset * 10 + j * 10) % 40
                items = [ConsentItem(None, e, None, (EMAIL_M,)) for e in (emails + emails)[start : start + 40]]
                subscribe_profiles(engine, account_id, items)
        except BaseException as e:  # noqa: BLE001 — reported by the assertion below
            failures.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    assert all(_count(engine, account_id, e) == 1 for e in emails)
    assert all(_status(engine, account_id, e) is ConsentStatus.SUBSCRIBED for e in emails)
    _consistent(engine, account_id)


# --- one round trip (PostgreSQL) ----------------------------------------------------------------


def _appended_at_once(monkeypatch) -> list[int]:
    """Count the jobs appended in one round trip (record_at_once), each by its number of events."""
    record_at_once, counted = batch_module.record_at_once, []

    def counting(*args, **kwargs):
        n = record_at_once(*args, **kwargs)
        counted.append(n)
        return n

    monkeypatch.setattr(batch_module, "record_at_once", counting)
    return counted


def _deliveries(engine, account_id: str) -> list[int]:
    with engine.connect() as conn:
        sql = "SELECT seq FROM webhook_deliveries WHERE account_id = :a ORDER BY seq"
        return list(conn.execute(text(sql), {"a": account_id}).scalars())


def test_a_job_in_one_round_trip_chains_its_events_as_the_ledger_does(engine, account_id, monkeypatch):
    # The server works the chain out from the locked head (store/ledger.py, append_in_database):
    # each hash must be link_hash's, which ledger verify recomputes, after jobs of new and stored
    # profiles, and after another write moved the head in between.
    counted = _appended_at_once(monkeypatch)
    profile_writes.create_profile(engine, account_id, profile_writes.ProfileInput({"email": "kept@example.com"}))
    subscribe_profiles(
        engine, account_id, [ConsentItem(None, f"n{i}@example.com", None, (EMAIL_M,)) for i in range(30)]
    )
    landed = _between(
        monkeypatch, lambda: consent.subscribe(engine, account_id, Locator("email", "x@example.com"), [EMAIL_M])
    )
    items = [ConsentItem(None, e, None, (EMAIL_M,)) for e in ("kept@example.com", "y@example.com")]
    report = subscribe_profiles(engine, account_id, items)
    assert landed and report.events == 2
    assert counted == ([30, 2] if engine.dialect.name == "postgresql" else [])
    assert _status(engine, account_id, "kept@example.com") is ConsentStatus.SUBSCRIBED
    with engine.connect() as conn:
        head = conn.execute(text("SELECT ledger_seq FROM accounts WHERE id = :a"), {"a": account_id}).scalar()
        last = conn.execute(text("SELECT max(seq) FROM consent_events WHERE account_id = :a"), {"a": account_id})
        assert head == last.scalar() == 33
    _consistent(engine, account_id)


def test_a_webhook_enabled_after_a_job_was_worked_out_gets_its_events(engine, account_id, monkeypatch):
    # Appended in one round trip, a job queues no webhook deliveries: it checks under the lock
    # that the account has no enabled webhook, and when one was enabled since the job read, the
    # job is worked out again, its deliveries queued with its events.
    counted = _appended_at_once(monkeypatch)
    landed = _between(
        monkeypatch,
        lambda: endpoints.create(
            engine, account_id, name="mirror", endpoint_url="https://hooks.example.com/in",
            topics=["event:klaviyo.subscribed_to_email_marketing"],
        ),
    )  # fmt: skip
    items = [ConsentItem(None, e, None, (EMAIL_M,)) for e in ("a@example.com", "b@example.com")]
    report = subscribe_profiles(engine, account_id, items)
    assert landed and report.events == 2 and counted == []
    assert _deliveries(engine, account_id) == [1, 2]
    # With the webhook known when the job is worked out, the job goes the way that queues them.
    subscribe_profiles(engine, account_id, [ConsentItem(None, "c@example.com", None, (EMAIL_M,))])
    assert counted == [] and _deliveries(engine, account_id) == [1, 2, 3]
    _consistent(engine, account_id)
