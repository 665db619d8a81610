"""Audience resolution in SQL equals decide() run per profile, on both backends.

Hypothesis draws a random population (addresses, consents of every channel and purpose,
suppressions, list memberships and suppressions, pending opt-ins), writes it as the projection
holds it, draws sources, exclusions and a send, and checks that the counts by reason and the
allowed set the database gives are what decide() gives profile by profile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, update

from assent.domain import (
    ALL_CHANNEL_PURPOSES,
    Channel,
    ChannelConsent,
    ConsentStatus,
    ListSuppression,
    PendingOptIn,
    Policy,
    ProfileState,
    Purpose,
    Send,
    SuppressionReason,
    Via,
    decide,
)
from assent.domain.audiences import AdConsent, ad_basis, ad_reasons, postal_reasons
from assent.domain.jurisdictions import locate
from assent.domain.pack_rules import FrequencyCap
from assent.services.accounts import accounts
from assent.services.accounts import settings as settings_service
from assent.services.audiences import exports as audience_exports
from assent.services.audiences import resolution as audiences
from assent.services.audiences.resolution import AudienceQuery, Source
from assent.services.shared.ids import new_id
from assent.store import audiences as store
from assent.store import projection
from assent.store.db import write_transaction
from assent.store.tables import accounts as accounts_table
from assent.store.tables import lists, profiles

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LISTS = ["L1", "L2"]
SENDABLE = [*ALL_CHANNEL_PURPOSES, (Channel.EMAIL, Purpose.TRANSACTIONAL)]
STATUSES = [ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED, ConsentStatus.NEVER_SUBSCRIBED]

consent = st.sampled_from(STATUSES).map(lambda s: ChannelConsent(s, T0, "API", None, None, False, T0))
states = st.builds(
    ProfileState,
    consents=st.dictionaries(st.sampled_from(ALL_CHANNEL_PURPOSES), consent, max_size=5),
    suppressions=st.dictionaries(st.sampled_from(list(SuppressionReason)), st.just(T0), max_size=2),
    list_suppressions=st.dictionaries(st.sampled_from(LISTS), st.just(ListSuppression("UNSUBSCRIBE", T0)), max_size=1),
    lists=st.dictionaries(st.sampled_from(LISTS), st.just(T0), max_size=2),
    pending=st.dictionaries(
        st.tuples(st.sampled_from([Channel.EMAIL, Channel.SMS, Channel.WHATSAPP]),
                  st.sampled_from([Purpose.MARKETING, Purpose.TRANSACTIONAL]), st.sampled_from(["", *LISTS])),
        st.just(PendingOptIn(T0)), max_size=2,
    ),
    email=st.sampled_from([True, False]),  # replaced by a unique address below
    phone_number=st.sampled_from([True, False]),
)  # fmt: skip
sources = st.lists(st.sampled_from(["all", *LISTS]), min_size=1, max_size=2, unique=True)
sends = st.tuples(
    st.sampled_from(SENDABLE),
    st.sampled_from(list(Via)),
    st.sampled_from([None, *LISTS]),
    st.booleans(),
)


def _write(engine, population: list[ProfileState], explicit: bool, places=None):
    account_id = accounts.create_account(engine, "Audience", "US").account.id
    ids = {name: new_id() for name in LISTS}
    out: dict[str, ProfileState] = {}
    with write_transaction(engine) as conn:
        conn.execute(update(accounts_table).where(accounts_table.c.id == account_id)
                     .values(email_campaigns_require_explicit_consent=explicit))  # fmt: skip
        for name, list_id in ids.items():
            conn.execute(
                insert(lists).values(
                    account_id=account_id,
                    id=list_id,
                    name=name,
                    opt_in_process="single_opt_in",
                    created_at=T0,
                    updated_at=T0,
                )
            )
        for i, s in enumerate(population):
            pid = new_id()
            state = s.evolve(
                email=f"p{i}@example.com" if s.email else None,
                phone_number=f"+1415555{i:04d}" if s.phone_number else None,
                lists={ids[k]: v for k, v in s.lists.items()},
                list_suppressions={ids[k]: v for k, v in s.list_suppressions.items()},
                pending={(c, p, ids.get(k, "")): v for (c, p, k), v in s.pending.items()},
            )
            out[pid] = state
            place = places[i] if places else {}
            conn.execute(insert(profiles).values(account_id=account_id, id=pid, email=state.email,
                                                 phone_number=state.phone_number, properties="{}",
                                                 created_at=T0, updated_at=T0, **place))  # fmt: skip
        projection.write(conn, account_id, out, fresh=out)
    return account_id, ids, out


def _source(name: str, ids: dict[str, str]) -> Source:
    return Source("all") if name == "all" else Source("list", ids[name])


def expected(states: dict[str, ProfileState], include: list[str], exclude: list[str], send: Send, ids: dict[str, str]):
    codes: Counter[str] = Counter()
    with_reason: Counter[str] = Counter()
    allowed = set()
    for pid, state in states.items():
        if not any(name == "all" or ids[name] in state.lists for name in include):
            continue
        if any(ids[name] in state.lists for name in exclude):
            codes["EXCLUDED"] += 1
            continue
        # The account works out each profile's jurisdiction from what it knows of the person (here
        # the phone number's country and area code: TCPA's quiet hours for US numbers), as the SQL does.
        d = decide(state, replace(send, recipient=locate(None, None, None, state.phone_number)))
        codes[d.reasons[0]] += 1
        if d.allowed:
            allowed.add(pid)
        else:
            with_reason.update(d.reasons)
    return codes, with_reason, allowed


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(
    population=st.lists(states, max_size=25),
    include=sources,
    exclude=st.lists(st.sampled_from(LISTS), max_size=1),
    send=sends,
)
def test_audience_sql_equals_decide_per_profile(engine, population, include, exclude, send):
    (channel, purpose), via, list_name, explicit = send
    account_id, ids, states = _write(engine, population, explicit)
    q = AudienceQuery(
        tuple(_source(n, ids) for n in include),
        tuple(_source(n, ids) for n in exclude),
        channel, purpose, via, ids.get(list_name) if list_name else None,
    )  # fmt: skip
    result = audiences.count(engine, account_id, q)
    send_ = Send(channel, result.at, purpose, via, q.list_id, Policy(explicit))
    codes, with_reason, allowed = expected(states, include, exclude, send_, ids)

    got = Counter({r.code: r.count for r in [*result.allowed_by, *result.denied_by, *result.deferred_by] if r.count})
    assert got == +Counter({k: v for k, v in codes.items() if k != "EXCLUDED"})
    assert result.excluded == codes["EXCLUDED"]
    assert result.candidates == sum(codes.values())
    assert result.allowed == len(allowed)
    not_allowed = [*result.denied_by, *result.deferred_by]
    assert {r.code: r.with_reason for r in not_allowed if r.with_reason} == dict(with_reason)
    streamed = [row[0] for row in audiences.allowed(engine, account_id, q)]
    assert streamed == sorted(allowed)
    half = len(streamed) // 2
    if half:  # resuming after an id gives the rest
        assert [row[0] for row in audiences.allowed(engine, account_id, q, after=streamed[half - 1])] == streamed[half:]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_the_stream_works_out_the_places_it_finds_missing_or_stale(engine):
    """An email campaign's stream reads each profile's place (explicit consent in the EU). With no
    place worked out yet, and again after a German profile in the middle moved to the US, the stream
    stops at the first such profile, works the places out and carries on after the last row it gave:
    the rows are those decide() allows on the current places, each once, in id order."""
    never = ProfileState(email=True)  # never subscribed to email: allowed in the US, not in Germany
    places = [{"country": "DE"} if i == 3 else {} for i in range(6)]
    account_id, _, states_ = _write(engine, [never] * 6, False, places)
    q = AudienceQuery((Source("all"),))
    order = sorted(states_)
    german = list(states_)[3]
    assert [row[0] for row in audiences.allowed(engine, account_id, q)] == [p for p in order if p != german]
    with write_transaction(engine) as conn:
        moved = profiles.c.account_id == account_id, profiles.c.id == german
        conn.execute(update(profiles).where(*moved).values(country="US"))
    assert [row[0] for row in audiences.allowed(engine, account_id, q)] == order
    assert [row[0] for row in audiences.allowed(engine, account_id, q, after=order[1])] == order[2:]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize(("hour", "code"), [(10, "QUIET_HOURS"), (20, "SUBSCRIBED")])
def test_audience_sql_equals_decide_for_a_us_number_by_night_and_by_day(engine, hour, code):
    """A San Francisco number subscribed to SMS marketing: at 2-3 a.m. there TCPA's quiet hours
    defer it, at noon it may be sent to; decide(), given where the number places the person,
    agrees at either hour, whatever the hour the test runs at."""
    subscribed = ChannelConsent(ConsentStatus.SUBSCRIBED, T0, "API", None, None, False, T0)
    person = ProfileState(consents={(Channel.SMS, Purpose.MARKETING): subscribed}, phone_number=True)
    account_id, ids, states_ = _write(engine, [person], False)
    at = (datetime.now(UTC) + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    q = AudienceQuery((Source("all"),), channel=Channel.SMS, purpose=Purpose.MARKETING, at=at)
    result = audiences.count(engine, account_id, q)
    codes, _, allowed = expected(states_, ["all"], [], Send(Channel.SMS, at, Purpose.MARKETING), ids)
    assert codes == Counter({code: 1})
    assert _codes(result) == codes
    assert [row[0] for row in audiences.allowed(engine, account_id, q)] == sorted(allowed)


def test_audience_in_the_past_is_refused(engine, account_id):
    q = AudienceQuery((Source("all"),), at=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(Exception, match="current consent state"):
        audiences.count(engine, account_id, q)


# --- exports: ad audiences and direct mail --------------------------------------------------------

COUNTRIES = ["US", "DE", "germany", " fr ", "", None, "UK", "CA", "Switzerland"]
FIELD_VALUES = ["1 Main St", None, "", "  "]
places = st.fixed_dictionaries(
    {"country": st.sampled_from(COUNTRIES), **{f: st.sampled_from(FIELD_VALUES) for f in ("address1", "city", "zip")}}
)


def _codes(result) -> Counter:
    return Counter({r.code: r.count for r in [*result.allowed_by, *result.denied_by, *result.deferred_by] if r.count})


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(
    population=st.lists(st.tuples(states, places), max_size=20),
    policy=st.sampled_from(list(AdConsent)),
    region=st.sampled_from(["US", "DE"]),
)
def test_ad_and_postal_exports_equal_their_domain_rules(engine, population, policy, region):
    account_id, ids, states_ = _write(engine, [s for s, _ in population], False, [p for _, p in population])
    with write_transaction(engine) as conn:
        conn.execute(update(accounts_table).where(accounts_table.c.id == account_id).values(default_region=region))
    settings_service.set_value(engine, account_id, "ad_audience_consent", policy.value)
    q = AudienceQuery((Source("all"),))
    by_id = dict(zip(states_, (p for _, p in population), strict=True))

    ads = audiences.count(engine, account_id, q, audience_exports.FORMATS["meta"].rulebook)
    expect, allowed = Counter(), set()
    for pid, state in states_.items():
        reasons = ad_reasons(state, by_id[pid]["country"], region, policy)
        expect[reasons[0] if reasons else ad_basis(state)] += 1
        if not reasons:
            allowed.add(pid)
    assert _codes(ads) == +expect
    got = [r[0] for r in audiences.allowed(engine, account_id, q, rulebook=audience_exports.FORMATS["meta"].rulebook)]
    assert got == sorted(allowed)

    postal = audiences.count(engine, account_id, q, audience_exports.FORMATS["postal"].rulebook)
    send = Send(Channel.POSTAL, postal.at)
    expect, allowed = Counter(), set()
    for pid, state in states_.items():
        reasons = postal_reasons(state, by_id[pid], send)
        expect[reasons[0] if reasons else decide(state, send).reasons[0]] += 1
        if not reasons:
            allowed.add(pid)
    assert _codes(postal) == +expect
    got = [r[0] for r in audiences.allowed(engine, account_id, q, rulebook=audience_exports.FORMATS["postal"].rulebook)]
    assert got == sorted(allowed)


@pytest.mark.parametrize("channel, purpose", SENDABLE)
@pytest.mark.parametrize("via", list(Via))
@pytest.mark.parametrize("list_id", [None, "L1"])
def test_every_send_is_counted_by_its_facts(channel, purpose, via, list_id):
    """Every input the rules read of a profile goes through a fact, so PostgreSQL groups the
    profiles by their facts and works each rule out once per group (store.by_facts): a rule
    reading a profile's column directly would make the count fall back to working the rules out
    per profile. Packs from the profiles' countries, and a frequency cap, included."""
    caps = (FrequencyCap(channel, purpose, 2, timedelta(days=7)),)
    policy = Policy(jurisdictions=None, frequency_caps=caps)
    send = Send(channel, T0, purpose, via=via, list_id=list_id, policy=policy)
    rules = store.send_rules("A", send, ["America/New_York", "America/Chicago,America/Denver"])
    sources = store.Sources([store.list_source("A", "L2")], [store.list_source("A", "L1")])
    where, excluded, source = store._membership(rules, "A", sources)
    columns = [e for e, _ in rules.denies] + [e for e, _ in rules.defers] + [rules.allow]
    assert store.by_facts(rules, columns, source, where, [excluded]) is not None
    # a rule reading a column that is no fact is noticed
    columns.append(rules.p.c.email.is_(None))
    assert store.by_facts(rules, columns, source, where, [excluded]) is None


@pytest.mark.parametrize("rules", [store.ad_rules("A", "DE", policy) for policy in AdConsent] + [
    store.postal_rules("A", Send(Channel.POSTAL, T0, Purpose.MARKETING, via=Via.CAMPAIGN))])  # fmt: skip
def test_the_export_rules_are_counted_by_their_facts(rules):
    where, excluded, source = store._membership(rules, "A", store.Sources(everyone=True))
    columns = [e for e, _ in rules.denies] + [e for e, _ in rules.defers] + [rules.allow]
    assert excluded is None and store.by_facts(rules, columns, source, where) is not None
