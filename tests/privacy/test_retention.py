"""Retention: the account's `retention_months` erases the personal data of profiles inactive that
long, as a durable job, keeping opt-outs as tombstones; a dry run only counts. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assent.domain import Channel, DomainError, Purpose
from assent.domain.erasure import ErasedIdentifier
from assent.services.accounts import settings
from assent.services.activity.events import EventProfile, NewEvent, create_event
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
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
