"""Segment definitions compiled to SQL answer exactly what the pure evaluator answers, on SQLite
and PostgreSQL, over random populations and random definitions; `assent-can-receive` answers
what decide() answers."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assent.domain import Channel, Policy, Purpose, Send, Via, decide
from assent.domain.segment_eval import Context, evaluate
from assent.domain.segments import parse_definition
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
policies = st.sampled_from([Policy(), Policy(email_campaigns_require_explicit_consent=True)])


def _scope(engine, account_id: str, policy: Policy) -> compiled.Scope:
    return compiled.Scope(
        account_id, NOW, engine.dialect.name, policy, {"SEG": parse_definition(NESTED)}, {BUILTIN: LEDGER_METRIC}
    )


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
    send = Send(channel, NOW, purpose, via, condition["list_id"], policy)
    allowed = {p.id for p in population if decide(p.state, send).allowed}
    expected = allowed if condition["can_receive"] else {p.id for p in population} - allowed
    assert _members(engine, scope, definition) == expected, (condition, [p.state for p in population])
