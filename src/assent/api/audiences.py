"""Assent's own audience endpoint: who among lists (or segments, or every profile) may get a send,
how many may not and why (decide()'s codes, one row per code), and, asked with
`Accept: application/x-ndjson` or `text/csv`, the stream of those who may."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType
from starlette.responses import Response, StreamingResponse

from ..domain import DomainError, Via
from ..domain.channels import parse_channel
from ..domain.decisions import parse_send_purpose
from ..domain.instants import in_utc
from ..services.audiences import resolution as audiences
from ..services.audiences.resolution import AudienceCount, AudienceQuery, Source
from ..services.shared.errors import NotFound
from ..wire.documents import json_response
from ..wire.errors import ApiError, from_domain
from .operation import Call, Operation

_BASE = "/data/attributes"
STREAM_TYPES = ("application/x-ndjson", "text/csv")
CHUNK = 2_000  # rows per chunk of a streamed answer

# --- request body -----------------------------------------------------------------------------


class AudienceSource(Struct):
    """A list or segment by id, or `{"type": "all"}` for every profile of the account."""

    type: Literal["list", "segment", "all"]
    id: str | None | UnsetType = UNSET


class AudienceAttributes(Struct):
    include: list[AudienceSource]
    exclude: list[AudienceSource] = []
    channel: str = "email"
    purpose: str | None | UnsetType = UNSET
    via: Literal["campaign", "flow"] = "campaign"
    list_id: str | None | UnsetType = UNSET  # the list the send goes out for (decide()'s list rule)
    at: datetime | None | UnsetType = UNSET


class AudienceQueryObject(Struct):
    type: Literal["audience"]
    attributes: AudienceAttributes


class AudienceCreateQuery(Struct):
    data: AudienceQueryObject


# --- response document (for the OpenAPI document; the handler builds a plain dict) -------------


class AllowedCount(Struct):
    code: str
    count: int


class DeniedCount(Struct):
    code: str
    count: int  # profiles whose first reason this is
    with_reason: int  # profiles with this reason among others


class AudienceResponseAttributes(Struct):
    include: list[AudienceSource]
    exclude: list[AudienceSource]
    channel: str
    purpose: str
    via: str
    list_id: str | None
    at: str
    candidates: int
    excluded: int
    allowed: int
    denied: int
    allowed_by: list[AllowedCount]
    denied_by: list[DeniedCount]
    deferred: int  # decide()'s DEFER: may be sent to later (quiet hours, frequency caps)
    deferred_by: list[DeniedCount]


class AudienceResponseObject(Struct):
    type: Literal["audience"]
    id: str
    attributes: AudienceResponseAttributes


class AudienceDocument(Struct):
    data: AudienceResponseObject
    links: dict[str, str]


# --- POST /api/audiences ------------------------------------------------------------------------


def _sources(given: list[AudienceSource], name: str) -> tuple[Source, ...]:
    out = []
    for i, s in enumerate(given):
        source_id = s.id if isinstance(s.id, str) else None
        if (s.type == "all") != (source_id is None):
            what = "takes no id" if s.type == "all" else "needs an id"
            raise ApiError(400, "invalid", f"a {s.type} source {what}", pointer=f"{_BASE}/{name}/{i}/id")
        out.append(Source(s.type, source_id))
    return tuple(out)


def _query(a: AudienceAttributes) -> AudienceQuery:
    try:
        channel = parse_channel(a.channel)
        purpose = parse_send_purpose(channel, a.purpose if isinstance(a.purpose, str) else None)
    except DomainError as e:
        raise from_domain(e, _BASE) from None
    try:
        at = in_utc(a.at, "at") if isinstance(a.at, datetime) else None
    except DomainError as e:
        raise from_domain(e, _BASE) from None
    list_id = a.list_id if isinstance(a.list_id, str) else None
    return AudienceQuery(_sources(a.include, "include"), _sources(a.exclude, "exclude"), channel, purpose, Via(a.via),
                         list_id, at)  # fmt: skip


def _pointer(q: AudienceQuery, e: NotFound) -> str:
    """Where in the body the id that names nothing is."""
    name, i, _ = audiences.where_named(q, e.value)
    return f"{_BASE}/{name}" if i is None else f"{_BASE}/{name}/{i}/id"


def _attributes(a: AudienceAttributes, q: AudienceQuery, c: AudienceCount) -> dict[str, Any]:
    return {
        "include": msgspec.to_builtins(a.include),
        "exclude": msgspec.to_builtins(a.exclude),
        "channel": q.channel.value,
        "purpose": q.purpose.value,
        "via": q.via.value,
        "list_id": q.list_id,
        "at": c.at.isoformat(),
        "candidates": c.candidates,
        "excluded": c.excluded,
        "allowed": c.allowed,
        "denied": c.denied,
        "allowed_by": [{"code": r.code, "count": r.count} for r in c.allowed_by],
        "denied_by": [{"code": r.code, "count": r.count, "with_reason": r.with_reason} for r in c.denied_by],
        "deferred": c.deferred,
        "deferred_by": [{"code": r.code, "count": r.count, "with_reason": r.with_reason} for r in c.deferred_by],
    }


def _stream(call: Call, q: AudienceQuery, media_type: str) -> Iterator[bytes]:
    rows = audiences.allowed(call.engine, call.account_id, q)
    columns = audiences.ADDRESS_FIELDS
    if media_type == "text/csv":
        yield (",".join(columns) + "\n").encode()
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield _encode(chunk, columns, media_type)
            chunk.clear()
    if chunk:
        yield _encode(chunk, columns, media_type)


def _encode(rows: list[Any], columns: tuple[str, ...], media_type: str) -> bytes:
    if media_type == "text/csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode()
    return b"".join(msgspec.json.encode(dict(zip(columns, r, strict=True))) + b"\n" for r in rows)


def post_audiences(call: Call) -> Response:
    a: AudienceAttributes = call.body.data.attributes
    q = _query(a)
    try:
        counted = audiences.count(call.engine, call.account_id, q)
    except NotFound as e:
        raise ApiError(404, "not_found", f"{e.field}: {e.message} (got {e.value!r})", pointer=_pointer(q, e)) from None
    except DomainError as e:
        raise from_domain(e, _BASE) from None
    accept = call.request.headers.get("accept", "")
    streamed = next((t for t in STREAM_TYPES if t in accept), None)
    if streamed is not None:
        headers = {"X-Audience-Allowed": str(counted.allowed), "X-Audience-Candidates": str(counted.candidates)}
        return StreamingResponse(_stream(call, q, streamed), media_type=streamed, headers=headers)
    attributes = _attributes(a, q, counted)
    digest = hashlib.sha256(msgspec.json.encode({k: v for k, v in attributes.items() if k != "at"})).hexdigest()
    return json_response(
        {
            "data": {"type": "audience", "id": digest[:26], "attributes": attributes},
            "links": {"self": call.self_link()},
        }
    )


OPERATIONS = [
    Operation("POST", "/api/audiences", "create_audience", post_audiences, ("profiles:read", "lists:read"), 10, 150,
              "How many profiles of these lists or segments (less exclusions) may be sent this message, and how "
              "many may not, by decide()'s reason codes; with Accept: application/x-ndjson or text/csv, the "
              "allowed profiles' ids and addresses, streamed",
              body=AudienceCreateQuery, response=AudienceDocument, tag="Assent"),
]  # fmt: skip
