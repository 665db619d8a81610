"""Klaviyo's segment endpoints: segments in Klaviyo's definition language, their members
(computed on read: always current), and the segments of a profile.

A definition Assent cannot evaluate is a 400 whose pointer names the condition or filter at
fault (`/data/attributes/definition/condition_groups/0/conditions/1/type`), never ignored."""

from __future__ import annotations

from collections.abc import Iterator, Set
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.responses import Response

from ..services.lists import segments as service
from ..services.shared.errors import Conflict, NotFound
from ..services.shared.paging import PagePosition
from ..wire.documents import json_response, no_content, sparse
from ..wire.errors import ApiError, invalid, not_found
from .filters import FieldRule
from .lists import PROFILE_FIELDS, ListMemberIdentifier
from .operation import Call, Operation, Param
from .resources import profile_resource

# --- request bodies ---------------------------------------------------------------------------

Definition = dict[str, Any]  # Klaviyo's SegmentDefinition; the service reads and checks it


class SegmentCreateAttributes(msgspec.Struct):
    name: str
    definition: Definition
    is_starred: bool | None = None


class SegmentCreateData(msgspec.Struct):
    type: Literal["segment"]
    attributes: SegmentCreateAttributes


class SegmentCreateQuery(msgspec.Struct):
    data: SegmentCreateData


class SegmentPartialUpdateAttributes(msgspec.Struct):
    name: str | None | UnsetType = UNSET
    definition: Definition | None | UnsetType = UNSET
    is_starred: bool | None | UnsetType = UNSET
    is_active: bool | None | UnsetType = UNSET


class SegmentPartialUpdateData(msgspec.Struct):
    type: Literal["segment"]
    id: Annotated[str, Meta(min_length=1)]
    attributes: SegmentPartialUpdateAttributes


class SegmentPartialUpdateQuery(msgspec.Struct):
    data: SegmentPartialUpdateData


# --- response documents (for the OpenAPI document; handlers build plain dicts) ----------------


class SegmentResponseAttributes(msgspec.Struct, omit_defaults=True):
    name: str | UnsetType = UNSET
    definition: Definition | UnsetType = UNSET
    created: str | UnsetType = UNSET
    updated: str | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET
    is_processing: bool | UnsetType = UNSET
    is_starred: bool | UnsetType = UNSET
    profile_count: int | UnsetType = UNSET


class SegmentResponseObject(msgspec.Struct):
    type: Literal["segment"]
    id: str
    attributes: SegmentResponseAttributes
    relationships: dict[str, Any]
    links: dict[str, str]


class SegmentDocument(msgspec.Struct, omit_defaults=True):
    data: SegmentResponseObject
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class SegmentCollectionDocument(msgspec.Struct, omit_defaults=True):
    data: list[SegmentResponseObject]
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class SegmentProfilesLinkageDocument(msgspec.Struct):
    data: list[ListMemberIdentifier]
    links: dict[str, str]


class ProfileSegmentIdentifier(msgspec.Struct):
    type: Literal["segment"]
    id: str


class ProfileSegmentsLinkageDocument(msgspec.Struct):
    data: list[ProfileSegmentIdentifier]
    links: dict[str, str]


# --- shared pieces ----------------------------------------------------------------------------

SEGMENT_FIELDS = ("name", "definition", "created", "updated", "is_active", "is_processing", "is_starred")
SEGMENT_INCLUDES = ("flow-triggers", "tags")  # Assent has neither: included, they are always empty
SEGMENT_FILTERS = {
    "name": FieldRule(frozenset({"any", "equals"}), "string"),
    "id": FieldRule(frozenset({"any", "equals"}), "string"),
    "created": FieldRule(frozenset({"greater-than"}), "datetime"),
    "updated": FieldRule(frozenset({"greater-than"}), "datetime"),
    "is_active": FieldRule(frozenset({"any", "equals"}), "boolean"),
    "is_starred": FieldRule(frozenset({"equals"}), "boolean"),
}
SEGMENT_SORTS = ("created", "id", "name", "updated")
MEMBER_FILTERS = {
    "profile_id": FieldRule(frozenset({"any", "equals"}), "string"),
    "email": FieldRule(frozenset({"any", "equals"}), "string"),
    "phone_number": FieldRule(frozenset({"any", "equals"}), "string"),
}


@contextmanager
def _answers(call: Call) -> Iterator[None]:
    """Service errors as Klaviyo words them: an unknown segment or profile is a 404 naming it."""
    try:
        yield
    except NotFound as e:
        if e.field in ("segment", "profile"):
            raise not_found(e.field, str(e.value)) from None
        raise
    except Conflict as e:
        raise ApiError(409, "conflict", f"{e.message} ({e.value})", pointer="/data/id") from None
    except service.BadCursor as e:
        raise invalid(f"page[cursor] does not fit this request: {e}", parameter="page[cursor]") from None


def _cursor(call: Call) -> service.Cursor | None:
    cursor = call.cursor()
    return None if cursor is None else service.Cursor(cursor.after, cursor.before)


def _links(call: Call, page: PagePosition) -> dict[str, str]:
    return {k: v for k, v in call.page_links(page).items() if v is not None}


def _url(call: Call, segment_id: str) -> str:
    return f"{call.base_url}/api/segments/{segment_id}/"


def _resource(
    call: Call, item: service.Segment, fields: list[str] | None, include: Set[str] = frozenset()
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": item.name,
        "definition": item.definition,
        "created": item.created.isoformat(),
        "updated": item.updated.isoformat(),
        "is_active": item.is_active,
        "is_processing": False,  # membership is computed on read: never behind
        "is_starred": item.is_starred,
    }
    if item.profile_count is not None:
        attributes["profile_count"] = item.profile_count
    url = _url(call, item.id)
    # Only links this server answers: Assent has no tags (include=tags gives an empty list), as lists.
    relationships: dict[str, Any] = {
        "profiles": {"links": {"self": f"{url}relationships/profiles/", "related": f"{url}profiles/"}},
    }
    for name in sorted(include):
        relationships[name] = {**relationships.get(name, {}), "data": []}
    shown = sparse(attributes, fields)
    if "profile_count" in attributes and fields is not None:
        shown["profile_count"] = attributes["profile_count"]  # asked for by additional-fields
    return {
        "type": "segment",
        "id": item.id,
        "attributes": shown,
        "relationships": relationships,
        "links": {"self": url},
    }


def _with_included(document: dict[str, Any], include: Set[str]) -> dict[str, Any]:
    if include:
        document["included"] = []
    return document


# --- /api/segments ----------------------------------------------------------------------------


def get_segments(call: Call) -> Response:
    fields = call.checked_fields("segment", SEGMENT_FIELDS)
    include = call.include(SEGMENT_INCLUDES)
    conditions = [(c.op, c.field, c.value) for c in call.filter(SEGMENT_FILTERS)]
    order = call.sort(SEGMENT_SORTS, "created")
    size = call.page_size(10, 10)
    with _answers(call):
        found = service.find_segments(
            call.engine, call.account_id, conditions, sort=order.field, descending=order.descending, size=size,
            cursor=_cursor(call),
        )  # fmt: skip
    data = [_resource(call, item, fields, include) for item in found.segments]
    return json_response(_with_included({"data": data, "links": _links(call, found.page)}, include))


def create_segment(call: Call) -> Response:
    fields = call.checked_fields("segment", SEGMENT_FIELDS)
    a: SegmentCreateAttributes = call.body.data.attributes
    made = service.create_segment(call.engine, call.account_id, a.name, a.definition, bool(a.is_starred))
    return json_response({"data": _resource(call, made, fields), "links": {"self": _url(call, made.id)}}, status=201)


def get_segment(call: Call) -> Response:
    fields = call.checked_fields("segment", SEGMENT_FIELDS)
    extra = call.additional_fields("segment", ("profile_count",))
    include = call.include(SEGMENT_INCLUDES)
    with _answers(call):
        found = service.get_segment(call.engine, call.account_id, call.path["id"], with_count="profile_count" in extra)
    document = {"data": _resource(call, found, fields, include), "links": {"self": call.self_link()}}
    return json_response(_with_included(document, include))


def update_segment(call: Call) -> Response:
    fields = call.checked_fields("segment", SEGMENT_FIELDS)
    segment_id = call.path["id"]
    data: SegmentPartialUpdateData = call.body.data
    if data.id != segment_id:
        raise invalid(f"data.id ({data.id}) must be the id in the path ({segment_id})", pointer="/data/id")
    a = data.attributes

    def given(value: Any) -> Any:
        return None if value is UNSET else value

    changes = {"name": given(a.name), "definition": given(a.definition), "is_starred": given(a.is_starred)}
    active = given(a.is_active)
    if active is not None and any(v is not None for v in changes.values()):
        raise invalid(
            "is_active must be the only attribute of a request that sets it", pointer="/data/attributes/is_active"
        )
    with _answers(call):
        updated = service.update_segment(call.engine, call.account_id, segment_id, **changes, is_active=active)
    return json_response({"data": _resource(call, updated, fields), "links": {"self": _url(call, segment_id)}})


def delete_segment(call: Call) -> Response:
    with _answers(call):
        service.delete_segment(call.engine, call.account_id, call.path["id"])
    return no_content(204)


# --- /api/segments/{id}/profiles and relationships --------------------------------------------


def _member_page(call: Call, *, full: bool, with_states: bool = False) -> service.MemberPage:
    conditions = [(c.op, c.field, c.value) for c in call.filter(MEMBER_FILTERS)]
    order = call.sort(("joined_group_at",), "joined_group_at")
    size = call.page_size(20, 100)
    with _answers(call):
        return service.members(
            call.engine, call.account_id, call.path["id"], conditions, descending=order.descending, size=size,
            cursor=_cursor(call), full=full, with_states=with_states,
        )  # fmt: skip


def get_profiles_for_segment(call: Call) -> Response:
    fields = call.checked_fields("profile", PROFILE_FIELDS)
    extra = call.additional_fields("profile", ("subscriptions",))
    found = _member_page(call, full=True, with_states="subscriptions" in extra)
    data = []
    for profile in found.profiles:
        resource = profile_resource(profile, call.base_url)
        attributes = sparse(resource["attributes"], fields)
        assert profile.joined_at is not None
        attributes["joined_group_at"] = profile.joined_at.isoformat()  # required by Klaviyo's member schema
        resource["attributes"] = attributes
        data.append(resource)
    return json_response({"data": data, "links": _links(call, found.page)})


def get_profile_ids_for_segment(call: Call) -> Response:
    found = _member_page(call, full=False)
    data = [{"type": "profile", "id": profile_id} for profile_id in found.ids]
    return json_response({"data": data, "links": _links(call, found.page)})


# --- /api/profiles/{id}/segments --------------------------------------------------------------


def get_segments_for_profile(call: Call) -> Response:
    fields = call.checked_fields("segment", SEGMENT_FIELDS)
    with _answers(call):
        found = service.profile_segments(call.engine, call.account_id, call.path["id"])
    return json_response({"data": [_resource(call, s, fields) for s in found], "links": {"self": call.self_link()}})


def included_for_profile(call: Call, profile_id: str) -> list[dict[str, Any]]:
    """`include=segments` on GET /api/profiles/{id}: the segments the profile is in now."""
    fields = call.checked_fields("segment", SEGMENT_FIELDS)
    with _answers(call):
        found = service.profile_segments(call.engine, call.account_id, profile_id)
    return [_resource(call, s, fields) for s in found]


def get_segment_ids_for_profile(call: Call) -> Response:
    with _answers(call):
        found = service.profile_segments(call.engine, call.account_id, call.path["id"])
    data = [{"type": "segment", "id": s.id} for s in found]
    return json_response({"data": data, "links": {"self": call.self_link()}})


# --- the operation table ----------------------------------------------------------------------

_INT = {"type": "integer"}
_P_FIELDS = Param("fields[segment]", "Attributes to return, comma separated: " + ", ".join(SEGMENT_FIELDS) + ".")
_P_INCLUDE = Param("include", "flow-triggers, tags (Assent has neither; they are returned empty).")
_P_CURSOR = Param("page[cursor]", "A cursor from links.next or links.prev.")
_P_MEMBER_FILTER = Param(
    "filter", 'profile_id, email, phone_number (any, equals), e.g. equals(email,"ann@example.com").'
)
_P_MEMBER_SORT = Param(
    "sort", "joined_group_at or -joined_group_at: members in the order they were created (the default)."
)
_P_MEMBER_SIZE = Param("page[size]", "Members per page, 1 to 100 (default 20).", _INT)
_READ = ("segments:read",)
_WRITE = ("segments:write",)
_MEMBERS_READ = ("profiles:read", "segments:read")

OPERATIONS: list[Operation] = [
    Operation(
        "GET", "/api/segments", "get_segments", get_segments, _READ, 75, 750, "Get segments",
        params=(
            Param(
                "filter",
                "name (any, equals), id (any, equals), created (greater-than), updated (greater-than), "
                'is_active (any, equals), is_starred (equals), e.g. equals(name,"VIP").',
            ),
            Param("sort", "created, id, name or updated; prefix '-' for descending (the default is created)."),
            Param("page[size]", "Segments per page, 1 to 10 (default 10).", _INT),
            _P_CURSOR, _P_FIELDS, _P_INCLUDE,
        ),
        response=SegmentCollectionDocument, tag="Segments",
    ),
    Operation(
        "POST", "/api/segments", "create_segment", create_segment, _WRITE, 1, 15,
        "Create a segment from a definition in Klaviyo's language (and Assent's extensions)",
        body=SegmentCreateQuery, status=201, params=(_P_FIELDS,), response=SegmentDocument, tag="Segments",
    ),
    Operation(
        "GET", "/api/segments/{id}", "get_segment", get_segment, _READ, 75, 750, "Get a segment",
        params=(
            _P_FIELDS, _P_INCLUDE,
            Param("additional-fields[segment]", "profile_count: also return the number of members now."),
        ),
        response=SegmentDocument, tag="Segments",
    ),
    Operation(
        "PATCH", "/api/segments/{id}", "update_segment", update_segment, _WRITE, 1, 15,
        "Rename a segment, change its definition or star it",
        body=SegmentPartialUpdateQuery, params=(_P_FIELDS,), response=SegmentDocument, tag="Segments",
    ),
    Operation(
        "DELETE", "/api/segments/{id}", "delete_segment", delete_segment, _WRITE, 3, 60,
        "Delete a segment (refused while another segment's definition names it)", status=204, tag="Segments",
    ),
    Operation(
        "GET", "/api/segments/{id}/profiles", "get_profiles_for_segment", get_profiles_for_segment, _MEMBERS_READ,
        75, 750, "Get the profiles in a segment now",
        params=(
            _P_MEMBER_FILTER, _P_MEMBER_SORT, _P_MEMBER_SIZE, _P_CURSOR,
            Param("fields[profile]", "Profile attributes to return, comma separated (dotted for nested ones)."),
            Param("additional-fields[profile]", "subscriptions: also return each profile's consent."),
        ),
        tag="Segments",
    ),
    Operation(
        "GET", "/api/segments/{id}/relationships/profiles", "get_profile_ids_for_segment",
        get_profile_ids_for_segment, _MEMBERS_READ, 75, 750, "Get the ids of the profiles in a segment now",
        params=(_P_MEMBER_FILTER, _P_MEMBER_SORT, _P_MEMBER_SIZE, _P_CURSOR),
        response=SegmentProfilesLinkageDocument, tag="Segments",
    ),
    Operation(
        "GET", "/api/profiles/{id}/segments", "get_segments_for_profile", get_segments_for_profile, _MEMBERS_READ,
        3, 60, "Get the segments a profile is in now", params=(_P_FIELDS,), response=SegmentCollectionDocument,
        tag="Profiles",
    ),
    Operation(
        "GET", "/api/profiles/{id}/relationships/segments", "get_segment_ids_for_profile",
        get_segment_ids_for_profile, _MEMBERS_READ, 3, 60, "Get the ids of the segments a profile is in now",
        response=ProfileSegmentsLinkageDocument, tag="Profiles",
    ),
]  # fmt: skip
