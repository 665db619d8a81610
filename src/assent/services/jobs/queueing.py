"""Queueing bulk jobs: a suppress or unsuppress job (`queue_suppression`) or a bulk import
(`queue_import`), checked and stored as received, to be worked through by `batches`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from ...domain import DomainError
from ...domain.identity import normalize_email
from ...store import jobs as store
from ...store.db import write_transaction
from ..accounts.accounts import load_account
from ..lists.lists import MailingList, load_list
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from ..shared.ids import new_id
from .model import (
    IMPORT,
    MAX_IMPORT_PROFILES,
    MAX_SUPPRESSION_PROFILES,
    RETENTION,
    SUPPRESS,
    UNSUPPRESS,
    Job,
    _emails,
    _encode,
    _job,
    _profile_items,
    _related_id,
    _related_ids,
)


def _insert(
    conn: Connection, account_id: str, kind: str, request: dict[str, Any], *, total: int, list_ids: Sequence[str],
    segment_id: str | None = None, now: datetime | None = None,
) -> Job:  # fmt: skip
    now, job_id = now or utcnow(), new_id()
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


def queue_retention(engine: Engine, account_id: str, request: dict[str, Any], *, total: int) -> Job:
    """Queue a retention erasure (services/privacy/retention.py works out its cutoff)."""
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        return insert_retention(conn, account_id, request, total=total)


def insert_retention(
    conn: Connection, account_id: str, request: dict[str, Any], *, total: int, now: datetime | None = None
) -> Job:
    """Queue a retention erasure in the caller's transaction (`now`: when it is queued)."""
    return _insert(conn, account_id, RETENTION, request, total=total, list_ids=(), now=now)
