"""Consent events and the fold that turns a sequence of them into a profile's state.

Every change of consent, suppression, list membership or pending opt-in is one event. The
projection stored beside the ledger is `replay(events)`; transitions never change state any other
way, so the ledger can always rebuild it.

An event keeps personal data (addresses, IP, user agent) in `personal`, apart from the rest, so
that an erasure can blank it while the hash chain, which covers only its digest, still verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType
from typing import Any, TypeVar

from .channels import Channel, ConsentStatus, Purpose, SuppressionReason
from .slots import maker
from .state import ChannelConsent, ListSuppression, PendingOptIn, ProfileState, _empty


class EventType(StrEnum):
    CONSENT_CHANGED = "consent.changed"
    SUPPRESSION_ADDED = "suppression.added"
    SUPPRESSION_REMOVED = "suppression.removed"
    LIST_SUPPRESSION_ADDED = "list_suppression.added"
    LIST_SUPPRESSION_REMOVED = "list_suppression.removed"
    LIST_JOINED = "list.joined"
    LIST_LEFT = "list.left"
    OPTIN_REQUESTED = "optin.requested"
    OPTIN_CLOSED = "optin.closed"
    IDENTIFIER_CHANGED = "identifier.changed"
    # The person's personal data was erased: the profile is gone, and so is its state (the
    # opt-out lives on as erasure tombstones, outside the ledger).
    PROFILE_ERASED = "profile.erased"


@dataclass(frozen=True, slots=True)
class Proof:
    """How a change came about. `ip` and `user_agent` are personal data; the rest is not."""

    source: str | None = None
    consent_text_version: str | None = None
    consent_text_sha256: str | None = None  # the stored version's text digest: the words, under the chain
    # Where the version came from when the request did not name it ("account_setting": the account's
    # signup wording, recorded for a public signup's SMS consent).
    consent_text_origin: str | None = None
    actor: str | None = None
    message_id: str | None = None
    note: str | None = None
    reason: str | None = None  # why an opt-out happened, as the person gave it
    ip: str | None = None
    user_agent: str | None = None

    def context(self) -> dict[str, str]:
        return {k: v for k in _PROOF_CONTEXT if (v := getattr(self, k)) is not None}

    def personal(self) -> dict[str, str]:
        return {k: v for k in _PROOF_PERSONAL if (v := getattr(self, k)) is not None}


_PROOF_PERSONAL = ("ip", "user_agent")
_PROOF_CONTEXT = tuple(f.name for f in fields(Proof) if f.name not in _PROOF_PERSONAL)


NO_PROOF = Proof()


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    type: EventType
    occurred_at: datetime
    metric: str | None = None
    channel: Channel | None = None
    purpose: Purpose | None = None
    list_id: str | None = None
    status: ConsentStatus | None = None
    reason: str | None = None
    method: str | None = None
    method_detail: str | None = None
    custom_method_detail: str | None = None
    double_optin: bool | None = None
    consent_timestamp: datetime | None = None
    timestamp_clamped: bool = False
    historical_import: bool = False
    triggers_automation: bool = True
    outcome: str | None = None
    identifier: str | None = None
    context: Mapping[str, str] = field(default_factory=_empty)
    personal: Mapping[str, str] = field(default_factory=_empty)

    def payload(self) -> dict[str, Any]:
        """The non-personal fields that differ from their defaults, JSON-ready."""
        out: dict[str, Any] = {}
        for name, default in _PAYLOAD_FIELDS:
            value = getattr(self, name)
            if value == default or (name == "context" and not value):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def from_record(
        cls,
        type: str,
        occurred_at: datetime,
        metric: str | None,
        payload: Mapping[str, Any],
        personal: Mapping[str, str] | None,
    ) -> ConsentEvent:
        kw: dict[str, Any] = dict(payload)
        for name, conv in _CONVERTERS.items():
            if kw.get(name) is not None:
                kw[name] = conv(kw[name])
        if "context" in kw:
            kw["context"] = MappingProxyType(dict(kw["context"]))
        return cls(
            type=EventType(type),
            occurred_at=occurred_at,
            metric=metric,
            personal=MappingProxyType(dict(personal or {})),
            **kw,
        )


# Fields that are not in the payload: the ledger keeps them in columns of their own.
_OUTSIDE_PAYLOAD = ("type", "occurred_at", "metric", "personal")
_PAYLOAD_FIELDS = tuple((f.name, f.default) for f in fields(ConsentEvent) if f.name not in _OUTSIDE_PAYLOAD)

_FIELD_NAMES = tuple(f.name for f in fields(ConsentEvent))
_field_values = attrgetter(*_FIELD_NAMES)
_PERSONAL_AT = _FIELD_NAMES.index("personal")
# ConsentEvent(*values) at a fraction of the cost (domain.slots): events readdressed for a bulk
# job's alike profiles, one or more for each profile.
_event = maker(ConsentEvent)
_ADDRESSES = ("email", "phone_number")


def readdressed(events: Iterable[ConsentEvent], old: ProfileState, new: ProfileState) -> list[ConsentEvent]:
    """Events that a transition emitted for `old`, as they would be for `new`: a profile that differs
    from `old` only by its addresses, which events carry only in their personal data."""
    swap = {f: (getattr(old, f), getattr(new, f)) for f in _ADDRESSES}
    out = []
    for e in events:
        values = list(_field_values(e))  # fields in order: cheaper than dataclasses.replace
        values[_PERSONAL_AT] = MappingProxyType(
            {k: (swap[k][1] if k in swap and v == swap[k][0] else v) for k, v in e.personal.items()}
        )
        out.append(_event(*values))
    return out


def readdresser(events: Iterable[ConsentEvent], old: ProfileState) -> Callable[[ProfileState], list[ConsentEvent]]:
    """`lambda new: readdressed(events, old, new)`, with what does not depend on `new` worked out
    once: a bulk job readdresses one profile's events for each of its alike profiles. A property
    test holds the two equal."""
    plans = []
    for e in events:
        # (key, whether the value is `old`'s address there and so becomes `new`'s, the value)
        recipe = tuple((k, k in _ADDRESSES and v == getattr(old, k), v) for k, v in e.personal.items())
        plans.append((list(_field_values(e)), recipe))

    def readdress(new: ProfileState) -> list[ConsentEvent]:
        out = []
        for values, recipe in plans:
            values = values.copy()
            values[_PERSONAL_AT] = MappingProxyType({k: getattr(new, k) if swap else v for k, swap, v in recipe})
            out.append(_event(*values))
        return out

    return readdress


_CONVERTERS = {
    "channel": Channel,
    "purpose": Purpose,
    "status": ConsentStatus,
    "consent_timestamp": datetime.fromisoformat,
}


# What from_record's converters accept and give back unchanged: an enum field's values.
_ENUM_VALUES: dict[str, frozenset[str]] = {
    "channel": frozenset(Channel),
    "purpose": frozenset(Purpose),
    "status": frozenset(ConsentStatus),
}
_PAYLOAD_INDEX = {name: i for i, (name, _) in enumerate(_PAYLOAD_FIELDS)}
_PAYLOAD_DEFAULTS = dict(_PAYLOAD_FIELDS)
_KEY_ORDERS: dict[tuple[str, ...], tuple[str, ...] | None] = {}
EVENT_TYPES = frozenset(t.value for t in EventType)


def stored_payload(stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """`ConsentEvent.from_record(..., stored, ...).payload()` without building the event: the
    stored payload's fields in the event's field order, defaults left out, times rewritten as
    payload() writes them. None when `stored` holds a field or value from_record would refuse (the
    caller then takes the general path, which says why). A property test holds the two equal."""
    keys = tuple(stored)
    order = _KEY_ORDERS.get(keys, ())
    if order == ():
        order = (
            None if any(k not in _PAYLOAD_INDEX for k in keys) else tuple(sorted(keys, key=_PAYLOAD_INDEX.__getitem__))
        )
        if len(_KEY_ORDERS) < 4096:  # payloads come in few shapes; a bound keeps odd ones from piling up
            _KEY_ORDERS[keys] = order
    if order is None:
        return None
    out: dict[str, Any] = {}
    for name in order:
        value = stored[name]
        if value is not None:
            values = _ENUM_VALUES.get(name)
            if values is not None:
                if not isinstance(value, str) or value not in values:
                    return None
            elif name == "consent_timestamp":
                if not isinstance(value, str):
                    return None
                try:
                    value = datetime.fromisoformat(value).isoformat()
                except ValueError:
                    return None
            elif name == "context":
                if not isinstance(value, Mapping):
                    return None
                if not value:
                    continue
                value = dict(value)
        if value == _PAYLOAD_DEFAULTS[name]:
            continue
        out[name] = value
    return out


K = TypeVar("K")
V = TypeVar("V")


def _copy(mapping: Mapping[K, V]) -> dict[K, V]:
    # dict(proxy) walks the generic mapping protocol; .copy() copies the dict underneath at C speed.
    return mapping.copy() if isinstance(mapping, dict | MappingProxyType) else dict(mapping)


def _with(mapping: Mapping[K, V], key: K, value: V) -> Mapping[K, V]:
    new = _copy(mapping)
    new[key] = value
    return MappingProxyType(new)


def _without(mapping: Mapping[K, V], key: K) -> Mapping[K, V]:
    new = _copy(mapping)
    new.pop(key, None)
    return MappingProxyType(new)


def apply(state: ProfileState, e: ConsentEvent) -> ProfileState:
    """Fold one event into the state. Total: unknown combinations leave the state unchanged."""
    t = e.type
    if t is EventType.CONSENT_CHANGED:
        record = ChannelConsent(
            status=e.status or ConsentStatus.NEVER_SUBSCRIBED,
            consent_timestamp=e.consent_timestamp,
            method=e.method,
            method_detail=e.method_detail,
            custom_method_detail=e.custom_method_detail,
            double_optin=e.double_optin,
            last_updated=e.occurred_at,
        )
        key = (e.channel, e.purpose)
        if record.status is ConsentStatus.NEVER_SUBSCRIBED:  # a reset: as if never given
            return state.evolve(consents=_without(state.consents, key))
        return state.evolve(consents=_with(state.consents, key, record))
    if t is EventType.SUPPRESSION_ADDED:
        return state.evolve(suppressions=_with(state.suppressions, SuppressionReason(e.reason or ""), e.occurred_at))
    if t is EventType.SUPPRESSION_REMOVED:
        return state.evolve(suppressions=_without(state.suppressions, SuppressionReason(e.reason or "")))
    if t is EventType.LIST_SUPPRESSION_ADDED:
        entry = ListSuppression(reason=e.reason or "", timestamp=e.occurred_at)
        return state.evolve(list_suppressions=_with(state.list_suppressions, e.list_id, entry))
    if t is EventType.LIST_SUPPRESSION_REMOVED:
        return state.evolve(list_suppressions=_without(state.list_suppressions, e.list_id))
    if t is EventType.LIST_JOINED:
        return state.evolve(lists=_with(state.lists, e.list_id, e.occurred_at))
    if t is EventType.LIST_LEFT:
        return state.evolve(lists=_without(state.lists, e.list_id))
    if t is EventType.OPTIN_REQUESTED:
        pending = PendingOptIn(
            requested_at=e.occurred_at,
            method=e.method,
            method_detail=e.method_detail,
            custom_method_detail=e.custom_method_detail,
        )
        return state.evolve(pending=_with(state.pending, (e.channel, e.purpose, e.list_id or ""), pending))
    if t is EventType.OPTIN_CLOSED:
        return state.evolve(pending=_without(state.pending, (e.channel, e.purpose, e.list_id or "")))
    if t is EventType.PROFILE_ERASED:
        return ProfileState()
    if t is EventType.IDENTIFIER_CHANGED and e.identifier in ("email", "phone_number") and "new" in e.personal:
        return state.evolve(**{e.identifier: e.personal["new"] or None})
    return state


class Emitted(list[ConsentEvent]):
    """The events a transition emitted from the state `start`, with the state they lead to (`end`):
    a transition folds its events as it goes, so replaying them from that same state again returns
    `end` at no cost. Changing the list forgets `end` (then replay folds the events as always)."""

    __slots__ = ("end", "start")

    def __init__(self, start: ProfileState) -> None:
        super().__init__()
        self.start: ProfileState | None = start
        self.end = start

    def added(self, event: ConsentEvent, end: ProfileState) -> None:
        """Append `event`, which leads to `end`."""
        super().append(event)
        self.end = end


def _forgetting(name: str) -> Any:
    change = getattr(list, name)

    def changed(self: Emitted, *args: Any) -> Any:
        self.start = None
        return change(self, *args)

    changed.__name__ = name
    return changed


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "__setitem__",
              "__delitem__", "__iadd__", "__imul__"):  # fmt: skip
    setattr(Emitted, _name, _forgetting(_name))


def replay(events: Iterable[ConsentEvent], state: ProfileState | None = None) -> ProfileState:
    state = state or ProfileState()
    if type(events) is Emitted and events.start is state:
        return events.end
    for e in events:
        state = apply(state, e)
    return state
