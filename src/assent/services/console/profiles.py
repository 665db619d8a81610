"""What the staff console shows of profiles: search results, and one profile's consent panel,
identifiers, properties, lists, pending opt-ins and ledger timeline, now or as of a past instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine

from ...domain import ALL_CHANNEL_PURPOSES, Channel, ConsentStatus, DomainError, Purpose
from ...domain.decisions import receive_flags
from ...domain.identity import normalize_phone
from ...store import ledger, profile_search
from ...store.db import read_transaction
from ..accounts.accounts import load_account
from ..lists import segments
from ..profiles.locator import Locator, find_profile
from ..profiles.reading import current_state, state_as_of

PAGE_SIZE = 25
TIMELINE_LIMIT = 500  # newest events shown on the page; the CLI and API give every one


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    id: str
    email: str | None
    phone_number: str | None
    external_id: str | None
    name: str
    created: datetime


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    page: int
    items: list[ProfileSummary]
    has_more: bool


@dataclass(frozen=True, slots=True)
class ConsentRow:
    """One channel and purpose in the consent panel."""

    channel: Channel
    purpose: Purpose
    status: ConsentStatus
    can_receive: bool
    consent_timestamp: datetime | None
    last_updated: datetime | None
    method: str | None
    method_detail: str | None
    custom_method_detail: str | None
    double_optin: bool | None
    address: str | None  # where this channel reaches the person (email, phone number)
    pending: list[PendingRow]

    @property
    def key(self) -> str:
        return f"{self.channel.value}-{self.purpose.value}"


@dataclass(frozen=True, slots=True)
class PendingRow:
    channel: Channel
    purpose: Purpose
    list_id: str | None
    list_name: str | None
    requested_at: datetime
    method: str | None


@dataclass(frozen=True, slots=True)
class Suppression:
    reason: str
    since: datetime
    list_id: str | None = None
    list_name: str | None = None


@dataclass(frozen=True, slots=True)
class Membership:
    list_id: str
    name: str
    joined: datetime


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    seq: int
    occurred_at: datetime
    title: str  # the Klaviyo metric name, or the event type
    type: str
    channel: str | None
    purpose: str | None
    status: str | None
    reason: str | None
    method: str | None
    method_detail: str | None
    custom_method_detail: str | None
    list_name: str | None
    outcome: str | None
    actor: str | None
    source: str | None
    note: str | None
    proof: dict[str, str]  # consent text version, message id, IP, user agent, address...

    @property
    def how(self) -> list[str]:
        """Who or what made the change, how, and why, in a few words each."""
        parts = [f"by {self.actor}" if self.actor else f"from {self.source}" if self.source else ""]
        if self.method:
            parts.append(self.method + (f" ({self.method_detail})" if self.method_detail else ""))
        parts += [self.reason or "", self.outcome or ""]
        return [p for p in parts if p]


@dataclass(frozen=True, slots=True)
class ProfileView:
    id: str
    email: str | None
    phone_number: str | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    created: datetime
    properties: dict[str, Any]
    location: dict[str, Any]
    as_of: datetime | None
    consents: list[ConsentRow]
    suppressions: list[Suppression]
    list_suppressions: list[Suppression]
    lists: list[Membership]
    segments: list[tuple[str, str]]  # (id, name) of the segments it is in now; empty for a past instant
    pending: list[PendingRow]
    timeline: list[TimelineEntry]
    events_total: int

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or ""

    @property
    def title(self) -> str:
        return self.name or self.email or self.phone_number or self.external_id or self.id


def _name(row: Any) -> str:
    return " ".join(p for p in (row.first_name, row.last_name) if p)


def search(engine: Engine, account_id: str, query: str, page: int = 1, size: int = PAGE_SIZE) -> SearchPage:
    """Profiles matching `query` (see store.profile_search), one page; page numbers start at 1."""
    query = (query or "").strip()[:320]
    page = max(1, min(page, 10_000))
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        try:
            phone = normalize_phone(query, account.default_region) if any(c.isdigit() for c in query) else None
        except DomainError:
            phone = None
        rows, more = profile_search.search(conn, account_id, query, phone=phone, limit=size, offset=(page - 1) * size)
    items = [ProfileSummary(r.id, r.email, r.phone_number, r.external_id, _name(r), r.created_at) for r in rows]
    return SearchPage(query, page, items, more)


_ADDRESS = {Channel.EMAIL: "email", Channel.SMS: "phone_number", Channel.WHATSAPP: "phone_number"}


def profile(engine: Engine, account_id: str, profile_id: str, as_of: datetime | None = None) -> ProfileView:
    """One profile as the console shows it; `as_of` replays the ledger up to that instant."""
    with read_transaction(engine) as conn:
        account = load_account(conn, account_id)
        row = find_profile(conn, account, Locator("id", profile_id))
        state = current_state(conn, account_id, row) if as_of is None else state_as_of(conn, account_id, row, as_of)
        names = profile_search.list_names(conn, account_id)
        stored = [s for s in ledger.events(conn, account_id, profile_id=row.id)]
    flags = receive_flags(state)
    pending = [
        PendingRow(ch, pu, lid or None, names.get(lid) if lid else None, p.requested_at, p.method)
        for (ch, pu, lid), p in sorted(state.pending.items(), key=lambda kv: kv[1].requested_at)
    ]
    consents = []
    for channel, purpose in ALL_CHANNEL_PURPOSES:
        c = state.consent(channel, purpose)
        field = _ADDRESS.get(channel)
        consents.append(
            ConsentRow(
                channel, purpose, c.status, flags[(channel, purpose)], c.consent_timestamp, c.last_updated, c.method,
                c.method_detail, c.custom_method_detail, c.double_optin, getattr(state, field) if field else None,
                [p for p in pending if p.channel is channel and p.purpose is purpose],
            )
        )  # fmt: skip
    if as_of is not None:
        stored = [s for s in stored if s.event.occurred_at <= as_of]
    timeline = [_entry(s.seq, s.event, names) for s in reversed(stored[-TIMELINE_LIMIT:])]
    return ProfileView(
        id=row.id,
        email=state.email,
        phone_number=state.phone_number,
        external_id=row.external_id,
        first_name=row.first_name,
        last_name=row.last_name,
        created=row.created_at,
        properties=msgspec.json.decode(row.properties or "{}"),
        location={k: getattr(row, k) for k in ("city", "region", "country", "zip", "timezone") if getattr(row, k)},
        as_of=as_of,
        consents=consents,
        suppressions=[Suppression(r.value, at) for r, at in sorted(state.suppressions.items())],
        list_suppressions=[
            Suppression(s.reason, s.timestamp, lid, names.get(lid))
            for lid, s in sorted(state.list_suppressions.items())
        ],
        lists=[
            Membership(lid, names.get(lid, lid), at) for lid, at in sorted(state.lists.items(), key=lambda kv: kv[1])
        ],
        segments=[] if as_of is not None else [(g.id, g.name) for g in
                                               segments.profile_segments(engine, account_id, row.id)],  # fmt: skip
        pending=pending,
        timeline=timeline,
        events_total=len(stored),
    )


def _entry(seq: int, e: Any, names: dict[str, str]) -> TimelineEntry:
    context = dict(e.context)
    proof = {k: v for k, v in context.items() if k not in ("actor", "source", "note")}
    proof.update({k: v for k, v in e.personal.items() if v})
    if e.consent_timestamp is not None:
        proof["consent_timestamp"] = e.consent_timestamp.isoformat()
    if e.historical_import:
        proof["historical_import"] = "yes"
    if e.timestamp_clamped:
        proof["timestamp_clamped"] = "yes"
    return TimelineEntry(
        seq=seq,
        occurred_at=e.occurred_at,
        title=e.metric or e.type.value.replace(".", " ").replace("_", " ").capitalize(),
        type=e.type.value,
        channel=e.channel.value if e.channel else None,
        purpose=e.purpose.value if e.purpose else None,
        status=e.status.value if e.status else None,
        reason=e.reason,
        method=e.method,
        method_detail=e.method_detail,
        custom_method_detail=e.custom_method_detail,
        list_name=names.get(e.list_id, e.list_id) if e.list_id else None,
        outcome=e.outcome,
        actor=context.get("actor"),
        source=context.get("source"),
        note=context.get("note"),
        proof=proof,
    )
