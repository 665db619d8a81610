"""Reading bulk jobs back: one job, a page of them, the lists they name, an import's errors and
the profiles it created or updated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Row

from ...store import jobs as store
from ...store import paging, projection
from ...store.db import read_transaction
from ..lists.lists import MailingList, load_list
from ..profiles.views import ProfileView, profile_view
from ..shared.errors import NotFound
from ..shared.paging import Position, position
from .model import IMPORT, ItemError, Job, _job, error_id


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
) -> tuple[Position, list[Job]]:
    """A page of the account's jobs of one kind, by creation time."""
    with read_transaction(engine) as conn:
        page = paging.page(
            conn, store.listing(account_id, kind, conditions), store.SORT_COLUMNS, descending=descending,
            limit=limit, after=after, before=before, key=store.sort_key,
        )  # fmt: skip
        return position(page), [_job(r) for r in page.rows]


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
) -> tuple[Position, list[ItemError]]:  # fmt: skip
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
        return position(page), errors


def job_profiles(
    engine: Engine, account_id: str, job_id: str, *, limit: int, after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None, subscriptions: bool = False,
) -> tuple[Position, list[ProfileView]]:  # fmt: skip
    """The profiles an import job created or updated, in id order."""
    with read_transaction(engine) as conn:
        _own_job(conn, account_id, job_id, IMPORT)
        page = paging.page(
            conn, store.profile_query(account_id, job_id, full=True), store.PROFILE_COLUMNS, descending=False,
            limit=limit, after=after, before=before, key=lambda r: (r.id,),
        )  # fmt: skip
        states = (
            projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in page.rows})
            if subscriptions and page.rows
            else {}
        )
        return position(page), [profile_view(r, states.get(r.id)) for r in page.rows]


def job_profile_ids(
    engine: Engine, account_id: str, job_id: str, *, limit: int, after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
) -> tuple[Position, list[str]]:  # fmt: skip
    """The ids of the profiles an import job created or updated, in id order."""
    with read_transaction(engine) as conn:
        _own_job(conn, account_id, job_id, IMPORT)
        page = paging.page(
            conn, store.profile_query(account_id, job_id, full=False), store.PROFILE_COLUMNS, descending=False,
            limit=limit, after=after, before=before, key=lambda r: (r.id,),
        )  # fmt: skip
        return position(page), [r.id for r in page.rows]
