"""Property tests over random sequences of commands.

Each example starts from a profile with or without an email and a phone number and applies a
random sequence of transitions, skipping the ones the domain refuses (DomainError), as a service
would. Along the way it checks that the ledger rebuilds the state (also through the JSON form the
store keeps), that `decide` never allows what the rules forbid, and that commands repeat freely.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assent.domain import (
    ALL_CHANNEL_PURPOSES,
    CHANNEL_PURPOSES,
    Channel,
    ConsentEvent,
    ConsentStatus,
    DomainError,
    OptInProcess,
    Policy,
    ProfileState,
    Proof,
    Purpose,
    Send,
    SuppressionReason,
    Verdict,
    Via,
    decide,
    replay,
)
from assent.domain import transitions as t
from assent.domain.decisions import DEFAULT_RULES, receive_flags
from assent.domain.events import readdressed, readdresser

START = datetime.now(UTC).replace(microsecond=0)
LISTS = [None, "L1", "L2"]
# Hypothesis leans towards the first element of a sampled list: the common case goes first.
EMAILS = ["jane@example.com", "jane.new@example.org", None]
PHONES = ["+14155552671", "+442083661177", None]
REASONS = [
    SuppressionReason.USER_SUPPRESSED,
    SuppressionReason.UNSUBSCRIBE,
    SuppressionReason.HARD_BOUNCE,
    SuppressionReason.SPAM_COMPLAINT,
    SuppressionReason.INVALID_EMAIL,
]
ALL_POLICIES = [Policy(), Policy(email_campaigns_require_explicit_consent=True)]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every send `decide` accepts: email has a transactional purpose besides the consent purposes.
SENDABLE = [*ALL_CHANNEL_PURPOSES, (Channel.EMAIL, Purpose.TRANSACTIONAL)]
TRANSACTIONAL_EMAIL_BLOCKERS = {
    SuppressionReason.HARD_BOUNCE,
    SuppressionReason.INVALID_EMAIL,
    SuppressionReason.SPAM_COMPLAINT,
}
OPT_OUTS = {SuppressionReason.UNSUBSCRIBE, SuppressionReason.SPAM_COMPLAINT}

# --- Strategies --------------------------------------------------------------------------------------

channel_purposes = st.sampled_from(ALL_CHANNEL_PURPOSES)
list_ids = st.sampled_from(LISTS)
proofs = st.one_of(
    st.just(Proof()),
    st.builds(Proof, source=st.sampled_from(["form:footer", "api"]), ip=st.sampled_from([None, "203.0.113.9"])),
)
# Days before "now" of a historical consent (None: a live subscription): recent, before 1990, or
# in the future (refused).
consent_ages = st.one_of(
    st.none(), st.none(), st.none(), st.integers(0, 3650), st.integers(12_500, 25_000), st.integers(-30, -1)
)

subscribe_ops = st.tuples(
    st.just("subscribe"),
    st.lists(channel_purposes, min_size=1, max_size=3),
    list_ids,
    st.sampled_from([OptInProcess.DOUBLE, OptInProcess.SINGLE]),
    consent_ages,
    st.sampled_from(["API", "FORM", "TEXT"]),
)
# The index picks a pending request when there is one (0-8), or else uses the explicit target (9).
optin_ops = st.tuples(st.sampled_from(["confirm", "confirm", "cancel"]), st.integers(0, 9), channel_purposes, list_ids)
unsubscribe_ops = st.tuples(st.just("unsubscribe"), channel_purposes, list_ids)
suppress_ops = st.tuples(st.just("suppress"), st.sampled_from(REASONS), list_ids)
unsuppress_ops = st.tuples(st.just("unsuppress"), list_ids)
phone_ops = st.tuples(st.just("change_phone_number"), st.sampled_from(PHONES))
email_ops = st.tuples(st.just("change_email"), st.sampled_from(EMAILS))

# Pick the kind of command first, evenly (st.one_of leans towards its first branches).
operations = st.sampled_from(
    [
        subscribe_ops,
        subscribe_ops,
        subscribe_ops,
        optin_ops,
        optin_ops,
        unsubscribe_ops,
        unsubscribe_ops,
        suppress_ops,
        suppress_ops,
        unsuppress_ops,
        phone_ops,
        email_ops,
    ]
).flatmap(lambda ops: ops)
scenarios = st.tuples(
    st.sampled_from(EMAILS),
    st.sampled_from(PHONES),
    st.lists(st.tuples(operations, st.integers(1, 600), proofs), min_size=5, max_size=30),
)


# --- Running a scenario --------------------------------------------------------------------------


def call(state: ProfileState, op: tuple, now: datetime, proof: Proof):
    """Apply `op` to `state`; returns the events, or raises DomainError."""
    kind = op[0]
    if kind == "subscribe":
        _, targets, list_id, process, age, method = op
        historical = age is not None
        return t.subscribe(
            state,
            targets,
            now=now,
            method=method,
            list_id=list_id,
            opt_in_process=process,
            historical_import=historical,
            consented_at=now - timedelta(days=age) if historical else None,
            proof=proof,
        )
    if kind in ("confirm", "cancel"):
        _, index, (channel, purpose), list_id = op
        if state.pending and index < 9:  # mostly a real pending request
            channel, purpose, key_list = sorted(state.pending)[index % len(state.pending)]
            list_id = key_list or None
        fn = t.confirm_double_optin if kind == "confirm" else t.cancel_double_optin
        return fn(state, channel, purpose, list_id, now=now, proof=proof)
    if kind == "unsubscribe":
        _, (channel, purpose), list_id = op
        return t.unsubscribe(state, channel, purpose, now=now, list_id=list_id, proof=proof)
    if kind == "suppress":
        _, reason, list_id = op
        return t.suppress(state, reason, now=now, list_id=list_id, proof=proof)
    if kind == "unsuppress":
        return t.unsuppress(state, now=now, list_id=op[1], proof=proof)
    if kind == "change_phone_number":
        return t.change_phone_number(state, op[1], now=now, proof=proof)
    if kind == "change_email":
        return t.change_email(state, op[1], now=now, proof=proof)
    raise AssertionError(kind)


def step(state: ProfileState, op: tuple, events: list) -> ProfileState:
    state = replay(events, state)
    # A first address is set on the profile without a ledger entry; the service does that part.
    if op[0] == "change_phone_number":
        state = replace(state, phone_number=op[1])
    elif op[0] == "change_email":
        state = replace(state, email=op[1])
    return state


def run(scenario, on_step=None):
    """Apply every op, skipping refused ones; return (initial state, final state, ledger).

    `on_step(before, op, events, after, now, proof)` is called after each applied op."""
    email, phone, ops = scenario
    initial = state = ProfileState(email=email, phone_number=phone)
    ledger: list[ConsentEvent] = []
    now = START
    for op, minutes, proof in ops:
        now += timedelta(minutes=minutes)
        try:
            events = call(state, op, now, proof)
        except DomainError:
            continue
        before = state
        state = step(state, op, events)
        ledger.extend(events)
        if on_step is not None:
            on_step(before, op, events, state, now, proof)
    return initial, state, ledger


def through_the_store(e: ConsentEvent) -> ConsentEvent:
    """What the ledger writes and reads back: columns, a JSON payload and a JSON personal part."""
    row = msgspec.json.decode(
        msgspec.json.encode(
            {
                "type": e.type.value,
                "occurred_at": e.occurred_at.isoformat(),
                "metric": e.metric,
                "payload": e.payload(),
                "personal": dict(e.personal),
            }
        )
    )
    return ConsentEvent.from_record(
        row["type"], datetime.fromisoformat(row["occurred_at"]), row["metric"], row["payload"], row["personal"]
    )


# --- (a) and (b): the ledger rebuilds the state ----------------------------------------------------


@SETTINGS
@given(scenarios)
def test_replaying_the_ledger_rebuilds_the_projection(scenario):
    initial, final, ledger = run(scenario)
    rebuilt = replay(ledger, ProfileState(email=initial.email, phone_number=initial.phone_number))
    assert rebuilt.projection() == final.projection()
    # Replay is a fold: prefix by prefix, it reaches the same place.
    half = len(ledger) // 2
    assert replay(ledger[half:], replay(ledger[:half], initial)).projection() == final.projection()


@SETTINGS
@given(scenarios)
def test_replaying_the_ledger_through_its_json_form_rebuilds_the_projection(scenario):
    initial, final, ledger = run(scenario)
    stored = [through_the_store(e) for e in ledger]
    assert stored == ledger
    rebuilt = replay(stored, ProfileState(email=initial.email, phone_number=initial.phone_number))
    assert rebuilt.projection() == final.projection()


# --- (c): decide never allows what the rules forbid ------------------------------------------------


def check_invariants(state: ProfileState) -> None:
    if state.suppressions.keys() & OPT_OUTS:
        assert state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED, state.suppressions
    # Nothing is pending where consent is already complete for that channel and list.
    for channel, purpose, list_id in state.pending:
        assert purpose in CHANNEL_PURPOSES[channel]
        assert not (state.status(channel, purpose) is ConsentStatus.SUBSCRIBED and list_id == ""), state.pending


def forbidden(state: ProfileState, send: Send) -> str | None:
    """Why the rules forbid `send`, or None if they don't."""
    ch, purpose = send.channel, send.purpose
    status = state.status(ch, purpose)
    if state.address(ch) is None:
        return "no address"
    if ch is Channel.PUSH and state.push_tokens <= 0:
        return "no authorized push device"
    if send.list_id is not None and purpose is Purpose.MARKETING:
        if send.list_id in state.list_suppressions:
            return "list-suppressed"
        if send.list_id not in state.lists:
            return "not a member"
    if ch is Channel.EMAIL:
        if purpose is Purpose.TRANSACTIONAL:
            return "address suppressed" if state.suppressions.keys() & TRANSACTIONAL_EMAIL_BLOCKERS else None
        if state.suppressions:
            return "suppressed"
        if status is ConsentStatus.UNSUBSCRIBED:
            return "unsubscribed"
        if (
            status is not ConsentStatus.SUBSCRIBED
            and send.via is Via.CAMPAIGN
            and send.policy.email_campaigns_require_explicit_consent
        ):
            return "policy needs explicit consent"
        return None
    if ch is Channel.POSTAL:  # direct mail needs no opt-in: only an opt-out stops it
        return "postal opt-out" if status is ConsentStatus.UNSUBSCRIBED else None
    if ch is Channel.SMS and purpose is Purpose.TRANSACTIONAL:
        if ConsentStatus.SUBSCRIBED not in (status, state.status(Channel.SMS, Purpose.MARKETING)):
            return "no sms consent"
        return None
    if status is not ConsentStatus.SUBSCRIBED:
        return f"{ch.value} {purpose.value} not subscribed"
    return None


def check_decisions(state: ProfileState, now: datetime) -> None:
    # Push is addressed to devices: every state is judged without one and with an authorized one.
    for devices in (0, 1):
        check_decisions_with(state.evolve(push_tokens=devices), now)


def check_decisions_with(state: ProfileState, now: datetime) -> None:
    for channel, purpose in SENDABLE:
        # The fast flag the API shows on every profile is decide's answer for a flow send.
        flags = receive_flags(state)
        for policy in ALL_POLICIES:
            send = Send(channel, now, purpose, via=Via.FLOW, policy=policy)
            assert flags[(channel, purpose)] == decide(state, send).allowed, (send, state)
        for via in Via:
            for list_id in LISTS:
                policies = ALL_POLICIES if channel is Channel.EMAIL else ALL_POLICIES[:1]
                for policy in policies:
                    send = Send(channel, now, purpose, via=via, list_id=list_id, policy=policy)
                    d = decide(state, send)
                    assert d.reasons, d
                    # decide() answers the default rules through a decider made per send; running
                    # every rule over the state (any other rules sequence) must give the same.
                    assert d == decide(state, send, list(DEFAULT_RULES)), (send, state)
                    why = forbidden(state, send)
                    if why is not None:
                        assert d.verdict is Verdict.DENY, (why, send, d, state)
                    else:
                        # And it is not a deny-everything engine: whatever the rules allow, it allows.
                        assert d.verdict is Verdict.ALLOW, (send, d, state)
                        implied = "IMPLIED_CONSENT" in d.warnings
                        assert implied == (
                            channel in (Channel.EMAIL, Channel.POSTAL)
                            and purpose is Purpose.MARKETING
                            and state.status(channel) is not ConsentStatus.SUBSCRIBED
                        )


@SETTINGS
@given(scenarios)
def test_decide_never_allows_what_the_rules_forbid_at_any_step(scenario):
    initial = ProfileState(email=scenario[0], phone_number=scenario[1])
    check_invariants(initial)
    check_decisions(initial, START)

    def on_step(before, op, events, state, now, proof):
        check_invariants(state)
        check_decisions(state, now)

    run(scenario, on_step)


# --- (d): commands repeat freely -------------------------------------------------------------------

IDEMPOTENT = {"subscribe", "unsubscribe", "suppress", "unsuppress", "cancel", "change_phone_number", "change_email"}


@SETTINGS
@given(scenarios)
def test_repeating_a_command_on_the_state_it_produced_emits_no_events(scenario):
    def on_step(before, op, events, state, now, proof):
        if op[0] not in IDEMPOTENT:
            return
        if op[0] == "cancel" and events:
            # Repeat against the same request, now closed.
            key = events[0]
            op = ("cancel", 9, (key.channel, key.purpose), key.list_id)
        later = now + timedelta(seconds=30)
        if op[0] == "subscribe" and op[4] is not None:
            # The same historical consent date, not one shifted with the clock.
            op = (*op[:4], op[4] + 30 / 86400, op[5])
        again = call(state, op, later, proof)
        assert again == [], (op, again)

    run(scenario, on_step)


@SETTINGS
@given(scenarios)
def test_a_transitions_events_replayed_from_its_own_state_reach_what_folding_them_reaches(scenario):
    def check(before, op, events, after, now, proof):
        folded = replay(list(events), before)
        assert replay(events, before) == folded == after or op[0] in ("change_phone_number", "change_email")
        assert replay(events, replace(before)) == folded  # from an equal state: folded
        if events:
            events.append(events[0])  # a changed list is folded again
            assert replay(events, before) == replay(list(events), before)

    run(scenario, on_step=check)


@SETTINGS
@given(scenarios, st.sampled_from(EMAILS), st.sampled_from(PHONES))
def test_readdressing_through_a_readdresser_equals_readdressing_each_time(scenario, email, phone):
    # Bulk jobs readdress one profile's events for its alike profiles through readdresser, which
    # works out once what readdressed works out per call.
    def check(before, op, events, after, now, proof):
        new = replace(before, email=email, phone_number=phone)
        assert readdresser(events, before)(new) == readdressed(events, before, new)

    run(scenario, on_step=check)
