"""Klaviyo's bulk profile import jobs: up to 10,000 profiles upserted, optionally joined to lists
(membership only: an import never changes consent). The POST answers 202 with the queued job;
the job runner imports it in batches. A profile that cannot be imported becomes an import error
of the job and the others go in."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..services.jobs import model, queueing, reading, worker
from ..services.jobs.model import Job
from ..services.lists.lists import MailingList
from ..wire.documents import json_response, sparse
from ..wire.linkage import ListsRelationship
from .filters import FieldRule
from .operation import Call, Operation, Param
from .profiles import ProfileAttributes
from .resources import profile_resource
from .suppressions import (
    Status,
    actor,
    checked_cursor,
    iso,
    linkage,
    own_job,
    request_error,
)

PATH = "/api/profile-bulk-import-jobs"

# --- request body (Klaviyo's ProfileImportJobCreateQuery) -------------------------------------


class ImportProfile(Struct):
    type: Literal["profile"]
    attributes: ProfileAttributes
    id: str | None | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = UNSET  # patch_properties: accepted, not applied by imports


class ImportProfiles(Struct):
    data: list[ImportProfile]


class ImportJobAttributes(Struct):
    profiles: ImportProfiles


class ImportJobRelationships(Struct):
    lists: ListsRelationship | None | UnsetType = UNSET


class ImportJob(Struct):
    type: Literal["profile-bulk-import-job"]
    attributes: ImportJobAttributes
    relationships: ImportJobRelationships | UnsetType = UNSET


class ProfileImportJobCreateQuery(Struct):
    data: ImportJob


# --- response documents (for the OpenAPI document; handlers build plain dicts) ----------------


class ImportJobAttributesOut(Struct, omit_defaults=True):
    # Every attribute may be left out by a sparse fieldset.
    status: Status | UnsetType = UNSET
    created_at: datetime | UnsetType = UNSET
    total_count: int | UnsetType = UNSET
    completed_count: int | UnsetType = UNSET
    failed_count: int | UnsetType = UNSET
    completed_at: datetime | None | UnsetType = UNSET
    expires_at: datetime | UnsetType = UNSET
    started_at: datetime | None | UnsetType = UNSET


class ImportJobObject(Struct):
    type: Literal["profile-bulk-import-job"]
    id: str
    attributes: ImportJobAttributesOut
    relationships: dict[str, Any]
    links: dict[str, str]


class ImportJobDocument(Struct, omit_defaults=True):
    data: ImportJobObject
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class ImportJobCollectionDocument(Struct):
    data: list[ImportJobObject]
    links: dict[str, str]


class ImportErrorSource(Struct):
    pointer: str


class ImportErrorAttributes(Struct):
    code: str
    title: str
    detail: str
    source: ImportErrorSource
    original_payload: Any


class ImportErrorObject(Struct):
    type: Literal["import-error"]
    id: str
    attributes: ImportErrorAttributes


class ImportErrorCollectionDocument(Struct):
    data: list[ImportErrorObject]
    links: dict[str, str]


class LinkageDocument(Struct):
    data: list[dict[str, str]]
    links: dict[str, str]


# --- resources -------------------------------------------------------------------------------

JOB_FIELDS = (
    "completed_at", "completed_count", "created_at", "expires_at", "failed_count", "id", "started_at", "status",
    "total_count",
)  # fmt: skip
LIST_FIELDS = ("created", "id", "name", "opt_in_process", "updated")
ERROR_FIELDS = ("code", "detail", "id", "original_payload", "source", "source.pointer", "title")
JOB_FILTERS = {"status": FieldRule(frozenset({"equals", "any"}), "enum", frozenset(model.STATUSES))}
PROFILE_ADDITIONAL = ("subscriptions", "predictive_analytics")


def _job_url(call: Call, job_id: str, tail: str = "") -> str:
    return f"{call.base_url}{PATH}/{job_id}/{tail}"


def job_resource(call: Call, job: Job, fields: list[str] | None) -> dict[str, Any]:
    attributes = {
        "status": job.status,
        "created_at": iso(job.created_at),
        "total_count": job.total_count,
        "completed_count": job.completed_count,
        "failed_count": job.failed_count,
        "completed_at": iso(job.completed_at),
        "expires_at": iso(job.expires_at),
        "started_at": iso(job.started_at),
    }
    return {
        "type": model.IMPORT,
        "id": job.id,
        "attributes": sparse(attributes, fields),
        "relationships": {
            "lists": {
                "data": linkage("list", job.list_ids),
                "links": {
                    "self": _job_url(call, job.id, "relationships/lists/"),
                    "related": _job_url(call, job.id, "lists/"),
                },
            },
            "profiles": {
                "links": {
                    "self": _job_url(call, job.id, "relationships/profiles/"),
                    "related": _job_url(call, job.id, "profiles/"),
                }
            },
            "import-errors": {"links": {"related": _job_url(call, job.id, "import-errors/")}},
        },
        "links": {"self": _job_url(call, job.id)},
    }


def list_resource(call: Call, item: MailingList, fields: list[str] | None) -> dict[str, Any]:
    attributes = {
        "name": item.name,
        "created": iso(item.created),
        "updated": iso(item.updated),
        "opt_in_process": item.opt_in_process.value,
    }
    url = f"{call.base_url}/api/lists/{item.id}/"
    return {
        "type": "list",
        "id": item.id,
        "attributes": sparse(attributes, fields),
        "relationships": {
            "profiles": {"links": {"self": f"{url}relationships/profiles/", "related": f"{url}profiles/"}}
        },
        "links": {"self": url},
    }


# --- handlers --------------------------------------------------------------------------------


def post_import(call: Call) -> Response:
    fields = call.checked_fields(model.IMPORT, JOB_FIELDS)
    request = msgspec.to_builtins(call.body)
    try:
        job = queueing.queue_import(call.engine, call.account_id, request, actor=actor(call))
    except DomainError as e:
        raise request_error(e) from None
    worker.wake(call.engine)  # start now rather than at the runner's next look
    resource = job_resource(call, job, fields)
    return json_response({"data": resource, "links": {"self": resource["links"]["self"]}}, 202)


def get_import_jobs(call: Call) -> Response:
    fields = call.checked_fields(model.IMPORT, JOB_FIELDS)
    conditions = call.filter(JOB_FILTERS)
    sort = call.sort(("created_at",), "created_at")
    size = call.page_size(20, 100)
    cursor = checked_cursor(call, ("time", "text"))
    page, found = reading.list_jobs(
        call.engine, call.account_id, model.IMPORT, [(c.op, c.field, c.value) for c in conditions],
        descending=sort.descending, limit=size, after=cursor.after if cursor else None,
        before=cursor.before if cursor else None,
    )  # fmt: skip
    return json_response({"data": [job_resource(call, j, fields) for j in found], "links": call.page_links(page)})


def get_import_job(call: Call) -> Response:
    fields = call.checked_fields(model.IMPORT, JOB_FIELDS)
    list_fields = call.checked_fields("list", LIST_FIELDS)
    include = call.include(("lists",))
    job = own_job(call, model.IMPORT, call.path["job_id"])
    doc: dict[str, Any] = {"data": job_resource(call, job, fields), "links": {"self": call.self_link()}}
    if include:
        found = reading.job_lists(call.engine, call.account_id, model.IMPORT, job.id)
        doc["included"] = [list_resource(call, item, list_fields) for item in found]
    return json_response(doc)


def get_job_lists(call: Call) -> Response:
    list_fields = call.checked_fields("list", LIST_FIELDS)
    job = own_job(call, model.IMPORT, call.path["id"])
    found = reading.job_lists(call.engine, call.account_id, model.IMPORT, job.id)
    return json_response({"data": [list_resource(call, item, list_fields) for item in found],
                          "links": {"self": call.self_link()}})  # fmt: skip


def get_job_list_ids(call: Call) -> Response:
    job = own_job(call, model.IMPORT, call.path["id"])
    found = reading.job_lists(call.engine, call.account_id, model.IMPORT, job.id)
    return json_response({"data": linkage("list", [item.id for item in found]), "links": {"self": call.self_link()}})


def _job_profiles(call: Call, *, full: bool) -> Response:
    extra = call.additional_fields("profile", PROFILE_ADDITIONAL) if full else set()
    fields = call.fields("profile") if full else None
    size = call.page_size(20, 100)
    cursor = checked_cursor(call, ("text",))
    job = own_job(call, model.IMPORT, call.path["id"])
    after, before = (cursor.after, cursor.before) if cursor else (None, None)
    data: list[dict[str, Any]]
    if full:
        page, found = reading.job_profiles(
            call.engine, call.account_id, job.id, limit=size, after=after, before=before,
            subscriptions="subscriptions" in extra,
        )  # fmt: skip
        data = []
        for profile in found:
            resource = profile_resource(profile, call.base_url)
            resource["attributes"] = sparse(resource["attributes"], fields)
            data.append(resource)
    else:
        page, ids = reading.job_profile_ids(
            call.engine, call.account_id, job.id, limit=size, after=after, before=before
        )
        data = linkage("profile", ids)
    return json_response({"data": data, "links": call.page_links(page)})


def get_job_profiles(call: Call) -> Response:
    return _job_profiles(call, full=True)


def get_job_profile_ids(call: Call) -> Response:
    return _job_profiles(call, full=False)


def get_import_errors(call: Call) -> Response:
    fields = call.checked_fields("import-error", ERROR_FIELDS)
    size = call.page_size(20, 100)
    cursor = checked_cursor(call, ("int",))
    job = own_job(call, model.IMPORT, call.path["id"])
    page, errors = reading.import_errors(
        call.engine, call.account_id, job.id, limit=size, after=cursor.after if cursor else None,
        before=cursor.before if cursor else None,
    )  # fmt: skip
    data = [
        {
            "type": "import-error",
            "id": e.id,
            "attributes": sparse(
                {
                    "code": e.code,
                    "title": e.title,
                    "detail": e.detail,
                    "source": {"pointer": e.pointer},
                    "original_payload": e.original_payload,
                },
                fields,
            ),  # fmt: skip
        }
        for e in errors
    ]
    return json_response({"data": data, "links": call.page_links(page)})


_PAGE = (
    Param("page[size]", "1 to 100, default 20", {"type": "integer", "minimum": 1, "maximum": 100}),
    Param("page[cursor]", "from links.next or links.prev"),
)
_JOB_FIELDS = Param(f"fields[{model.IMPORT}]", "attributes to return, comma-separated")
_LIST_FIELDS = Param("fields[list]", "list attributes to return, comma-separated")
_READ = ("lists:read", "profiles:read")
OPERATIONS = [
    Operation("POST", PATH, "bulk_import_profiles", post_import, ("lists:write", "profiles:write"), 10, 150,
              "Import up to 10,000 profiles, optionally into lists, without changing consent (202, a queued job)",
              body=ProfileImportJobCreateQuery, status=202, params=(_JOB_FIELDS,), response=ImportJobDocument),
    Operation("GET", PATH, "get_bulk_import_profiles_jobs", get_import_jobs, _READ, 10, 150,
              "Get bulk import jobs", response=ImportJobCollectionDocument,
              params=(_JOB_FIELDS, Param("filter", "equals(status,...) or any(status,[...])"),
                      Param("sort", "created_at or -created_at"), *_PAGE)),
    Operation("GET", PATH + "/{job_id}", "get_bulk_import_profiles_job", get_import_job, _READ, 10, 150,
              "Get a bulk import job", params=(_JOB_FIELDS, _LIST_FIELDS, Param("include", "lists")),
              response=ImportJobDocument),
    Operation("GET", PATH + "/{id}/lists", "get_list_for_bulk_import_profiles_job", get_job_lists, ("lists:read",),
              10, 150, "Get the lists of a bulk import job", params=(_LIST_FIELDS,)),
    Operation("GET", PATH + "/{id}/relationships/lists", "get_list_ids_for_bulk_import_profiles_job",
              get_job_list_ids, ("lists:read",), 10, 150, "Get the list ids of a bulk import job",
              response=LinkageDocument),
    Operation("GET", PATH + "/{id}/profiles", "get_profiles_for_bulk_import_profiles_job", get_job_profiles,
              ("profiles:read",), 10, 150, "Get the profiles a bulk import job created or updated",
              params=(Param("fields[profile]", "attributes to return, comma-separated"),
                      Param("additional-fields[profile]", "subscriptions to add the consent object"), *_PAGE)),
    Operation("GET", PATH + "/{id}/relationships/profiles", "get_profile_ids_for_bulk_import_profiles_job",
              get_job_profile_ids, ("profiles:read",), 10, 150,
              "Get the ids of the profiles a bulk import job created or updated", params=_PAGE,
              response=LinkageDocument),
    Operation("GET", PATH + "/{id}/import-errors", "get_errors_for_bulk_import_profiles_job", get_import_errors,
              ("profiles:read",), 10, 150, "Get the profiles of a bulk import job that could not be imported",
              params=(Param("fields[import-error]", "attributes to return, comma-separated"), *_PAGE),
              response=ImportErrorCollectionDocument),
]  # fmt: skip
