"""Profiles, as Klaviyo serves them: list with filters, get, create, update, create-or-update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from ..domain.instants import utc
from ..services.accounts.accounts import ApiKey
from ..services.lists.lookup import MailingList
from ..services.profiles import pages as profile_pages
from ..services.profiles.views import ProfileView
from ..services.profiles.writes import (
    DuplicateProfile,
    ProfileInput,
    Written,
    create_profile,
    update_profile,
    upsert_profile,
)
from ..services.push import tokens as push_token_service
from ..services.shared.errors import NotFound
from ..wire.documents import MEDIA_TYPE, encode, json_response, sparse
from ..wire.errors import ApiError, from_domain, invalid, not_found
from . import profile_documents
from .filters import FieldRule
from .operation import Call, Lean, Operation, Param, listed, query_page_links, whole_number
from .paging import Cursor, read_cursor
from .push_tokens import token_resource
from .resources import profile_resource
from .segments import included_for_profile

# --- request bodies ---------------------------------------------------------------------------

Text = str | None | UnsetType


class Location(Struct, omit_defaults=True):
    address1: Text = UNSET
    address2: Text = UNSET
    city: Text = UNSET
    country: Text = UNSET
    latitude: str | float | None | UnsetType = UNSET
    longitude: str | float | None | UnsetType = UNSET
    region: Text = UNSET
    zip: Text = UNSET
    timezone: Text = UNSET
    ip: Text = UNSET


class ProfileAttributes(Struct, omit_defaults=True):
    email: Text = UNSET
    phone_number: Text = UNSET
    external_id: Text = UNSET
    kx: Text = msgspec.field(default=UNSET, name="_kx")
    anonymous_id: Text = UNSET
    first_name: Text = UNSET
    last_name: Text = UNSET
    organization: Text = UNSET
    locale: Text = UNSET
    title: Text = UNSET
    image: Text = UNSET
    location: Location | None | UnsetType = UNSET
    properties: dict[str, Any] | None | UnsetType = UNSET


class PatchProperties(Struct, omit_defaults=True):
    append: dict[str, Any] | UnsetType = UNSET
    unappend: dict[str, Any] | UnsetType = UNSET
    unset: str | list[str] | UnsetType = UNSET


class ProfileMeta(Struct, omit_defaults=True):
    patch_properties: PatchProperties | UnsetType = UNSET


class ProfileCreateData(Struct):
    type: Literal["profile"]
    attributes: ProfileAttributes
    meta: ProfileMeta | UnsetType = UNSET


class ProfileCreateQuery(Struct):
    data: ProfileCreateData


class ProfileUpdateData(Struct):
    type: Literal["profile"]
    id: str
    attributes: ProfileAttributes = msgspec.field(default_factory=ProfileAttributes)
    meta: ProfileMeta | UnsetType = UNSET


class ProfilePartialUpdateQuery(Struct):
    data: ProfileUpdateData


class ProfileUpsertData(Struct):
    type: Literal["profile"]
    attributes: ProfileAttributes
    id: str | None | UnsetType = UNSET
    meta: ProfileMeta | UnsetType = UNSET


class ProfileUpsertQuery(Struct):
    data: ProfileUpsertData


_TEXT_FIELDS = ("email", "phone_number", "external_id", "first_name", "last_name", "organization", "locale", "title")
_LOCATION_FIELDS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)


def profile_input(attributes: ProfileAttributes, meta: ProfileMeta | UnsetType) -> ProfileInput:
    """A body's attributes as the service takes them: named fields only, None to clear."""
    values: dict[str, Any] = {}
    for name in (*_TEXT_FIELDS, "image"):
        value = getattr(attributes, name)
        if value is not UNSET:
            values[name] = value
    location = attributes.location
    if location is None:
        values.update(dict.fromkeys(_LOCATION_FIELDS))
    elif location is not UNSET:
        for name in _LOCATION_FIELDS:
            value = getattr(location, name)
            if value is not UNSET:
                values[name] = None if value is None else str(value)
    inp = ProfileInput(values=values)
    if isinstance(attributes.properties, dict):
        inp.properties = attributes.properties
    if not isinstance(meta, UnsetType) and not isinstance(meta.patch_properties, UnsetType):
        patch = meta.patch_properties
        inp.append = patch.append if isinstance(patch.append, dict) else {}
        inp.unappend = patch.unappend if isinstance(patch.unappend, dict) else {}
        if isinstance(patch.unset, str):
            inp.unset = [patch.unset]
        elif isinstance(patch.unset, list):
            inp.unset = patch.unset
    return inp


# --- filters and fields -----------------------------------------------------------------------

_ID = FieldRule(frozenset({"equals", "any"}), "string")
_AFTER_BEFORE = FieldRule(frozenset({"greater-than", "less-than"}), "datetime")
_RANGE = FieldRule(frozenset({"greater-than", "greater-or-equal", "less-than", "less-or-equal"}), "datetime")
_SUPPRESSION = "subscriptions.email.marketing.suppression"
_LIST_SUPPRESSION = "subscriptions.email.marketing.list_suppressions"
PROFILE_FILTERS = {
    "id": _ID,
    "email": _ID,
    "phone_number": _ID,
    "external_id": _ID,
    "created": _AFTER_BEFORE,
    "updated": _AFTER_BEFORE,
    f"{_SUPPRESSION}.reason": FieldRule(
        frozenset({"equals"}),
        "enum",
        frozenset({"HARD_BOUNCE", "INVALID_EMAIL", "SPAM_COMPLAINT", "UNSUBSCRIBE", "USER_SUPPRESSED"}),
    ),
    f"{_SUPPRESSION}.timestamp": _RANGE,
    f"{_LIST_SUPPRESSION}.reason": FieldRule(frozenset({"equals"}), "string"),
    f"{_LIST_SUPPRESSION}.timestamp": _RANGE,
    f"{_LIST_SUPPRESSION}.list_id": FieldRule(frozenset({"equals"}), "string"),
}
PROFILE_SORTS = ("id", "created", "updated", "email")
ADDITIONAL = ("subscriptions", "predictive_analytics")
# What fields[profile] may name (or a dotted path under): the spec's names for a profile.
PROFILE_FIELD_NAMES = (
    "email", "phone_number", "external_id", "first_name", "last_name", "organization", "locale", "title", "image",
    "created", "updated", "last_event_date", "location", "properties", "subscriptions", "predictive_analytics", "id",
)  # fmt: skip

LIST_PARAMS = (
    Param("filter", 'e.g. equals(email,"a@example.com") or greater-than(updated,2026-01-01T00:00:00Z)'),
    Param("sort", "id, created, updated or email; '-' for descending"),
    Param("page[size]", "1 to 100, default 20", {"type": "integer", "minimum": 1, "maximum": 100}),
    Param("page[cursor]", "from links.next or links.prev"),
    Param("fields[profile]", "attributes to return, comma-separated"),
    Param("additional-fields[profile]", "subscriptions to add the consent object"),
)
ONE_PARAMS = (
    Param("fields[profile]", "attributes to return, comma-separated"),
    Param("additional-fields[profile]", "subscriptions to add the consent object"),
    Param("include", "lists, push-tokens, segments (the segments the profile is in now)"),
)


def _check_suppression_filters(conditions: list) -> None:
    """Klaviyo's rules: list and global suppression filters don't mix; list ones need a list_id."""
    fields = {c.field for c in conditions}
    global_ = any(f.startswith(_SUPPRESSION + ".") for f in fields)
    per_list = any(f.startswith(_LIST_SUPPRESSION + ".") for f in fields)
    if global_ and per_list:
        raise invalid("filter on suppression or on list_suppressions, not both", parameter="filter")
    if per_list and f"{_LIST_SUPPRESSION}.list_id" not in fields:
        raise invalid(
            f"filtering on {_LIST_SUPPRESSION} needs equals({_LIST_SUPPRESSION}.list_id,...)", parameter="filter"
        )


def _cursor(call: Call, sort: str) -> Cursor | None:
    """The cursor, if its key has the form this listing gives out for `sort`: a forged or stale
    one (say from another sort) is the client's error, not a failed query."""
    return _checked_cursor(call.cursor(), sort)


def _checked_cursor(cursor: Cursor | None, sort: str) -> Cursor | None:
    if cursor is None:
        return None
    key = cursor.key
    ok = len(key) == (1 if sort == "id" else 2) and all(isinstance(k, str) for k in key)
    if ok and sort in ("created", "updated"):
        try:
            moment = datetime.fromisoformat(key[0])
            ok = moment.tzinfo is not None and utc(moment) is not None  # on the calendar in UTC
        except ValueError:
            ok = False
    if not ok:
        raise invalid(f"page[cursor] is not a cursor of this listing sorted by {sort}", parameter="page[cursor]")
    return cursor


def _shape(call: Call, resource: dict[str, Any]) -> dict[str, Any]:
    fields = call.checked_fields("profile", PROFILE_FIELD_NAMES)
    if fields:
        resource["attributes"] = sparse(resource["attributes"], fields)
    return resource


# --- handlers ---------------------------------------------------------------------------------


def get_profiles(call: Call) -> Response:
    conditions = call.filter(PROFILE_FILTERS)
    _check_suppression_filters(conditions)
    sort = call.sort(PROFILE_SORTS, "id")
    size = call.page_size(20, 100)
    fields = call.checked_fields("profile", PROFILE_FIELD_NAMES)
    extra = call.additional_fields("profile", ADDITIONAL)
    include = call.include(("conversations", "push-tokens"))  # Assent has no conversations to include
    page, found = profile_pages.list_profiles(
        call.engine, call.account_id, conditions, sort.field, sort.descending, _cursor(call, sort.field), size,
        subscriptions="subscriptions" in extra,
    )  # fmt: skip
    data: list[Any]
    if fields:
        data = [_shape(call, profile_resource(p, call.base_url)) for p in found]
    else:  # the same document, made as Structs: a sync job's walk over every profile
        data = profile_documents.profile_resources(found, call.base_url)
    doc = {"data": data, "links": call.page_links(page)}
    if "push-tokens" in include:
        doc["included"] = _push_tokens(call, [p.id for p in found])
    return json_response(doc)


@dataclass(frozen=True, slots=True)
class _Walk:
    """A plain page of the walk over every profile, as the lean path plans it."""

    size: int
    fields: list[str] | None
    subscriptions: bool
    cursor: Cursor | None


def _walk_plan(values: dict[str, str]) -> _Walk | None:
    """GET /api/profiles with no filter, sort or include, and page[size], fields,
    additional-fields and page[cursor] that get_profiles takes; None for anything else (the
    general path answers it, with its 400 where there is one)."""
    if "filter" in values or "sort" in values or "include" in values:
        return None
    raw = values.get("page[size]")
    size = 20
    if raw is not None:
        size = whole_number(raw) or 0
        if not 1 <= size <= 100:
            return None
    fields = listed(values, "fields[profile]") or None
    if fields and any(f not in PROFILE_FIELD_NAMES and f.partition(".")[0] not in PROFILE_FIELD_NAMES for f in fields):
        return None
    extra = listed(values, "additional-fields[profile]")
    if not set(extra) <= set(ADDITIONAL):
        return None
    try:
        cursor = _checked_cursor(read_cursor(values.get("page[cursor]")), "id")
    except ApiError:
        return None
    return _Walk(size, fields, "subscriptions" in extra, cursor)


def _walk_page(engine: Engine, key: ApiKey, path: dict[str, str], plan: _Walk, base: str, self_link: str) -> bytes:
    """The body of a plain GET /api/profiles page (see _walk_plan): the lean path's answer. Its
    links are get_profiles' own, made from the self link's path and query rather than request.url."""
    data: list[Any]
    if plan.fields:
        page, found = profile_pages.list_profiles(
            engine, key.account_id, [], "id", False, plan.cursor, plan.size, subscriptions=plan.subscriptions
        )
        data = []
        for p in found:
            resource = profile_resource(p, base)
            resource["attributes"] = sparse(resource["attributes"], plan.fields)
            data.append(resource)
    else:  # the whole resources, straight from the stored rows
        page, rows, states = profile_pages.walk_profiles(
            engine, key.account_id, "id", False, plan.cursor, plan.size, subscriptions=plan.subscriptions
        )
        data = profile_documents.row_resources(rows, states, base)
    where, _, query = self_link[len(base) :].partition("?")
    links = query_page_links(base + where, query, self_link, page)
    return encode({"data": data, "links": links})


def _push_tokens(call: Call, profile_ids: list[str]) -> list[dict[str, Any]]:
    """`include=push-tokens`: the profiles' devices, as GET /api/push-tokens shows them."""
    return [token_resource(call, t) for t in push_token_service.of_profiles(call.engine, call.account_id, profile_ids)]


def list_summary(call: Call, lst: MailingList) -> dict[str, Any]:
    """A profile's list, as `include=lists` gives it."""
    return {
        "type": "list", "id": lst.id,
        "attributes": {"name": lst.name, "created": lst.created.isoformat(), "updated": lst.updated.isoformat(),
                       "opt_in_process": lst.opt_in_process.value},
        "links": {"self": f"{call.base_url}/api/lists/{lst.id}/"},
    }  # fmt: skip


def _one_profile(engine: Engine, account_id: str, profile_id: str, subscriptions: bool, with_lists: bool = False
                 ) -> tuple[ProfileView, list[MailingList]]:  # fmt: skip
    try:
        return profile_pages.one_profile(
            engine, account_id, profile_id, subscriptions=subscriptions, with_lists=with_lists
        )
    except NotFound:  # Klaviyo points a missing profile at /data/, not at an attribute
        raise not_found("profile", profile_id) from None


def _whole_profile(engine: Engine, key: ApiKey, path: dict[str, str], subscriptions: bool, base: str,
                   self_link: str) -> bytes:  # fmt: skip
    """The body of GET /api/profiles/{id} with neither fields nor include: the whole resource,
    made as Structs. The lean path's answer, and the general path's for the same request."""
    profile, _ = _one_profile(engine, key.account_id, path["id"], subscriptions)
    return encode({"data": profile_documents.profile_resource(profile, base), "links": {"self": self_link}})


def _lean_plan(values: dict[str, str]) -> bool | None:
    """Whether the plain request asks for subscriptions; None where it names fields or includes
    anything, or where additional-fields needs its 400 (the general path answers those)."""
    if listed(values, "fields[profile]") or listed(values, "include"):
        return None
    extra = listed(values, "additional-fields[profile]")
    if not set(extra) <= set(ADDITIONAL):
        return None
    return "subscriptions" in extra


def get_profile(call: Call) -> Response:
    fields = call.checked_fields("profile", PROFILE_FIELD_NAMES)
    extra = call.additional_fields("profile", ADDITIONAL)
    include = call.include(("conversations", "lists", "push-tokens", "segments"))
    if not include and not fields:
        body = _whole_profile(call.engine, call.key, call.path, "subscriptions" in extra, call.base_url,
                              call.self_link())  # fmt: skip
        return Response(body, media_type=MEDIA_TYPE)
    profile, lists = _one_profile(call.engine, call.account_id, call.path["id"], "subscriptions" in extra,
                                  with_lists="lists" in include)  # fmt: skip
    resource = profile_resource(profile, call.base_url)
    doc: dict[str, Any] = {"data": _shape(call, resource), "links": {"self": call.self_link()}}
    if include:
        doc["included"] = [list_summary(call, lst) for lst in lists]
    if "push-tokens" in include:
        doc["included"] += _push_tokens(call, [profile.id])
    if "segments" in include:
        doc["included"] += included_for_profile(call, profile.id)
    return json_response(doc)


def _one_read(request: Request) -> bool:
    """GET /api/profiles/{id} reads one profile in one statement or two, unless it includes more
    (segments are evaluated in the database: not for the event loop)."""
    return b"include" not in request.scope["query_string"]


def _walk(request: Request) -> bool:
    """GET /api/profiles with no filter, sort or include: a sync job's walk, a keyset read of at
    most 100 rows on the primary key and their projection rows on the profile index."""
    query = request.scope["query_string"]
    return b"filter" not in query and b"sort" not in query and b"include" not in query


def _written(call: Call, written: Written, status: int) -> Response:
    profile, _ = profile_pages.one_profile(call.engine, call.account_id, written.row.id)
    resource = profile_resource(profile, call.base_url)
    headers = {"X-Klaviyo-Partial-Failure": ",".join(written.dropped)} if written.dropped else None
    return json_response({"data": resource, "links": {"self": resource["links"]["self"]}}, status, headers)


def _duplicate(e: DuplicateProfile, *, named: bool = True) -> ApiError:
    """409 duplicate_profile with the holder's id in meta, as Klaviyo answers. An edit (PATCH, or
    profile-import updating a profile) names the identifier another profile holds; create keeps
    Klaviyo's own document, pointing at the attributes with Klaviyo's wording."""
    error = from_domain(e)
    error.meta = {"duplicate_profile_id": e.profile_id}
    if named:
        error.pointer = f"/data/attributes/{e.identifier}"
        error.detail = f"Another profile ({e.profile_id}) already has this {e.identifier}."
    else:
        error.pointer = "/data/attributes"
        error.detail = e.message
    return error


def post_profile(call: Call) -> Response:
    body: ProfileCreateQuery = call.body
    try:
        written = create_profile(call.engine, call.account_id, profile_input(body.data.attributes, body.data.meta))
    except DuplicateProfile as e:
        raise _duplicate(e, named=False) from None
    return _written(call, written, 201)


def patch_profile(call: Call) -> Response:
    body: ProfilePartialUpdateQuery = call.body
    if body.data.id != call.path["id"]:
        raise invalid("data.id must be the id in the path", pointer="/data/id")
    inp = profile_input(body.data.attributes, body.data.meta)
    try:
        written = update_profile(call.engine, call.account_id, call.path["id"], inp)
    except NotFound as e:
        if e.field != "id":
            raise
        raise not_found("profile", call.path["id"]) from None
    except DuplicateProfile as e:
        raise _duplicate(e) from None
    return _written(call, written, 200)


def post_profile_import(call: Call) -> Response:
    body: ProfileUpsertQuery = call.body
    profile_id = body.data.id if isinstance(body.data.id, str) else None
    inp = profile_input(body.data.attributes, body.data.meta)
    try:
        written = upsert_profile(call.engine, call.account_id, profile_id, inp)
    except NotFound as e:
        if e.field != "id" or profile_id is None:
            raise
        raise not_found("profile", profile_id, pointer="/data/id") from None
    except DuplicateProfile as e:
        raise _duplicate(e) from None
    return _written(call, written, 201 if written.created else 200)


OPERATIONS = [
    Operation("GET", "/api/profiles", "get_profiles", get_profiles, ("profiles:read",), 75, 700,
              "Get profiles", params=LIST_PARAMS, inline=_walk, lean=Lean(_walk_plan, _walk_page)),
    Operation("POST", "/api/profiles", "create_profile", post_profile, ("profiles:write",), 75, 700,
              "Create a profile (409 duplicate_profile when an identifier is taken)", body=ProfileCreateQuery,
              status=201),
    Operation("GET", "/api/profiles/{id}", "get_profile", get_profile, ("profiles:read",), 75, 700,
              "Get a profile", params=ONE_PARAMS, inline=_one_read, lean=Lean(_lean_plan, _whole_profile)),
    Operation("PATCH", "/api/profiles/{id}", "update_profile", patch_profile, ("profiles:write",), 75, 700,
              "Update a profile: named fields change, null clears, others stay", body=ProfilePartialUpdateQuery),
    Operation("POST", "/api/profile-import", "create_or_update_profile", post_profile_import, ("profiles:write",),
              75, 700, "Create or update a profile (201 created, 200 updated)", body=ProfileUpsertQuery,
              status=201, also=(200,)),
]  # fmt: skip
