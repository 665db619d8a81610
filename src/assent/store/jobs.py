"""Bulk jobs: their rows, the atomic claim that hands a job to one runner, progress moved inside the
batch's own transaction, and the errors and profiles a job leaves behind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from .rows import AnyRow, AnySelect, SortKey
from .tables import job_errors, job_profiles, jobs, list_members, profiles

# A filter condition as the API checked it: (operator, field, value), the value already typed.
Condition = tuple[str, str, Any]

SORT_COLUMNS: list[ColumnElement[Any]] = [jobs.c.created_at, jobs.c.id]


def sort_key(row: AnyRow) -> SortKey:
    return (row.created_at.isoformat(), row.id)


def insert_job(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(jobs).values(**values))


def serialise_queueing(conn: Connection, account_id: str, kind: str) -> None:
    """Until this transaction ends, no other one queues a job of `kind` for the account: a
    transaction-scoped advisory lock on PostgreSQL (SQLite's write transactions already run one at
    a time), so servers that check-then-queue at the same moment queue once."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"jobs:{kind}:{account_id}"))))


def last_queued_at(conn: Connection, account_id: str, kind: str) -> datetime | None:
    """When the account last queued a job of `kind` (ix_jobs_kind answers it from the index)."""
    q = select(func.max(jobs.c.created_at)).where(jobs.c.account_id == account_id, jobs.c.kind == kind)
    at: datetime | None = conn.execute(q).scalar()
    return at


def get(conn: Connection, account_id: str, job_id: str, kind: str | None = None) -> AnyRow | None:
    q = select(jobs).where(jobs.c.account_id == account_id, jobs.c.id == job_id)
    if kind is not None:
        q = q.where(jobs.c.kind == kind)
    return conn.execute(q).first()


def reload(conn: Connection, account_id: str, job_id: str) -> AnyRow:
    """A job this transaction has just written: it is there (`.one()` raises otherwise)."""
    return conn.execute(select(jobs).where(jobs.c.account_id == account_id, jobs.c.id == job_id)).one()


def locked(conn: Connection, account_id: str, job_id: str) -> AnyRow | None:
    """The job row, locked until the transaction ends (PostgreSQL; SQLite writers are exclusive)."""
    q = select(jobs).where(jobs.c.account_id == account_id, jobs.c.id == job_id).with_for_update()
    return conn.execute(q).first()


def _claimable(now: datetime) -> ColumnElement[bool]:
    # Queued, or processing under a lease its runner let lapse (it stopped, crashed or failed).
    return or_(jobs.c.status == "queued", and_(jobs.c.status == "processing", jobs.c.lease_until < now))


def claimable(conn: Connection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(account_id, id) of jobs a runner may take, oldest first."""
    q = select(jobs.c.account_id, jobs.c.id).where(_claimable(now)).order_by(jobs.c.created_at).limit(limit)
    return [(r.account_id, r.id) for r in conn.execute(q)]


def claim(conn: Connection, account_id: str, job_id: str, now: datetime, lease_until: datetime) -> bool:
    """Take the job if it is still claimable; True when this caller got it. The condition is checked
    by the UPDATE itself, so of several runners racing for one job exactly one wins."""
    result = conn.execute(
        update(jobs)
        .where(jobs.c.account_id == account_id, jobs.c.id == job_id, _claimable(now))
        .values(
            status="processing",
            lease_until=lease_until,
            # Never before the job was queued: a runner's clock reading can precede a job that was
            # committed after it, yet be claimed in the same pass.
            started_at=func.coalesce(
                jobs.c.started_at,
                case((jobs.c.created_at > now, jobs.c.created_at), else_=literal(now, jobs.c.started_at.type)),
            ),
        )
    )
    return result.rowcount == 1


def advance(
    conn: Connection,
    account_id: str,
    job_id: str,
    *,
    position: int,
    completed: int,
    failed: int,
    skipped: int,
    lease_until: datetime | None,
    status: str = "processing",
    completed_at: datetime | None = None,
) -> None:
    """Record a batch: the new position, the counts it adds and the renewed lease (or the end)."""
    conn.execute(
        update(jobs)
        .where(jobs.c.account_id == account_id, jobs.c.id == job_id)
        .values(
            position=position,
            completed_count=jobs.c.completed_count + completed,
            failed_count=jobs.c.failed_count + failed,
            skipped_count=jobs.c.skipped_count + skipped,
            lease_until=lease_until,
            status=status,
            completed_at=completed_at,
        )
    )


def set_lease(conn: Connection, account_id: str, job_id: str, lease_until: datetime) -> None:
    """Move a processing job's lease (to now, to hand it back at once; later, to retry after a pause)."""
    conn.execute(
        update(jobs)
        .where(jobs.c.account_id == account_id, jobs.c.id == job_id, jobs.c.status == "processing")
        .values(lease_until=lease_until)
    )


def cancel(conn: Connection, account_id: str, job_id: str, now: datetime) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.account_id == account_id, jobs.c.id == job_id, jobs.c.status.in_(("queued", "processing")))
        .values(status="cancelled", completed_at=now, lease_until=None)
    )


_FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {"status": jobs.c.status, "segment_id": jobs.c.segment_id}


def listing(account_id: str, kind: str, conditions: Sequence[Condition]) -> AnySelect:
    """The account's jobs of one kind matching every condition."""
    q = select(jobs).where(jobs.c.account_id == account_id, jobs.c.kind == kind)
    for op, field, value in conditions:
        if field == "list_id" and op == "equals":
            # list_ids is a JSON array of list ids; a quoted id appears in it only as a whole element.
            q = q.where(jobs.c.list_ids.contains(f'"{value}"', autoescape=True))
        elif field in _FILTER_COLUMNS and op == "equals":
            q = q.where(_FILTER_COLUMNS[field] == value)
        elif field in _FILTER_COLUMNS and op == "any":
            q = q.where(_FILTER_COLUMNS[field].in_(list(value)))
        else:
            raise ValueError(f"no filter {op}({field}) on jobs")
    return q


# --- errors ----------------------------------------------------------------------------------

# Item errors have the item's index as seq (0 and up); failures of the job itself are kept with
# negative seqs (-1, -2, ...), so that retries are counted durably without a column of their own.


def add_errors(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(job_errors), list(rows))


def error_query(account_id: str, job_id: str) -> AnySelect:
    return select(job_errors).where(
        job_errors.c.account_id == account_id, job_errors.c.job_id == job_id, job_errors.c.seq >= 0
    )


ERROR_COLUMNS: list[ColumnElement[Any]] = [job_errors.c.seq]


def failures(conn: Connection, account_id: str, job_id: str) -> int:
    q = select(func.count()).where(
        job_errors.c.account_id == account_id, job_errors.c.job_id == job_id, job_errors.c.seq < 0
    )
    return conn.execute(q).scalar_one()


# --- profiles --------------------------------------------------------------------------------


def add_profiles(conn: Connection, account_id: str, job_id: str, profile_ids: Iterable[str]) -> None:
    """Remember profiles the job went through; one already remembered is left as it is."""
    ids = list(dict.fromkeys(profile_ids))
    if ids:
        rows = [{"account_id": account_id, "job_id": job_id, "profile_id": p} for p in ids]
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(job_profiles).on_conflict_do_nothing(), rows)


def last_profile(conn: Connection, account_id: str, job_id: str) -> str | None:
    """The greatest profile id the job went through: where a walk in id order resumes."""
    q = select(func.max(job_profiles.c.profile_id)).where(
        job_profiles.c.account_id == account_id, job_profiles.c.job_id == job_id
    )
    last: str | None = conn.execute(q).scalar_one()
    return last


def profile_query(account_id: str, job_id: str, *, full: bool) -> AnySelect:
    """The job's profiles (whole rows, or only ids) that still exist."""
    wanted: list[Any] = [profiles] if full else [profiles.c.id]
    return (
        select(*wanted)
        .select_from(
            job_profiles.join(
                profiles,
                and_(profiles.c.account_id == job_profiles.c.account_id, profiles.c.id == job_profiles.c.profile_id),
            )
        )
        .where(job_profiles.c.account_id == account_id, job_profiles.c.job_id == job_id)
    )


PROFILE_COLUMNS: list[ColumnElement[Any]] = [job_profiles.c.profile_id]


# --- list members ----------------------------------------------------------------------------


def member_count(conn: Connection, account_id: str, list_id: str) -> int:
    q = select(func.count()).where(list_members.c.account_id == account_id, list_members.c.list_id == list_id)
    return conn.execute(q).scalar_one()


def member_ids(
    conn: Connection, account_id: str, list_id: str, *, after: str | None, joined_by: datetime, limit: int
) -> list[str]:
    """The next `limit` members of the list in profile id order, after `after`, that had joined by
    `joined_by` (members who join later are not the job's)."""
    q = select(list_members.c.profile_id).where(
        list_members.c.account_id == account_id,
        list_members.c.list_id == list_id,
        list_members.c.joined_at <= joined_by,
    )
    if after is not None:
        q = q.where(list_members.c.profile_id > after)
    return list(conn.execute(q.order_by(list_members.c.profile_id).limit(limit)).scalars())
