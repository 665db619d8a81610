"""Creating and editing one profile through the API: create (409 on a taken identifier), update by
id, and create-or-update. Profile edits never grant or withdraw consent; a changed email or phone
number has the consent consequences the domain gives it, recorded in the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, Row

from ...domain import DomainError, InvalidIdentifier, Proof, replay
from ...domain import transitions as t
from ...domain.events import NO_PROOF
from ...domain.identity import check_external_id, normalize_email, normalize_phone
from ...domain.profile import PROFILE_FIELDS, check_coordinates, check_lengths
from ...store import profiles as profile_store
from ...store import projection
from ..accounts.accounts import Account, load_account
from ..privacy.tombstones import Tombstones
from ..shared.clock import utcnow
from ..shared.errors import Conflict, IdentityConflict, NotFound
from ..shared.ids import new_id
from ..shared.recorder import Recorded, Recorder, recording
from .views import ProfileView, profile_view

IDENTIFIERS = ("email", "phone_number", "external_id")
_encode_json = msgspec.json.Encoder().encode


class DuplicateProfile(Conflict):
    code = "duplicate_profile"

    def __init__(self, profile_id: str, identifier: str) -> None:
        super().__init__("data", "A profile already exists with one of these identifiers.")
        self.profile_id = profile_id
        self.identifier = identifier  # the field whose value the other profile holds


@dataclass(slots=True)
class ProfileInput:
    """What a request says of a profile. `values` holds only the fields it names: None clears one."""

    values: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] | None = None  # merged into the stored ones
    append: dict[str, Any] = field(default_factory=dict)  # meta.patch_properties
    unappend: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Written:
    row: ProfileView  # the profile as written
    created: bool
    dropped: tuple[str, ...]  # fields left out because they were invalid (Klaviyo's partial failure)


def _normalized(account: Account, values: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    out = dict(values)
    dropped: list[str] = []
    unknown = sorted(set(out) - set(PROFILE_FIELDS))
    if unknown:
        raise DomainError(unknown[0], "is not a profile field")
    if out.get("email") is not None:
        out["email"] = normalize_email(out["email"])
    if out.get("phone_number") is not None:
        try:
            out["phone_number"] = normalize_phone(out["phone_number"], account.default_region)
        except InvalidIdentifier:
            # As Klaviyo does: a bad number beside another identifier is dropped, not fatal.
            if out.get("email") is None and out.get("external_id") is None:
                raise
            del out["phone_number"]
            dropped.append("phone_number")
    for name, value in out.items():
        if isinstance(value, str):
            value = value.strip()
            if "\x00" in value:
                raise DomainError(name, "contains a NUL character")
            out[name] = value or None
    if out.get("external_id") is not None:
        out["external_id"] = check_external_id(out["external_id"])
    check_lengths(out, location="location.")  # as imports and jobs check; named as the API body has them
    check_coordinates(out, "location.")  # degrees in range, as imports check; named as the API body has them
    return out, tuple(dropped)


def _properties(stored: dict[str, Any], inp: ProfileInput) -> dict[str, Any]:
    props = dict(stored)
    if inp.properties:
        props.update(inp.properties)
    for key, value in inp.append.items():
        current = props.get(key)
        items = list(current) if isinstance(current, list) else ([] if current is None else [current])
        items += value if isinstance(value, list) else [value]
        props[key] = items
    for key, value in inp.unappend.items():
        if isinstance(props.get(key), list):
            drop = value if isinstance(value, list) else [value]
            props[key] = [v for v in props[key] if v not in drop]
    for key in inp.unset:
        props.pop(key, None)
    return props


def _duplicate(
    conn: Connection, account_id: str, values: dict[str, Any], own_id: str | None
) -> DuplicateProfile | None:
    for name in IDENTIFIERS:
        if values.get(name) is not None:
            row = profile_store.find(conn, account_id, name, values[name])
            if row is not None and row.id != own_id:
                return DuplicateProfile(row.id, name)
    return None


def _refuse_erased(conn: Connection, account_id: str, values: dict[str, Any], own: dict[str, Any]) -> None:
    """Creating or editing a profile is no new consent: an erased person's identifier is refused."""
    added = [(f, v) for f in IDENTIFIERS if (v := values.get(f)) is not None and v != own.get(f)]
    Tombstones(conn, account_id, added).check(added, new_consent=False)


def _create(conn: Connection, account: Account, inp: ProfileInput, values: dict[str, Any], now: datetime) -> Row:
    if all(values.get(name) is None for name in IDENTIFIERS):
        raise DomainError("email", "a profile needs an email, a phone_number or an external_id")
    duplicate = _duplicate(conn, account.id, values, None)
    if duplicate is not None:
        raise duplicate
    _refuse_erased(conn, account.id, values, {})
    profile_id = new_id()
    row = {f: values.get(f) for f in PROFILE_FIELDS}
    row.update(
        account_id=account.id,
        id=profile_id,
        properties=_encode_json(_properties({}, inp)).decode(),
        created_at=now,
        updated_at=now,
    )
    profile_store.insert_one(conn, row)
    return profile_store.reload(conn, account.id, profile_id)


def _update(
    recorder: Recorder,
    account: Account,
    row: Row,
    inp: ProfileInput,
    values: dict[str, Any],
    now: datetime,
    proof: Proof = NO_PROOF,
    method: str | None = None,
) -> Row:
    conn = recorder.conn
    merged = {f: getattr(row, f) for f in PROFILE_FIELDS} | values
    if all(merged.get(name) is None for name in IDENTIFIERS):
        raise DomainError("email", "a profile keeps at least one of email, phone_number and external_id")
    duplicate = _duplicate(conn, account.id, values, row.id)
    if duplicate is not None:
        raise duplicate
    _refuse_erased(conn, account.id, values, {f: getattr(row, f) for f in IDENTIFIERS})
    props = _properties(msgspec.json.decode(row.properties or "{}"), inp)
    changes = {f: v for f, v in merged.items() if v != getattr(row, f)}
    if props != msgspec.json.decode(row.properties or "{}"):
        changes["properties"] = _encode_json(props).decode()
    if not changes:
        return row
    if "email" in changes or "phone_number" in changes:
        state = projection.load(conn, account.id, {row.id: (row.email, row.phone_number)})[row.id]
        events = []
        for change, name in ((t.change_email, "email"), (t.change_phone_number, "phone_number")):
            if name in changes:
                evs = change(state, changes[name], now=now, proof=proof)
                if method is not None:  # who changed it, for a change made by hand (the console's STAFF)
                    evs = [e if e.method else dc_replace(e, method=method) for e in evs]
                events += evs
                state = replay(evs, state).evolve(**{name: changes[name]})
        if events:
            recorder.record([Recorded(row.id, state, events)])
    profile_store.set_fields(conn, account.id, row.id, {**changes, "updated_at": now})
    return profile_store.reload(conn, account.id, row.id)


def create_profile(engine: Engine, account_id: str, inp: ProfileInput) -> Written:
    # The account's write lock, though nothing goes to the ledger: without it two creates of one
    # identifier both pass the duplicate check and the second fails on the unique index.
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        account = load_account(conn, account_id)
        values, dropped = _normalized(account, inp.values)
        return Written(profile_view(_create(conn, account, inp, values, utcnow())), True, dropped)


def update_profile(
    engine: Engine,
    account_id: str,
    profile_id: str,
    inp: ProfileInput,
    *,
    proof: Proof = NO_PROOF,
    method: str | None = None,
) -> Written:
    """Edit a profile by id; an identifier change is recorded with `proof` (and `method`, when given)."""
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        account = load_account(conn, account_id)
        values, dropped = _normalized(account, inp.values)
        row = profile_store.get(conn, account_id, profile_id)
        if row is None:
            raise NotFound("id", "no profile in this account has this id", profile_id)
        return Written(profile_view(_update(recorder, account, row, inp, values, utcnow(), proof, method)), False,
                       dropped)  # fmt: skip


def upsert_profile(engine: Engine, account_id: str, profile_id: str | None, inp: ProfileInput) -> Written:
    """Klaviyo's create-or-update: by id when given, else by the first identifier that matches."""
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        account = load_account(conn, account_id)
        values, dropped = _normalized(account, inp.values)
        now = utcnow()
        if profile_id is not None:
            row = profile_store.get(conn, account_id, profile_id)
            if row is None:
                raise NotFound("id", "no profile in this account has this id", profile_id)
            return Written(profile_view(_update(recorder, account, row, inp, values, now)), False, dropped)
        row = _matching(conn, account_id, values)
        if row is not None:
            return Written(profile_view(_update(recorder, account, row, inp, values, now)), False, dropped)
        return Written(profile_view(_create(conn, account, inp, values, now)), True, dropped)


def _matching(conn: Connection, account_id: str, values: dict[str, Any]) -> Row | None:
    """The one profile the identifiers name, or None. Without an id, identifiers never re-key a
    profile: naming two profiles, or a profile whose own value of another identifier differs,
    is an IdentityConflict."""
    found: dict[str, tuple[Row, tuple[str, str]]] = {}
    for name in IDENTIFIERS:
        if values.get(name) is not None:
            row = profile_store.find(conn, account_id, name, values[name])
            if row is not None:
                found.setdefault(row.id, (row, (name, values[name])))
    if len(found) > 1:
        (_, first), (_, second) = list(found.values())[:2]
        raise IdentityConflict.two_profiles(first, second)
    if not found:
        return None
    row, by = next(iter(found.values()))
    for name in IDENTIFIERS:
        given, own = values.get(name), getattr(row, name)
        if given is not None and own is not None and given != own:
            raise IdentityConflict.other_identifier(by, (name, given))
    return row
