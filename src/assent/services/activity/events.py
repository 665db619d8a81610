"""Activity events, as Klaviyo's events API has them.

Clients post events (`create_event`): the event's profile is found or created through the same
set-based batch as imports, the metric is created on first use, and the event is stored — all in
one transaction. Consent changes are not posted: they are the ledger's events that carry a
Klaviyo metric name ("Subscribed to Email Marketing", ...), and they are listed beside the posted
ones under built-in metrics that every account has.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Row

from ...domain import DomainError, InvalidIdentifier, Policy, ProfileState, Proof
from ...domain.channels import MIN_CONSENT_DATE
from ...domain.identity import check_external_id, normalize_email, normalize_phone
from ...domain.profile import PROFILE_FIELDS, check_coordinates, check_lengths
from ...store import activity as store
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts.accounts import load_account
from ..imports.rows import IDENTIFIERS, text_or_none
from ..profiles.batch import BatchReport, ProfileBatch, ProfileItem, RowConsent, row_consent
from ..profiles.views import ProfileView, profile_view
from ..shared.clock import parse_time, utcnow
from ..shared.errors import NotFound
from ..shared.ids import new_id
from ..shared.paging import Position, position
from ..shared.recorder import recording
from .metrics import BUILTIN_BY_ID, KLAVIYO, Metric, _account_created, _stored_metric, builtin_metric_id

_encode_json = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode

# Klaviyo's limits on an event (its docs: at most 400 properties, strings up to 100 KB) and the
# sizes the columns hold.
MAX_PROPERTIES = 400
MAX_STRING_BYTES = 100 * 1024
MAX_METRIC_NAME = 127
MAX_SERVICE = 128
MAX_UNIQUE_ID = 255
FUTURE_LIMIT = timedelta(days=365)

# Event edits of a profile never touch consent; only a changed email or phone has consequences.
PROOF = Proof(source="event", actor="api")


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    uuid: str
    profile_id: str
    metric_id: str
    occurred_at: datetime
    properties: dict[str, Any]


_CROCKFORD = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}
# Ledger events have no UUID of their own; theirs is derived from account and id, stably.
_LEDGER_UUIDS = uuid.UUID("3f4b7c1e-8a52-4d0e-9b7a-2c61d5e0a9f3")


def _ulid_uuid(ulid: str) -> str:
    """A ULID is 128 bits: the same bits written as a UUID."""
    n = 0
    for char in ulid:
        n = n * 32 + _CROCKFORD.get(char, 0)
    return str(uuid.UUID(int=n & ((1 << 128) - 1)))


def _event(account_id: str, row: Row) -> Event:
    properties = _decode_json(row.properties) if row.properties else {}
    if row.metric_id is not None:
        # Klaviyo keeps an event's value among its properties as `$value`.
        if row.value is not None:
            properties["$value"] = row.value
        if row.value_currency is not None:
            properties["$value_currency"] = row.value_currency
        return Event(row.id, _ulid_uuid(row.id), row.profile_id, row.metric_id, row.occurred_at, properties)
    # A ledger event: its payload holds no personal data (that is kept apart, in `personal`).
    event_uuid = str(uuid.uuid5(_LEDGER_UUIDS, f"{account_id}/{row.id}"))
    return Event(row.id, event_uuid, row.profile_id, builtin_metric_id(row.metric), row.occurred_at, properties)


@dataclass(frozen=True, slots=True)
class EventProfile:
    """The profile an event names: by id, or by identifiers, with attributes to set on it."""

    id: str | None = None
    email: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)  # other PROFILE_FIELDS
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewEvent:
    metric_name: str
    properties: dict[str, Any]
    profile: EventProfile
    metric_service: str | None = None
    time: str | None = None  # ISO 8601; default now
    value: float | None = None
    value_currency: str | None = None
    unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    profile_id: str
    metric_id: str
    event_id: str | None  # None when the event repeated a stored one (same profile, metric, unique_id)
    dropped: tuple[str, ...]  # profile fields left out as invalid (Klaviyo's partial failure)


def _check_properties(properties: dict[str, Any]) -> None:
    if len(properties) > MAX_PROPERTIES:
        raise DomainError("properties", f"an event may have at most {MAX_PROPERTIES} properties", len(properties))
    stack: list[Any] = [properties]
    while stack:  # a loop, not recursion: deeply nested input must not exhaust the stack
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_STRING_BYTES // 4 and len(item.encode()) > MAX_STRING_BYTES:
                raise DomainError("properties", "a string value is over 100 KB")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _metric_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise DomainError("metric.name", "a metric needs a name")
    if len(name) > MAX_METRIC_NAME:
        raise DomainError("metric.name", f"must be at most {MAX_METRIC_NAME} characters", len(name))
    return name


def _event_time(value: str | None, now: datetime) -> datetime:
    if value is None or not value.strip():
        return now.replace(microsecond=0)  # Klaviyo keeps event times to the second
    at = parse_time(value, "time").replace(microsecond=0)
    if at < MIN_CONSENT_DATE:
        raise DomainError("time", "must be after 1990-01-01", value)
    if at > now + FUTURE_LIMIT:
        raise DomainError("time", "may be at most one year in the future", value)
    return at


def _currency(value: str | None) -> str | None:
    text = text_or_none(value)
    if text is None:
        return None
    if len(text) != 3 or not text.isascii() or not text.isalpha():
        raise DomainError("value_currency", "must be an ISO 4217 currency code such as USD", value)
    return text.upper()


def _unique_id(value: str | None, at: datetime) -> str:
    if value is None or value == "":
        return at.isoformat()  # Klaviyo's default: one event per profile and metric each second
    if len(value) > MAX_UNIQUE_ID:
        raise DomainError("unique_id", f"must be at most {MAX_UNIQUE_ID} characters", len(value))
    return value


def _in_profile(e: DomainError) -> DomainError:
    """An error about the event's profile, its field named as a field of `profile`."""
    return type(e)(f"profile.{e.field}", e.message, e.value)


def _prepared(default_region: str, profile: EventProfile) -> tuple[ProfileItem, tuple[str, ...]]:
    """The event's profile as a batch row, identifiers normalised."""
    dropped: list[str] = []
    email = text_or_none(profile.email)
    phone = text_or_none(profile.phone_number)
    external_id = text_or_none(profile.external_id)
    profile_id = text_or_none(profile.id)
    if external_id is not None:
        external_id = check_external_id(external_id, "profile.external_id")
    if email is not None:
        email = normalize_email(email, "profile.email")
    if phone is not None:
        try:
            phone = normalize_phone(phone, default_region)
        except InvalidIdentifier as e:
            # As Klaviyo does: a bad number beside another identifier is dropped, not fatal.
            if email is None and external_id is None and profile_id is None:
                raise _in_profile(e) from None
            phone = None
            dropped.append("phone_number")
    if email is None and phone is None and external_id is None and profile_id is None:
        raise DomainError("profile", "an event's profile needs an id, an email, a phone_number or an external_id")
    attributes: dict[str, str] = {}
    for name, value in profile.attributes.items():
        if name not in PROFILE_FIELDS or name in IDENTIFIERS:
            raise DomainError(f"profile.{name}", "is not a profile attribute")
        if (text := text_or_none(value)) is not None:
            attributes[name] = text
    for name, value in (("external_id", external_id), *attributes.items()):
        if value is not None and "\x00" in value:  # no database keeps a NUL in a text column
            raise DomainError(f"profile.{name}", "contains a NUL character")
    check_lengths(attributes, "profile.")  # bounded, as the profile endpoints and imports check
    check_coordinates(attributes, "profile.")  # degrees in range, as the profile endpoints and imports check
    row = ProfileItem(0, email, phone, external_id, attributes, dict(profile.properties), id=profile_id)
    return row, tuple(dropped)


def _no_consent(state: ProfileState, row: ProfileItem) -> RowConsent:
    return row_consent([], state)  # an event never grants or withdraws consent


def create_event(engine: Engine, account_id: str, new: NewEvent) -> Recorded:
    """Record one event, creating or updating its profile and creating its metric on first use."""
    now = utcnow()
    _check_properties(new.properties)
    name = _metric_name(new.metric_name)
    service = text_or_none(new.metric_service)
    if service is not None and len(service) > MAX_SERVICE:
        raise DomainError("metric.service", f"must be at most {MAX_SERVICE} characters", len(service))
    at = _event_time(new.time, now)
    currency = _currency(new.value_currency)
    unique_id = _unique_id(new.unique_id, at)
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        account = load_account(conn, account_id)
        row, dropped = _prepared(account.default_region, new.profile)
        batch = ProfileBatch(conn, account_id, [row])
        try:
            profile_id = batch.apply(row, _no_consent, now, PROOF, BatchReport())
        except DomainError as e:
            raise _in_profile(e) from None
        batch.write(recorder, now)
        metric = store.ensure_metric(conn, account_id, new_id(), name, service, now)
        event_id = new_id()
        inserted = store.insert_event(
            conn,
            {
                "account_id": account_id,
                "id": event_id,
                "metric_id": metric.id,
                "profile_id": profile_id,
                "occurred_at": at,
                "properties": _encode_json(new.properties).decode(),
                "value": new.value,
                "value_currency": currency,
                "unique_id": unique_id,
                "created_at": now,
            },
        )
        store.touch_last_event(conn, account_id, profile_id, at)
    return Recorded(profile_id, metric.id, event_id if inserted else None, dropped)


@dataclass(frozen=True, slots=True)
class EventQuery:
    metric_ids: tuple[str, ...] = ()  # equals(metric_id, ...): several different ones match nothing
    profile_ids: tuple[str, ...] = ()
    times: tuple[tuple[str, datetime], ...] = ()  # (operator, moment), e.g. ("greater-than", t)
    descending: bool = False
    limit: int = 200
    after: tuple | None = None  # a page's (occurred_at, id) key
    before: tuple | None = None
    include_metrics: bool = False
    include_profiles: bool = False


@dataclass(frozen=True, slots=True)
class EventListing:
    events: list[Event]
    page: Position
    metrics: dict[str, Metric]  # the events' metrics, when asked for
    profiles: list[ProfileView]  # the events' profiles, when asked for
    policy: Policy


def _related(
    conn: Connection, account_id: str, events: list[Event], metrics: bool, profiles: bool
) -> tuple[dict[str, Metric], list[ProfileView]]:
    found: dict[str, Metric] = {}
    if metrics:
        ids = {e.metric_id for e in events}
        builtin = ids & BUILTIN_BY_ID.keys()
        if builtin:
            created = _account_created(conn, account_id)
            for mid in builtin:
                found[mid] = Metric(mid, BUILTIN_BY_ID[mid], created, created, KLAVIYO)
        for row in store.metrics_by_ids(conn, account_id, ids - builtin):
            found[row.id] = _stored_metric(row)
    rows = profile_store.get_many(conn, account_id, {e.profile_id for e in events}) if profiles else []
    return found, [profile_view(row) for row in rows]


def list_events(engine: Engine, account_id: str, q: EventQuery) -> EventListing:
    """A page of the account's events, posted and consent ones together, in time order."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        metric_ids, profile_ids = set(q.metric_ids), set(q.profile_ids)
        if len(metric_ids) > 1 or len(profile_ids) > 1:  # equal to two different values at once
            return EventListing([], Position(None, None, False, False), {}, [], account.policy)
        metric_id = next(iter(metric_ids), None)
        builtin = BUILTIN_BY_ID.get(metric_id) if metric_id is not None else None
        page = store.timeline_page(
            conn,
            account_id,
            metric_id=metric_id,
            ledger_metrics=None if metric_id is None else ([builtin] if builtin else []),
            posted=builtin is None,
            profile_id=next(iter(profile_ids), None),
            times=q.times,
            descending=q.descending,
            limit=q.limit,
            after=q.after,
            before=q.before,
        )
        events = [_event(account_id, row) for row in page.rows]
        metrics, profiles = _related(conn, account_id, events, q.include_metrics, q.include_profiles)
        return EventListing(events, position(page), metrics, profiles, account.policy)


def get_event(
    engine: Engine, account_id: str, event_id: str, *, include_metric: bool = False, include_profile: bool = False
) -> EventListing:
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = store.get_event(conn, account_id, event_id)
        if row is None:
            raise NotFound("id", "no event in this account has this id", event_id)
        events = [_event(account_id, row)]
        metrics, profiles = _related(conn, account_id, events, include_metric, include_profile)
        return EventListing(events, Position(None, None, False, False), metrics, profiles, account.policy)
