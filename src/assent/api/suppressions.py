"""Klaviyo's suppress and unsuppress jobs: up to 100 emails, or every current member of a list
(segments: none exist in Assent yet). The POST answers 202 with the queued job; the job runner
does the work, which the job's GET shows as it goes. Also the pieces the import jobs share."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..domain.instants import utc
from ..services.jobs import model, queueing, reading, worker
from ..services.jobs.model import Job
from ..services.shared.errors import NotFound
from ..wire.documents import json_response, sparse
from ..wire.errors import ApiError, from_domain, invalid, not_found
from ..wire.linkage import ListRelationship, SegmentRelationship
from .filters import FieldRule
from .operation import Call, Operation, Param
from .paging import Cursor

# --- request bodies (Klaviyo's SuppressionCreateJobCreateQuery / SuppressionDeleteJobCreateQuery) ---


class SuppressionProfileAttributes(Struct):
    email: str


class SuppressionProfile(Struct):
    type: Literal["profile"]
    attributes: SuppressionProfileAttributes


class SuppressionProfiles(Struct):
    data: list[SuppressionProfile]


class SuppressionJobRelationships(Struct):
    list: ListRelationship | None | UnsetType = UNSET
    segment: SegmentRelationship | None | UnsetType = UNSET


class SuppressionJobAttributes(Struct):
    profiles: SuppressionProfiles | None | UnsetType = UNSET


class SuppressionCreateJob(Struct):
    type: Literal["profile-suppression-bulk-create-job"]
    attributes: SuppressionJobAttributes
    relationships: SuppressionJobRelationships | UnsetType = UNSET


class SuppressionDeleteJob(Struct):
    type: Literal["profile-suppression-bulk-delete-job"]
    attributes: SuppressionJobAttributes
    relationships: SuppressionJobRelationships | UnsetType = UNSET


class SuppressionCreateJobCreateQuery(Struct):
    data: SuppressionCreateJob


class SuppressionDeleteJobCreateQuery(Struct):
    data: SuppressionDeleteJob


# --- response documents (for the OpenAPI document; handlers build plain dicts) ----------------

Status = Literal["queued", "processing", "complete", "cancelled"]


class SuppressionJobAttributesOut(Struct, omit_defaults=True):
    # Every attribute may be left out by a sparse fieldset.
    status: Status | UnsetType = UNSET
    created_at: datetime | UnsetType = UNSET
    total_count: int | UnsetType = UNSET
    completed_count: int | UnsetType = UNSET
    completed_at: datetime | None | UnsetType = UNSET
    skipped_count: int | UnsetType = UNSET


class Linkage(Struct):
    type: str
    id: str


class LinkageList(Struct):
    data: list[Linkage]


class SuppressionJobRelationshipsOut(Struct):
    lists: LinkageList
    segments: LinkageList


class SuppressionJobObject(Struct):
    type: str
    id: str
    attributes: SuppressionJobAttributesOut
    relationships: SuppressionJobRelationshipsOut
    links: dict[str, str]


class SuppressionJobDocument(Struct):
    data: SuppressionJobObject
    links: dict[str, str]


class SuppressionJobCollectionDocument(Struct):
    data: list[SuppressionJobObject]
    links: dict[str, str]


# --- shared with the import jobs -------------------------------------------------------------


def request_error(e: DomainError) -> ApiError:
    """A service error about the request body, pointing at its field (fields are named from /data)."""
    return from_domain(e, base="/data")


def actor(call: Call) -> str:
    # Who asked: the key, never the caller's IP (that is not the person's whose consent changes).
    return f"api_key:{call.key.id}"


def checked_cursor(call: Call, shape: tuple[str, ...]) -> Cursor | None:
    """The page cursor, if it has the key this listing gives out: `shape` says each part's kind
    ("time", "text" or "int"). Another listing's cursor is a 400, not a server error."""
    cursor = call.cursor()
    if cursor is None:
        return None
    key = cursor.after if cursor.after is not None else cursor.before
    ok = key is not None and len(key) == len(shape)
    for part, kind in zip(key or (), shape, strict=False):
        if kind == "int":
            ok = ok and isinstance(part, int) and not isinstance(part, bool)
        else:
            ok = ok and isinstance(part, str)
            if ok and kind == "time":
                try:
                    moment = datetime.fromisoformat(part)  # the store takes aware times on the calendar only
                    ok = moment.tzinfo is not None and utc(moment) is not None
                except ValueError:
                    ok = False
    if not ok:
        raise invalid("page[cursor] is not a cursor of this listing", parameter="page[cursor]")
    return cursor


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def linkage(kind: str, ids: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    return [{"type": kind, "id": i} for i in ids]


# --- suppression jobs ------------------------------------------------------------------------

PATHS = {
    model.SUPPRESS: "/api/profile-suppression-bulk-create-jobs",
    model.UNSUPPRESS: "/api/profile-suppression-bulk-delete-jobs",
}
JOB_FIELDS = ("completed_at", "completed_count", "created_at", "id", "skipped_count", "status", "total_count")
JOB_FILTERS = {
    "status": FieldRule(frozenset({"equals"}), "enum", frozenset(model.STATUSES)),
    "list_id": FieldRule(frozenset({"equals"}), "string"),
    "segment_id": FieldRule(frozenset({"equals"}), "string"),
}


def job_resource(call: Call, job: Job, fields: list[str] | None) -> dict[str, Any]:
    attributes = {
        "status": job.status,
        "created_at": iso(job.created_at),
        "total_count": job.total_count,
        "completed_count": job.completed_count,
        "completed_at": iso(job.completed_at),
        "skipped_count": job.skipped_count,
    }
    return {
        "type": job.kind,
        "id": job.id,
        "attributes": sparse(attributes, fields),
        "relationships": {
            "lists": {"data": linkage("list", job.list_ids)},
            "segments": {"data": linkage("segment", [job.segment_id] if job.segment_id else [])},
        },
        "links": {"self": f"{call.base_url}{PATHS[job.kind]}/{job.id}/"},
    }


def _post(call: Call, kind: str) -> Response:
    fields = call.checked_fields(kind, JOB_FIELDS)
    request = msgspec.to_builtins(call.body)
    try:
        job = queueing.queue_suppression(call.engine, call.account_id, kind, request, actor=actor(call))
    except DomainError as e:
        raise request_error(e) from None
    worker.wake(call.engine)  # start now rather than at the runner's next look
    resource = job_resource(call, job, fields)
    return json_response({"data": resource, "links": {"self": resource["links"]["self"]}}, 202)


def post_suppress(call: Call) -> Response:
    return _post(call, model.SUPPRESS)


def post_unsuppress(call: Call) -> Response:
    return _post(call, model.UNSUPPRESS)


def _get_jobs(call: Call, kind: str) -> Response:
    fields = call.checked_fields(kind, JOB_FIELDS)
    conditions = call.filter(JOB_FILTERS)
    sort = call.sort(("created",), "created")
    size = call.page_size(20, 100)
    cursor = checked_cursor(call, ("time", "text"))
    page, found = reading.list_jobs(
        call.engine, call.account_id, kind, [(c.op, c.field, c.value) for c in conditions],
        descending=sort.descending, limit=size, after=cursor.after if cursor else None,
        before=cursor.before if cursor else None,
    )  # fmt: skip
    return json_response({"data": [job_resource(call, j, fields) for j in found], "links": call.page_links(page)})


def own_job(call: Call, kind: str, job_id: str) -> Job:
    """The account's job of this kind; any other id (another account's too) is a 404."""
    try:
        return reading.get_job(call.engine, call.account_id, kind, job_id)
    except NotFound:
        raise not_found(kind, job_id) from None


def _get_job(call: Call, kind: str) -> Response:
    fields = call.checked_fields(kind, JOB_FIELDS)
    job = own_job(call, kind, call.path["job_id"])
    return json_response({"data": job_resource(call, job, fields), "links": {"self": call.self_link()}})


def get_suppress_jobs(call: Call) -> Response:
    return _get_jobs(call, model.SUPPRESS)


def get_unsuppress_jobs(call: Call) -> Response:
    return _get_jobs(call, model.UNSUPPRESS)


def get_suppress_job(call: Call) -> Response:
    return _get_job(call, model.SUPPRESS)


def get_unsuppress_job(call: Call) -> Response:
    return _get_job(call, model.UNSUPPRESS)


def _params(kind: str, *, listing: bool) -> tuple[Param, ...]:
    fields = Param(f"fields[{kind}]", "attributes to return, comma-separated")
    if not listing:
        return (fields,)
    return (
        fields,
        Param("filter", "equals(status,...), equals(list_id,...) or equals(segment_id,...)"),
        Param("sort", "created or -created"),
        Param("page[size]", "1 to 100, default 20", {"type": "integer", "minimum": 1, "maximum": 100}),
        Param("page[cursor]", "from links.next or links.prev"),
    )


_S, _U = model.SUPPRESS, model.UNSUPPRESS
OPERATIONS = [
    Operation("POST", PATHS[_S], "bulk_suppress_profiles", post_suppress, ("profiles:write", "subscriptions:write"),
              75, 750, "Suppress up to 100 emails, or a list's members, from email marketing (202, a queued job)",
              body=SuppressionCreateJobCreateQuery, status=202, params=_params(_S, listing=False),
              response=SuppressionJobDocument, tag="Subscriptions"),
    Operation("GET", PATHS[_S], "get_bulk_suppress_profiles_jobs", get_suppress_jobs, ("subscriptions:read",),
              75, 750, "Get suppression jobs", params=_params(_S, listing=True),
              response=SuppressionJobCollectionDocument, tag="Subscriptions"),
    Operation("GET", PATHS[_S] + "/{job_id}", "get_bulk_suppress_profiles_job", get_suppress_job,
              ("subscriptions:read",), 75, 750, "Get a suppression job", params=_params(_S, listing=False),
              response=SuppressionJobDocument, tag="Subscriptions"),
    Operation("POST", PATHS[_U], "bulk_unsuppress_profiles", post_unsuppress, ("subscriptions:write",), 75, 750,
              "Lift the USER_SUPPRESSED suppression of up to 100 emails, or of a list's members (202, a queued job)",
              body=SuppressionDeleteJobCreateQuery, status=202, params=_params(_U, listing=False),
              response=SuppressionJobDocument, tag="Subscriptions"),
    Operation("GET", PATHS[_U], "get_bulk_unsuppress_profiles_jobs", get_unsuppress_jobs, ("subscriptions:read",),
              75, 750, "Get unsuppression jobs", params=_params(_U, listing=True),
              response=SuppressionJobCollectionDocument, tag="Subscriptions"),
    Operation("GET", PATHS[_U] + "/{job_id}", "get_bulk_unsuppress_profiles_job", get_unsuppress_job,
              ("subscriptions:read",), 75, 750, "Get an unsuppression job", params=_params(_U, listing=False),
              response=SuppressionJobDocument, tag="Subscriptions"),
]  # fmt: skip
