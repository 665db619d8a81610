"""Assent's own resources, in Klaviyo's style: the consent ledger as a change feed and as a
profile's timeline, send decisions, and the ledger's verification."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from ..domain import DomainError, Via
from ..domain.channels import parse_channel
from ..domain.decisions import parse_send_purpose
from ..domain.instants import in_utc
from ..services.consent import feed as consent_feed
from ..services.consent import ledger_checks as ledger_service
from ..services.consent.changes import LOCATORS, Locator
from ..services.profiles.reading import DecisionRequest, ProfileDecision, decide_many
from ..services.shared.errors import NotFound
from ..services.shared.paging import Position
from ..wire.documents import json_response
from ..wire.errors import from_domain, invalid, not_found
from ..wire.linkage import ProfileLocator
from .filters import FieldRule
from .operation import Call, Operation, Param
from .resources import subscriptions

# --- decisions --------------------------------------------------------------------------------


class DecisionAttributes(Struct):
    profile: ProfileLocator
    channel: str
    purpose: str | None | UnsetType = UNSET
    via: Literal["campaign", "flow"] = "campaign"
    list_id: str | None | UnsetType = UNSET
    at: datetime | None | UnsetType = UNSET


class DecisionQuery(Struct):
    type: Literal["decision"]
    attributes: DecisionAttributes


class DecisionCreateQuery(Struct):
    """One decision, or up to 1000 in a list."""

    data: DecisionQuery | list[DecisionQuery]


def _request(i: int | None, q: DecisionQuery) -> DecisionRequest:
    base = "/data/attributes" if i is None else f"/data/{i}/attributes"
    a = q.attributes
    named = [(f, getattr(a.profile, f)) for f in LOCATORS if isinstance(getattr(a.profile, f), str)]
    if len(named) != 1:
        raise invalid(f"name the profile by exactly one of {', '.join(LOCATORS)}", pointer=f"{base}/profile")
    try:
        channel = parse_channel(a.channel)
        purpose = parse_send_purpose(channel, a.purpose if isinstance(a.purpose, str) else None)
    except DomainError as e:
        raise from_domain(e, base) from None
    try:
        at = in_utc(a.at, "at") if isinstance(a.at, datetime) else None
    except DomainError as e:
        raise from_domain(e, base) from None
    list_id = a.list_id if isinstance(a.list_id, str) else None
    return DecisionRequest(Locator(*named[0]), channel, purpose, Via(a.via), list_id, at)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _decision(call: Call, r: DecisionRequest, d: ProfileDecision) -> dict[str, Any]:
    attributes = {
        "profile_id": d.profile_id,
        "channel": r.channel.value,
        "purpose": r.purpose.value,
        "via": r.via.value,
        "list_id": r.list_id,
        "at": d.send.now.isoformat(),
        "verdict": d.decision.verdict.value,
        "allowed": d.decision.allowed,
        "reasons": list(d.decision.reasons),
        "warnings": list(d.decision.warnings),
        "defer_until": d.decision.defer_until.isoformat() if d.decision.defer_until else None,
        "consent_expired_at": _iso(d.decision.consent_expired_at),
    }
    if d.profile_id is None:  # UNKNOWN_PROFILE: no profile to relate the answer to
        return {"type": "decision", "id": f"unknown-{r.locator.field}-{r.channel.value}-{r.purpose.value}",
                "attributes": attributes, "relationships": {"profile": {"data": None}}}  # fmt: skip
    return {
        "type": "decision",
        "id": f"{d.profile_id}-{r.channel.value}-{r.purpose.value}",
        "attributes": attributes,
        "relationships": {"profile": {"data": {"type": "profile", "id": d.profile_id}}},
        "links": {"self": call.url(f"/api/profiles/{d.profile_id}/")},
    }


def _failing(call: Call, requests: list[DecisionRequest]) -> int:
    """Which request of a failed batch is at fault, so the error can point at it (asked one by
    one only on this error path)."""
    for i, r in enumerate(requests):
        try:
            decide_many(call.engine, call.account_id, [r], unknown_denied=True)
        except DomainError:
            return i
    return 0


def post_decisions(call: Call) -> Response:
    body: DecisionCreateQuery = call.body
    many = isinstance(body.data, list)
    queries = body.data if isinstance(body.data, list) else [body.data]
    if not 1 <= len(queries) <= 1000:
        raise invalid("ask for 1 to 1000 decisions", pointer="/data")
    requests = [_request(i if many else None, q) for i, q in enumerate(queries)]
    try:
        # A batch answers every item: one naming no profile gets DENY UNKNOWN_PROFILE, not a 404 of all.
        decisions = decide_many(call.engine, call.account_id, requests, unknown_denied=many)
    except DomainError as e:
        if not many:
            raise from_domain(e, "/data/attributes/profile") from None
        raise from_domain(e, f"/data/{_failing(call, requests)}/attributes/profile") from None
    data = [_decision(call, r, d) for r, d in zip(requests, decisions, strict=True)]
    return json_response({"data": data if many else data[0], "links": {"self": call.self_link()}})


# --- the ledger -------------------------------------------------------------------------------


_encode = msgspec.json.encode
# A consent-event resource's JSON between its values (see _events).
_OPEN, _ATTRIBUTES = b'{"type":"consent-event","id":"', b'","attributes":{"seq":'
_PROFILE_ID, _OCCURRED_AT, _TYPE, _METRIC = b',"profile_id":', b',"occurred_at":', b',"type":', b',"metric":'
_PERSONAL, _RELATIONSHIPS = b'"personal":', b'},"relationships":{"profile":{"data":{"type":"profile","id":'
_LINKS, _CLOSE = b'}}},"links":{"self":', b')"}},'


def _events(call: Call, records: list[consent_feed.RecordParts]) -> msgspec.Raw:
    """The records as a JSON array of consent-event resources, written out directly: each is the
    encoding of the resource dict it stands for (type, id, attributes: the record, relationships,
    links), byte for byte, as a property test holds. A page's events share their payload's fields,
    times, types and metrics: each distinct one is encoded once per page, so an event costs the
    encoding of its profile id and personal data and one join (building a dict or Struct per
    resource and encoding it cost more)."""
    link = _encode(call.url("/api/consent-events/?filter=equals(seq,"))[:-1]  # open: the seq and ")" follow
    shapes: dict[int, bytes] = {}
    texts: dict[object, bytes] = {}
    out = [b"["]
    extend = out.extend
    for seq, profile_id, when, type, metric, fields, personal in records:
        shape = shapes.get(id(fields))  # the records hold every fields dict for the page's life
        if shape is None:
            shape = shapes[id(fields)] = b"," + _encode(fields)[1:-1] + b"," if fields else b","
        t, m, w = texts.get(type), texts.get(metric), texts.get(when)
        if t is None:
            t = texts[type] = _encode(type)
        if m is None:
            m = texts[metric] = _encode(metric)
        if w is None:
            w = texts[when] = _encode(when)
        pid, n = _encode(profile_id), b"%d" % seq
        extend((_OPEN, n, _ATTRIBUTES, n, _PROFILE_ID, pid, _OCCURRED_AT, w, _TYPE, t, _METRIC, m, shape, _PERSONAL,
                _encode(personal), _RELATIONSHIPS, pid, _LINKS, link, n, _CLOSE))  # fmt: skip
    if len(out) > 1:
        out[-1] = _CLOSE[:-1]  # no comma after the last resource
    out.append(b"]")
    return msgspec.Raw(b"".join(out))


FEED_FILTERS = {
    "seq": FieldRule(frozenset({"greater-than", "equals"}), "number"),
    "profile_id": FieldRule(frozenset({"equals"}), "string"),
    "metric": FieldRule(frozenset({"equals"}), "string"),
}
FEED_PARAMS = (
    Param(
        "filter", "greater-than(seq,N) to resume after the last seq seen; equals(profile_id,'…'); equals(metric,'…')"
    ),
    Param("page[size]", "1 to 1000, default 100", {"type": "integer", "minimum": 1, "maximum": 1000}),
    Param("page[cursor]", "from links.next"),
)
TIMELINE_PARAMS = (Param("as_of", "ISO 8601 time: events up to it and the state then"), *FEED_PARAMS[1:])


def _feed_page(call: Call, records: list[consent_feed.RecordParts], size: int) -> dict[str, Any]:
    last = records[-1][0] if records else None
    page = Position(None, (last,) if last else None, has_next=len(records) == size, has_prev=False)
    links = call.page_links(page)
    return {
        "data": _events(call, records),
        "links": links,
        "meta": {"last_seq": last},
    }


def _string(value: object) -> str | None:
    """A string filter's value (FEED_FILTERS checked its type)."""
    return value if isinstance(value, str) else None


def _after(call: Call, conditions: list) -> int:
    after = 0
    cursor = call.cursor()
    if cursor is not None:
        seq = _seq(cursor.after[0]) if cursor.after is not None else None
        if seq is None:
            raise invalid("page[cursor] is not a cursor of this feed", parameter="page[cursor]")
        after = seq
    for c in conditions:
        if c.field == "seq" and c.op == "greater-than":
            after = max(after, _checked_seq(c.value))
    return after


_MAX_SEQ = 2**63 - 1  # the column's range: a larger number cannot be compared in SQL


def _seq(value: object) -> int | None:
    """A seq as an int, or None when it is not a whole number the ledger could hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if 0 <= value <= _MAX_SEQ else None


def _checked_seq(value: object) -> int:
    seq = _seq(value)
    if seq is None:
        raise invalid(f"seq must be a whole number from 0 to {_MAX_SEQ}, not {value!r}", parameter="filter")
    return seq


def get_consent_events(call: Call) -> Response:
    """The account's ledger in seq order: a lossless change feed (every opt-in, opt-out and
    suppression), resumable from the last seq seen."""
    call.only(FEED_PARAMS)
    conditions = call.filter(FEED_FILTERS)
    size = call.page_size(100, 1000)
    after = _after(call, conditions)
    only = {c.field: c.value for c in conditions if c.op == "equals"}
    if "seq" in only:
        after, size = _checked_seq(only["seq"]) - 1, 1
    records = consent_feed.feed(
        call.engine, call.account_id, after_seq=after, limit=size,
        profile_id=_string(only.get("profile_id")), metric=_string(only.get("metric")),
    )  # fmt: skip
    return json_response(_feed_page(call, records, size))


def _walk(request: Request) -> bool:
    """The change feed unfiltered, or after a seq or of one profile: at most 1,000 rows read on the
    primary key or the profile index (a metric filter, read on the metric index, keeps the general
    path)."""
    return b"metric" not in request.scope["query_string"]


def get_profile_consent_events(call: Call) -> Response:
    """One profile's consent timeline; with `as_of`, the events up to then and the state they
    left (`meta.subscriptions`)."""
    call.only(TIMELINE_PARAMS)
    raw = call.query("as_of")
    as_of = None
    if raw:
        try:
            as_of = in_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")), "as_of")
        except DomainError as e:
            raise invalid(f"as_of {e.message}", parameter="as_of") from None
        except ValueError:
            raise invalid("as_of must be an ISO 8601 time", parameter="as_of") from None
    size = call.page_size(100, 1000)
    after = _after(call, [])
    try:
        timeline = consent_feed.profile_timeline(
            call.engine, call.account_id, call.path["id"], after_seq=after, limit=size, as_of=as_of
        )
    except NotFound as e:
        if e.field != "id":
            raise
        raise not_found("profile", call.path["id"]) from None
    doc = _feed_page(call, timeline.events, size)
    doc["meta"].update(as_of=timeline.as_of.isoformat(), subscriptions=subscriptions(timeline.state))
    return json_response(doc)


def get_ledger_verify(call: Call) -> Response:
    result = ledger_service.verify(call.engine, call.account_id)
    return json_response(
        {
            "data": {
                "type": "ledger-verification",
                "id": call.account_id,
                "attributes": {
                    "ok": result.ok,
                    "events": result.events,
                    "first_bad_seq": result.first_bad_seq,
                    "problem": result.problem,
                },
                "links": {"self": call.url("/api/ledger/verify/")},
            },
            "links": {"self": call.self_link()},
        }
    )


OPERATIONS = [
    Operation("POST", "/api/decisions", "create_decisions", post_decisions, ("profiles:read",), 350, 3500,
              "May these profiles be sent these messages? ALLOW, DENY or DEFER with every reason",
              body=DecisionCreateQuery, tag="Assent"),
    Operation("GET", "/api/consent-events", "get_consent_events", get_consent_events, ("profiles:read",), 75, 700,
              "The account's consent ledger as a change feed, in seq order", params=FEED_PARAMS, tag="Assent",
              inline=_walk),
    Operation("GET", "/api/profiles/{id}/consent-events", "get_profile_consent_events", get_profile_consent_events,
              ("profiles:read",), 75, 700, "A profile's consent timeline, and its state as of a time",
              params=TIMELINE_PARAMS, tag="Assent"),
    Operation("GET", "/api/ledger/verify", "verify_ledger", get_ledger_verify, ("profiles:read",), 1, 15,
              "Walk the account's hash chain and report the first broken event", tag="Assent"),
]  # fmt: skip
