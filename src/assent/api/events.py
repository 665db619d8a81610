"""Klaviyo's events and metrics endpoints: create an event, list and get events (posted ones and
the consent ledger's, under Klaviyo's metric names), list and get metrics."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType
from starlette.responses import Response

from ..domain import DomainError
from ..domain.instants import utc
from ..services.activity import events, metrics
from ..services.activity.events import Event, EventListing
from ..services.activity.metrics import Metric
from ..services.shared.errors import NotFound
from ..wire.documents import json_response, sparse
from ..wire.errors import ApiError, from_domain, invalid, not_found
from .filters import FieldRule
from .operation import Call, Operation, Param
from .related import linkage, related_profile
from .resources import profile_resource

# --- request body -------------------------------------------------------------------------------


class EventProfileLocation(msgspec.Struct):
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    country: str | None = None
    latitude: str | float | None = None
    longitude: str | float | None = None
    region: str | None = None
    zip: str | None = None
    timezone: str | None = None
    ip: str | None = None


class EventProfileAttributes(msgspec.Struct):
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organization: str | None = None
    locale: str | None = None
    title: str | None = None
    image: str | None = None
    location: EventProfileLocation | None = None
    properties: dict[str, Any] | None = None


class EventProfileData(msgspec.Struct):
    type: Literal["profile"]
    id: str | None = None
    attributes: EventProfileAttributes | None = None


class EventProfile(msgspec.Struct):
    data: EventProfileData


class EventMetricAttributes(msgspec.Struct):
    name: str | UnsetType = UNSET
    service: str | None = None


class EventMetricData(msgspec.Struct):
    type: Literal["metric"]
    attributes: EventMetricAttributes


class EventMetric(msgspec.Struct):
    data: EventMetricData


class EventCreateAttributes(msgspec.Struct):
    # Required ones are checked by the handler, so a missing one is named by its own pointer.
    properties: dict[str, Any] | UnsetType = UNSET
    metric: EventMetric | UnsetType = UNSET
    profile: EventProfile | UnsetType = UNSET
    time: str | None = None
    value: float | None = None
    value_currency: str | None = None
    unique_id: str | None = None
    backfill: bool | None = None  # no flows run here, so every event is in effect a backfill


class EventCreateData(msgspec.Struct):
    type: Literal["event"]
    attributes: EventCreateAttributes


class EventCreateQuery(msgspec.Struct):
    data: EventCreateData


LOCATION_FIELDS = tuple(EventProfileLocation.__struct_fields__)
_ATTRIBUTES = "/data/attributes"
_PROFILE = f"{_ATTRIBUTES}/profile/data"


def _pointer(field: str) -> str:
    """Where a service error's field sits in the create-event body."""
    head, _, rest = field.partition(".")
    if head == "profile":
        if not rest:
            return _PROFILE
        if rest == "id":
            return f"{_PROFILE}/id"
        if rest in LOCATION_FIELDS:
            return f"{_PROFILE}/attributes/location/{rest}"
        return f"{_PROFILE}/attributes/{rest.replace('.', '/')}"
    if head == "metric":
        return f"{_ATTRIBUTES}/metric/data/attributes/{rest or 'name'}"
    return f"{_ATTRIBUTES}/{field.replace('.', '/')}"


def _body_error(e: DomainError) -> ApiError:
    error = from_domain(e)
    error.pointer = _pointer(e.field)
    return error


def _event_profile(data: EventProfileData) -> events.EventProfile:
    a = data.attributes or EventProfileAttributes()
    attributes: dict[str, Any] = {
        name: getattr(a, name)
        for name in ("first_name", "last_name", "organization", "locale", "title", "image")
        if getattr(a, name) is not None
    }
    if a.location is not None:
        attributes.update({f: v for f in LOCATION_FIELDS if (v := getattr(a.location, f)) is not None})
    return events.EventProfile(
        id=data.id,
        email=a.email,
        phone_number=a.phone_number,
        external_id=a.external_id,
        attributes=attributes,
        properties=a.properties or {},
    )


def create_event(call: Call) -> Response:
    a: EventCreateAttributes = call.body.data.attributes
    if isinstance(a.properties, UnsetType):
        detail = "properties is required: an object of the event's properties"
        raise invalid(detail, pointer=f"{_ATTRIBUTES}/properties")
    if isinstance(a.metric, UnsetType):
        raise invalid("metric is required: {data: {type: metric, attributes: {name}}}", pointer=f"{_ATTRIBUTES}/metric")
    if isinstance(a.metric.data.attributes.name, UnsetType):
        raise invalid("the metric needs a name", pointer=f"{_ATTRIBUTES}/metric/data/attributes/name")
    if isinstance(a.profile, UnsetType):
        raise invalid("profile is required: {data: {type: profile, ...}}", pointer=f"{_ATTRIBUTES}/profile")
    new = events.NewEvent(
        metric_name=a.metric.data.attributes.name,
        metric_service=a.metric.data.attributes.service,
        properties=a.properties,
        profile=_event_profile(a.profile.data),
        time=a.time,
        value=a.value,
        value_currency=a.value_currency,
        unique_id=a.unique_id,
    )
    try:
        recorded = events.create_event(call.engine, call.account_id, new)
    except DomainError as e:
        raise _body_error(e) from None
    headers = {"X-Klaviyo-Partial-Failure": ",".join(recorded.dropped)} if recorded.dropped else None
    return Response(status_code=202, headers=headers)


# --- resources ----------------------------------------------------------------------------------


def _relationship(call: Call, event_id: str, name: str, resource_type: str, resource_id: str) -> dict[str, Any]:
    base = f"{call.base_url}/api/events/{event_id}"
    return {
        "data": {"type": resource_type, "id": resource_id},
        "links": {"self": f"{base}/relationships/{name}/", "related": f"{base}/{name}/"},
    }


def event_resource(call: Call, e: Event, fields: list[str] | None) -> dict[str, Any]:
    attributes = {
        "timestamp": int(e.occurred_at.timestamp()),
        "event_properties": e.properties,
        "datetime": e.occurred_at.isoformat(),
        "uuid": e.uuid,
    }
    return {
        "type": "event",
        "id": e.id,
        "attributes": sparse(attributes, fields),
        "relationships": {
            "profile": _relationship(call, e.id, "profile", "profile", e.profile_id),
            "metric": _relationship(call, e.id, "metric", "metric", e.metric_id),
        },
        "links": {"self": f"{call.base_url}/api/events/{e.id}/"},
    }


def metric_resource(call: Call, m: Metric, fields: list[str] | None) -> dict[str, Any]:
    i = m.integration
    attributes = {
        "name": m.name,
        "created": m.created.isoformat(),
        "updated": m.updated.isoformat(),
        "integration": {"object": "integration", "id": i.id, "key": i.key, "name": i.name, "category": i.category},
    }
    return {
        "type": "metric",
        "id": m.id,
        "attributes": sparse(attributes, fields),
        "links": {"self": f"{call.base_url}/api/metrics/{m.id}/"},
    }


def _included(call: Call, listing: EventListing, include: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if "metric" in include:
        fields = call.checked_fields("metric", METRIC_FIELD_NAMES)
        out += [metric_resource(call, m, fields) for m in sorted(listing.metrics.values(), key=lambda m: m.id)]
    if "profile" in include:
        fields = call.checked_fields("profile", EVENT_PROFILE_FIELD_NAMES)
        for row in sorted(listing.profiles, key=lambda r: r.id):
            resource = profile_resource(row, call.base_url)
            resource["attributes"] = sparse(resource["attributes"], fields)
            out.append(resource)
    return out


# --- reading events -----------------------------------------------------------------------------

_TIME_OPS = frozenset({"greater-than", "greater-or-equal", "less-than", "less-or-equal"})
EVENT_FILTERS = {
    "metric_id": FieldRule(frozenset({"equals"}), "string"),
    "profile_id": FieldRule(frozenset({"equals"}), "string"),
    "datetime": FieldRule(_TIME_OPS, "datetime"),
    "timestamp": FieldRule(_TIME_OPS, "number"),  # seconds since 1970, the same moment as datetime
}
EVENT_INCLUDES = ("metric", "profile")
# What fields[event], fields[metric] and fields[profile] may name here, as the spec lists them.
EVENT_FIELD_NAMES = ("datetime", "event_properties", "id", "timestamp", "uuid")
METRIC_FIELD_NAMES = ("created", "id", "integration", "name", "updated")
EVENT_PROFILE_FIELD_NAMES = (
    "email", "phone_number", "external_id", "first_name", "last_name", "organization", "locale", "title", "image",
    "created", "updated", "last_event_date", "location", "properties", "id",
)  # fmt: skip
_BAD_CURSOR = "page[cursor] is not a cursor this server gave out"


def _moment(field: str, value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float | str):
        with suppress(OverflowError, OSError, ValueError):
            return datetime.fromtimestamp(float(value), UTC)
    raise invalid(f"{field!r} is not a time this server can read: {value!r}", parameter="filter")


def _timeline_cursor(call: Call) -> tuple[tuple | None, tuple | None]:
    cursor = call.cursor()
    if cursor is None:
        return None, None
    key = cursor.key
    ok = len(key) == 2 and all(isinstance(k, str) for k in key)
    moment = None
    if ok:
        try:
            moment = datetime.fromisoformat(key[0])
        except ValueError:
            ok = False
    if not ok or moment is None or moment.tzinfo is None or utc(moment) is None:  # on the calendar in UTC
        raise invalid(_BAD_CURSOR, parameter="page[cursor]")
    typed = (moment, key[1])
    return (typed, None) if cursor.forward else (None, typed)


def _check_fields(call: Call) -> None:
    """An unknown name in fields[event], [metric] or [profile] is a 400 before anything is read."""
    call.checked_fields("event", EVENT_FIELD_NAMES)
    call.checked_fields("metric", METRIC_FIELD_NAMES)
    call.checked_fields("profile", EVENT_PROFILE_FIELD_NAMES)


def list_events(call: Call) -> Response:
    conditions = call.filter(EVENT_FILTERS)
    sort = call.sort(("datetime", "timestamp"), "datetime")
    size = call.page_size(200, 1000)
    include = call.include(EVENT_INCLUDES)
    _check_fields(call)
    after, before = _timeline_cursor(call)
    query = events.EventQuery(
        metric_ids=tuple(str(c.value) for c in conditions if c.field == "metric_id"),
        profile_ids=tuple(str(c.value) for c in conditions if c.field == "profile_id"),
        times=tuple((c.op, _moment(c.field, c.value)) for c in conditions if c.field in ("datetime", "timestamp")),
        descending=sort.descending,
        limit=size,
        after=after,
        before=before,
        include_metrics="metric" in include,
        include_profiles="profile" in include,
    )
    listing = events.list_events(call.engine, call.account_id, query)
    fields = call.checked_fields("event", EVENT_FIELD_NAMES)
    doc: dict[str, Any] = {
        "data": [event_resource(call, e, fields) for e in listing.events],
        "links": call.page_links(listing.page),
    }
    if include:
        doc["included"] = _included(call, listing, include)
    return json_response(doc)


def _the_event(call: Call, *, metric: bool = False, profile: bool = False) -> EventListing:
    try:
        return events.get_event(
            call.engine, call.account_id, call.path["id"], include_metric=metric, include_profile=profile
        )
    except NotFound:
        raise ApiError(
            404, "not_found", f"An event with id {call.path['id']} does not exist.", parameter="id"
        ) from None


def get_event(call: Call) -> Response:
    include = call.include(EVENT_INCLUDES)
    _check_fields(call)
    listing = _the_event(call, metric="metric" in include, profile="profile" in include)
    fields = call.checked_fields("event", EVENT_FIELD_NAMES)
    doc: dict[str, Any] = {"data": event_resource(call, listing.events[0], fields)}
    if include:
        doc["included"] = _included(call, listing, include)
    doc["links"] = {"self": call.self_link()}
    return json_response(doc)


def get_metric_for_event(call: Call) -> Response:
    """`GET /api/events/{id}/metric`, where an event's metric relationship links."""
    fields = call.checked_fields("metric", METRIC_FIELD_NAMES)
    listing = _the_event(call, metric=True)
    metric = listing.metrics[listing.events[0].metric_id]
    return json_response({"data": metric_resource(call, metric, fields), "links": {"self": call.self_link()}})


def get_metric_id_for_event(call: Call) -> Response:
    return linkage(call, "metric", _the_event(call).events[0].metric_id)


def get_profile_for_event(call: Call) -> Response:
    """`GET /api/events/{id}/profile`, where an event's profile relationship links."""
    fields = call.checked_fields("profile", EVENT_PROFILE_FIELD_NAMES)
    extra = call.additional_fields("profile", ("subscriptions", "predictive_analytics"))
    return related_profile(call, _the_event(call).events[0].profile_id, fields, extra)


def get_profile_id_for_event(call: Call) -> Response:
    return linkage(call, "profile", _the_event(call).events[0].profile_id)


# --- metrics ------------------------------------------------------------------------------------

METRIC_FILTERS = {
    "integration.name": FieldRule(frozenset({"equals"}), "string"),
    "integration.category": FieldRule(frozenset({"equals"}), "string"),
}
METRIC_INCLUDES = ("flow-triggers",)  # no flows here: asked for, they are an empty list


def _metrics_cursor(call: Call) -> tuple[tuple | None, tuple | None]:
    cursor = call.cursor()
    if cursor is None:
        return None, None
    key = cursor.after or cursor.before
    valid = (
        key is not None
        and len(key) == 2
        and (
            (key[0] == "b" and isinstance(key[1], int) and not isinstance(key[1], bool) and key[1] >= 0)
            or (key[0] == "s" and isinstance(key[1], str))
        )
    )
    if not valid:
        raise invalid(_BAD_CURSOR, parameter="page[cursor]")
    return (cursor.after, None) if cursor.after is not None else (None, cursor.before)


def _with_flows(resource: dict[str, Any], include: set[str]) -> dict[str, Any]:
    if "flow-triggers" in include:
        resource["relationships"] = {"flow-triggers": {"data": []}}
    return resource


def list_metrics(call: Call) -> Response:
    conditions = call.filter(METRIC_FILTERS)
    include = call.include(METRIC_INCLUDES)
    fields = call.checked_fields("metric", METRIC_FIELD_NAMES)
    after, before = _metrics_cursor(call)
    listing = metrics.list_metrics(
        call.engine,
        call.account_id,
        integration_names=tuple(str(c.value) for c in conditions if c.field == "integration.name"),
        integration_categories=tuple(str(c.value) for c in conditions if c.field == "integration.category"),
        after=after,
        before=before,
    )
    doc: dict[str, Any] = {
        "data": [_with_flows(metric_resource(call, m, fields), include) for m in listing.metrics],
        "links": call.page_links(listing.page),
    }
    if include:
        doc["included"] = []
    return json_response(doc)


def get_metric(call: Call) -> Response:
    include = call.include(METRIC_INCLUDES)
    fields = call.checked_fields("metric", METRIC_FIELD_NAMES)
    try:
        metric = metrics.get_metric(call.engine, call.account_id, call.path["id"])
    except NotFound:
        raise not_found("metric", call.path["id"]) from None
    doc: dict[str, Any] = {"data": _with_flows(metric_resource(call, metric, fields), include)}
    if include:
        doc["included"] = []
    doc["links"] = {"self": call.self_link()}
    return json_response(doc)


_FILTER_HELP = 'Klaviyo filter syntax, e.g. equals(metric_id,"AbC123"),greater-than(datetime,2024-01-01T00:00:00Z)'
OPERATIONS: list[Operation] = [
    Operation(
        "POST", "/api/events", "create_event", create_event, ("events:write",), 350, 3500,
        "Create an event (and its profile and metric when new); 202, no body",
        body=EventCreateQuery, status=202, tag="Events",
    ),
    Operation(
        "GET", "/api/events", "get_events", list_events, ("events:read",), 350, 3500,
        "List events, posted ones and consent ones, in time order",
        params=(
            Param("filter", f"{_FILTER_HELP}. Fields: metric_id, profile_id (equals); datetime, timestamp "
                  "(greater-than, greater-or-equal, less-than, less-or-equal)"),
            Param("sort", "datetime, -datetime, timestamp or -timestamp (default datetime)"),
            Param("page[size]", "1 to 1000, default 200", {"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("page[cursor]", "From links.next or links.prev"),
            Param("include", "metric, profile"),
            Param("fields[event]", "Attributes to return"),
            Param("fields[metric]", "Attributes of included metrics"),
            Param("fields[profile]", "Attributes of included profiles"),
        ),
        tag="Events",
    ),
    Operation(
        "GET", "/api/events/{id}", "get_event", get_event, ("events:read",), 10, 150, "Get an event",
        params=(
            Param("include", "metric, profile"),
            Param("fields[event]", "Attributes to return"),
            Param("fields[metric]", "Attributes of the included metric"),
            Param("fields[profile]", "Attributes of the included profile"),
        ),
        tag="Events",
    ),
    Operation(
        "GET", "/api/events/{id}/metric", "get_metric_for_event", get_metric_for_event, ("events:read", "metrics:read"),
        10, 150, "The metric of an event", params=(Param("fields[metric]", "Attributes to return"),), tag="Events",
    ),
    Operation(
        "GET", "/api/events/{id}/relationships/metric", "get_metric_id_for_event", get_metric_id_for_event,
        ("events:read", "metrics:read"), 10, 150, "The id of an event's metric", tag="Events",
    ),
    Operation(
        "GET", "/api/events/{id}/profile", "get_profile_for_event", get_profile_for_event,
        ("events:read", "profiles:read"), 10, 150, "The profile of an event",
        params=(Param("fields[profile]", "Attributes to return"), Param("additional-fields[profile]", "subscriptions")),
        tag="Events",
    ),
    Operation(
        "GET", "/api/events/{id}/relationships/profile", "get_profile_id_for_event", get_profile_id_for_event,
        ("events:read", "profiles:read"), 10, 150, "The id of an event's profile", tag="Events",
    ),
    Operation(
        "GET", "/api/metrics", "get_metrics", list_metrics, ("metrics:read",), 10, 150,
        "List metrics: the built-in consent metrics and those named by posted events",
        params=(
            Param("filter", "equals(integration.name,\"Klaviyo\") or equals(integration.category,\"API\")"),
            Param("page[cursor]", "From links.next or links.prev"),
            Param("include", "flow-triggers (always empty here)"),
            Param("fields[metric]", "Attributes to return"),
        ),
        tag="Metrics",
    ),
    Operation(
        "GET", "/api/metrics/{id}", "get_metric", get_metric, ("metrics:read",), 10, 150, "Get a metric",
        params=(Param("include", "flow-triggers (always empty here)"), Param("fields[metric]", "Attributes to return")),
        tag="Metrics",
    ),
]  # fmt: skip
