"""Audience resolution in SQL: who among some profiles may get a send, and why not the others.

An audience is a union of sources (selects of profile ids: all the account's profiles, a list's
members, a segment's members) less a union of exclusions. Each rule of `decide()` becomes a
nullable SQL expression giving the code it would deny with (NULL when it does not deny), in
`decide()`'s order; the first non-NULL of them (a COALESCE) is the profile's primary reason, and
when none denies, the consent rule's basis for sending is its allow code. The counts group by
that one column, and the allowed profiles are those whose code is an allow code, so the answer
is `decide()` run per profile without loading a profile into Python
(tests/store/test_audiences.py holds them equal on random populations).

The rules read a profile only through its facts (Rules.fact): its consent summary's columns, its
place, whether it has an address, is on the list... each with a few values. On PostgreSQL a count
groups the candidates by their facts (a few hundred groups, hashed in parallel) and works every
rule out once per group; SQLite, which groups by sorting, counts in one pass instead.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    CompoundSelect,
    Connection,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.visitors import ExternallyTraversible, iterate, replacement_traverse

from ..domain import Channel, ConsentStatus, Purpose, Reason, Send, SuppressionReason, Via
from ..domain.audiences import CONSENT_REGION_NAMES, MARKETING, POSTAL_FIELDS, AdConsent, ExportReason
from ..domain.decisions import TRANSACTIONAL_EMAIL_BLOCKERS
from ..domain.instants import earlier
from ..domain.jurisdictions import COUNTRY_PACKS, QUIET_HOURS, Pack
from ..domain.pack_rules import EXPLICIT_PACKS, next_allowed
from ..domain.summary import (
    PENDING_BITS,
    PENDING_COLUMN,
    SUPPRESSED_COLUMN,
    SUPPRESSION_BITS,
    UNCONFIRMED_COLUMN,
    expiry_column,
    status_column,
)
from . import places, push_tokens
from .db import driver_connection
from .rows import AnySelect
from .tables import (
    consents,
    list_members,
    list_suppressions,
    message_sends,
    pending_optins,
    profiles,
)

SUB, UNSUB = ConsentStatus.SUBSCRIBED.value, ConsentStatus.UNSUBSCRIBED.value
NEVER = ConsentStatus.NEVER_SUBSCRIBED.value
EXCLUDED = "EXCLUDED"  # the group of profiles an exclusion removed (not a decide() code)
ALLOW_CODES = frozenset(
    r.value
    for r in (
        Reason.SUBSCRIBED,
        Reason.MARKETING_CONSENT_COVERS_TRANSACTIONAL,
        Reason.NOT_OPTED_OUT,
        Reason.TRANSACTIONAL_EXEMPT,
        Reason.SOFT_OPT_IN,
    )
)

Code = ColumnElement[Any]  # a nullable text expression: a reason code or NULL


# --- sources -------------------------------------------------------------------------------------


def all_profiles(account_id: str) -> AnySelect:
    """Every profile of the account, as a source."""
    return select(profiles.c.id.label("profile_id")).where(profiles.c.account_id == account_id)


def list_source(account_id: str, list_id: str) -> AnySelect:
    """A list's members, as a source."""
    lm = list_members
    return select(lm.c.profile_id.label("profile_id")).where(lm.c.account_id == account_id, lm.c.list_id == list_id)


@dataclass(frozen=True, slots=True)
class Sources:
    """Profile-id selects (one column each): the audience is the union of `include` less the
    union of `exclude`. `everyone` stands for all the account's profiles and needs no select;
    `within`, when given, keeps only the candidates also in its union."""

    include: Sequence[AnySelect] = ()
    exclude: Sequence[AnySelect] = ()
    everyone: bool = False
    within: Sequence[AnySelect] = ()


# --- the rules as SQL ------------------------------------------------------------------------------


@dataclass
class Rules:
    """The SQL form of a rule set over the profiles `p`: deny expressions in order, then defer
    expressions in order, then the allow code. `possible` lists the codes each deny expression can
    give (for per-code counts)."""

    p: FromClause
    source: FromClause
    denies: list[tuple[Code, tuple[str, ...]]] = field(default_factory=list)
    defers: list[tuple[Code, str]] = field(default_factory=list)
    allow: Code = field(default_factory=null)
    allow_codes: frozenset[str] = ALLOW_CODES
    joined: dict[str, FromClause] = field(default_factory=dict)  # the tables joined once, by alias
    facts: dict[int, ColumnElement[Any]] = field(default_factory=dict)  # the inputs read per profile, by id()

    def fact(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """`expr` (returned as it is), marked as one of the few-valued inputs the rules read of a
        profile: a count can group the profiles by their facts, then work the rules out once per
        group (see _count_grouped)."""
        self.facts.setdefault(id(expr), expr)
        return expr

    def deny(self, expr: Code, *possible: str) -> None:
        self.denies.append((expr, possible))

    def when(self, cond: ColumnElement[bool], code: str) -> None:
        self.deny(case((cond, literal(code)), else_=null()), code)

    def defer(self, cond: ColumnElement[bool], code: str) -> None:
        self.defers.append((case((cond, literal(code)), else_=null()), code))

    def code(self) -> Code:
        return func.coalesce(*(e for e, _ in self.denies), *(e for e, _ in self.defers), self.allow)

    def allowed(self) -> ColumnElement[bool]:
        return self.code().in_(sorted(self.allow_codes))

    def codes(self) -> list[str]:
        return list(dict.fromkeys(c for _, possible in self.denies for c in possible))

    def defer_codes(self) -> list[str]:
        return list(dict.fromkeys(c for _, c in self.defers))

    def has(self, code: str) -> ColumnElement[bool]:
        """Whether `code` is among the profile's reasons (any rule's, not only the first)."""
        return or_(*(e == code for e, possible in self.denies if code in possible))

    def join(self, alias: str, table: FromClause, on: ColumnElement[bool]) -> FromClause:
        """Outer-join `table` once under `alias` (later calls get the same alias)."""
        if alias not in self.joined:
            self.source = self.source.outerjoin(table, on)
            self.joined[alias] = table
        return self.joined[alias]


def summary(rules: Rules, name: str) -> ColumnElement[Any]:
    """A column of the profile's consent summary (domain/summary.py), in its own row: the
    statuses, flags and expiries the rules read (all NULL: never subscribed, nothing else)."""
    return rules.fact(rules.p.c[name])


def _bit(mask: ColumnElement[Any], bit: int) -> ColumnElement[bool]:
    return func.coalesce(mask, 0).op("&")(bit) != 0


def consent_row(rules: Rules, account_id: str, channel: Channel, purpose: Purpose) -> FromClause:
    """The stored consent row itself (its method, times...), for what the summary does not hold."""
    p = rules.p
    name = f"c_{channel.value}_{purpose.value}"
    c = consents.alias(name)
    on = and_(c.c.account_id == account_id, c.c.profile_id == p.c.id, c.c.channel == channel.value,
              c.c.purpose == purpose.value)  # fmt: skip
    return rules.join(name, c, on)


def _status(rules: Rules, channel: Channel, purpose: Purpose) -> ColumnElement[str]:
    return func.coalesce(summary(rules, status_column(channel, purpose)), NEVER)


def _pending(rules: Rules, channel: Channel, purpose: Purpose) -> ColumnElement[bool]:
    """A double opt-in for (channel, purpose) is pending, on any list or none (pending() reads
    the rows themselves, for one list)."""
    return _bit(summary(rules, PENDING_COLUMN), PENDING_BITS[(channel, purpose)])


def pending(p: FromClause, account_id: str, channel: Channel, purpose: Purpose, list_id: str | None = None
            ) -> ColumnElement[bool]:  # fmt: skip
    po = pending_optins
    conds = [po.c.account_id == account_id, po.c.profile_id == p.c.id, po.c.channel == channel.value,
             po.c.purpose == purpose.value]  # fmt: skip
    if list_id is not None:
        conds.append(po.c.list_id == list_id)
    return exists().where(*conds)


def address_column(p: FromClause, channel: Channel) -> ColumnElement[Any] | None:
    """The profile column a message on `channel` is addressed to (None: addressed elsewhere)."""
    if channel is Channel.EMAIL:
        return p.c.email
    if channel in (Channel.SMS, Channel.WHATSAPP):
        return p.c.phone_number
    return None


def _address(rules: Rules, send: Send) -> None:
    column = address_column(rules.p, send.channel)
    if column is not None:
        rules.when(rules.fact(column.is_(None)), Reason.NO_ADDRESS.value)


def suppression_flags(rules: Rules, reasons: Sequence[SuppressionReason]) -> dict[str, Any]:
    """Whether the profile has each global suppression reason (its bit in the summary)."""
    mask = summary(rules, SUPPRESSED_COLUMN)
    return {r.value: _bit(mask, SUPPRESSION_BITS[r]) for r in reasons}


def _suppression(rules: Rules, account_id: str, send: Send) -> None:
    if send.channel is not Channel.EMAIL:
        return
    blocking = set(SuppressionReason)
    if send.purpose is Purpose.TRANSACTIONAL:
        blocking &= TRANSACTIONAL_EMAIL_BLOCKERS
    ordered = sorted(blocking)
    flags = suppression_flags(rules, ordered)
    for reason in ordered:
        rules.when(flags[reason.value], f"SUPPRESSED_{reason.value}")


def _why_not(rules: Rules, status: ColumnElement[str], channel: Channel, purpose: Purpose) -> Code:
    waiting = _pending(rules, channel, purpose)
    return case(
        (status == UNSUB, literal(Reason.UNSUBSCRIBED.value)),
        (waiting, literal(Reason.DOUBLE_OPTIN_PENDING.value)),
        else_=literal(Reason.NEVER_SUBSCRIBED.value),
    )


_WHY_NOT = (Reason.UNSUBSCRIBED.value, Reason.DOUBLE_OPTIN_PENDING.value, Reason.NEVER_SUBSCRIBED.value)


def _consent(rules: Rules, account_id: str, send: Send) -> None:
    ch, purpose = send.channel, send.purpose
    if ch is Channel.EMAIL:
        if purpose is Purpose.TRANSACTIONAL:
            rules.allow = literal(Reason.TRANSACTIONAL_EXEMPT.value)
            return
        status = _status(rules, ch, Purpose.MARKETING)
        rules.when(status == UNSUB, Reason.UNSUBSCRIBED.value)
        if send.via is Via.CAMPAIGN and send.policy.email_campaigns_require_explicit_consent:
            rules.deny(case((status != SUB, _why_not(rules, status, ch, purpose)), else_=null()), *_WHY_NOT)
        rules.allow = case((status == SUB, literal(Reason.SUBSCRIBED.value)), else_=literal(Reason.NOT_OPTED_OUT.value))
        return
    if ch is Channel.POSTAL:
        status = _status(rules, ch, purpose)
        rules.when(status == UNSUB, Reason.UNSUBSCRIBED.value)
        rules.allow = case((status == SUB, literal(Reason.SUBSCRIBED.value)), else_=literal(Reason.NOT_OPTED_OUT.value))
        return
    status = _status(rules, ch, purpose)
    allow: Code = case((status == SUB, literal(Reason.SUBSCRIBED.value)), else_=null())
    whens: list[tuple[ColumnElement[bool], Code]] = [(status == SUB, null())]
    possible = list(_WHY_NOT)
    if ch is Channel.SMS and purpose is Purpose.TRANSACTIONAL:
        marketing = _status(rules, ch, Purpose.MARKETING)
        whens.append((marketing == SUB, null()))
        allow = case(
            (status == SUB, literal(Reason.SUBSCRIBED.value)),
            else_=literal(Reason.MARKETING_CONSENT_COVERS_TRANSACTIONAL.value),
        )
    elif ch is Channel.SMS:
        transactional = _status(rules, ch, Purpose.TRANSACTIONAL)
        whens.append((transactional == SUB, literal(Reason.TRANSACTIONAL_CONSENT_ONLY.value)))
        possible.insert(0, Reason.TRANSACTIONAL_CONSENT_ONLY.value)
    rules.deny(case(*whens, else_=_why_not(rules, status, ch, purpose)), *possible)
    rules.allow = allow


def _push_device(rules: Rules, account_id: str, send: Send) -> None:
    if send.channel is Channel.PUSH:
        rules.when(~rules.fact(push_tokens.has_active(account_id, rules.p.c.id)), Reason.NO_PUSH_TOKEN.value)


def _list(rules: Rules, account_id: str, send: Send) -> None:
    if send.list_id is None or send.purpose is not Purpose.MARKETING:
        return
    p, lid = rules.p, send.list_id
    ls, lm, po = list_suppressions.alias("ls"), list_members.alias("lm"), pending_optins.alias("po")
    # Outer joins (each at most one row per profile: the tables' keys), not an EXISTS per profile,
    # which PostgreSQL would not run in a parallel worker.
    waits = and_(po.c.account_id == account_id, po.c.profile_id == p.c.id, po.c.channel == send.channel.value,
                 po.c.purpose == Purpose.MARKETING.value, po.c.list_id == lid)  # fmt: skip
    rules.source = (
        rules.source.outerjoin(ls, and_(ls.c.account_id == account_id, ls.c.profile_id == p.c.id, ls.c.list_id == lid))
        .outerjoin(lm, and_(lm.c.account_id == account_id, lm.c.profile_id == p.c.id, lm.c.list_id == lid))
        .outerjoin(po, waits)
    )
    rules.when(rules.fact(ls.c.profile_id.is_not(None)), Reason.LIST_SUPPRESSED.value)
    member = rules.fact(lm.c.profile_id.is_not(None))
    waiting = rules.fact(po.c.profile_id.is_not(None))
    # A pending subscription is not membership: DOUBLE_OPTIN_PENDING, then NOT_IN_LIST too.
    rules.deny(
        case((member, null()), (waiting, literal(Reason.DOUBLE_OPTIN_PENDING.value)), else_=null()),
        Reason.DOUBLE_OPTIN_PENDING.value,
    )
    rules.deny(case((member, null()), else_=literal(Reason.NOT_IN_LIST.value)), Reason.NOT_IN_LIST.value)


# --- the jurisdiction packs and the frequency caps (domain/pack_rules.py) ----------------------------

UNPLACED = "UNPLACED"  # not a decide() code: the profile's place is missing or stale (work it out, count again)
DEFER_CODES = frozenset({Reason.QUIET_HOURS.value, Reason.FREQUENCY_CAP.value})


def needs_places(send: Send) -> bool:
    """Whether a pack rule reads where the profile is for this send: every marketing send when the
    packs come from each profile's country, an SMS marketing send under TCPA (quiet hours)."""
    if send.purpose is not Purpose.MARKETING:
        return False
    configured = send.policy.jurisdictions
    return configured is None or (send.channel is Channel.SMS and Pack.TCPA in configured)


def _packs_hold(rules: Rules, account_id: str, send: Send, packs: frozenset[Pack]) -> ColumnElement[bool] | None:
    """SQL for "one of `packs` applies to the profile" (pack_rules._packs); None when none can."""
    configured = send.policy.jurisdictions
    if configured is not None:
        return true() if set(configured) & packs else None
    countries = sorted(c for c, held in COUNTRY_PACKS.items() if held & packs)
    return rules.fact(rules.p.c.place_country).in_(countries)


def _implied_expired(rules: Rules, channel: Channel, now: datetime) -> ColumnElement[bool]:
    """The channel's marketing consent was recorded on an implied basis that has lapsed by `now` (CASL)."""
    return rules.fact(rules.p.c[expiry_column(channel)] <= now)


def quiet_groups(now: datetime, zone_groups: Sequence[str]) -> dict[str, list[str]]:
    """For each quiet-hours window (QUIET_HOURS key), the zone lists in which `now` is outside it."""
    out: dict[str, list[str]] = {}
    for key, window in QUIET_HOURS.items():
        zone_list = (tuple(ZoneInfo(z) for z in g.split(",")) for g in zone_groups)
        out[key] = [g for g, zs in zip(zone_groups, zone_list, strict=True) if next_allowed(now, zs, window)]
    return out


def _packs(rules: Rules, account_id: str, send: Send, zone_groups: Sequence[str]) -> None:
    """pack_rules.PACK_RULES as SQL, in their order: explicit consent, double opt-in, implied
    consent expiry (denials), then quiet hours and frequency caps (deferrals)."""
    ch, purpose = send.channel, send.purpose
    if needs_places(send):
        placed = rules.fact(places.current(rules.p))
        rules.denies.insert(0, (case((~placed, literal(UNPLACED)), else_=null()), (UNPLACED,)))
    if ch is Channel.EMAIL and purpose is Purpose.MARKETING:
        status = _status(rules, ch, purpose)
        hold = _packs_hold(rules, account_id, send, EXPLICIT_PACKS)
        if hold is not None:
            rules.when(and_(hold, status == NEVER), Reason.EXPLICIT_CONSENT_REQUIRED.value)
        hold = _packs_hold(rules, account_id, send, frozenset({Pack.UWG}))
        if hold is not None:
            unconfirmed = summary(rules, UNCONFIRMED_COLUMN).is_(True)
            rules.when(and_(hold, unconfirmed), Reason.DOUBLE_OPTIN_REQUIRED.value)
    if purpose is Purpose.MARKETING:
        hold = _packs_hold(rules, account_id, send, frozenset({Pack.CASL}))
        if hold is not None:
            status = _status(rules, ch, purpose)
            lapsed = and_(hold, status == SUB, _implied_expired(rules, ch, send.now))
            rules.when(lapsed, Reason.IMPLIED_CONSENT_EXPIRED.value)
    if ch is Channel.SMS and purpose is Purpose.MARKETING:
        hold = _packs_hold(rules, account_id, send, frozenset({Pack.TCPA}))
        if hold is not None:
            region, zones = rules.fact(rules.p.c.place_region), rules.fact(rules.p.c.place_zones)
            states = sorted(k.removeprefix("US-") for k in QUIET_HOURS if k != "US")
            outside = []
            for key, groups in quiet_groups(send.now, zone_groups).items():
                if not groups:
                    continue
                own = or_(region.is_(None), region.not_in(states)) if key == "US" else (
                    region == key.removeprefix("US-"))  # fmt: skip
                outside.append(and_(own, zones.in_(groups)))
            if outside:
                rules.defer(and_(hold, or_(*outside)), Reason.QUIET_HOURS.value)
    caps = [cap for cap in send.policy.frequency_caps if cap.channel is ch and cap.purpose is purpose]
    if caps:
        ms = message_sends
        counts = [func.sum(case((ms.c.sent_at > earlier(send.now, cap.window), 1), else_=0)).label(f"n{i}")
                  for i, cap in enumerate(caps)]  # fmt: skip
        agg = (
            select(ms.c.profile_id, *counts)
            .where(ms.c.account_id == account_id, ms.c.channel == ch.value, ms.c.purpose == purpose.value,
                   ms.c.sent_at > earlier(send.now, max(cap.window for cap in caps)), ms.c.sent_at <= send.now)
            .group_by(ms.c.profile_id)
            .subquery("sends")
        )  # fmt: skip
        rules.join("sends", agg, agg.c.profile_id == rules.p.c.id)
        full = or_(*(func.coalesce(agg.c[f"n{i}"], 0) >= cap.limit for i, cap in enumerate(caps)))
        rules.defer(rules.fact(full), Reason.FREQUENCY_CAP.value)


def base(account_id: str) -> Rules:
    p = profiles.alias("p")
    return Rules(p, p)


def send_rules(account_id: str, send: Send, zone_groups: Sequence[str] = ()) -> Rules:
    """decide()'s DEFAULT_RULES for `send`, as SQL over the account's profiles. The packs read
    the profiles' places (store/places.py, kept current by the caller: a profile whose place is
    missing or stale gets UNPLACED) and, for quiet hours, every zone list they name."""
    rules = base(account_id)
    _address(rules, send)
    _suppression(rules, account_id, send)
    _consent(rules, account_id, send)
    _push_device(rules, account_id, send)
    _list(rules, account_id, send)
    _packs(rules, account_id, send, zone_groups)
    return rules


def ad_rules(account_id: str, default_region: str, policy: AdConsent) -> Rules:
    """domain.audiences.ad_reasons as SQL (and ad_basis as the allow code)."""
    rules = base(account_id)
    p = rules.p
    rules.when(rules.fact(and_(p.c.email.is_(None), p.c.phone_number.is_(None))), Reason.NO_ADDRESS.value)
    spam = suppression_flags(rules, [SuppressionReason.SPAM_COMPLAINT])
    rules.when(spam[SuppressionReason.SPAM_COMPLAINT.value], Reason.SUPPRESSED_SPAM_COMPLAINT.value)
    statuses = [_status(rules, c, purpose) for c, purpose in MARKETING]
    consented = or_(*(s == SUB for s in statuses))
    rules.when(and_(~consented, or_(*(s == UNSUB for s in statuses))), Reason.UNSUBSCRIBED.value)
    if policy is AdConsent.EXPLICIT:
        rules.when(~consented, ExportReason.NO_AD_CONSENT.value)
    else:
        given = func.nullif(func.trim(p.c.country), "")
        region = func.upper(func.trim(func.coalesce(given, default_region)))
        in_region = rules.fact(region.in_(sorted(CONSENT_REGION_NAMES)))
        rules.when(and_(~consented, in_region), ExportReason.NO_AD_CONSENT.value)
    rules.allow = case((consented, literal(Reason.SUBSCRIBED.value)), else_=literal(Reason.NOT_OPTED_OUT.value))
    return rules


def postal_rules(account_id: str, send: Send) -> Rules:
    """domain.audiences.postal_reasons as SQL: decide()'s rules for a postal send, then the address."""
    rules = send_rules(account_id, send)
    p = rules.p
    blank = or_(*(func.coalesce(func.trim(p.c[f]), "") == "" for f in POSTAL_FIELDS))
    rules.when(rules.fact(blank), ExportReason.INCOMPLETE_ADDRESS.value)
    return rules


# --- counting and streaming -----------------------------------------------------------------------


def _membership(rules: Rules, account_id: str, sources: Sources) -> tuple[list[ColumnElement[bool]], Any, FromClause]:
    """The WHERE clause of the candidates, the expression that says a candidate is excluded, and
    the FROM clause. An exclusion is an outer join to the excluded ids (distinct): as `NOT IN`, a
    large exclusion list makes PostgreSQL scan it once per profile when its hash would not fit
    in work_mem."""
    p = rules.p
    # `id >= ''` makes SQLite range-scan the primary key (the whole row) rather than an index on
    # (account_id, time) and a lookup of every row's addresses in the table.
    where: list[ColumnElement[bool]] = [p.c.account_id == account_id, p.c.id >= ""]
    for selects in (() if sources.everyone else sources.include, sources.within):
        if selects:
            where.append(p.c.id.in_(union(*selects) if len(selects) > 1 else selects[0]))
    excluded: Any = None
    source = rules.source
    if sources.exclude:
        ids = union(*sources.exclude) if len(sources.exclude) > 1 else sources.exclude[0].distinct()
        out = ids.subquery("excluded")
        source = source.outerjoin(out, out.c[0] == p.c.id)
        excluded = out.c[0].is_not(None)
    return where, excluded, source


def no_jit(conn: Connection) -> None:
    """PostgreSQL's JIT compiles these wide CASE expressions for longer than the scan takes."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def roomy(conn: Connection) -> None:
    """PostgreSQL's default work_mem (4 MB) splits a hash of a million profiles' rows into batches
    written to disk and back; an audience query gets room for its hashes in memory."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")


@dataclass(frozen=True, slots=True)
class CodeCount:
    code: str
    count: int  # profiles whose first reason (or allow basis) this is
    with_reason: int  # profiles with this reason among others (deny codes only)


def count_by_code(conn: Connection, account_id: str, sources: Sources, rules: Rules) -> list[CodeCount]:
    """One row per code: EXCLUDED (removed by an exclusion), each allow code, each deny and defer
    code. `with_reason` counts a denied profile under each of its deny codes, a deferred one under
    each of its defer codes (as decide() gives them: a denial has no deferrals).

    One pass over the candidates and one row of counts, a pair per code (as first code, and among
    the reasons): no sort nor hash of a million rows by code. A profile whose code is none of the
    codes the rules can give (an allow expression giving NULL) falls back to grouping by code."""
    if sources.exclude and conn.dialect.name == "sqlite":
        return _count_less_excluded(conn, account_id, sources, rules)
    where, excluded, source = _membership(rules, account_id, sources)
    columns = [e.label(f"d{i}") for i, (e, _) in enumerate(rules.denies)]
    columns += [e.label(f"e{i}") for i, (e, _) in enumerate(rules.defers)] + [rules.allow.label("a")]
    if excluded is not None:
        columns.append(case((excluded, literal(EXCLUDED)), else_=null()).label("x"))
    if conn.dialect.name == "postgresql":
        return _count_grouped(conn, rules, columns, source, where, excluded)
    # SQLite, with no exclusion (above). OFFSET 0 keeps the subquery whole, so each rule's
    # expression is worked out once per profile and the code and the per-code flags below read its
    # result, rather than repeat it.
    reasons = select(*columns).select_from(source).where(*where).offset(0).subquery("reasons")
    denies = [(reasons.c[f"d{i}"], possible) for i, (_, possible) in enumerate(rules.denies)]
    defers = [(reasons.c[f"e{i}"], c) for i, (_, c) in enumerate(rules.defers)]
    code = func.coalesce(*(d for d, _ in denies), *(e for e, _ in defers), reasons.c.a)
    possible = rules.codes()
    # A code only one rule can give, and that rule no other, is among a profile's reasons when that
    # rule's column is not NULL: counted by count(column), with no flag worked out per profile.
    flags: list[ColumnElement[Any]] = []
    for c in possible:
        givers = [(d, can) for d, can in denies if c in can]
        if len(givers) == 1 and givers[0][1] == (c,):
            flags.append(givers[0][0])
        else:
            flags.append(case((or_(*(d == c for d, _ in givers)), 1), else_=null()))
    if defers:
        not_denied = and_(true(), *(d.is_(None) for d, _ in denies))
        later = rules.defer_codes()
        flags += [case((and_(not_denied, or_(*(e == c for e, own in defers if own == c))), 1), else_=null())
                  for c in later]  # fmt: skip
        possible = possible + later
    named = list(dict.fromkeys([*possible, *sorted(rules.allow_codes)]))
    coded = select(code.label("code"), *(f.label(f"f{i}") for i, f in enumerate(flags))).offset(0).subquery("coded")
    # count() of a CASE without ELSE: the cheapest aggregate step SQLite has (no sum's type checks)
    first_counts = [func.count(case((coded.c.code == c, 1), else_=null())) for c in named]
    stmt = select(func.count(), *first_counts, *(func.count(coded.c[f"f{i}"]) for i in range(len(possible))))
    stmt = stmt.select_from(coded)
    no_jit(conn)
    roomy(conn)
    row = conn.execute(stmt).one()
    firsts = dict(zip(named, map(int, row[1 : 1 + len(named)]), strict=True))
    with_reason = dict(zip(possible, map(int, row[1 + len(named) :]), strict=True))
    if sum(firsts.values()) != row[0]:  # some profile's code is none of those named
        grouped = select(coded.c.code, func.count()).group_by(coded.c.code)
        firsts = {c: int(n) for c, n in conn.execute(grouped)}
    out = [CodeCount(c, n, with_reason.get(c, 0)) for c, n in firsts.items() if n]
    return out + [CodeCount(c, 0, n) for c, n in with_reason.items() if n and not firsts.get(c)]


def by_facts(rules: Rules, columns: Sequence[ColumnElement[Any]], source: FromClause, where: Sequence[Any],
             more: Sequence[ColumnElement[Any]] = ()) -> AnySelect | None:  # fmt: skip
    """`columns` (expressions of the rules) and a count, one row per group of the candidates that
    share every fact (Rules.fact, and the facts `more`): the profiles are grouped by the few-valued
    inputs the rules read, and each rule is worked out once per group, not once per profile. None
    when some column reads a profile other than through a fact (it cannot be worked out per group)."""
    facts = [*rules.facts.values(), *more]
    keys: list[ColumnElement[Any]] = [literal_column(str(i + 1)) for i in range(len(facts))]
    groups = (
        select(*(f.label(f"f{i}") for i, f in enumerate(facts)), func.count().label("n"))
        .select_from(source)
        .where(*where)
        .group_by(*keys)
        .subquery("groups")
    )
    by_id: dict[int, ExternallyTraversible] = {id(f): groups.c[f"f{i}"] for i, f in enumerate(facts)}

    def grouped(element: ExternallyTraversible, **kw: Any) -> ExternallyTraversible | None:
        return by_id.get(id(element))

    worked_out = [replacement_traverse(c, {}, grouped) for c in columns]
    for c in worked_out:
        if any(isinstance(e, ColumnClause) and e.table is not None and e.table is not groups for e in iterate(c)):
            return None
    return select(*worked_out, groups.c.n).select_from(groups)


def _count_less_excluded(conn: Connection, account_id: str, sources: Sources, rules: Rules) -> list[CodeCount]:
    """count_by_code on SQLite with exclusions: the counts of every candidate less the counts of
    the candidates an exclusion holds (EXCLUDED), two passes in the read transaction's snapshot.
    Probing the exclusion for each of a million candidates cost more than a second pass over
    the excluded alone (which SQLite reads by their ids)."""
    kept = replace(sources, exclude=())
    whole = count_by_code(conn, account_id, kept, rules)
    held = {r.code: r for r in count_by_code(conn, account_id, replace(kept, within=sources.exclude), rules)}
    out = [CodeCount(EXCLUDED, sum(r.count for r in held.values()), 0)]
    for r in whole:
        less = held.get(r.code, CodeCount(r.code, 0, 0))
        out.append(CodeCount(r.code, r.count - less.count, r.with_reason - less.with_reason))
    return [r for r in out if r.count or r.with_reason]


def _count_grouped(
    conn: Connection, rules: Rules, columns: list[Any], source: FromClause, where: list[Any], excluded: Any
) -> list[CodeCount]:
    """count_by_code on PostgreSQL: the profiles grouped by their facts (by_facts: a few hundred
    groups, hashed by the parallel workers, each evaluating a few cheap expressions per profile),
    the rules worked out per group, the codes and counts worked out from those groups here. Rules
    that read a profile other than through its facts are grouped by their results instead."""
    n_denies, n_defers = len(rules.denies), len(rules.defers)
    excluding = excluded is not None
    stmt = by_facts(rules, columns, source, where, [excluded] if excluding else [])
    if stmt is None:
        keys: list[ColumnElement[Any]] = [literal_column(str(i + 1)) for i in range(len(columns))]
        stmt = select(*columns, func.count()).select_from(source).where(*where).group_by(*keys)
    no_jit(conn)
    roomy(conn)
    # The planner takes a rule's result to be as varied as the unique columns it reads (one group
    # per profile) and would sort every profile by them; hashing keeps the few groups there are.
    conn.exec_driver_sql("SET LOCAL enable_sort = off")
    firsts: dict[str, int] = {}
    with_reason: dict[str, int] = dict.fromkeys([*rules.codes(), *rules.defer_codes()], 0)
    for row in conn.execute(stmt):
        n = int(row[-1])
        denies, defers = row[:n_denies], row[n_denies : n_denies + n_defers]
        allow = row[n_denies + n_defers]
        x = row[n_denies + n_defers + 1] if excluding else None
        code = next((c for c in (x, *denies, *defers) if c is not None), allow)
        firsts[code] = firsts.get(code, 0) + n
        if x is not None:
            continue
        held = {c for c in denies if c is not None}
        if not held:
            held = {c for c in defers if c is not None}
        for c in held:
            with_reason[c] = with_reason.get(c, 0) + n
    named = [EXCLUDED, *with_reason, *sorted(rules.allow_codes)]  # count_by_code's order
    order = {c: i for i, c in enumerate(named)}
    out = [
        CodeCount(c, firsts[c], with_reason.get(c, 0)) for c in sorted(firsts, key=lambda c: order.get(c, len(order)))
    ]
    return out + [CodeCount(c, 0, n) for c, n in with_reason.items() if n and not firsts.get(c)]


def allowed_rows(
    conn: Connection,
    account_id: str,
    sources: Sources,
    rules: Rules,
    columns: Sequence[str],
    after: str | None = None,
    batch: int = 5_000,
    stop_unplaced: bool = False,
) -> Generator[Sequence[Any], None, str | None]:
    """The allowed profiles' `columns` (profile column names, all text, `id` first), in id order,
    after the id `after`: one query run on the bare driver (streamed, see streamed_rows), read
    `batch` rows at a time; the driver's tuples skip SQLAlchemy's row objects, which cost a
    quarter of the streaming time.

    With `stop_unplaced`, the rows stop at the first profile whose place is missing or stale
    (UNPLACED), and the generator returns the id to resume after once the places are worked out
    again ("" for the start); it returns None when it gave every row. The stream itself finds such
    profiles, rather than a pass over every profile before it (as long as a count's)."""
    where, excluded, source = _membership(rules, account_id, sources)
    p = rules.p
    if excluded is not None:
        where.append(~excluded)  # the outer join found no excluded id
    if after is not None:
        where.append(p.c.id > after)
    stopping = stop_unplaced and UNPLACED in rules.codes()
    if not stopping:
        stmt = select(*(p.c[c] for c in columns)).select_from(source).where(*where, rules.allowed())
        no_jit(conn)
        roomy(conn)
        yield from streamed_rows(conn, stmt.order_by(p.c.id), batch)
        return None
    # An unplaced profile's row comes with a NULL id: the mark to stop at.
    marked = case((rules.has(UNPLACED), null()), else_=p.c.id)
    wanted = rules.code().in_(sorted(rules.allow_codes | {UNPLACED}))
    stmt = select(marked, *(p.c[c] for c in columns[1:])).select_from(source).where(*where, wanted)
    no_jit(conn)
    roomy(conn)
    last = after or ""
    for row in streamed_rows(conn, stmt.order_by(p.c.id), batch):
        if row[0] is None:
            return last
        yield row
        last = row[0]
    return None


def compiled(conn: Connection, stmt: AnySelect | CompoundSelect[Any]) -> tuple[str, Any]:
    """`stmt` as the bare driver runs it: its SQL and its parameters, bound as SQLAlchemy would
    bind them (times in SQLite's stored form); a sequence on SQLite, a mapping on PostgreSQL."""
    done = stmt.compile(conn, compile_kwargs={"render_postcompile": True})
    params = done.construct_params()
    for name, process in done._bind_processors.items():
        if name in params and callable(process):
            params[name] = process(params[name])
    if conn.dialect.name == "sqlite":
        return str(done), [params[name] for name in done.positiontup or ()]
    return str(done), params


def raw_rows(
    conn: Connection, stmt: AnySelect | CompoundSelect[Any], name: str, batch: int = 5_000
) -> Iterator[Sequence[Any]]:
    """The rows of `stmt` as the driver's tuples, run on the bare driver (a server-side cursor
    named `name` on PostgreSQL), fetched `batch` rows at a time."""
    sql, params = compiled(conn, stmt)
    raw = driver_connection(conn)
    if conn.dialect.name == "sqlite":
        cursor = raw.execute(sql, params)
    else:
        cursor = raw.cursor(name=name)
        cursor.execute(sql, params)
    try:
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()


CHUNKED_ROWS_LIBPQ = 170000  # the libpq version that can send a query's rows in chunks


def streamed_rows(
    conn: Connection, stmt: AnySelect | CompoundSelect[Any], batch: int = 5_000
) -> Iterator[Sequence[Any]]:
    """The rows of `stmt` as the driver's tuples, run on the bare driver and read `batch` rows at
    a time. On PostgreSQL the statement runs as a plain query whose rows the server sends in
    chunks (libpq's chunked rows mode) rather than through a server-side cursor: a cursor's plan
    gets no parallel workers, and one over a million profiles took 2.5 times the CPU (the
    backend's and its workers' together). The connection serves nothing else until the rows are
    read, or the query is cancelled when the reader stops early."""
    if conn.dialect.name == "sqlite":
        yield from raw_rows(conn, stmt, "streamed", batch)
        return
    from psycopg import pq  # only a PostgreSQL stream loads it

    if pq.version() < CHUNKED_ROWS_LIBPQ:
        yield from raw_rows(conn, stmt, "streamed", batch)
        return
    sql, params = compiled(conn, stmt)
    with driver_connection(conn).cursor() as cursor:
        yield from cursor.stream(sql, params, size=batch)
