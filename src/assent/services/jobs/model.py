"""Durable bulk jobs (Klaviyo's suppress, unsuppress and bulk-import jobs): what a job is, its
kinds and limits, and how its stored request is read.

A job is a row (store/jobs.py) holding the request as received; it is queued by `queueing`, read
back by `reading`, worked through a batch at a time by `batches` and run in the background by
`worker`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Row

# Job kinds are the JSON:API resource types of Klaviyo's jobs.
SUPPRESS = "profile-suppression-bulk-create-job"
UNSUPPRESS = "profile-suppression-bulk-delete-job"
IMPORT = "profile-bulk-import-job"
KINDS = (SUPPRESS, UNSUPPRESS, IMPORT)
# Assent's own: erase the personal data of profiles inactive since the request's `cutoff`
# (the account's retention setting; services/privacy/retention.py). Not one of Klaviyo's jobs.
RETENTION = "assent-retention-erasure-job"
STATUSES = ("queued", "processing", "complete", "cancelled")

MAX_SUPPRESSION_PROFILES = 100  # Klaviyo's limits per request
MAX_IMPORT_PROFILES = 10_000
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
