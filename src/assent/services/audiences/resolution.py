"""Audiences: who among some lists (or segments, or every profile) may get a send, how many may
not and why, and the stream of those who may.

The answer is `decide()` per profile, worked out in the database (store/audiences.py): each
profile is counted once, under the first reason `decide()` gives it (its `reasons[0]`), or under
its basis for sending when allowed; `with_reason` also counts it under every other reason it has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from ...domain import Channel, DomainError, Purpose, Send, Via
from ...store import audiences as store
from ...store import places as place_store
from ...store.db import read_transaction
from ...store.rows import AnySelect
from ..accounts import settings as account_settings
from ..accounts.accounts import Account, load_account
from ..lists import segments
from ..lists.lookup import load_list
from ..shared.clock import utcnow
from . import places

SOURCE_KINDS = ("all", "list", "segment")
PAST_TOLERANCE = timedelta(minutes=5)  # clocks drift: a time this close to now counts as now


@dataclass(frozen=True, slots=True)
class Source:
    """Where audience members come from: `all` profiles of the account, or a `list` (by id)."""

    kind: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class AudienceQuery:
    include: tuple[Source, ...]
    exclude: tuple[Source, ...] = ()
    channel: Channel = Channel.EMAIL
    purpose: Purpose = Purpose.MARKETING
    via: Via = Via.CAMPAIGN
    list_id: str | None = None  # the list the send goes out for (decide()'s list rule)
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReasonCount:
    code: str
    count: int  # profiles counted under this code: their first reason (or their basis, when allowed)
    with_reason: int = 0  # profiles with this reason among others (denials only)


@dataclass(frozen=True, slots=True)
class AudienceCount:
    at: datetime
    candidates: int  # in the union of the sources
    excluded: int  # removed by an exclusion
    allowed: int
    denied: int
    allowed_by: list[ReasonCount] = field(default_factory=list)
    denied_by: list[ReasonCount] = field(default_factory=list)
    deferred: int = 0  # may be sent to later (quiet hours, frequency caps): decide()'s DEFER
    deferred_by: list[ReasonCount] = field(default_factory=list)


def where_named(q: AudienceQuery, missing: object) -> tuple[str, int | None, str | None]:
    """Where the query names the id `missing` (of a NotFound): ("include" or "exclude", the
    source's index, its kind), or ("list_id", None, None) for the list the send goes out for."""
    for name, sources in (("include", q.include), ("exclude", q.exclude)):
        for i, s in enumerate(sources):
            if s.id == missing:
                return name, i, s.kind
    return "list_id", None, None


# A source kind -> the select of its members' ids. Segments plug in here as one more kind.
SourceResolver = Callable[[Connection, str, str | None], AnySelect]


def _list(conn: Connection, account_id: str, source_id: str | None) -> AnySelect:
    load_list(conn, account_id, source_id or "")
    return store.list_source(account_id, source_id or "")


def _all(conn: Connection, account_id: str, source_id: str | None) -> AnySelect:
    return store.all_profiles(account_id)


def _segment(conn: Connection, account_id: str, source_id: str | None) -> AnySelect:
    """A segment's members, evaluated now in the same transaction (NotFound for an unknown one)."""
    return segments.membership(conn, account_id, source_id or "")


RESOLVERS: dict[str, SourceResolver] = {"all": _all, "list": _list, "segment": _segment}


def _sources(conn: Connection, account_id: str, q: AudienceQuery) -> store.Sources:
    if not q.include:
        raise DomainError("include", "name at least one list or segment, or all profiles")

    def selects(sources: Sequence[Source], name: str) -> list[AnySelect]:
        out = []
        for s in sources:
            resolve = RESOLVERS.get(s.kind)
            if resolve is None:
                raise DomainError(name, f"a source is one of {', '.join(RESOLVERS)}", s.kind)
            out.append(resolve(conn, account_id, s.id))
        return out

    everyone = any(s.kind == "all" for s in q.include)
    include = [] if everyone else selects(q.include, "include")
    return store.Sources(include, selects(q.exclude, "exclude"), everyone)


def _send(conn: Connection, account: Account, q: AudienceQuery, now: datetime) -> Send:
    """The send decide() would judge each profile on: the query's, under the account's policy,
    jurisdiction packs and frequency caps."""
    at = q.at or now
    if at < now - PAST_TOLERANCE:
        raise DomainError("at", "an audience is resolved on the current consent state: give a time from now on",
                          at.isoformat())  # fmt: skip
    policy = account_settings.decision_policy(conn, account.id, account.policy)
    return Send(q.channel, at, q.purpose, via=q.via, list_id=q.list_id, policy=policy)


# The rules an audience is resolved with: decide()'s for the query's send by default; the
# exports pass their own (ad audiences, direct mail).
Rulebook = Callable[[Connection, Account, Send], store.Rules]


def send_rulebook(conn: Connection, account: Account, send: Send) -> store.Rules:
    """decide()'s rules, the jurisdiction packs and frequency caps included."""
    groups = place_store.groups(conn) if store.needs_places(send) else ()
    return store.send_rules(account.id, send, groups)


# Counting again after working out the places it found missing or stale: a second pass finds
# none unless profiles moved meanwhile; past the last, such profiles stay counted as UNPLACED.
PLACE_PASSES = 3


def _segment_places(engine: Engine, account_id: str, q: AudienceQuery) -> None:
    """Keep places current for the segments among the sources (their `assent-can-receive`)."""
    named = [s.id or "" for s in (*q.include, *q.exclude) if s.kind == "segment"]
    if named:
        segments.refresh_places(engine, account_id, named)


def _prepare(
    conn: Connection, account_id: str, q: AudienceQuery, rulebook: Rulebook
) -> tuple[Send, store.Sources, store.Rules]:
    """The send, the sources and the rules of `q`, read in the caller's snapshot (the list checked)."""
    account = load_account(conn, account_id)
    send = _send(conn, account, q, utcnow())
    if q.list_id is not None:
        load_list(conn, account_id, q.list_id)
    return send, _sources(conn, account_id, q), rulebook(conn, account, send)


def count(engine: Engine, account_id: str, q: AudienceQuery, rulebook: Rulebook = send_rulebook) -> AudienceCount:
    _segment_places(engine, account_id, q)
    for _ in range(PLACE_PASSES):
        with read_transaction(engine) as conn:
            send, sources, rules = _prepare(conn, account_id, q, rulebook)
            rows = store.count_by_code(conn, account_id, sources, rules)
        if not any(r.code == store.UNPLACED for r in rows):
            break
        places.refresh(engine, account_id)
    return summarise(send.now, rows, store.ALLOW_CODES)


def summarise(at: datetime, rows: Sequence[store.CodeCount], allow_codes: frozenset[str]) -> AudienceCount:
    excluded = sum(r.count for r in rows if r.code == store.EXCLUDED)
    allowed = sorted((ReasonCount(r.code, r.count) for r in rows if r.code in allow_codes and r.count),
                     key=lambda r: (-r.count, r.code))  # fmt: skip

    def by(codes: Callable[[str], bool]) -> list[ReasonCount]:
        return sorted((ReasonCount(r.code, r.count, r.with_reason) for r in rows if codes(r.code)),
                      key=lambda r: (-r.count, -r.with_reason, r.code))  # fmt: skip

    denied = by(lambda c: c not in allow_codes | store.DEFER_CODES | {store.EXCLUDED})
    deferred = by(lambda c: c in store.DEFER_CODES)
    n_allowed, n_denied, n_deferred = (sum(r.count for r in x) for x in (allowed, denied, deferred))
    return AudienceCount(at, n_allowed + n_denied + n_deferred + excluded, excluded, n_allowed, n_denied, allowed,
                         denied, n_deferred, deferred)  # fmt: skip


ADDRESS_FIELDS = ("id", "email", "phone_number")


def allowed(engine: Engine, account_id: str, q: AudienceQuery, after: str | None = None,
            columns: Sequence[str] = ADDRESS_FIELDS, rulebook: Rulebook = send_rulebook,
            ) -> Iterator[Sequence[object]]:  # fmt: skip
    """The allowed profiles' id and addresses (or other profile `columns`, id first), in id
    order, after the id `after` (to resume), read in one snapshot a batch at a time. Should the
    stream meet a profile whose place is missing or stale (it moved, or is new), the places are
    worked out again and the stream carries on after the last row given, in a new snapshot; past
    PLACE_PASSES such profiles are left out."""
    _segment_places(engine, account_id, q)
    for attempt in range(PLACE_PASSES):
        with read_transaction(engine) as conn:
            _, sources, rules = _prepare(conn, account_id, q, rulebook)
            stop = attempt < PLACE_PASSES - 1
            resume = yield from store.allowed_rows(conn, account_id, sources, rules, columns, after, stop_unplaced=stop)
        if resume is None:
            return
        after = resume
        places.refresh(engine, account_id)
