"""Retention: the personal data of profiles inactive for the account's `retention_months` is
erased, as a durable job (services/jobs) that erases them a batch at a time, each profile as an
erasure request would (opt-outs kept as tombstones).

Inactive means untouched since the cutoff: the profile was not edited, no activity event was
posted for it, and no consent event of it was recorded. The cutoff is fixed when the job is
queued, so a job resumed later erases the same set, less any that came back to life meanwhile.

A running server queues it once a day for every account whose `retention_months` is set
(`RetentionScheduler`); `assent profiles retention` runs it at once.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from ...domain import DomainError
from ...domain.erasure import months_before
from ...store import erasure as store
from ...store import jobs as jobs_store
from ...store import settings as settings_store
from ...store.db import read_transaction, write_transaction
from ..accounts import settings
from ..accounts.accounts import load_account
from ..jobs import worker
from ..jobs.batches import run_now
from ..jobs.model import RETENTION, Job
from ..jobs.queueing import insert_retention, queue_retention
from ..jobs.reading import get_job
from ..shared.background import BackgroundLoop
from ..shared.clock import utcnow

log = logging.getLogger("assent.retention")

EVERY = timedelta(days=1)  # how often a server queues each account's retention erasure
LOOK_SECONDS = 3600.0  # how often it looks for an account that is due


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    months: int  # 0: retention is off
    cutoff: datetime | None  # profiles untouched since then are inactive
    inactive: int  # how many would be erased now


def plan(engine: Engine, account_id: str, *, months: int | None = None, now: datetime | None = None) -> RetentionPlan:
    """How many profiles the account's retention (or `months`) would erase now: the dry run."""
    low, high = settings.SETTINGS["retention_months"].bounds or (0, 0)
    if months is not None and not low <= months <= high:
        raise DomainError("months", f"must be from {low} to {high}", months)
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        months = settings.get_int(conn, account_id, "retention_months") if months is None else months
        if months <= 0:
            return RetentionPlan(0, None, 0)
        cutoff = months_before(now or utcnow(), months)
        return RetentionPlan(months, cutoff, store.inactive_count(conn, account_id, cutoff))


def start(engine: Engine, account_id: str, *, actor: str, now: datetime | None = None) -> Job:
    """Queue the account's retention erasure (refused while `retention_months` is 0)."""
    planned = plan(engine, account_id, now=now)
    if planned.cutoff is None:
        raise DomainError(
            "retention_months", "retention is off for this account: set it first (assent settings set)", 0
        )
    request = {"cutoff": planned.cutoff.isoformat(), "months": planned.months, "actor": actor}
    return queue_retention(engine, account_id, request, total=planned.inactive)


def run(engine: Engine, account_id: str, *, actor: str, now: datetime | None = None) -> Job:
    """Queue the retention erasure and run it here to its end; returns the finished job."""
    job = start(engine, account_id, actor=actor, now=now)
    run_now(engine, account_id, job.id)
    return get_job(engine, account_id, job.kind, job.id)


def queue_if_due(engine: Engine, account_id: str, *, now: datetime | None = None) -> Job | None:
    """Queue the account's retention erasure when retention is on and none was queued in the last
    day (by a server, or by `assent profiles retention`); None when it is not due. Servers that
    look at the same moment queue it once."""
    now = now or utcnow()
    with write_transaction(engine) as conn:
        jobs_store.serialise_queueing(conn, account_id, RETENTION)
        months = settings.get_int(conn, account_id, "retention_months")
        last = jobs_store.last_queued_at(conn, account_id, RETENTION)
        if months <= 0 or (last is not None and now - last < EVERY):
            return None
        cutoff = months_before(now, months)
        request = {"cutoff": cutoff.isoformat(), "months": months, "actor": "schedule"}
        total = store.inactive_count(conn, account_id, cutoff)
        return insert_retention(conn, account_id, request, total=total, now=now)


def queue_due(engine: Engine, *, now: datetime | None = None) -> list[tuple[str, Job]]:
    """Queue the retention erasure of every account that is due (see queue_if_due): (account id, job)."""
    with read_transaction(engine) as conn:
        accounts = [account_id for account_id, value in settings_store.accounts_with_setting(conn, "retention_months")
                    if value.strip() not in ("", "0")]  # fmt: skip
    queued = [(a, job) for a in accounts if (job := queue_if_due(engine, a, now=now)) is not None]
    if queued:
        worker.wake(engine)
    return queued


_SCHEDULERS: weakref.WeakSet[RetentionScheduler] = weakref.WeakSet()


class RetentionScheduler(BackgroundLoop):
    """While a server runs, queues each account's retention erasure once a day; the job runner
    erases, a batch per transaction. Many servers over one database queue it once."""

    thread_name = "assent-retention"
    failure = "the retention schedule could not queue its jobs"

    def __init__(
        self, engine: Engine, look_seconds: float = LOOK_SECONDS, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(look_seconds, _SCHEDULERS, log)
        self.engine = engine
        self.clock = clock

    def step(self) -> bool:
        for account_id, job in queue_due(self.engine, now=self.clock()):
            log.info("queued retention job %s of account %s: %d inactive profiles", job.id, account_id, job.total_count)
        return False
