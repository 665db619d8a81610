"""Retention: the personal data of profiles inactive for the account's `retention_months` is
erased, as a durable job (services/jobs) that erases them a batch at a time, each profile as an
erasure request would (opt-outs kept as tombstones).

Inactive means untouched since the cutoff: the profile was not edited, no activity event was
posted for it, and no consent event of it was recorded. The cutoff is fixed when the job is
queued, so a job resumed later erases the same set, less any that came back to life meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ...domain import DomainError
from ...domain.erasure import months_before
from ...store import erasure as store
from ...store.db import read_transaction
from ..accounts import settings
from ..accounts.accounts import load_account
from ..jobs.batches import run_now
from ..jobs.model import Job
from ..jobs.queueing import queue_retention
from ..jobs.reading import get_job
from ..shared.clock import utcnow


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    months: int  # 0: retention is off
    cutoff: datetime | None  # profiles untouched since then are inactive
    inactive: int  # how many would be erased now


def plan(engine: Engine, account_id: str, *, months: int | None = None, now: datetime | None = None) -> RetentionPlan:
    """How many profiles the account's retention (or `months`) would erase now: the dry run."""
    if months is not None and months < 0:
        raise DomainError("months", "must be 0 or more", months)
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
