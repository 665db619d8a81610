"""Klaviyo's list endpoints: lists themselves, their members, and the lists of a profile.

Adding and removing members changes membership only, never consent (Klaviyo's advice is to use
Subscribe for consent); both go through the ledger, as does deleting a list."""

from __future__ import annotations

from collections.abc import Iterator, Set
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType
from starlette.responses import Response

from ..domain import OptInProcess, Proof
from ..services.lists import lists as service
from ..services.shared.errors import NotFound
from ..services.shared.paging import PagePosition
from ..wire.documents import json_response, no_content, sparse
from ..wire.errors import ApiError, invalid, not_found
from .filters import FieldRule
from .operation import Call, Operation, Param
from .resources import profile_resource

OptIn = Literal["double_opt_in", "single_opt_in"]

# --- request bodies ---------------------------------------------------------------------------


class ListCreateAttributes(msgspec.Struct):
    name: str
    opt_in_process: OptIn | None = None


class ListCreateData(msgspec.Struct):
    type: Literal["list"]
    attributes: ListCreateAttributes


class ListCreateQuery(msgspec.Struct):
    data: ListCreateData


class ListPartialUpdateAttributes(msgspec.Struct):
    name: str | None | UnsetType = UNSET
    opt_in_process: OptIn | None | UnsetType = UNSET


class ListPartialUpdateData(msgspec.Struct):
    type: Literal["list"]
    id: str
    attributes: ListPartialUpdateAttributes


class ListPartialUpdateQuery(msgspec.Struct):
    data: ListPartialUpdateData


class ListMemberIdentifier(msgspec.Struct):
    type: Literal["profile"]
    id: Annotated[str, Meta(min_length=1)]


class ListMembersQuery(msgspec.Struct):
    data: Annotated[list[ListMemberIdentifier], Meta(min_length=1, max_length=service.MAX_MEMBERS_PER_CALL)]


# --- response documents (for the OpenAPI document; handlers build plain dicts) ----------------


class ListResponseAttributes(msgspec.Struct, omit_defaults=True):
    # Every attribute may be left out by a sparse fieldset.
    name: str | UnsetType = UNSET
    created: str | UnsetType = UNSET
    updated: str | UnsetType = UNSET
    opt_in_process: OptIn | UnsetType = UNSET
    profile_count: int | UnsetType = UNSET


class ListResponseObject(msgspec.Struct):
    type: Literal["list"]
    id: str
    attributes: ListResponseAttributes
    relationships: dict[str, Any]
    links: dict[str, str]


class ListDocument(msgspec.Struct, omit_defaults=True):
    data: ListResponseObject
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class ListCollectionDocument(msgspec.Struct, omit_defaults=True):
    data: list[ListResponseObject]
    links: dict[str, str]
    included: list[dict[str, Any]] | UnsetType = UNSET


class ListProfilesLinkageDocument(msgspec.Struct):
    data: list[ListMemberIdentifier]
    links: dict[str, str]


class ProfileListIdentifier(msgspec.Struct):
    type: Literal["list"]
    id: str


class ProfileListsLinkageDocument(msgspec.Struct):
    data: list[ProfileListIdentifier]
    links: dict[str, str]


# --- shared pieces ----------------------------------------------------------------------------

LIST_FIELDS = ("name", "created", "updated", "opt_in_process", "profile_count")
LIST_INCLUDES = ("flow-triggers", "tags")  # Assent has neither: included, they are always empty
LIST_FILTERS = {
    "name": FieldRule(frozenset({"any", "equals"}), "string"),
    "id": FieldRule(frozenset({"any", "equals"}), "string"),
    "created": FieldRule(frozenset({"greater-than"}), "datetime"),
    "updated": FieldRule(frozenset({"greater-than"}), "datetime"),
}
LIST_SORTS = ("created", "id", "name", "updated")

MEMBER_FILTERS = {
    "email": FieldRule(frozenset({"any", "equals"}), "string"),
    "phone_number": FieldRule(frozenset({"any", "equals"}), "string"),
    "joined_group_at": FieldRule(
        frozenset({"greater-than", "greater-or-equal", "less-than", "less-or-equal"}), "datetime"
    ),
}
PROFILE_FIELDS = (
    "email", "phone_number", "external_id", "first_name", "last_name", "organization", "locale", "title", "image",
    "created", "updated", "last_event_date", "location", "properties", "subscriptions", "joined_group_at",
)  # fmt: skip


def _proof(call: Call) -> Proof:
    # Who made the change: the API, through which key. The caller's IP is not the person's, so it is not kept.
    return Proof(source="api", actor=f"api_key:{call.key.id}")


@contextmanager
def _answers(call: Call) -> Iterator[None]:
    """Service errors as Klaviyo's API words them: an unknown list or profile is a 404 naming it."""
    try:
        yield
    except service.ProfilesNotFound as e:
        shown = ", ".join(e.ids[:10]) + (f" and {len(e.ids) - 10} more" if len(e.ids) > 10 else "")
        detail = (
            f"A profile with id {shown} does not exist."
            if len(e.ids) == 1
            else f"Profiles with ids {shown} do not exist."
        )
        refs = getattr(call.body, "data", None)
        if refs is None:  # not named by the request: the pointer cannot say where
            raise ApiError(404, "not_found", detail) from None
        index = next((i for i, ref in enumerate(refs) if ref.id == e.ids[0]), 0)
        raise ApiError(404, "not_found", detail, pointer=f"/data/{index}/id") from None
    except NotFound as e:
        if e.field in ("list", "profile"):
            raise not_found(e.field, str(e.value)) from None
        raise
    except service.BadCursor as e:
        raise invalid(f"page[cursor] does not fit this request: {e}", parameter="page[cursor]") from None


def _cursor(call: Call) -> service.Cursor | None:
    cursor = call.cursor()
    return None if cursor is None else service.Cursor(cursor.after, cursor.before)


def _links(call: Call, page: PagePosition) -> dict[str, str]:
    # The spec types `next` and `prev` as URIs, not nullable: at either end they are left out.
    return {k: v for k, v in call.page_links(page).items() if v is not None}


def _list_url(call: Call, list_id: str) -> str:
    return f"{call.base_url}/api/lists/{list_id}/"


def _list_resource(
    call: Call, item: service.MailingList, fields: list[str] | None, include: Set[str] = frozenset()
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": item.name,
        "created": item.created.isoformat(),
        "updated": item.updated.isoformat(),
        "opt_in_process": item.opt_in_process.value,
    }
    if item.profile_count is not None:
        attributes["profile_count"] = item.profile_count
    url = _list_url(call, item.id)
    relationships: dict[str, Any] = {
        "profiles": {"links": {"self": f"{url}relationships/profiles/", "related": f"{url}profiles/"}}
    }
    for name in sorted(include):
        relationships[name] = {"data": []}
    return {
        "type": "list",
        "id": item.id,
        "attributes": sparse(attributes, fields),
        "relationships": relationships,
        "links": {"self": url},
    }


def _with_included(document: dict[str, Any], include: Set[str]) -> dict[str, Any]:
    if include:
        document["included"] = []
    return document


def _opt_in(value: str | None) -> OptInProcess | None:
    return None if value is None else OptInProcess(value)


# --- /api/lists -------------------------------------------------------------------------------


def get_lists(call: Call) -> Response:
    fields = call.checked_fields("list", LIST_FIELDS)
    extra = call.additional_fields("list", ("profile_count",))
    include = call.include(LIST_INCLUDES)
    conditions = [(c.op, c.field, c.value) for c in call.filter(LIST_FILTERS)]
    order = call.sort(LIST_SORTS, "created")
    size = call.page_size(10, 10)
    with _answers(call):
        found = service.find_lists(
            call.engine, call.account_id, conditions, sort=order.field, descending=order.descending, size=size,
            cursor=_cursor(call), with_count="profile_count" in extra,
        )  # fmt: skip
    data = [_list_resource(call, item, fields, include) for item in found.lists]
    return json_response(_with_included({"data": data, "links": _links(call, found.page)}, include))


def create_list(call: Call) -> Response:
    fields = call.checked_fields("list", LIST_FIELDS)
    attributes = call.body.data.attributes
    double = attributes.opt_in_process == OptInProcess.DOUBLE.value
    made = service.create_list(call.engine, call.account_id, attributes.name, double_opt_in=double)
    # A new list has no members; Klaviyo shows profile_count only when asked for.
    made = service.MailingList(made.id, made.name, made.opt_in_process, made.created, made.updated)
    return json_response(
        {"data": _list_resource(call, made, fields), "links": {"self": _list_url(call, made.id)}}, status=201
    )


def get_list(call: Call) -> Response:
    fields = call.checked_fields("list", LIST_FIELDS)
    extra = call.additional_fields("list", ("profile_count",))
    include = call.include(LIST_INCLUDES)
    list_id = call.path["id"]
    with _answers(call):
        found = service.get_list(call.engine, call.account_id, list_id, with_count="profile_count" in extra)
    document = {"data": _list_resource(call, found, fields, include), "links": {"self": call.self_link()}}
    return json_response(_with_included(document, include))


def update_list(call: Call) -> Response:
    fields = call.checked_fields("list", LIST_FIELDS)
    list_id = call.path["id"]
    data = call.body.data
    if data.id != list_id:
        raise invalid(f"data.id ({data.id}) must be the id in the path ({list_id})", pointer="/data/id")
    name = None if data.attributes.name is UNSET else data.attributes.name
    process = None if data.attributes.opt_in_process is UNSET else data.attributes.opt_in_process
    with _answers(call):
        updated = service.update_list(call.engine, call.account_id, list_id, name=name, opt_in_process=_opt_in(process))
    return json_response({"data": _list_resource(call, updated, fields), "links": {"self": _list_url(call, list_id)}})


def delete_list(call: Call) -> Response:
    with _answers(call):
        service.delete_list(call.engine, call.account_id, call.path["id"], proof=_proof(call))
    return no_content(204)


# --- /api/lists/{id}/profiles and relationships -----------------------------------------------


def _member_page(call: Call, *, full: bool, with_states: bool = False) -> service.MemberPage:
    conditions = [(c.op, c.field, c.value) for c in call.filter(MEMBER_FILTERS)]
    order = call.sort(("joined_group_at",), "joined_group_at")
    size = call.page_size(20, 100)
    with _answers(call):
        return service.members(
            call.engine, call.account_id, call.path["id"], conditions, descending=order.descending, size=size,
            cursor=_cursor(call), full=full, with_states=with_states,
        )  # fmt: skip


def get_profiles_for_list(call: Call) -> Response:
    fields = call.checked_fields("profile", PROFILE_FIELDS)
    extra = call.additional_fields("profile", ("subscriptions",))
    found = _member_page(call, full=True, with_states="subscriptions" in extra)
    data = []
    for profile in found.profiles:
        resource = profile_resource(profile, call.base_url)
        attributes = sparse(resource["attributes"], fields)
        # Klaviyo's member schema requires joined_group_at, so a sparse fieldset keeps it.
        attributes["joined_group_at"] = profile.joined_at.isoformat() if profile.joined_at else None
        resource["attributes"] = attributes
        data.append(resource)
    return json_response({"data": data, "links": _links(call, found.page)})


def get_profile_ids_for_list(call: Call) -> Response:
    found = _member_page(call, full=False)
    data = [{"type": "profile", "id": profile_id} for profile_id in found.ids]
    return json_response({"data": data, "links": _links(call, found.page)})


def add_profiles_to_list(call: Call) -> Response:
    ids = [ref.id for ref in call.body.data]
    with _answers(call):
        service.add_members(call.engine, call.account_id, call.path["id"], ids, proof=_proof(call))
    return no_content(204)


def remove_profiles_from_list(call: Call) -> Response:
    ids = [ref.id for ref in call.body.data]
    with _answers(call):
        service.remove_members(call.engine, call.account_id, call.path["id"], ids, proof=_proof(call))
    return no_content(204)


# --- /api/profiles/{id}/lists -----------------------------------------------------------------


def get_lists_for_profile(call: Call) -> Response:
    fields = call.checked_fields("list", LIST_FIELDS[:-1])
    with _answers(call):
        found = service.profile_lists(call.engine, call.account_id, call.path["id"])
    return json_response(
        {"data": [_list_resource(call, m, fields) for m in found], "links": {"self": call.self_link()}}
    )


def get_list_ids_for_profile(call: Call) -> Response:
    with _answers(call):
        found = service.profile_lists(call.engine, call.account_id, call.path["id"])
    data = [{"type": "list", "id": m.id} for m in found]
    return json_response({"data": data, "links": {"self": call.self_link()}})


# --- the operation table ----------------------------------------------------------------------

_INT = {"type": "integer"}
_P_FIELDS_LIST = Param("fields[list]", "Attributes to return, comma separated: " + ", ".join(LIST_FIELDS) + ".")
_P_COUNT = Param("additional-fields[list]", "profile_count: also return each list's number of members.")
_P_INCLUDE = Param("include", "flow-triggers, tags (Assent has neither; they are returned empty).")
_P_CURSOR = Param("page[cursor]", "A cursor from links.next or links.prev.")
_P_MEMBER_FILTER = Param(
    "filter",
    "email (any, equals), phone_number (any, equals), joined_group_at (greater-than, greater-or-equal, "
    "less-than, less-or-equal), e.g. greater-than(joined_group_at,2024-01-01T00:00:00Z).",
)
_P_MEMBER_SORT = Param("sort", "joined_group_at or -joined_group_at (the default is joined_group_at).")
_P_MEMBER_SIZE = Param("page[size]", "Members per page, 1 to 100 (default 20).", _INT)
_READ = ("lists:read",)
_WRITE = ("lists:write",)
_MEMBERS_READ = ("lists:read", "profiles:read")
_MEMBERS_WRITE = ("lists:write", "profiles:write")

OPERATIONS: list[Operation] = [
    Operation(
        "GET", "/api/lists", "get_lists", get_lists, _READ, 75, 750, "Get lists",
        params=(
            Param(
                "filter",
                "name (any, equals), id (any, equals), created (greater-than), updated (greater-than), "
                'e.g. equals(name,"Newsletter").',
            ),
            Param("sort", "created, id, name or updated; prefix '-' for descending (the default is created)."),
            Param("page[size]", "Lists per page, 1 to 10 (default 10).", _INT),
            _P_CURSOR, _P_FIELDS_LIST, _P_COUNT, _P_INCLUDE,
        ),
        response=ListCollectionDocument, tag="Lists",
    ),
    Operation(
        "POST", "/api/lists", "create_list", create_list, _WRITE, 10, 150, "Create a list",
        body=ListCreateQuery, status=201, params=(_P_FIELDS_LIST,), response=ListDocument, tag="Lists",
    ),
    Operation(
        "GET", "/api/lists/{id}", "get_list", get_list, _READ, 75, 750, "Get a list",
        params=(_P_FIELDS_LIST, _P_COUNT, _P_INCLUDE), response=ListDocument, tag="Lists",
    ),
    Operation(
        "PATCH", "/api/lists/{id}", "update_list", update_list, _WRITE, 10, 150,
        "Rename a list or change its opt-in process",
        body=ListPartialUpdateQuery, params=(_P_FIELDS_LIST,), response=ListDocument, tag="Lists",
    ),
    Operation(
        "DELETE", "/api/lists/{id}", "delete_list", delete_list, _WRITE, 10, 150,
        "Delete a list: its members leave it through the ledger; list suppressions are kept",
        status=204, tag="Lists",
    ),
    Operation(
        "GET", "/api/lists/{id}/profiles", "get_profiles_for_list", get_profiles_for_list, _MEMBERS_READ, 75, 750,
        "Get the profiles in a list, with when each joined",
        params=(
            _P_MEMBER_FILTER, _P_MEMBER_SORT, _P_MEMBER_SIZE, _P_CURSOR,
            Param("fields[profile]", "Profile attributes to return, comma separated (dotted for nested ones)."),
            Param("additional-fields[profile]", "subscriptions: also return each profile's consent."),
        ),
        tag="Lists",
    ),
    Operation(
        "GET", "/api/lists/{id}/relationships/profiles", "get_profile_ids_for_list", get_profile_ids_for_list,
        _MEMBERS_READ, 75, 750, "Get the ids of the profiles in a list",
        params=(_P_MEMBER_FILTER, _P_MEMBER_SORT, _P_MEMBER_SIZE, _P_CURSOR),
        response=ListProfilesLinkageDocument, tag="Lists",
    ),
    Operation(
        "POST", "/api/lists/{id}/relationships/profiles", "add_profiles_to_list", add_profiles_to_list,
        _MEMBERS_WRITE, 10, 150, "Add profiles to a list (membership only: consent is unchanged)",
        body=ListMembersQuery, status=204, tag="Lists",
    ),
    Operation(
        "DELETE", "/api/lists/{id}/relationships/profiles", "remove_profiles_from_list", remove_profiles_from_list,
        _MEMBERS_WRITE, 10, 150, "Remove profiles from a list (membership only: consent is unchanged)",
        body=ListMembersQuery, status=204, tag="Lists",
    ),
    Operation(
        "GET", "/api/profiles/{id}/lists", "get_lists_for_profile", get_lists_for_profile, _MEMBERS_READ, 3, 60,
        "Get the lists a profile is a member of",
        params=(Param("fields[list]", "Attributes to return, comma separated: " + ", ".join(LIST_FIELDS[:-1]) + "."),),
        response=ListCollectionDocument, tag="Profiles",
    ),
    Operation(
        "GET", "/api/profiles/{id}/relationships/lists", "get_list_ids_for_profile", get_list_ids_for_profile,
        _MEMBERS_READ, 3, 60, "Get the ids of the lists a profile is a member of",
        response=ProfileListsLinkageDocument, tag="Profiles",
    ),
]  # fmt: skip
