"""Segments: saved definitions in Klaviyo's language, whose membership the database computes on
read (never stored, so always current).

For other use cases (audiences, exports) the plug is `membership(conn, account_id, segment_id)`:
the segment's member profile ids as a SQLAlchemy selectable, to count, join or use in `IN (...)`
inside their own transaction. `definition_membership` does the same for a definition not saved.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Row, Select

from ...domain import DomainError, Policy
from ...domain.segment_conditions import Definition
from ...domain.segment_eval import check_references
from ...domain.segments import parse_definition
from ...store import places as place_store
from ...store import profiles as profile_store
from ...store import projection
from ...store import segment_rows as rows
from ...store import segments as store
from ...store.db import read_transaction, write_transaction
from ...store.paging import Page
from ..accounts import settings as account_settings
from ..accounts.accounts import load_account
from ..activity.metrics import BUILTIN_BY_ID
from ..audiences import places
from ..profiles.views import ProfileView, profile_view
from ..shared.clock import utcnow
from ..shared.errors import Conflict, NotFound
from .lists import BadCursor, Cursor, _identifier_value, _key

_ALPHABET = string.ascii_letters + string.digits
MAX_NAME = 200
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class Segment:
    id: str
    name: str
    definition: dict[str, Any]  # Klaviyo's JSON, as saved
    created: datetime
    updated: datetime
    is_starred: bool
    is_active: bool
    profile_count: int | None = None


def _segment(row: Row, count: int | None = None) -> Segment:
    return Segment(
        row.id, row.name, _decode(row.definition), row.created_at, row.updated_at, bool(row.is_starred),
        bool(row.is_active), count,
    )  # fmt: skip


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("name", "a segment needs a name")
    if len(name) > MAX_NAME:
        raise DomainError("name", f"may be at most {MAX_NAME} characters long", f"{len(name)} characters")
    return name


def _definitions(conn: Connection, account_id: str, but: str | None = None) -> dict[str, Definition]:
    """The account's saved segments, parsed (each was checked when saved)."""
    return {r.id: parse_definition(_decode(r.definition)) for r in rows.all_segments(conn, account_id) if r.id != but}


def scope(conn: Connection, account_id: str, now: datetime | None = None) -> store.Scope:
    """What a definition of this account compiles against: now, the account's policy (with its
    jurisdiction packs and frequency caps, as decide() reads it), its saved segments, the built-in
    consent metrics and the zone lists of the kept places."""
    account = load_account(conn, account_id)
    return _scope(conn, account_id, account.policy, now or utcnow())


def _scope(conn: Connection, account_id: str, policy: Policy, now: datetime) -> store.Scope:
    policy = account_settings.decision_policy(conn, account_id, policy)
    return store.Scope(account_id, now, conn.dialect.name, policy, _definitions(conn, account_id), BUILTIN_BY_ID,
                       place_store.groups(conn))  # fmt: skip


def refresh_places(engine: Engine, account_id: str, segment_ids: Sequence[str] | None = None,
                   raw: Mapping[str, Any] | None = None) -> None:  # fmt: skip
    """Before segments are evaluated: work out the missing and stale places of the account's
    profiles when one of the segments (`segment_ids`, every saved one when None, or the definition
    `raw`) has an `assent-can-receive` the jurisdiction packs judge by where the profile is, as
    audiences do; otherwise nothing (the check reads no profile)."""
    with read_transaction(engine) as conn:
        sc = scope(conn, account_id)
        if raw is not None:
            wanted = [parse_definition(raw)]
        else:
            wanted = [d for i, d in sc.segments.items() if segment_ids is None or i in segment_ids]
        needed = any(store.needs_places(sc, d) for d in wanted)
    if needed:
        places.refresh(engine, account_id)


def _checked(conn: Connection, account_id: str, raw: object, own_id: str | None) -> tuple[Definition, str]:
    definition = parse_definition(raw)
    check_references(
        definition,
        lists=rows.list_ids(conn, account_id),
        segments=_definitions(conn, account_id, but=own_id),
        metrics=rows.metric_ids(conn, account_id) | BUILTIN_BY_ID.keys(),
        own_id=own_id,
    )
    return definition, _encode(raw).decode()


def _load(conn: Connection, account_id: str, segment_id: str) -> Row:
    row = rows.get_segment(conn, account_id, segment_id)
    if row is None:
        raise NotFound("segment", "no such segment in this account", segment_id)
    return row


# --- the plug for other queries ---------------------------------------------------------------


def membership(conn: Connection, account_id: str, segment_id: str, now: datetime | None = None) -> Select[tuple[str]]:
    """The ids of the segment's members (profiles of `account_id`), as a selectable, evaluated when
    the statement runs in `conn`'s transaction. NotFound for an unknown segment."""
    sc = scope(conn, account_id, now)
    definition = sc.segments.get(segment_id)
    if definition is None:
        _load(conn, account_id, segment_id)  # raises NotFound
        raise AssertionError("unreachable")
    return store.member_ids(sc, definition)


def definition_membership(
    conn: Connection, account_id: str, raw: Mapping[str, Any], now: datetime | None = None
) -> Select[tuple[str]]:
    """The same for a definition given as Klaviyo's JSON (checked; DomainError names what is wrong)."""
    definition, _ = _checked(conn, account_id, raw, None)
    return store.member_ids(scope(conn, account_id, now), definition)


# --- use cases --------------------------------------------------------------------------------


def create_segment(
    engine: Engine, account_id: str, name: str, definition: Mapping[str, Any], is_starred: bool = False
) -> Segment:
    name = _name(name)
    now = utcnow()
    segment_id = "".join(secrets.choice(_ALPHABET) for _ in range(6))  # six characters, as Klaviyo's
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        _, text = _checked(conn, account_id, definition, segment_id)
        rows.insert_segment(conn, account_id, segment_id, name, text, is_starred, now)
        return _segment(_load(conn, account_id, segment_id))


def get_segment(engine: Engine, account_id: str, segment_id: str, *, with_count: bool = False) -> Segment:
    if with_count:
        refresh_places(engine, account_id, [segment_id])
    with read_transaction(engine) as conn:
        sc = scope(conn, account_id)
        row = _load(conn, account_id, segment_id)
        count = store.count(conn, sc, sc.segments[segment_id]) if with_count else None
        return _segment(row, count)


def all_segments(engine: Engine, account_id: str, *, with_count: bool = False) -> list[Segment]:
    if with_count:
        refresh_places(engine, account_id)
    with read_transaction(engine) as conn:
        sc = scope(conn, account_id)
        return [
            _segment(r, store.count(conn, sc, sc.segments[r.id]) if with_count else None)
            for r in rows.all_segments(conn, account_id)
        ]


@dataclass(frozen=True, slots=True)
class SegmentPage:
    segments: list[Segment]
    page: Page[Any]


def find_segments(
    engine: Engine,
    account_id: str,
    conditions: Sequence[rows.Condition],
    *,
    sort: str,
    descending: bool,
    size: int,
    cursor: Cursor | None = None,
    with_count: bool = False,
) -> SegmentPage:
    column = rows.SEGMENT_SORT_COLUMNS[sort]
    columns = [column] if sort == "id" else [column, rows.SEGMENT_SORT_COLUMNS["id"]]
    cursor = cursor or Cursor()
    after, before = _key(columns, cursor.after), _key(columns, cursor.before)
    if with_count:
        refresh_places(engine, account_id)
    with read_transaction(engine) as conn:
        sc = scope(conn, account_id)
        page = rows.page_segments(
            conn, account_id, conditions, sort=sort, descending=descending, limit=size, after=after, before=before
        )
        found = [_segment(r, store.count(conn, sc, sc.segments[r.id]) if with_count else None) for r in page.rows]
        return SegmentPage(found, page)


def update_segment(
    engine: Engine,
    account_id: str,
    segment_id: str,
    *,
    name: str | None = None,
    definition: Mapping[str, Any] | None = None,
    is_starred: bool | None = None,
    is_active: bool | None = None,
) -> Segment:
    """Change what is given. `is_active` is kept for clients; membership is computed on read
    whether or not a segment is active."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _name(name)
    if is_starred is not None:
        values["is_starred"] = is_starred
    if is_active is not None:
        values["is_active"] = is_active
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        _load(conn, account_id, segment_id)
        if definition is not None:
            values["definition"] = _checked(conn, account_id, definition, segment_id)[1]
        if values:
            rows.update_segment(conn, account_id, segment_id, {**values, "updated_at": utcnow()})
        return _segment(_load(conn, account_id, segment_id))


def delete_segment(engine: Engine, account_id: str, segment_id: str) -> None:
    """Delete a segment no other segment names (Conflict names the one that does)."""
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        _load(conn, account_id, segment_id)
        for other_id, other in _definitions(conn, account_id, but=segment_id).items():
            named = any(segment_id in getattr(c, "group_ids", ()) for _, c in other.conditions())
            if named:
                raise Conflict("id", f"segment {other_id} names this segment in its definition", segment_id)
        rows.delete_segment(conn, account_id, segment_id)


def count(engine: Engine, account_id: str, segment_id: str) -> int:
    refresh_places(engine, account_id, [segment_id])
    with read_transaction(engine) as conn:
        sc = scope(conn, account_id)
        _load(conn, account_id, segment_id)
        return store.count(conn, sc, sc.segments[segment_id])


def count_definition(engine: Engine, account_id: str, raw: Mapping[str, Any]) -> int:
    refresh_places(engine, account_id, raw=raw)
    with read_transaction(engine) as conn:
        definition, _ = _checked(conn, account_id, raw, None)
        return store.count(conn, scope(conn, account_id), definition)


@dataclass(frozen=True, slots=True)
class MemberPage:
    """A page of members. Membership is computed on read, so the moment a profile joined is not
    kept: `joined_at` is the later of the profile's creation and the segment's last change."""

    profiles: list[ProfileView]  # empty for an ids-only page
    ids: list[str]
    policy: Policy
    now: datetime
    page: Page[Any]


def members(
    engine: Engine,
    account_id: str,
    segment_id: str,
    conditions: Sequence[tuple[str, str, Any]],
    *,
    descending: bool,
    size: int,
    cursor: Cursor | None = None,
    full: bool = True,
    with_states: bool = False,
) -> MemberPage:
    cursor = cursor or Cursor()
    key_columns = [store.MEMBER_FILTER_COLUMNS["profile_id"]]
    after, before = _key(key_columns, cursor.after), _key(key_columns, cursor.before)
    refresh_places(engine, account_id, [segment_id])
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        sc = _scope(conn, account_id, account.policy, utcnow())
        row = _load(conn, account_id, segment_id)
        conditions = [(op, f, _identifier_value(f, v, account.default_region)) for op, f, v in conditions]
        page = store.page_members(
            conn, sc, sc.segments[segment_id], conditions, descending=descending, limit=size, after=after,
            before=before, full=full,
        )  # fmt: skip
        states = None
        if with_states and full:
            states = projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in page.rows})
        views = []
        if full:
            for r in page.rows:
                state = states[r.id] if states is not None else None
                views.append(profile_view(r, state, joined_at=max(r.created_at, row.updated_at)))
        return MemberPage(views, [r.id for r in page.rows], account.policy, sc.now, page)


def profile_segments(engine: Engine, account_id: str, profile_id: str) -> list[Segment]:
    """The segments a profile is in now, oldest segment first."""
    refresh_places(engine, account_id)
    with read_transaction(engine) as conn:
        sc = scope(conn, account_id)
        if profile_store.get(conn, account_id, profile_id) is None:
            raise NotFound("profile", "no profile in this account has this id", profile_id)
        return [
            _segment(r)
            for r in rows.all_segments(conn, account_id)
            if store.is_member(conn, sc, sc.segments[r.id], profile_id)
        ]


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    email: str | None
    phone_number: str | None
    first_name: str | None
    last_name: str | None


def export_members(engine: Engine, account_id: str, segment_id: str, batch: int = 5000) -> Iterator[list[Member]]:
    """The segment's members in batches, each read in its own short transaction (keyset by id), so
    a long export neither holds them all nor keeps one snapshot open."""
    with read_transaction(engine) as conn:
        _load(conn, account_id, segment_id)
    refresh_places(engine, account_id, [segment_id])
    last: str | None = None
    while True:
        with read_transaction(engine) as conn:
            sc = scope(conn, account_id)
            definition = sc.segments.get(segment_id)
            if definition is None:
                return  # deleted while exporting
            found = next(store.stream_members(conn, sc, definition, batch, after=last), [])
        if not found:
            return
        yield [Member(r.id, r.email, r.phone_number, r.first_name, r.last_name) for r in found]
        last = found[-1].id


__all__ = ["BadCursor", "Cursor", "Segment", "create_segment", "membership"]
