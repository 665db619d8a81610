"""The rows a profile's consent state becomes in a brand's own database (`assent sync`).

Pure: the sync use case reads states, this turns each into rows, and a target adapter writes
them. The row types' fields are the target tables' columns, in order.

A consent row exists for each channel and purpose the profile has something to say about: a
stored consent (SUBSCRIBED or UNSUBSCRIBED), a pending double opt-in, or a send that `decide()`
would allow (a never-subscribed, unsuppressed email address can still be emailed). A missing row
means NEVER_SUBSCRIBED, nothing pending, and cannot receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .channels import ALL_CHANNEL_PURPOSES, Channel, ConsentStatus, Purpose
from .decisions import receive_flags
from .errors import DomainError
from .state import NEVER_SUBSCRIBED, ProfileState


class Identifiers(NamedTuple):
    email: str | None
    phone_number: str | None
    external_id: str | None


class ConsentRow(NamedTuple):
    account_id: str
    profile_id: str
    channel: str
    purpose: str
    email: str | None
    phone_number: str | None
    external_id: str | None
    status: str
    consent_timestamp: datetime | None
    last_updated: datetime | None
    method: str | None
    method_detail: str | None
    custom_method_detail: str | None
    double_optin: bool | None
    double_optin_pending: bool
    can_receive: bool


class SuppressionRow(NamedTuple):
    account_id: str
    profile_id: str
    list_id: str  # "" for a global suppression
    reason: str
    created_at: datetime
    email: str | None


class ListMemberRow(NamedTuple):
    account_id: str
    profile_id: str
    list_id: str
    joined_at: datetime
    email: str | None
    phone_number: str | None
    external_id: str | None


TABLES = ("consent", "suppression", "lists")
ROW_TYPES: dict[str, type[tuple[object, ...]]] = {
    "consent": ConsentRow,
    "suppression": SuppressionRow,
    "lists": ListMemberRow,
}

MirrorRows = dict[str, list[tuple[object, ...]]]


def empty_rows() -> MirrorRows:
    return {t: [] for t in TABLES}


@dataclass(frozen=True, slots=True)
class TableSource:
    """Where a full copy takes one target table's rows from: `rows()` gives them as tuples in the
    row type's field order (times as aware datetimes or ISO 8601 text with an offset, booleans as
    bools or 0/1); `copy_text(write)`, when the source is PostgreSQL, hands `write` the same rows
    as PostgreSQL COPY text, chunk by chunk, for a PostgreSQL target to take without parsing."""

    rows: Callable[[], Iterable[Sequence[Any]]]
    copy_text: Callable[[Callable[[bytes], object]], None] | None = None


# What receive_flags reads of a state: whether it has an email, a phone number and a push device, its suppression
# reasons and its consent statuses; with the pending (channel, purpose) pairs, that decides which
# consent rows a profile gets and their can_receive. Profiles repeat a handful of such shapes, so
# each shape's answer is worked out once (with decide()'s own receive_flags) and reused.
_Shape = tuple[bool, bool, frozenset[Any], tuple[tuple[Any, ConsentStatus], ...], frozenset[Any], bool]
_PLANS: dict[_Shape, tuple[tuple[tuple[Channel, Purpose], bool, bool], ...]] = {}


def _plan(state: ProfileState) -> tuple[tuple[tuple[Channel, Purpose], bool, bool], ...]:
    shape: _Shape = (
        state.email is not None,
        state.phone_number is not None,
        frozenset(state.suppressions),
        tuple((k, c.status) for k, c in state.consents.items()),
        frozenset((k[0], k[1]) for k in state.pending) if state.pending else _NONE,
        state.push_tokens > 0,
    )
    plan = _PLANS.get(shape)
    if plan is None:
        flags = receive_flags(state)
        statuses = dict(shape[3])
        plan = tuple(
            (key, flags[key], key in shape[4])
            for key in ALL_CHANNEL_PURPOSES
            if statuses.get(key, ConsentStatus.NEVER_SUBSCRIBED) is not ConsentStatus.NEVER_SUBSCRIBED
            or flags[key]
            or key in shape[4]
        )
        if len(_PLANS) < 100_000:
            _PLANS[shape] = plan
    return plan


_NONE: frozenset[Any] = frozenset()


def add_rows(
    out: MirrorRows,
    account_id: str,
    profile_id: str,
    ids: Identifiers,
    state: ProfileState,
    tables: frozenset[str] = frozenset(TABLES),
) -> None:
    """Append the rows of one profile to `out` (only for the tables asked for), as plain tuples in
    the row types' field order. `state` carries the profile's email and phone number, which
    `decide()` needs."""
    email, phone, external_id = ids
    if "consent" in tables:
        rows = out["consent"]
        consents = state.consents
        for key, can, waiting in _plan(state):
            c = consents.get(key, NEVER_SUBSCRIBED)
            rows.append(
                (account_id, profile_id, key[0].value, key[1].value, email, phone, external_id, c.status.value,
                 c.consent_timestamp, c.last_updated, c.method, c.method_detail, c.custom_method_detail,
                 c.double_optin, waiting, can)
            )  # fmt: skip
    if "suppression" in tables:
        rows = out["suppression"]
        for reason, at in state.suppressions.items():
            rows.append((account_id, profile_id, "", reason.value, at, email))
        for list_id, ls in state.list_suppressions.items():
            rows.append((account_id, profile_id, list_id, ls.reason, ls.timestamp, email))
    if "lists" in tables:
        rows = out["lists"]
        for list_id, joined in state.lists.items():
            rows.append((account_id, profile_id, list_id, joined, email, phone, external_id))


def parse_tables(value: str | None) -> frozenset[str]:
    """`consent,suppression,lists` (any subset, any order); None or empty means all three."""
    if not value:
        return frozenset(TABLES)
    names = {v.strip().lower() for v in value.split(",") if v.strip()}
    unknown = sorted(names - set(TABLES))
    if unknown or not names:
        raise DomainError("tables", f"must be some of {', '.join(TABLES)}", value)
    return frozenset(names)


class TargetUnavailable(Exception):
    """The target database cannot be reached (down, refused, connection lost). Nothing of the
    transaction in flight was applied; trying again later is safe."""
