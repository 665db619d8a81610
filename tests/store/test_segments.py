"""Segment definitions compiled to SQL answer exactly what the pure evaluator answers, on SQLite
and PostgreSQL, over random populations and random definitions; `assent-can-receive` answers
what decide() answers, jurisdiction packs (profiles' places) and frequency caps (their reported
sends) included."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assent.domain import Channel, Policy, Purpose, Send, Via, decide
from assent.domain.jurisdictions import locate, parse_jurisdictions
from assent.domain.pack_rules import parse_frequency_caps
from assent.domain.segment_eval import Context, evaluate
from assent.domain.segments import parse_definition
from assent.services.audiences import places
from assent.store import places as place_store
from assent.store import segments as compiled
from tests.store.segment_population import (
    BUILTIN,
    LEDGER_METRIC,
    NESTED,
    NOW,
    can_receive,
    definitions,
    populations,
    write_population,
)

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The account's policy: explicit consent for email campaigns or not, the jurisdiction packs (from
# each profile's place, or configured) and frequency caps, as decide() reads them.
policies = st.builds(
    Policy,
    st.booleans(),
    st.sampled_from(["auto", "auto", "TCPA", "none", "UWG,CASL", "GDPR"]).map(parse_jurisdictions),
    st.sampled_from(["", "sms=1/12h", "email:marketing=1/1d, sms=2/1d, push=1/1h, whatsapp:conversational=1/1h",
                     "sms:transactional=1/1d"]).map(parse_frequency_caps),
)  # fmt: skip


def _scope(engine, account_id: str, policy: Policy) -> compiled.Scope:
    """The scope at NOW, after the profiles' places are worked out (as the segment service does
    before evaluating an `assent-can-receive`)."""
    places.refresh(engine, account_id)
    with engine.connect() as conn:
        groups = place_store.groups(conn)
    segments = {"SEG": parse_definition(NESTED)}
    return compiled.Scope(account_id, NOW, engine.dialect.name, policy, segments, {BUILTIN: LEDGER_METRIC}, groups)


def _members(engine, scope, definition) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(compiled.member_ids(scope, definition)).scalars())


@SETTINGS
@given(population=populations, raw=st.lists(definitions, min_size=1, max_size=4), policy=policies)
def test_compiled_segment_membership_equals_the_pure_evaluation(engine, population, raw, policy):
    account_id = secrets.token_hex(13)
    with engine.begin() as conn:
        write_population(conn, account_id, population)
    scope = _scope(engine, account_id, policy)
    ctx = Context(NOW, policy, scope.segments)
    for definition in map(parse_definition, raw):
        expected = {p.id for p in population if evaluate(definition, p, ctx)}
        assert _members(engine, scope, definition) == expected, definition
        with engine.connect() as conn:
            assert compiled.count(conn, scope, definition) == len(expected)


@SETTINGS
@given(population=populations, condition=can_receive, policy=policies)
def test_can_receive_segments_hold_exactly_the_profiles_decide_allows(engine, population, condition, policy):
    account_id = secrets.token_hex(13)
    with engine.begin() as conn:
        write_population(conn, account_id, population)
    scope = _scope(engine, account_id, policy)
    definition = parse_definition({"condition_groups": [{"conditions": [condition]}]})
    channel, purpose, via = Channel(condition["channel"]), Purpose(condition["purpose"]), Via(condition["via"])
    allowed = set()
    for p in population:
        f = p.fields
        where = locate(f["country"], f["region"], f["timezone"], f["phone_number"])
        recent = p.sends.get((channel, purpose), ())
        send = Send(channel, NOW, purpose, via, condition["list_id"], policy, where, recent)
        if decide(p.state, send).allowed:  # ALLOW now; a DEFER (quiet hours, a full cap) is not
            allowed.add(p.id)
    expected = allowed if condition["can_receive"] else {p.id for p in population} - allowed
    assert _members(engine, scope, definition) == expected, (condition, [p.state for p in population])
