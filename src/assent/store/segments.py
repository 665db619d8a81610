"""Segment definitions compiled to SQL: one boolean expression over `profiles`, so membership is
computed on read (always current) by the database, on SQLite and PostgreSQL alike.

Each condition becomes an indexed EXISTS (consents, suppressions, list_members, pending_optins,
list_suppressions: all keyed by account and profile first), a comparison on the profile row, or
the profiles whose events of a metric, grouped once, total what the filter asks (an EXISTS for
"at least once" and "never": `ix_events_profile_metric`, `ix_consent_events_profile_metric`).
Every leaf is two-valued (never NULL), so a negation (`is_member: false`, `can_receive: false`)
means exactly "not". `domain/segment_eval.py` holds the same semantics in Python; a property test
keeps the two equal on random populations.

    member_ids(conn, scope, definition)   # Select of profile ids: the plug for other queries
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from ..domain.channels import Channel, ConsentStatus, Purpose
from ..domain.decisions import Send
from ..domain.segment_conditions import (
    CanReceive,
    Condition,
    ConsentState,
    CustomSource,
    Definition,
    DoubleOptIn,
    GroupMembership,
    MarketingConsent,
    MethodIs,
    OptInPending,
    ProfileMetric,
    ProfileProperty,
    RandomSample,
    Region,
    StatusDate,
    Suppressed,
    Suppression,
)
from ..domain.segment_eval import REGIONS, SAMPLE_ALPHABET, SAMPLE_BUCKETS
from . import audiences, paging, push_tokens
from .conditions import OPERATORS
from .rows import AnyRow
from .segment_values import NUMERIC, Bool, P, column_filter, profile_property, within
from .segment_values import Scope as Scope
from .tables import (
    consent_events,
    consents,
    events,
    list_members,
    pending_optins,
    profiles,
    suppressions,
)

_SUB, _UNSUB = ConsentStatus.SUBSCRIBED.value, ConsentStatus.UNSUBSCRIBED.value


# --- the consent projection -------------------------------------------------------------------


def _consent(scope: Scope, channel: Channel, purpose: Purpose, *conds: Bool) -> Bool:
    c = consents.c
    return exists().where(
        c.account_id == scope.account_id, c.profile_id == P.id, c.channel == channel.value, c.purpose == purpose.value,
        *conds,
    )  # fmt: skip


def _status(scope: Scope, channel: Channel, status: str, purpose: Purpose = Purpose.MARKETING) -> Bool:
    if status == ConsentStatus.NEVER_SUBSCRIBED.value:
        return not_(_consent(scope, channel, purpose, consents.c.status.in_([_SUB, _UNSUB])))
    return _consent(scope, channel, purpose, consents.c.status == status)


def _suppressed(scope: Scope, *conds: Bool) -> Bool:
    s = suppressions.c
    return exists().where(s.account_id == scope.account_id, s.profile_id == P.id, *conds)


def _reach(scope: Scope, channel: Channel) -> Bool:
    """Klaviyo's "can receive marketing" (domain: marketing_reach)."""
    if channel is Channel.EMAIL:
        return and_(P.email.is_not(None), not_(_suppressed(scope)), not_(_status(scope, channel, _UNSUB)))
    if channel is Channel.SMS:
        return and_(P.phone_number.is_not(None), _status(scope, channel, _SUB))
    if channel is Channel.PUSH:
        return and_(_status(scope, channel, _SUB), push_tokens.has_active(scope.account_id, P.id))
    return _status(scope, channel, _SUB)


def _marketing(scope: Scope, c: MarketingConsent) -> Bool:
    reach = _reach(scope, c.channel)
    parts: list[Bool] = [reach if c.can_receive else not_(reach)]
    wanted = {"subscribed": _SUB, "unsubscribed": _UNSUB, "never_subscribed": ConsentStatus.NEVER_SUBSCRIBED.value}
    if c.subscription in wanted:
        parts.append(_status(scope, c.channel, wanted[c.subscription]))
    row: list[Bool] = []
    for f in c.filters:
        if isinstance(f, MethodIs):
            row.append(consents.c.method.in_(list(f.methods)))
        elif isinstance(f, DoubleOptIn):
            row.append(func.coalesce(consents.c.double_optin, false()) == f.value)
        elif isinstance(f, StatusDate):
            row.append(within(consents.c.consent_timestamp, f.dates.bounds(scope.now)))
        elif isinstance(f, CustomSource):
            row.append(consents.c.custom_method_detail == f.value)
        else:
            assert isinstance(f, Suppressed)
            dated = [] if f.dates is None else [within(suppressions.c.created_at, f.dates.bounds(scope.now))]
            parts.append(_suppressed(scope, suppressions.c.reason == f.reason.value, *dated))
    if row:
        parts.append(_consent(scope, c.channel, Purpose.MARKETING, *row))
    return and_(*parts)


def _consent_state(scope: Scope, c: ConsentState) -> Bool:
    cc = consents.c
    row: list[Bool] = [cc.status.in_([s.value for s in c.statuses])]
    filtered = False
    if c.method is not None:
        row.append(column_filter(scope, cc.method, c.method))
        filtered = True
    for f, column in ((c.method_detail, cc.method_detail), (c.custom_source, cc.custom_method_detail)):
        if f is not None:
            row.append(column_filter(scope, column, f))
            filtered = True
    if c.consent_date is not None:
        row.append(within(cc.consent_timestamp, c.consent_date.bounds(scope.now)))
        filtered = True
    found = _consent(scope, c.channel, c.purpose, *row)
    if ConsentStatus.NEVER_SUBSCRIBED in c.statuses and not filtered:
        return or_(found, not_(_consent(scope, c.channel, c.purpose)))
    return found


def _pending(scope: Scope, c: OptInPending) -> Bool:
    po = pending_optins.c
    conds: list[Bool] = [po.account_id == scope.account_id, po.profile_id == P.id]
    if c.channel is not None:
        conds.append(po.channel == c.channel.value)
    if c.purpose is not None:
        conds.append(po.purpose == c.purpose.value)
    if c.list_id is not None:
        conds.append(po.list_id == c.list_id)
    found = exists().where(*conds)
    return found if c.is_pending else not_(found)


def _can_receive(scope: Scope, c: CanReceive) -> Bool:
    """decide(state, send).verdict is ALLOW at `scope.now`: the audiences' SQL for the send
    (store/audiences.py: address, suppression, consent, push device, list, then the jurisdiction
    packs on the profile's kept place and the frequency caps on its recent sends), correlated to
    the profile. A deferred profile (quiet hours, a full cap) cannot receive now; a profile
    whose place is missing or stale (UNPLACED) neither, so the caller refreshes places first."""
    send = Send(c.channel, scope.now, c.purpose, c.via, c.list_id, scope.policy)
    rules = audiences.send_rules(scope.account_id, send, scope.zone_groups)
    p = rules.p
    # Correlated on the id: PostgreSQL pulls the EXISTS up into a semi-join (an anti-join for
    # `can_receive: false`); SQLite probes the rules' indexed joins per profile.
    allowed = (
        select(literal(1))
        .select_from(rules.source)
        .where(p.c.account_id == scope.account_id, p.c.id == P.id, rules.allowed())
        .exists()
    )
    return allowed if c.can_receive else not_(allowed)


# --- groups, metrics, regions, samples --------------------------------------------------------


def _groups(scope: Scope, c: GroupMembership, depth: int) -> Bool:
    lm = list_members.c
    lists = [g for g in c.group_ids if g not in scope.segments]
    parts: list[Bool] = []
    if lists:
        dated = [] if c.timeframe is None else [within(lm.joined_at, c.timeframe.bounds(scope.now))]
        parts.append(
            exists().where(lm.account_id == scope.account_id, lm.profile_id == P.id, lm.list_id.in_(lists), *dated)
        )
    parts.extend(_definition(scope, scope.segments[g], depth + 1) for g in c.group_ids if g in scope.segments)
    member = or_(*parts)
    return member if c.is_member else not_(member)


def _metric(scope: Scope, c: ProfileMetric) -> Bool:
    name = scope.ledger_metrics.get(c.metric_id)
    bounds = c.timeframe.bounds(scope.now)
    if name is not None:
        ce = consent_events.c
        owner, where = ce.profile_id, [ce.account_id == scope.account_id, ce.metric == name]
        where.append(within(ce.occurred_at, bounds))
        value: ColumnElement[Any] = cast(literal(None), Float)
    else:
        e = events.c
        owner, where = e.profile_id, [e.account_id == scope.account_id, e.metric_id == c.metric_id]
        where.append(within(e.occurred_at, bounds))
        value = e.value
    op, x = c.filter.operator, c.filter.value
    if c.measurement == "count":
        found = exists().where(owner == P.id, *where)
        # "at least once" and "never" are the common questions: an EXISTS, not a count.
        if (op == "greater-than" and 0 <= x < 1) or (op == "greater-than-or-equal" and 0 < x <= 1):
            return found
        never = (op == "equals" and x == 0) or (op == "less-than" and 0 < x <= 1)
        if never or (op == "less-than-or-equal" and 0 <= x < 1):
            return not_(found)
        total: ColumnElement[Any] = func.count()
    else:
        total = func.coalesce(func.sum(value), 0.0)
    # Set-based: the profiles with events in the timeframe are grouped once, rather than a total
    # worked out per profile (an index probe each, slow on PostgreSQL over many profiles). A
    # profile without such events totals 0: when 0 passes the filter, the members are the
    # profiles not among those whose total fails it.
    totals = select(owner).where(*where).group_by(owner)
    if NUMERIC[op](0, x):
        failing = totals.having(not_(NUMERIC[op](total, x))).subquery("failing")
        return not_(exists().where(failing.c.profile_id == P.id))
    return P.id.in_(totals.having(NUMERIC[op](total, x)))


def _region(c: Region) -> Bool:
    inside = and_(P.country.is_not(None), func.lower(func.trim(P.country)).in_(list(REGIONS[c.region])))
    return inside if c.in_region else not_(inside)


def _sample(scope: Scope, c: RandomSample) -> Bool:
    find = func.instr if scope.dialect == "sqlite" else func.strpos
    length = func.length(P.id)
    first = find(SAMPLE_ALPHABET, func.substr(P.id, length - 1, 1))
    last = find(SAMPLE_ALPHABET, func.substr(P.id, length, 1))
    return (first * 33 + last) * 100 < c.percentage * SAMPLE_BUCKETS


# --- definitions ------------------------------------------------------------------------------


def condition(scope: Scope, c: Condition, depth: int = 0) -> Bool:
    if isinstance(c, MarketingConsent):
        return _marketing(scope, c)
    if isinstance(c, GroupMembership):
        return _groups(scope, c, depth)
    if isinstance(c, ProfileProperty):
        return profile_property(scope, c)
    if isinstance(c, ProfileMetric):
        return _metric(scope, c)
    if isinstance(c, Region):
        return _region(c)
    if isinstance(c, RandomSample):
        return _sample(scope, c)
    if isinstance(c, ConsentState):
        return _consent_state(scope, c)
    if isinstance(c, Suppression):
        reasons = [suppressions.c.reason.in_([r.value for r in c.reasons])] if c.reasons else []
        dated = [] if c.dates is None else [within(suppressions.c.created_at, c.dates.bounds(scope.now))]
        found = _suppressed(scope, *reasons, *dated)
        return found if c.is_suppressed else not_(found)
    if isinstance(c, OptInPending):
        return _pending(scope, c)
    assert isinstance(c, CanReceive)
    return _can_receive(scope, c)


MAX_DEPTH = 8


def needs_places(scope: Scope, definition: Definition) -> bool:
    """Whether evaluating `definition` (and the segments it names) reads profiles' kept places:
    an `assent-can-receive` whose send the jurisdiction packs judge by where the profile is."""
    todo, seen = [definition], set()
    while todo:
        for _, c in todo.pop().conditions():
            if isinstance(c, CanReceive):
                send = Send(c.channel, scope.now, c.purpose, c.via, c.list_id, scope.policy)
                if audiences.needs_places(send):
                    return True
            elif isinstance(c, GroupMembership):
                named = [g for g in c.group_ids if g in scope.segments and g not in seen]
                seen.update(named)
                todo.extend(scope.segments[g] for g in named)
    return False


def _definition(scope: Scope, definition: Definition, depth: int = 0) -> Bool:
    if depth > MAX_DEPTH:
        raise ValueError("segments nest too deep")  # check_references refuses this before it gets here
    return and_(*(or_(*(condition(scope, c, depth) for c in group)) for group in definition.groups))


def membership(scope: Scope, definition: Definition) -> Bool:
    """The definition as a boolean expression over the `profiles` table (correlated by its columns)."""
    return _definition(scope, definition)


def member_ids(scope: Scope, definition: Definition) -> Select[tuple[str]]:
    """The ids of the account's profiles in the segment: a selectable to count, page, join or
    use in `IN (...)` from other queries (audiences, exports)."""
    return select(P.id).where(P.account_id == scope.account_id, membership(scope, definition))


def count(conn: Connection, scope: Scope, definition: Definition) -> int:
    q = select(func.count()).select_from(profiles)
    q = q.where(P.account_id == scope.account_id, membership(scope, definition))
    return int(conn.execute(q).scalar_one())


def is_member(conn: Connection, scope: Scope, definition: Definition, profile_id: str) -> bool:
    q = select(P.id).where(P.account_id == scope.account_id, P.id == profile_id, membership(scope, definition))
    return conn.execute(q).first() is not None


MEMBER_FILTER_COLUMNS: dict[str, ColumnElement[Any]] = {
    "profile_id": P.id,
    "email": P.email,
    "phone_number": P.phone_number,
}


def page_members(
    conn: Connection,
    scope: Scope,
    definition: Definition,
    conditions: Sequence[tuple[str, str, Any]],
    *,
    descending: bool,
    limit: int,
    after: Sequence[Any] | None = None,
    before: Sequence[Any] | None = None,
    full: bool = True,
) -> paging.Page[AnyRow]:
    """One page of the segment's members in profile id order (ids are ULIDs: creation order);
    rows are whole profiles (or, without `full`, their ids)."""
    query = select(profiles if full else P.id).where(P.account_id == scope.account_id)
    for op, name, value in conditions:
        query = query.where(OPERATORS[op](MEMBER_FILTER_COLUMNS[name], value))
    query = query.where(membership(scope, definition))
    return paging.page(
        conn, query, [P.id], descending=descending, limit=limit, after=after, before=before, key=lambda r: (r.id,)
    )


def stream_members(
    conn: Connection, scope: Scope, definition: Definition, batch: int = 5000, after: str | None = None
) -> Iterator[list[AnyRow]]:
    """Every member's id, email, phone number and names, in id order after `after`, `batch` rows at
    a time: a keyset walk, so an export never holds the segment in memory."""
    last = after
    while True:
        q = select(P.id, P.email, P.phone_number, P.first_name, P.last_name).where(
            P.account_id == scope.account_id, membership(scope, definition)
        )
        if last is not None:
            q = q.where(P.id > last)
        rows = list(conn.execute(q.order_by(P.id).limit(batch)))
        if not rows:
            return
        yield rows
        last = rows[-1].id
