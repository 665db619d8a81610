"""Reading profiles: a profile with its state (now or at a point in time), the consent timeline,
and send decisions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row

from ...config import settings
from ...domain import (
    Channel,
    ConsentEvent,
    Decision,
    EventType,
    Policy,
    ProfileState,
    Purpose,
    Reason,
    Send,
    Verdict,
    Via,
    decide,
    replay,
)
from ...domain.jurisdictions import locate
from ...domain.push_tokens import ACTIVE
from ...store import ledger, projection, push_tokens
from ...store import profiles as profile_store
from ...store.db import read_transaction
from ..accounts import settings as account_settings
from ..accounts.accounts import Account, load_account
from ..activity.sends import recent_sends
from ..shared.clock import utcnow
from ..shared.errors import NotFound
from .locator import Locator, find_profile
from .views import ProfileView, profile_view


def public_url() -> str:
    """The base of links in emails and pages (see config.Settings.link_base)."""
    return settings().link_base


def state_as_of(conn: Connection, account_id: str, row: Row, at: datetime) -> ProfileState:
    """The profile's state at `at`, replayed from the ledger, with the identifiers it had then."""
    before: list[ConsentEvent] = []
    email, phone = row.email, row.phone_number
    later_changes: dict[str, str] = {}
    for stored in ledger.events(conn, account_id, profile_id=row.id):
        e = stored.event
        if e.occurred_at <= at:
            before.append(e)
        elif (
            e.type is EventType.IDENTIFIER_CHANGED
            and e.identifier is not None
            and e.identifier not in later_changes
            and "old" in e.personal
        ):
            later_changes[e.identifier] = e.personal["old"]
    # The first change after `at` says what the identifier was at `at`.
    email = later_changes.get("email", email) or None
    phone = later_changes.get("phone_number", phone) or None
    state = replay(before, ProfileState())
    # Devices are not historised (the push consent they caused is): the ones registered now count.
    devices = push_tokens.active_counts(conn, account_id, [row.id], ACTIVE).get(row.id, 0)
    return replace(state, email=email, phone_number=phone, push_tokens=devices)


def current_state(conn: Connection, account_id: str, row: Row) -> ProfileState:
    return projection.load(conn, account_id, {row.id: (row.email, row.phone_number)})[row.id]


def get_profile(engine: Engine, account_id: str, locator: Locator, as_of: datetime | None = None) -> ProfileView:
    """The profile with its consent state now, or as of `as_of`."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = find_profile(conn, account, locator)
        state = current_state(conn, account_id, row) if as_of is None else state_as_of(conn, account_id, row, as_of)
        return profile_view(row, state)


def event_record(seq: int, e: ConsentEvent) -> dict[str, Any]:
    return {
        "seq": seq,
        "occurred_at": e.occurred_at.isoformat(),
        "type": e.type.value,
        "metric": e.metric,
        **e.payload(),
        "personal": dict(e.personal),
    }


def timeline(engine: Engine, account_id: str, locator: Locator) -> tuple[str, list[dict[str, Any]]]:
    """The consent events of one profile, oldest first."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = find_profile(conn, account, locator)
        return row.id, [event_record(s.seq, s.event) for s in ledger.events(conn, account_id, profile_id=row.id)]


@dataclass(frozen=True, slots=True)
class ProfileDecision:
    profile_id: str | None  # None: no profile of the account has the identifier (UNKNOWN_PROFILE)
    send: Send
    decision: Decision


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    locator: Locator
    channel: Channel
    purpose: Purpose = Purpose.MARKETING
    via: Via = Via.CAMPAIGN
    list_id: str | None = None
    at: datetime | None = None


def _decide(
    conn: Connection, account: Account, policy: Policy, request: DecisionRequest, now: datetime
) -> ProfileDecision:
    row = find_profile(conn, account, request.locator)
    at = request.at
    state = current_state(conn, account.id, row) if at is None or at >= now else state_as_of(conn, account.id, row, at)
    when = at or now
    caps = [c for c in policy.frequency_caps if c.channel is request.channel and c.purpose is request.purpose]
    recent = (
        recent_sends(conn, account.id, row.id, request.channel, request.purpose, when, max(c.window for c in caps))
        if caps
        else ()
    )
    where = locate(row.country, row.region, row.timezone, state.phone_number)
    send = Send(request.channel, when, request.purpose, via=request.via, list_id=request.list_id, policy=policy,
                recipient=where, recent_sends=recent)  # fmt: skip
    return ProfileDecision(row.id, send, decide(state, send))


_UNKNOWN = Decision(Verdict.DENY, (Reason.UNKNOWN_PROFILE.value,))


def _decide_known(
    conn: Connection, account: Account, policy: Policy, request: DecisionRequest, now: datetime
) -> ProfileDecision:
    try:
        return _decide(conn, account, policy, request, now)
    except NotFound:
        send = Send(request.channel, request.at or now, request.purpose, via=request.via, list_id=request.list_id,
                    policy=policy)  # fmt: skip
        return ProfileDecision(None, send, _UNKNOWN)


def decide_many(
    engine: Engine, account_id: str, requests: list[DecisionRequest], *, unknown_denied: bool = False
) -> list[ProfileDecision]:
    """Several decisions on one snapshot of the account (one read transaction), under the
    account's policy, jurisdiction packs and frequency caps. A request naming no profile of the
    account raises NotFound; with `unknown_denied` it is answered DENY UNKNOWN_PROFILE instead, so
    that one unknown identifier in a batch leaves the others answered."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        policy = account_settings.decision_policy(conn, account.id, account.policy)
        now = utcnow()
        one = _decide_known if unknown_denied else _decide
        return [one(conn, account, policy, r, now) for r in requests]


def decide_for(
    engine: Engine,
    account_id: str,
    locator: Locator,
    channel: Channel,
    purpose: Purpose = Purpose.MARKETING,
    *,
    via: Via = Via.CAMPAIGN,
    list_id: str | None = None,
    at: datetime | None = None,
) -> ProfileDecision:
    """May this profile get this message at `at` (default now)? A past `at` is judged on the
    state the ledger had then."""
    return decide_many(engine, account_id, [DecisionRequest(locator, channel, purpose, via, list_id, at)])[0]


@dataclass(frozen=True, slots=True)
class EmailDuplicate:
    """Profiles of one account whose addresses are one address once canonical (lowercased)."""

    account_id: str
    email: str
    profile_ids: list[str]


def email_duplicates(engine: Engine, account_id: str) -> list[EmailDuplicate]:
    """The account's colliding addresses; reads only, and works on a database whose upgrade to
    canonical emails refused (so that the collisions can be found and resolved)."""
    with read_transaction(engine) as conn:
        load_account(conn, account_id)
        return [EmailDuplicate(*c) for c in profile_store.email_collisions(conn, account_id)]
