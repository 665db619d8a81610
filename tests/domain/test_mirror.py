"""The rows a profile becomes in a brand's database (`assent sync`): can_receive is decide()'s
answer for a flow send, and a profile without anything to say about a channel gets no row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assent.domain import (
    ALL_CHANNEL_PURPOSES,
    ChannelConsent,
    ConsentStatus,
    DomainError,
    PendingOptIn,
    ProfileState,
    Send,
    SuppressionReason,
    Via,
    decide,
)
from assent.domain.mirror import ConsentRow, Identifiers, add_rows, empty_rows, parse_tables

NOW = datetime(2026, 5, 1, tzinfo=UTC)

states = st.builds(
    lambda email, phone, consents, suppressed, pending: ProfileState(
        consents={k: ChannelConsent(s, NOW, "API", last_updated=NOW) for k, s in consents.items()},
        suppressions=dict.fromkeys(suppressed, NOW),
        pending={(k[0], k[1], ""): PendingOptIn(NOW) for k in pending},
        email=email,
        phone_number=phone,
    ),
    st.one_of(st.none(), st.just("a@example.com")),
    st.one_of(st.none(), st.just("+12065550100")),
    st.dictionaries(
        st.sampled_from(ALL_CHANNEL_PURPOSES), st.sampled_from([ConsentStatus.SUBSCRIBED, ConsentStatus.UNSUBSCRIBED])
    ),
    st.sets(st.sampled_from(list(SuppressionReason))),
    st.sets(st.sampled_from(ALL_CHANNEL_PURPOSES)),
)


@settings(max_examples=300)
@given(states)
def test_mirrored_can_receive_is_decide_for_a_flow_send_and_missing_rows_say_nothing(state):
    for _ in range(2):  # the second time answers from the shapes already worked out
        out = empty_rows()
        add_rows(out, "acc", "p1", Identifiers(state.email, state.phone_number, None), state)
        rows = {(r[2], r[3]): ConsentRow(*r) for r in out["consent"]}
        for channel, purpose in ALL_CHANNEL_PURPOSES:
            allowed = decide(state, Send(channel, NOW, purpose, via=Via.FLOW)).allowed
            row = rows.get((channel.value, purpose.value))
            status = state.status(channel, purpose)
            if row is None:
                assert not allowed and status is ConsentStatus.NEVER_SUBSCRIBED
                assert not state.is_pending(channel, purpose)
            else:
                assert row.can_receive == allowed and row.status == status.value
                assert row.double_optin_pending == state.is_pending(channel, purpose)


def test_tables_option_names_some_of_three():
    assert parse_tables(None) == {"consent", "suppression", "lists"}
    assert parse_tables(" Lists,consent ") == {"consent", "lists"}
    with pytest.raises(DomainError) as e:
        parse_tables("consent,profiles")
    assert e.value.field == "tables"
