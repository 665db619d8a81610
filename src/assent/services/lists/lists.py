"""Lists: named sets of profiles with a single or double opt-in process.

Membership is part of the consent projection, so every change of it (adding, removing, deleting
the list) goes through the ledger; membership is not consent, and none of these touch consent."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql.elements import ColumnElement

from ...domain import ConsentEvent, DomainError, OptInProcess, Policy, ProfileState, Proof, replay
from ...domain import transitions as t
from ...domain.events import NO_PROOF
from ...domain.identity import normalize_email, normalize_phone
from ...store import lists as store
from ...store import paging, projection
from ...store import profiles as profile_store
from ...store.db import read_transaction, write_transaction
from ..accounts.accounts import load_account
from ..profiles.views import ProfileView, profile_view
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from ..shared.paging import Position, position
from ..shared.recorder import Recorded, Recorder, recording
from .lookup import MailingList as MailingList
from .lookup import load_list as load_list
from .lookup import mailing_list

_ALPHABET = string.ascii_letters + string.digits
MAX_NAME = 200  # the width of lists.name
MAX_MEMBERS_PER_CALL = 1000  # Klaviyo's limit on one add/remove request


class ProfilesNotFound(NotFound):
    """Profile ids in a membership request that are not in the account (all of them, in order)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__("profile", "no profile in this account has this id", ids[0])
        self.ids = ids


class BadCursor(ValueError):
    """A page cursor that does not fit the requested sort (forged, or from another endpoint)."""


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("name", "a list needs a name")
    if len(name) > MAX_NAME:
        raise DomainError("name", f"may be at most {MAX_NAME} characters long", f"{len(name)} characters")
    return name


def create_list(
    engine: Engine, account_id: str, name: str, double_opt_in: bool = False, public: bool = False
) -> MailingList:
    name = _name(name)
    process = OptInProcess.DOUBLE if double_opt_in else OptInProcess.SINGLE
    now = utcnow()
    # Six characters, like Klaviyo's list ids.
    list_id = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        store.insert_list(conn, account_id, list_id, name, process.value, now, public)
    return MailingList(list_id, name, process, now, now, 0, public)


def all_lists(engine: Engine, account_id: str) -> list[MailingList]:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [mailing_list(r, r.profile_count) for r in store.all_lists(conn, account_id)]


def get_list(engine: Engine, account_id: str, list_id: str, *, with_count: bool = False) -> MailingList:
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        found = load_list(conn, account_id, list_id)
        if with_count:
            found = MailingList(
                found.id, found.name, found.opt_in_process, found.created, found.updated,
                store.member_count(conn, account_id, list_id),
            )  # fmt: skip
        return found


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: after one sort key or before one (the key as the cursor carried it)."""

    after: Sequence[Any] | None = None
    before: Sequence[Any] | None = None


def _key(columns: Sequence[ColumnElement], values: Sequence[Any] | None) -> tuple | None:
    """A cursor's key checked against the sort's columns, so a cursor made for another sort or
    endpoint is refused rather than compared against the wrong column."""
    if values is None:
        return None
    if len(values) != len(columns):
        raise BadCursor("the cursor was made for another sort")
    out: list[Any] = []
    for column, value in zip(columns, values, strict=True):
        if not isinstance(value, str):
            raise BadCursor("the cursor's key is not one this server writes")
        if paging.holds_time(column):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise BadCursor("the cursor's key is not one this server writes") from None
            if moment.tzinfo is None:
                raise BadCursor("the cursor's key is not one this server writes")
            out.append(moment)
        else:
            out.append(value)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ListPage:
    lists: list[MailingList]
    page: Position


def find_lists(
    engine: Engine,
    account_id: str,
    conditions: Sequence[store.Condition],
    *,
    sort: str,
    descending: bool,
    size: int,
    cursor: Cursor | None = None,
    with_count: bool = False,
) -> ListPage:
    """One page of the account's lists, filtered and sorted."""
    cursor = cursor or Cursor()
    columns = store.list_columns(sort)
    after, before = _key(columns, cursor.after), _key(columns, cursor.before)
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        page = store.page_lists(
            conn, account_id, conditions, sort=sort, descending=descending, limit=size,
            after=after, before=before, with_count=with_count,
        )  # fmt: skip
    return ListPage([mailing_list(r, r.profile_count if with_count else None) for r in page.rows], position(page))


def update_list(
    engine: Engine,
    account_id: str,
    list_id: str,
    *,
    name: str | None = None,
    opt_in_process: OptInProcess | None = None,
) -> MailingList:
    """Rename a list or change its opt-in process; what is not given stays. Changing the process
    applies to later subscriptions: pending double opt-ins stay pending."""
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _name(name)
    if opt_in_process is not None:
        values["opt_in_process"] = opt_in_process.value
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        load_list(conn, account_id, list_id)
        if values:
            store.update_list(conn, account_id, list_id, {**values, "updated_at": utcnow()})
        return load_list(conn, account_id, list_id)


# What a membership command does to one profile's state.
MembershipStep = Callable[[ProfileState, datetime], list[ConsentEvent]]


def _apply_to_profiles(recorder: Recorder, ids: Iterable[str], step: MembershipStep, now: datetime) -> int:
    """Run `step` on each profile's stored state, then write the ledger and the projection, set-based;
    raises ProfilesNotFound (and writes nothing) if any id is not a profile of the account."""
    conn, account_id = recorder.conn, recorder.account_id
    ids = list(dict.fromkeys(ids))
    rows = {r.id: r for r in profile_store.get_many(conn, account_id, ids)}
    missing = [pid for pid in ids if pid not in rows]
    if missing:
        raise ProfilesNotFound(missing)
    states = projection.load(conn, account_id, {pid: (r.email, r.phone_number) for pid, r in rows.items()})
    changed = []
    for pid in ids:
        events = step(states[pid], now)
        if events:
            changed.append(Recorded(pid, replay(events, states[pid]), events))
    return recorder.record(changed)


def _change_members(
    engine: Engine, account_id: str, list_id: str, profile_ids: Sequence[str], step: MembershipStep
) -> int:
    if len(profile_ids) > MAX_MEMBERS_PER_CALL:
        raise DomainError("data", f"name at most {MAX_MEMBERS_PER_CALL} profiles per request", len(profile_ids))
    now = utcnow()
    with recording(engine, account_id) as recorder:
        load_account(recorder.conn, account_id)
        load_list(recorder.conn, account_id, list_id)
        return _apply_to_profiles(recorder, profile_ids, step, now)


def add_members(
    engine: Engine, account_id: str, list_id: str, profile_ids: Sequence[str], *, proof: Proof = NO_PROOF
) -> int:
    """Make profiles members of a list without changing their consent; returns the ledger events
    written (0 when all were members already)."""
    return _change_members(
        engine, account_id, list_id, profile_ids, lambda state, now: t.add_to_list(state, list_id, now=now, proof=proof)
    )


def remove_members(
    engine: Engine, account_id: str, list_id: str, profile_ids: Sequence[str], *, proof: Proof = NO_PROOF
) -> int:
    """End profiles' membership of a list without changing consent or suppressing them from it;
    profiles that are not members are left alone."""
    return _change_members(
        engine,
        account_id,
        list_id,
        profile_ids,
        lambda state, now: t.remove_from_list(state, list_id, now=now, proof=proof),
    )


def delete_list(engine: Engine, account_id: str, list_id: str, *, proof: Proof = NO_PROOF) -> int:
    """Delete a list: every member leaves it through the ledger and double opt-ins waiting on it
    are cancelled (nothing could confirm them any more), then the list row goes. List
    suppressions stay, as the record of who asked not to get it. Returns the ledger events written."""

    def step(state: ProfileState, now: datetime) -> list[ConsentEvent]:
        events = t.remove_from_list(state, list_id, now=now, proof=proof, outcome="list_deleted")
        state = replay(events, state)
        for channel, purpose, pending_list in list(state.pending):
            if pending_list == list_id:
                closed = t.cancel_double_optin(state, channel, purpose, list_id, now=now, proof=proof)
                events += closed
                state = replay(closed, state)
        return events

    now = utcnow()
    with recording(engine, account_id) as recorder:
        conn = recorder.conn
        load_account(conn, account_id)
        load_list(conn, account_id, list_id)
        ids = store.member_ids(conn, account_id, list_id) + store.pending_ids(conn, account_id, list_id)
        written = _apply_to_profiles(recorder, ids, step, now)
        store.delete_list(conn, account_id, list_id)
        return written


@dataclass(frozen=True, slots=True)
class MemberPage:
    profiles: list[ProfileView]  # with when they joined, and their state when it was asked for (a full page)
    ids: list[str]  # the members' ids (an ids-only page has only these)
    policy: Policy
    now: datetime
    page: Position


def _identifier_value(field: str, value: Any, region: str) -> Any:
    """Filter values for email and phone compared as stored (normalised); a value that is no valid
    address simply matches nothing."""
    if isinstance(value, list):
        return [_identifier_value(field, v, region) for v in value]
    try:
        if field == "email":
            return normalize_email(value)
        if field == "phone_number":
            return normalize_phone(value, region)
    except DomainError:
        return value
    return value


def members(
    engine: Engine,
    account_id: str,
    list_id: str,
    conditions: Sequence[store.Condition],
    *,
    descending: bool,
    size: int,
    cursor: Cursor | None = None,
    full: bool = True,
    with_states: bool = False,
) -> MemberPage:
    """One page of a list's members, by when they joined."""
    cursor = cursor or Cursor()
    after, before = _key(store.MEMBER_COLUMNS, cursor.after), _key(store.MEMBER_COLUMNS, cursor.before)
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        load_list(conn, account_id, list_id)
        conditions = [(op, f, _identifier_value(f, v, account.default_region)) for op, f, v in conditions]
        page = store.page_members(
            conn, account_id, list_id, conditions, descending=descending, limit=size,
            after=after, before=before, full=full,
        )  # fmt: skip
        states = {}
        if with_states and full and page.rows:
            states = projection.load(conn, account_id, {r.id: (r.email, r.phone_number) for r in page.rows})
        profiles = [profile_view(r, states.get(r.id), joined_at=r.joined_at) for r in page.rows] if full else []
        return MemberPage(profiles, [r.id for r in page.rows], account.policy, utcnow(), position(page))


def profile_lists(engine: Engine, account_id: str, profile_id: str) -> list[MailingList]:
    """The lists a profile is a member of."""
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        if profile_store.get(conn, account_id, profile_id) is None:
            raise NotFound("profile", "no profile in this account has this id", profile_id)
        return [mailing_list(r) for r in store.lists_of_profile(conn, account_id, profile_id)]


def set_public(engine: Engine, account_id: str, list_id: str, public: bool = True) -> None:
    """Show a list in the preference centre (or stop showing it)."""
    with write_transaction(engine) as conn:
        load_account(conn, account_id)
        if not store.set_public(conn, account_id, list_id, public):
            raise NotFound("list", "no such list in this account", list_id)
