"""Projection rows made once for a state and copied for the alike profiles of a bulk job: through
rows_adder as through add_rows_like, in the same order. Pure: no database."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

from assent.domain import Channel, ChannelConsent, ConsentStatus, ListSuppression, PendingOptIn, ProfileState, Purpose
from assent.domain.channels import SuppressionReason
from assent.store import projection

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
STATE = ProfileState(
    consents=MappingProxyType({
        (Channel.EMAIL, Purpose.MARKETING): ChannelConsent(ConsentStatus.SUBSCRIBED, AT, "API", last_updated=AT),
        (Channel.SMS, Purpose.MARKETING): ChannelConsent(ConsentStatus.UNSUBSCRIBED, None, "API", last_updated=AT),
    }),
    suppressions=MappingProxyType({SuppressionReason.HARD_BOUNCE: AT}),
    list_suppressions=MappingProxyType({"L1": ListSuppression("UNSUBSCRIBE", AT)}),
    lists=MappingProxyType({"L1": AT, "L2": AT}),
    pending=MappingProxyType({(Channel.EMAIL, Purpose.MARKETING, "L2"): PendingOptIn(AT, "API")}),
    email="a@example.com",
)  # fmt: skip


def test_rows_added_through_a_rows_adder_are_those_add_rows_like_adds():
    like = projection.empty_rows()
    projection.add_state_rows(like, "acct", "first", STATE)
    assert all(like.values())  # every table and the summary have rows to copy
    general, adder = projection.empty_rows(), projection.empty_rows()
    add = projection.rows_adder(adder, like)
    for pid in ("second", "third"):
        projection.add_rows_like(general, like, pid)
        add(pid)
    assert adder == general
    assert {r[projection._PROFILE_AT["consents"]] for r in adder["consents"]} == {"second", "third"}
