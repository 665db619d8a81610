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
from ..profiles.reading import profile_resource
from ..shared.errors import NotFound
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
