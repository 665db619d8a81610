"""Durable bulk jobs: Klaviyo's suppress, unsuppress and bulk-import jobs, queued by the API and
worked through by runners.

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
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Row

from ..domain import DomainError, ProfileState, Proof, SuppressionReason, replay
from ..domain import transitions as t
from ..domain.identity import normalize_email, normalize_phone
from ..store import jobs as store
from ..store import lists as list_store
from ..store import paging, projection
from ..store.db import read_transaction, write_transaction
from .accounts import Account, load_account
from .background import BackgroundLoop
from .clock import utcnow
from .errors import NotFound
from .ids import new_id
from .import_rows import text_or_none
from .lists import MailingList, load_list
from .profile_batch import BatchReport, ProfileBatch, ProfileItem, RowConsent, row_consent
from .profiles import profile_resource
from .recorder import Recorder, recording

log = logging.getLogger("assent.jobs")

# Job kinds are the JSON:API resource types of Klaviyo's jobs.
SUPPRESS = "profile-suppression-bulk-create-job"
UNSUPPRESS = "profile-suppression-bulk-delete-job"
IMPORT = "profile-bulk-import-job"
KINDS = (SUPPRESS, UNSUPPRESS, IMPORT)
STATUSES = ("queued", "processing", "complete", "cancelled")

MAX_SUPPRESSION_PROFILES = 100  # Klaviyo's limits per request
MAX_IMPORT_PROFILES = 10_000
BATCH_SIZE = 1000
LEASE = timedelta(seconds=60)
POLL_SECONDS = 0.2
MAX_RETRIES = 3
RETRY_DELAY = timedelta(seconds=5)  # times the number of failures so far
EXPIRES_AFTER = timedelta(days=7)  # Klaviyo keeps an import job's results a week

_ATTRIBUTES = ("first_name", "last_name", "organization", "locale", "title", "image")
_LOCATION = ("address1", "address2", "city", "country", "region", "zip", "timezone", "latitude", "longitude", "ip")
_ERROR_IDS = uuid.UUID("6f1d4c1e-3b0a-4f57-9a8e-2b8f0f3a9c51")  # namespace of import-error ids
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    kind: str
    status: str
    list_ids: tuple[str, ...]
    segment_id: str | None
    total_count: int
    completed_count: int
    failed_count: int
    skipped_count: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @property
    def expires_at(self) -> datetime:
        return self.created_at + EXPIRES_AFTER


def _job(row: Row) -> Job:
    return Job(
        row.id, row.kind, row.status, tuple(msgspec.json.decode(row.list_ids or "[]")), row.segment_id,
        row.total_count, row.completed_count, row.failed_count, row.skipped_count, row.created_at,
        row.started_at, row.completed_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemError:
    id: str
    code: str
    title: str
    detail: str
    pointer: str
    original_payload: Any


def error_id(job_id: str, seq: int) -> str:
    """A stable uuid for an import error: the same every time it is listed."""
    return str(uuid.uuid5(_ERROR_IDS, f"{job_id}:{seq}"))


# --- reading requests ------------------------------------------------------------------------
# Payloads are JSON:API request documents (plain data); these read them the same way when a job
# is queued and each time a batch of it runs.


def _get(value: Any, *path: str) -> Any:
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _profile_items(request: dict[str, Any]) -> list[Any]:
    items = _get(request, "data", "attributes", "profiles", "data")
    return items if isinstance(items, list) else []


def _emails(request: dict[str, Any]) -> list[Any]:
    return [_get(item, "attributes", "email") for item in _profile_items(request)]


def _related_id(request: dict[str, Any], name: str) -> str | None:
    value = _get(request, "data", "relationships", name, "data", "id")
    return value if isinstance(value, str) else None


def _related_ids(request: dict[str, Any], name: str) -> list[str]:
    refs = _get(request, "data", "relationships", name, "data")
    return (
        [r["id"] for r in refs if isinstance(r, dict) and isinstance(r.get("id"), str)]
        if isinstance(refs, list)
        else []
    )


def _actor(request: dict[str, Any]) -> str | None:
    value = _get(request, "meta", "actor")
    return value if isinstance(value, str) else None


# --- queueing --------------------------------------------------------------------------------


def _insert(
    conn: Connection, account_id: str, kind: str, request: dict[str, Any], *, total: int, list_ids: Sequence[str],
    segment_id: str | None = None,
) -> Job:  # fmt: skip
    now, job_id = utcnow(), new_id()
    values = {
        "account_id": account_id, "id": job_id, "kind": kind, "status": "queued",
        "payload": _encode(request).decode(), "list_ids": _encode(list(list_ids)).decode(), "segment_id": segment_id,
        "total_count": total, "completed_count": 0, "failed_count": 0, "skipped_count": 0, "position": 0,
        "created_at": now,
    }  # fmt: skip
    store.insert_job(conn, values)
    return _job(store.reload(conn, account_id, job_id))


def _with_actor(request: dict[str, Any], actor: str | None) -> dict[str, Any]:
    """The request with who sent it (kept in its top-level meta), for the proof of each change."""
    return request if actor is None else {**request, "meta": {**(request.get("meta") or {}), "actor": actor}}


def queue_suppression(
    engine: Engine, account_id: str, kind: str, request: dict[str, Any], *, actor: str | None = None
) -> Job:
    """Queue a suppress (SUPPRESS) or unsuppress (UNSUPPRESS) job: up to 100 emails, or all
    current members of a list or segment; `actor` (who asked) goes into each change's proof.
    Errors name the field from `/data` down."""
    if kind not in (SUPPRESS, UNSUPPRESS):
        raise ValueError(f"not a suppression job kind: {kind}")
    items = _profile_items(request)
    list_id, segment_id = _related_id(request, "list"), _related_id(request, "segment")
    given = sum((bool(items), list_id is not None, segment_id is not None))
    if given != 1:
        what = "none" if given == 0 else "more than one"
        raise DomainError(
            "attributes.profiles", f"give profiles (emails), a list or a segment: exactly one of them, not {what}"
        )
    if len(items) > MAX_SUPPRESSION_PROFILES:
        raise DomainError(
            "attributes.profiles.data", f"at most {MAX_SUPPRESSION_PROFILES} profiles per job", len(items)
        )
    for i, email in enumerate(_emails(request)):
        try:
            normalize_email(email)
        except DomainError as e:
            raise DomainError(f"attributes.profiles.data.{i}.attributes.email", e.message, e.value) from None
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        if segment_id is not None:
            # Assent has no segments yet: every segment id is unknown, in every account.
            raise NotFound("relationships.segment.data.id", "no such segment in this account", segment_id)
        total = len(items)
        if list_id is not None:
            _load_list(conn, account_id, list_id, "relationships.list.data.id")
            total = store.member_count(conn, account_id, list_id)
        list_ids = [list_id] if list_id else []
        return _insert(conn, account_id, kind, _with_actor(request, actor), total=total, list_ids=list_ids)


def queue_import(engine: Engine, account_id: str, request: dict[str, Any], *, actor: str | None = None) -> Job:
    """Queue a bulk import of up to 10,000 profiles, optionally joining them to lists (which must
    exist). Profiles are validated as the job runs: a bad one becomes an import error."""
    items = _profile_items(request)
    if not 1 <= len(items) <= MAX_IMPORT_PROFILES:
        raise DomainError("attributes.profiles.data", f"a job imports 1 to {MAX_IMPORT_PROFILES} profiles", len(items))
    list_ids = _related_ids(request, "lists")
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        for i, list_id in enumerate(list_ids):
            _load_list(conn, account_id, list_id, f"relationships.lists.data.{i}.id")
        return _insert(
            conn, account_id, IMPORT, _with_actor(request, actor), total=len(items),
            list_ids=list(dict.fromkeys(list_ids)),
        )  # fmt: skip


def _load_list(conn: Connection, account_id: str, list_id: str, field: str) -> MailingList:
    try:
        return load_list(conn, account_id, list_id)
    except NotFound:
        raise NotFound(field, "no such list in this account", list_id) from None


# --- reading jobs ----------------------------------------------------------------------------


def _own_job(conn: Connection, account_id: str, job_id: str, kind: str) -> Row:
    row = store.get(conn, account_id, job_id, kind)
    if row is None:
        raise NotFound("job_id", "no such job in this account", job_id)
    return row


def get_job(engine: Engine, account_id: str, kind: str, job_id: str) -> Job:
    with read_transaction(engine) as conn:
        return _job(_own_job(conn, account_id, job_id, kind))


def list_jobs(
    engine: Engine,
    account_id: str,
    kind: str,
    conditions: Sequence[store.Condition],
    *,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
) -> tuple[paging.Page, list[Job]]:
    """A page of the account's jobs of one kind, by creation time."""
    with read_transaction(engine) as conn:
        page = paging.page(
            conn, store.listing(account_id, kind, conditions), store.SORT_COLUMNS, descending=descending,
            limit=limit, after=after, before=before, key=store.sort_key,
        )  # fmt: skip
        return page, [_job(r) for r in page.rows]


def job_lists(engine: Engine, account_id: str, kind: str, job_id: str) -> list[MailingList]:
    """The lists a job names that still exist."""
    with read_transaction(engine) as conn:
        job = _job(_own_job(conn, account_id, job_id, kind))
        out = []
        for list_id in job.list_ids:
            try:
                out.append(load_list(conn, account_id, list_id))
            except NotFound:
                continue
        return out


def import_errors(
    engine: Engine, account_id: str, job_id: str, *, limit: int, after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
) -> tuple[paging.Page, list[ItemError]]:  # fmt: skip
    with read_transaction(engine) as conn:
        _own_job(conn, account_id, job_id, IMPORT)
        page = paging.page(
            conn, store.error_query(account_id, job_id), store.ERROR_COLUMNS, descending=False, limit=limit,
            after=after, before=before, key=lambda r: (r.seq,),
        )  # fmt: skip
        decode = msgspec.json.decode
        errors = [
            ItemError(error_id(job_id, r.seq), r.code, r.title, r.detail, r.pointer, decode(r.original_payload))
            for r in page.rows
        ]
        return page, errors


def job_profiles(
    engine: Engine, account_id: str, job_id: str, *, limit: int, after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None, full: bool, subscriptions: bool = False, base: str | None = None,
) -> tuple[paging.Page, list[dict[str, Any]]]:  # fmt: skip
    """The profiles an import job created or updated, in id order: resources, or with `full`
    False only their ids (as {"id": ...})."""
    with read_transaction(engine) as conn:
        _own_job(conn, account_id, job_id, IMPORT)
        page = paging.page(
            conn, store.profile_query(account_id, job_id, full=full), store.PROFILE_COLUMNS, descending=False,
            limit=limit, after=after, before=before, key=lambda r: (r.id,),
        )  # fmt: skip
        if not full:
            return page, [{"id": r.id} for r in page.rows]
        states = (
            projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in page.rows})
            if subscriptions and page.rows
            else {}
        )
        return page, [profile_resource(r, states.get(r.id), base) for r in page.rows]


# --- running ---------------------------------------------------------------------------------


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


_RUNNERS: weakref.WeakSet[JobRunner] = weakref.WeakSet()


def wake(engine: Engine) -> None:
    """Tell this process's runners on `engine` that a job was queued, so it starts at once."""
    for runner in list(_RUNNERS):
        if runner.engine is engine:
            runner.wake()


class JobRunner(BackgroundLoop):
    """Runs queued jobs in a daemon thread while a server runs."""

    thread_name = "assent-jobs"
    failure = "the bulk job runner could not look for work"

    def __init__(self, engine: Engine, poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__(poll_seconds, _RUNNERS, log)
        self.engine = engine
        self._budget = _Budget(None)

    def step(self) -> bool:
        claimed = _claim_next(self.engine)
        if claimed is None:
            return False
        _run_job(self.engine, *claimed, self.stopping, self._budget)
        return True

    def stop(self, timeout: float = 120.0) -> None:
        """Stop after the batch under way (its job is handed back, to resume on the next start)."""
        super().stop(timeout)
