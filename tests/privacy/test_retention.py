"""Retention: the account's `retention_months` erases the personal data of profiles inactive that
long, as a durable job, keeping opt-outs as tombstones; a dry run only counts. SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from assent.domain import Channel, DomainError, Purpose
from assent.domain.erasure import ErasedIdentifier
from assent.services.accounts import settings
from assent.services.activity.events import EventProfile, NewEvent, create_event
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.jobs.batches import run_now
from assent.services.jobs.reading import get_job
from assent.services.jobs.worker import JobRunner
from assent.services.privacy import retention
from assent.services.profiles import writes
from assent.services.shared.clock import utcnow
from tests.cli.test_cli import assent, assent_json

EMAIL = [(Channel.EMAIL, Purpose.MARKETING)]


def test_retention_erases_profiles_inactive_for_the_accounts_months(engine, account_id):
    consent.subscribe(engine, account_id, Locator("email", "quiet@example.com"), EMAIL)
    consent.subscribe(engine, account_id, Locator("email", "left@example.com"), EMAIL)
    consent.unsubscribe(engine, account_id, Locator("email", "left@example.com"), Channel.EMAIL)
    active = consent.subscribe(engine, account_id, Locator("email", "busy@example.com"), EMAIL).profile_id
    later = utcnow() + timedelta(days=200)  # seven months on: all three untouched for half a year ...
    create_event(engine, account_id, NewEvent("Placed Order", {}, EventProfile(email="busy@example.com"),
                                              time=(later - timedelta(days=30)).isoformat()))  # ... but one bought

    assert retention.plan(engine, account_id, now=later).inactive == 0  # off by default
    assert retention.plan(engine, account_id, months=6, now=later).inactive == 2  # the dry run counts ...
    with pytest.raises(DomainError) as off:
        retention.run(engine, account_id, actor="test", now=later)  # ... and erasing needs the setting
    assert off.value.field == "retention_months"

    settings.set_value(engine, account_id, "retention_months", "6")
    job = retention.run(engine, account_id, actor="test", now=later)
    assert (job.status, job.total_count, job.completed_count) == ("complete", 2, 2)
    assert retention.plan(engine, account_id, now=later).inactive == 0
    with pytest.raises(ErasedIdentifier):  # the opted-out one is kept as a tombstone
        writes.create_profile(engine, account_id, writes.ProfileInput(values={"email": "left@example.com"}))
    writes.create_profile(engine, account_id, writes.ProfileInput(values={"email": "quiet@example.com"}))
    assert consent.subscribe(engine, account_id, Locator("email", "busy@example.com"), EMAIL).profile_id == active
    assert ledger.verify(engine, account_id).ok


def test_cli_retention_dry_run_counts_and_changes_nothing(engine, account_id, db_url):
    consent.subscribe(engine, account_id, Locator("email", "stays@example.com"), EMAIL)
    off = assent_json("profiles", "retention", "--account", account_id, "--dry-run", db=db_url)
    assert off == {"months": 0, "cutoff": None, "inactive": 0}
    counted = assent_json("profiles", "retention", "--account", account_id, "--dry-run", "--months", "1", db=db_url)
    assert (counted["months"], counted["inactive"]) == (1, 0)
    refused = assent("profiles", "retention", "--account", account_id, db=db_url)
    assert refused.returncode == 1 and refused.stderr.startswith("error: retention_months:")
    settings.set_value(engine, account_id, "retention_months", "6")
    ran = assent_json("profiles", "retention", "--account", account_id, db=db_url)
    assert (ran["status"], ran["erased"]) == ("complete", 0)


def _two_quiet_profiles(engine, account_id):
    consent.subscribe(engine, account_id, Locator("email", "quiet@example.com"), EMAIL)
    consent.subscribe(engine, account_id, Locator("email", "left@example.com"), EMAIL)
    consent.unsubscribe(engine, account_id, Locator("email", "left@example.com"), Channel.EMAIL)
    return utcnow() + timedelta(days=200)  # seven months on: both untouched for half a year


def test_retention_is_queued_once_a_day_for_accounts_that_set_it(engine, account_id):
    later = _two_quiet_profiles(engine, account_id)

    def queued(now):  # this account's (the PostgreSQL database holds other tests' accounts too)
        return [job for a, job in retention.queue_due(engine, now=now) if a == account_id]

    assert queued(later) == []  # off by default: nothing queued
    settings.set_value(engine, account_id, "retention_months", "6")
    [job] = queued(later)
    assert (job.status, job.total_count) == ("queued", 2)
    assert queued(later + timedelta(hours=23)) == []  # once a day
    run_now(engine, account_id, job.id)
    assert get_job(engine, account_id, job.kind, job.id).completed_count == 2
    [next_day] = queued(later + timedelta(hours=25))
    assert next_day.total_count == 0  # the next day's run finds no one left to erase
    assert ledger.verify(engine, account_id).ok


def test_retention_queued_by_hand_counts_as_the_days_run(engine, account_id):
    later = _two_quiet_profiles(engine, account_id)
    settings.set_value(engine, account_id, "retention_months", "6")
    retention.start(engine, account_id, actor="cli", now=later)
    assert retention.queue_if_due(engine, account_id) is None


def test_servers_looking_at_once_queue_retention_once(engine, account_id):
    later = _two_quiet_profiles(engine, account_id)
    settings.set_value(engine, account_id, "retention_months", "6")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: retention.queue_if_due(engine, account_id, now=later), range(8)))
    assert len([job for job in results if job is not None]) == 1


def test_a_running_scheduler_queues_and_the_runner_erases(engine, account_id):
    later = _two_quiet_profiles(engine, account_id)
    settings.set_value(engine, account_id, "retention_months", "6")
    scheduler = retention.RetentionScheduler(engine, look_seconds=0.05, clock=lambda: later)
    runner = JobRunner(engine)
    runner.start()
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while retention.plan(engine, account_id, now=later).inactive and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop(5)
        runner.stop(5)
    assert retention.plan(engine, account_id, now=later).inactive == 0
    with pytest.raises(ErasedIdentifier):  # the opted-out one is kept as a tombstone
        writes.create_profile(engine, account_id, writes.ProfileInput(values={"email": "left@example.com"}))
