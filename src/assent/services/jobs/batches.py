"""Working through bulk jobs (Klaviyo's suppress, unsuppress and bulk-import jobs), a batch at a
time.

A job is a row (store/jobs.py) holding the request as received. A runner claims it atomically —
several server processes may each run one — under a lease it renews with every batch. A batch
(at most BATCH_SIZE profiles) is one transaction: its profiles, ledger events and projection,
and the job's new position and counts land together, so a job stopped or killed between batches
resumes exactly where it was, neither skipping nor repeating work; and as a transition repeated
on its own result emits nothing, even a repeated batch would change nothing.

Failures: an exception in a batch rolls that batch back and is recorded against the job; the job
is retried after a pause that grows with each failure (its lease is moved to then), and after
MAX_RETRIES retries — a fourth failure — it is `cancelled`. A runner that dies leaves its lease
to lapse (LEASE) and another runner, or the restarted server, takes the job over; that is not
counted as a failure. A stopping runner finishes its batch and hands the job back at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Engine, Row

from ...domain import DomainError, ProfileState, Proof, SuppressionReason, replay
from ...domain import transitions as t
from ...domain.identity import normalize_email, normalize_phone
from ...domain.profile import check_coordinates, check_lengths
from ...store import erasure as erasure_store
from ...store import jobs as store
from ...store import lists as list_store
from ...store.db import read_transaction, write_transaction
from ..accounts.accounts import Account, load_account
from ..imports.rows import text_or_none
from ..privacy import erasure
from ..profiles.batch import BatchReport, ProfileBatch, ProfileItem, RowConsent, row_consent
from ..shared.clock import utcnow
from ..shared.recorder import Recorder, recording
from .model import (
    _ATTRIBUTES,
    _LOCATION,
    IMPORT,
    RETENTION,
    SUPPRESS,
    UNSUPPRESS,
    _actor,
    _emails,
    _encode,
    _get,
    _profile_items,
)

log = logging.getLogger("assent.jobs")

BATCH_SIZE = 1000
LEASE = timedelta(seconds=60)
MAX_RETRIES = 3
RETRY_DELAY = timedelta(seconds=5)  # times the number of failures so far


@dataclass(slots=True)
class _Outcome:
    done: int  # how far the job's position moves
    finished: bool
    completed: int = 0
    failed: int = 0
    skipped: int = 0


def _proof(job: Row, request: dict[str, Any]) -> Proof:
    return Proof(source=f"{job.kind} {job.id}", actor=_actor(request) or "api")


def _step(transition: Callable[[ProfileState], list]) -> Callable[[ProfileState, ProfileItem], RowConsent]:
    def consent(state: ProfileState, _row: ProfileItem) -> RowConsent:
        events = transition(state)
        return row_consent(events, replay(events, state))

    return consent


def _suppression_batch(recorder: Recorder, job: Row, request: dict[str, Any], now: datetime) -> _Outcome:
    conn = recorder.conn
    unsuppress = job.kind == UNSUPPRESS
    proof = _proof(job, request)
    list_ids = msgspec.json.decode(job.list_ids or "[]")
    rows: list[ProfileItem] = []
    if list_ids or job.segment_id:
        # Members in profile id order, resuming after the last one the job went through.
        ids = []
        if list_ids:
            after = store.last_profile(conn, job.account_id, job.id)
            ids = store.member_ids(
                conn, job.account_id, list_ids[0], after=after, joined_by=job.created_at, limit=BATCH_SIZE
            )
        rows = [ProfileItem(job.position + i, id=pid) for i, pid in enumerate(ids)]
        outcome = _Outcome(done=len(ids), finished=len(ids) < BATCH_SIZE)
    else:
        emails = _emails(request)
        chunk = emails[job.position : job.position + BATCH_SIZE]
        outcome = _Outcome(done=len(chunk), finished=job.position + len(chunk) >= len(emails))
        for i, raw in enumerate(chunk, start=job.position):
            try:
                email = normalize_email(raw)
            except DomainError:  # checked when queued; only a change of the rules since could get here
                outcome.skipped += 1
                continue
            rows.append(ProfileItem(i, email))
    if unsuppress:
        step = _step(lambda state: t.unsuppress(state, now=now, proof=proof))
    else:
        step = _step(lambda state: t.suppress(state, SuppressionReason.USER_SUPPRESSED, now=now, proof=proof))
    batch = ProfileBatch(conn, job.account_id, rows)
    report = BatchReport()
    went_through = []
    for row in rows:
        # Unsuppressing an address no profile has does nothing (suppressing one creates the profile).
        if unsuppress and row.id is None and batch.match(row) is None:
            outcome.skipped += 1
            continue
        try:
            went_through.append(batch.apply(row, step, now, proof, report))
            outcome.completed += 1
        except DomainError:  # e.g. a list member without an email address: nothing to suppress
            outcome.skipped += 1
    batch.write(recorder, now)
    # List jobs resume after the greatest member id recorded, so every member seen is recorded.
    store.add_profiles(conn, job.account_id, job.id, [r.id for r in rows if r.id] if list_ids else went_through)
    return outcome


def import_row(index: int, item: Any, default_region: str) -> ProfileItem:
    """One profile of an import job, validated and normalised; raises DomainError naming the field.

    Identifiers that are absent or null are left as they are; other attributes named with null (or
    blank) are cleared, as the profile endpoints do; properties are merged into the stored ones."""
    attrs = _get(item, "attributes")
    if not isinstance(attrs, dict):
        raise DomainError("attributes", "a profile needs its attributes")
    profile_id = text_or_none(_get(item, "id"))
    email, phone, external_id = (text_or_none(attrs.get(f)) for f in ("email", "phone_number", "external_id"))
    if email is None and phone is None and external_id is None and profile_id is None:
        raise DomainError("email", "a profile needs an email, a phone_number, an external_id or an id")
    email = normalize_email(email) if email else None
    phone = normalize_phone(phone, default_region) if phone else None
    attributes: dict[str, Any] = {name: text_or_none(attrs[name]) for name in _ATTRIBUTES if name in attrs}
    location = attrs.get("location")
    if isinstance(location, dict):
        attributes.update({name: text_or_none(location[name]) for name in _LOCATION if name in location})
    elif "location" in attrs and location is None:
        attributes.update(dict.fromkeys(_LOCATION))
    for name, value in (("external_id", external_id), *attributes.items()):
        if value is not None and "\x00" in value:  # no database keeps a NUL in a text column
            raise DomainError(name, "contains a NUL character")
    check_lengths(attributes, location="location.")  # bounded, as the profile endpoints and file imports check
    check_coordinates(attributes, "location.")  # degrees in range, as the profile endpoints and file imports check
    properties = attrs.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    return ProfileItem(index, email, phone, external_id, attributes, properties, id=profile_id)


def _import_error(job: Row, seq: int, error: DomainError, item: Any) -> dict[str, Any]:
    return {
        "account_id": job.account_id, "job_id": job.id, "seq": seq, "code": "invalid", "title": "Invalid input",
        "detail": str(error), "pointer": "/data", "original_payload": _encode(item).decode(),
    }  # fmt: skip


def _import_batch(recorder: Recorder, account: Account, job: Row, request: dict[str, Any], now: datetime) -> _Outcome:
    conn = recorder.conn
    proof = _proof(job, request)
    items = _profile_items(request)
    chunk = items[job.position : job.position + BATCH_SIZE]
    outcome = _Outcome(done=len(chunk), finished=job.position + len(chunk) >= len(items))
    # A list deleted since the job was queued is not joined.
    lists = [lid for lid in msgspec.json.decode(job.list_ids or "[]") if list_store.get_list(conn, job.account_id, lid)]
    rows, errors = [], []
    for i, item in enumerate(chunk, start=job.position):
        try:
            rows.append(import_row(i, item, account.default_region))
        except DomainError as e:
            errors.append(_import_error(job, i, e, item))

    def join_lists(state: ProfileState) -> list:
        # Membership only: importing never grants or withdraws consent.
        events = []
        for list_id in lists:
            evs = t.add_to_list(state, list_id, now=now, proof=proof)
            events += evs
            state = replay(evs, state)
        return events

    step = _step(join_lists)
    batch = ProfileBatch(conn, job.account_id, rows)
    report = BatchReport()
    imported = []
    for row in rows:
        try:
            imported.append(batch.apply(row, step, now, proof, report))
        except DomainError as e:  # e.g. identifiers of two different profiles, or an unknown id
            errors.append(_import_error(job, row.line, e, chunk[row.line - job.position]))
    batch.write(recorder, now)
    store.add_errors(conn, errors)
    store.add_profiles(conn, job.account_id, job.id, imported)
    outcome.completed, outcome.failed = len(imported), len(errors)
    return outcome


RETENTION_BATCH = 200  # profiles erased per transaction


def _retention_batch(recorder: Recorder, job: Row, request: dict[str, Any]) -> _Outcome:
    """Erase the next inactive profiles. Erased ones no longer match, so each batch takes the first
    that still do; a repeated batch finds the ones it erased gone."""
    cutoff = datetime.fromisoformat(request["cutoff"])
    found = erasure_store.inactive_profiles(recorder.conn, job.account_id, cutoff, RETENTION_BATCH)
    for row in found:
        erasure.erase_in(recorder, row, actor=f"retention job {job.id}")
    return _Outcome(done=len(found), finished=len(found) < RETENTION_BATCH, completed=len(found))


def _run_batch(engine: Engine, account_id: str, job_id: str) -> bool:
    """Run the job's next batch in one transaction; True while it has more to do."""
    now = utcnow()
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        # Read under the lock: whoever runs this batch sees the position the last batch left.
        job = store.locked(conn, account_id, job_id)
        if job is None or job.status != "processing":
            return False
        request = msgspec.json.decode(job.payload)
        if job.kind == IMPORT:
            outcome = _import_batch(recorder, load_account(conn, account_id), job, request, now)
        elif job.kind in (SUPPRESS, UNSUPPRESS):
            outcome = _suppression_batch(recorder, job, request, now)
        elif job.kind == RETENTION:
            outcome = _retention_batch(recorder, job, request)
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")
        store.advance(
            conn, account_id, job_id, position=job.position + outcome.done, completed=outcome.completed,
            failed=outcome.failed, skipped=outcome.skipped,
            lease_until=None if outcome.finished else now + LEASE,
            status="complete" if outcome.finished else "processing",
            completed_at=now if outcome.finished else None,
        )  # fmt: skip
        return not outcome.finished


def _record_failure(engine: Engine, account_id: str, job_id: str, error: BaseException) -> bool:
    """Count a failed attempt durably; retry later, or cancel the job after MAX_RETRIES retries
    (then True)."""
    now = utcnow()
    with write_transaction(engine) as conn:
        job = store.locked(conn, account_id, job_id)
        if job is None or job.status != "processing":
            return False
        failures = store.failures(conn, account_id, job_id) + 1
        store.add_errors(conn, [{
            "account_id": account_id, "job_id": job_id, "seq": -failures, "code": "job_failed",
            "title": "The job failed", "detail": f"{type(error).__name__}: {error}"[:2000], "pointer": "",
            "original_payload": "null",
        }])  # fmt: skip
        if failures > MAX_RETRIES:
            store.cancel(conn, account_id, job_id, now)
            return True
        store.set_lease(conn, account_id, job_id, now + RETRY_DELAY * failures)
        return False


def _release(engine: Engine, account_id: str, job_id: str) -> None:
    """Hand a job back at once (its runner is stopping): any runner may take it up where it is."""
    with write_transaction(engine) as conn:
        store.set_lease(conn, account_id, job_id, utcnow())


def _claim_next(engine: Engine) -> tuple[str, str] | None:
    now = utcnow()
    with read_transaction(engine) as conn:
        candidates = store.claimable(conn, now, limit=10)
    for account_id, job_id in candidates:
        with write_transaction(engine) as conn:
            if store.claim(conn, account_id, job_id, now, now + LEASE):
                return account_id, job_id
    return None


class _Budget:
    """How many more batches a caller lets run (None: no limit)."""

    def __init__(self, batches: int | None) -> None:
        self.left = batches

    def spend(self) -> bool:
        """Count one batch; False once the budget is used up."""
        if self.left is None:
            return True
        self.left -= 1
        return self.left > 0


def _run_job(engine: Engine, account_id: str, job_id: str, stopping: Callable[[], bool], budget: _Budget) -> bool:
    """Work through a claimed job; True when it came to an end (complete or cancelled)."""
    try:
        while True:
            more = _run_batch(engine, account_id, job_id)
            may_go_on = budget.spend()
            if not more:
                return True
            if not may_go_on or stopping():
                _release(engine, account_id, job_id)
                return False
    except Exception as e:  # noqa: BLE001 — any failure of a batch is the job's, counted and retried
        log.exception("bulk job %s failed", job_id)
        try:
            return _record_failure(engine, account_id, job_id, e)
        except Exception:  # noqa: BLE001 — the lease then lapses and the job is retried
            log.exception("could not record the failure of bulk job %s", job_id)
            return False


def run_now(engine: Engine, account_id: str, job_id: str) -> bool:
    """Claim one queued job and run it to its end here (the command line's way); False when another
    runner holds it."""
    now = utcnow()
    with write_transaction(engine) as conn:
        if not store.claim(conn, account_id, job_id, now, now + LEASE):
            return False
    return _run_job(engine, account_id, job_id, lambda: False, _Budget(None))


def run_pending(engine: Engine, *, max_batches: int | None = None) -> int:
    """Run every job that is ready (queued, or with a lapsed lease) to its end, here and now; with
    `max_batches`, stop after that many batches and hand the job back. Returns how many jobs came
    to an end. For tests and the command line; servers run a JobRunner."""
    budget = _Budget(max_batches)
    ended = 0
    while budget.left is None or budget.left > 0:
        claimed = _claim_next(engine)
        if claimed is None:
            break
        ended += _run_job(engine, *claimed, lambda: False, budget)
    return ended
