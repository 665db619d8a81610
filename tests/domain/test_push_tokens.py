"""Push consent bound to devices: the NO_PUSH_TOKEN rule and the transition by which push
marketing consent follows the tokens' permissions (Klaviyo: subscribed while at least one push
token is authorized)."""

from __future__ import annotations

from assent.domain import Channel, ConsentStatus, Purpose, Reason, Verdict
from assent.domain import transitions as t
from assent.domain.decisions import DEFAULT_RULES, push_token_rule, receive_flags
from assent.domain.push_tokens import PUSH_TOKEN_METHOD
from tests.domain.support import Profile

PUSH = [(Channel.PUSH, Purpose.MARKETING)]


def test_no_push_token_denies_push_to_a_subscribed_profile_without_an_authorized_device():
    p = Profile(push_tokens=0)
    p.do(t.subscribe, PUSH)  # consent recorded without naming a device (a bulk job, an import)
    d = p.decide(Channel.PUSH)
    assert d.verdict is Verdict.DENY and d.reasons == (Reason.NO_PUSH_TOKEN,)
    assert receive_flags(p.state)[(Channel.PUSH, Purpose.MARKETING)] is False
    p.state = p.state.evolve(push_tokens=2)
    assert p.decide(Channel.PUSH).reasons == (Reason.SUBSCRIBED,)
    assert receive_flags(p.state)[(Channel.PUSH, Purpose.MARKETING)] is True


def test_no_push_token_is_one_reason_among_all_that_stand_in_the_way():
    p = Profile(push_tokens=0)
    assert set(p.decide(Channel.PUSH).reasons) == {Reason.NEVER_SUBSCRIBED, Reason.NO_PUSH_TOKEN}


def test_no_push_token_rule_is_a_plain_rule_of_the_default_set_and_leaves_other_channels_alone():
    assert push_token_rule in DEFAULT_RULES
    p = Profile(push_tokens=0)
    p.do(t.subscribe, [(Channel.EMAIL, Purpose.MARKETING), (Channel.SMS, Purpose.MARKETING)])
    assert p.decide(Channel.EMAIL).verdict is Verdict.ALLOW
    assert p.decide(Channel.SMS).verdict is Verdict.ALLOW


def test_push_consent_follows_authorized_tokens_both_ways():
    p = Profile(push_tokens=1)
    events = p.do(t.follow_push_tokens)
    assert [e.metric for e in events] == ["Subscribed to Push Marketing"]
    assert p.state.status(Channel.PUSH) is ConsentStatus.SUBSCRIBED
    assert p.state.consent(Channel.PUSH).method == PUSH_TOKEN_METHOD
    assert p.do(t.follow_push_tokens) == []  # a second device, or the same again: nothing new
    p.state = p.state.evolve(push_tokens=0)
    events = p.do(t.follow_push_tokens)
    assert [e.metric for e in events] == ["Unsubscribed from Push Marketing"]
    assert p.state.status(Channel.PUSH) is ConsentStatus.UNSUBSCRIBED
    # Other channels never move with push.
    assert all(e.channel is Channel.PUSH for e in p.events)


def test_push_consent_a_denied_device_is_a_refusal_an_undecided_one_is_nothing():
    undecided = Profile(push_tokens=0)
    assert undecided.do(t.follow_push_tokens) == []
    assert undecided.state.status(Channel.PUSH) is ConsentStatus.NEVER_SUBSCRIBED
    denied = Profile(push_tokens=0)
    denied.do(t.follow_push_tokens, denied=True)
    assert denied.state.status(Channel.PUSH) is ConsentStatus.UNSUBSCRIBED

