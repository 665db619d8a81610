"""The channels and purposes a bulk subscription job's profile names, read from its decoded body:
through each block type's own purposes (_BLOCK_TARGETS) as through every purpose of every channel."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from msgspec import UNSET

from assent.api import subscriptions as s

_PURPOSES = {"email": ["marketing"], "sms": ["marketing", "transactional"],
             "whatsapp": ["marketing", "transactional", "conversational"], "push": ["marketing"]}  # fmt: skip


def _general(subscriptions: msgspec.Struct) -> list[tuple[object, object, str]]:
    """Every purpose of every channel asked of each block, as _targets once did."""
    out = []
    for channel_name, purposes in s._TARGETS:
        block = getattr(subscriptions, channel_name)
        if block is UNSET:
            continue
        for purpose_name, target, where in purposes:
            params = getattr(block, purpose_name, UNSET)
            if params is not UNSET:
                out.append((target, params, where))
    return out


channels = st.fixed_dictionaries(
    {},
    optional={
        name: st.fixed_dictionaries({}, optional={p: st.just(None) for p in purposes}).map(
            lambda d, name=name: {**d, **({"marketing": None} if name == "push" else {})}
        )
        for name, purposes in _PURPOSES.items()
    },
)


@given(channels, st.booleans())
def test_targets_read_through_each_blocks_purposes_are_those_of_every_purpose(named, subscribing):
    consent = "SUBSCRIBED" if subscribing else "UNSUBSCRIBED"
    body = {c: {p: {"consent": consent} for p in ps} for c, ps in named.items()}
    kind = s.SubscriptionChannels if subscribing else s.UnsubscriptionChannels
    decoded = msgspec.convert(body, kind)
    assert s._targets(decoded) == _general(decoded)


def test_every_channel_block_type_has_its_purposes():
    assert {k.__name__: [p for p, _, _ in v] for k, v in s._BLOCK_TARGETS.items()} == {
        "EmailSubscription": ["marketing"], "SmsSubscription": ["marketing", "transactional"],
        "WhatsAppSubscription": ["marketing", "transactional", "conversational"], "PushSubscription": ["marketing"],
        "EmailUnsubscription": ["marketing"], "SmsUnsubscription": ["marketing", "transactional"],
        "WhatsAppUnsubscription": ["marketing", "transactional", "conversational"], "PushUnsubscription": ["marketing"],
    }  # fmt: skip
