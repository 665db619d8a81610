"""Klaviyo's subscription and suppression behaviours, one test each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assent.domain import (
    Channel,
    ConsentStatus,
    EventType,
    MissingAddress,
    OptInProcess,
    Policy,
    ProfileState,
    Purpose,
    Reason,
    SuppressionReason,
    Verdict,
    Via,
)
from assent.domain import transitions as t

from .support import EMAIL, Profile

EMAIL_MKT = (Channel.EMAIL, Purpose.MARKETING)
SMS_MKT = (Channel.SMS, Purpose.MARKETING)
CLEARED_BY_SUBSCRIBE = [
    SuppressionReason.UNSUBSCRIBE,
    SuppressionReason.SPAM_COMPLAINT,
    SuppressionReason.USER_SUPPRESSED,
]
ADDRESS_REASONS = [SuppressionReason.HARD_BOUNCE, SuppressionReason.INVALID_EMAIL]
TRANSACTIONAL_BLOCKERS = [*ADDRESS_REASONS, SuppressionReason.SPAM_COMPLAINT]


def suppressed_with(*reasons: SuppressionReason, subscribed: bool = False) -> Profile:
    p = Profile()
    if subscribed:
        p.do(t.subscribe, [EMAIL_MKT])
    for reason in reasons:
        p.do(t.suppress, reason)
    assert set(p.state.suppressions) == set(reasons)
    return p


def test_klaviyo_subscribe_clears_unsubscribe_spam_and_user_suppressed_but_not_hard_bounce():
    p = suppressed_with(*SuppressionReason)
    events = p.do(t.subscribe, [EMAIL_MKT])

    removed = {e.reason for e in events if e.type is EventType.SUPPRESSION_REMOVED}
    assert removed == {r.value for r in CLEARED_BY_SUBSCRIBE}
    assert set(p.state.suppressions) == set(ADDRESS_REASONS)
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    # A bounced or invalid address still gets nothing, subscribed or not.
    d = p.decide(Channel.EMAIL)
    assert d.verdict is Verdict.DENY
    assert set(d.reasons) == {Reason.SUPPRESSED_HARD_BOUNCE, Reason.SUPPRESSED_INVALID_EMAIL}


@pytest.mark.parametrize("reason", CLEARED_BY_SUBSCRIBE)
def test_klaviyo_subscribe_makes_a_suppressed_profile_mailable_again(reason):
    p = suppressed_with(reason)
    p.do(t.subscribe, [EMAIL_MKT])
    assert p.state.suppressions == {}
    assert p.decide(Channel.EMAIL).reasons == (Reason.SUBSCRIBED,)


def test_klaviyo_sms_subscribe_does_not_clear_email_suppressions():
    p = suppressed_with(SuppressionReason.USER_SUPPRESSED)
    p.do(t.subscribe, [SMS_MKT])
    assert set(p.state.suppressions) == {SuppressionReason.USER_SUPPRESSED}


def test_klaviyo_unsuppress_clears_only_user_suppressed():
    p = suppressed_with(*SuppressionReason)
    events = p.do(t.unsuppress)

    assert [e.reason for e in events] == [SuppressionReason.USER_SUPPRESSED.value]
    assert set(p.state.suppressions) == set(SuppressionReason) - {SuppressionReason.USER_SUPPRESSED}
    assert p.decide(Channel.EMAIL).verdict is Verdict.DENY


def test_klaviyo_unsuppress_does_not_lift_an_unsubscribe():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    p.do(t.unsubscribe, Channel.EMAIL)
    assert p.do(t.unsuppress) == []
    assert p.state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED
    assert p.decide(Channel.EMAIL).verdict is Verdict.DENY


def test_klaviyo_email_unsubscribe_adds_an_unsubscribe_suppression():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    p.do(t.unsubscribe, Channel.EMAIL)

    assert set(p.state.suppressions) == {SuppressionReason.UNSUBSCRIBE}
    d = p.decide(Channel.EMAIL)
    assert d.verdict is Verdict.DENY
    assert set(d.reasons) == {Reason.SUPPRESSED_UNSUBSCRIBE, Reason.UNSUBSCRIBED}


def test_klaviyo_never_subscribed_email_unsubscribe_still_opts_out():
    p = Profile()
    p.do(t.unsubscribe, Channel.EMAIL)
    assert p.state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED
    assert p.decide(Channel.EMAIL, via=Via.FLOW).verdict is Verdict.DENY


def test_klaviyo_spam_complaint_suppression_also_unsubscribes_email():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    events = p.do(t.suppress, SuppressionReason.SPAM_COMPLAINT)

    assert p.state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED
    assert p.state.consent(Channel.EMAIL).method == "SPAM_COMPLAINT"
    assert "Unsubscribed from Email Marketing" in [e.metric for e in events]
    assert set(p.state.suppressions) == {SuppressionReason.SPAM_COMPLAINT}


@pytest.mark.parametrize("reason", [SuppressionReason.USER_SUPPRESSED, *ADDRESS_REASONS])
def test_klaviyo_non_opt_out_suppression_keeps_email_consent(reason):
    p = suppressed_with(reason, subscribed=True)
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED


def test_klaviyo_list_unsubscribe_of_a_member_leaves_the_list_with_a_list_suppression_and_keeps_email_consent():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    p.do(t.subscribe, [EMAIL_MKT], list_id="L2")
    events = p.do(t.unsubscribe, Channel.EMAIL, list_id="L1")

    assert "L1" not in p.state.lists and "L2" in p.state.lists
    assert p.state.list_suppressions["L1"].reason == "UNSUBSCRIBE"
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.suppressions == {}
    assert [e.metric for e in events if e.metric] == ["Unsubscribed from List"]
    assert set(p.decide(Channel.EMAIL, list_id="L1").reasons) == {Reason.LIST_SUPPRESSED, Reason.NOT_IN_LIST}
    assert p.decide(Channel.EMAIL, list_id="L2").verdict is Verdict.ALLOW
    assert p.decide(Channel.EMAIL).verdict is Verdict.ALLOW


def test_klaviyo_list_unsubscribe_of_a_non_member_unsubscribes_the_channel():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    events = p.do(t.unsubscribe, Channel.EMAIL, list_id="L2")

    assert p.state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED
    assert SuppressionReason.UNSUBSCRIBE in p.state.suppressions
    assert "Unsubscribed from Email Marketing" in [e.metric for e in events]
    assert p.decide(Channel.EMAIL, list_id="L1").verdict is Verdict.DENY


def test_klaviyo_repeated_list_unsubscribe_does_not_turn_into_a_global_unsubscribe():
    # A second click on the same list's unsubscribe link (or a retried one-click POST) must not
    # widen a list opt-out into a channel-wide one.
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    p.do(t.subscribe, [EMAIL_MKT], list_id="L2")
    p.do(t.unsubscribe, Channel.EMAIL, list_id="L1")
    again = p.do(t.unsubscribe, Channel.EMAIL, list_id="L1")

    assert again == []
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.suppressions == {}
    assert p.decide(Channel.EMAIL, list_id="L2").verdict is Verdict.ALLOW


@pytest.mark.parametrize("reason", [SuppressionReason.UNSUBSCRIBE, SuppressionReason.USER_SUPPRESSED])
def test_klaviyo_transactional_email_reaches_unsubscribed_and_user_suppressed_profiles(reason):
    p = suppressed_with(reason, subscribed=True)
    assert p.decide(Channel.EMAIL).verdict is Verdict.DENY

    d = p.decide(Channel.EMAIL, Purpose.TRANSACTIONAL)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == (Reason.TRANSACTIONAL_EXEMPT,)


@pytest.mark.parametrize("reason", TRANSACTIONAL_BLOCKERS)
def test_klaviyo_transactional_email_never_goes_to_hard_bounce_invalid_email_or_spam_complaint(reason):
    p = suppressed_with(reason, subscribed=True)
    d = p.decide(Channel.EMAIL, Purpose.TRANSACTIONAL)
    assert d.verdict is Verdict.DENY
    assert d.reasons == (f"SUPPRESSED_{reason.value}",)


def test_policy_email_campaigns_require_explicit_consent_denies_never_subscribed_campaigns_but_allows_flows():
    p = Profile()
    policy = Policy(email_campaigns_require_explicit_consent=True)

    campaign = p.decide(Channel.EMAIL, via=Via.CAMPAIGN, policy=policy)
    assert campaign.verdict is Verdict.DENY and campaign.reasons == (Reason.NEVER_SUBSCRIBED,)
    flow = p.decide(Channel.EMAIL, via=Via.FLOW, policy=policy)
    assert flow.verdict is Verdict.ALLOW and flow.warnings == (Reason.IMPLIED_CONSENT,)
    # Explicit consent satisfies the policy.
    p.do(t.subscribe, [EMAIL_MKT])
    assert p.decide(Channel.EMAIL, via=Via.CAMPAIGN, policy=policy).reasons == (Reason.SUBSCRIBED,)


def test_klaviyo_list_send_to_a_list_suppressed_member_is_denied_list_suppressed():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    p.do(t.suppress, SuppressionReason.USER_SUPPRESSED, list_id="L1")

    assert "L1" in p.state.lists and p.state.suppressions == {}
    d = p.decide(Channel.EMAIL, list_id="L1")
    assert d.verdict is Verdict.DENY and d.reasons == (Reason.LIST_SUPPRESSED,)
    assert p.decide(Channel.EMAIL).verdict is Verdict.ALLOW  # the suppression is for that list only
    p.do(t.unsuppress, list_id="L1")
    assert p.decide(Channel.EMAIL, list_id="L1").verdict is Verdict.ALLOW


def test_klaviyo_list_send_to_a_non_member_is_denied_not_in_list():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    d = p.decide(Channel.EMAIL, list_id="L2")
    assert d.verdict is Verdict.DENY and d.reasons == (Reason.NOT_IN_LIST,)


@pytest.mark.parametrize(
    ("channel", "purpose"),
    [
        (Channel.EMAIL, Purpose.MARKETING),
        (Channel.EMAIL, Purpose.TRANSACTIONAL),
        (Channel.SMS, Purpose.MARKETING),
        (Channel.SMS, Purpose.TRANSACTIONAL),
        (Channel.WHATSAPP, Purpose.CONVERSATIONAL),
    ],
)
def test_decide_denies_no_address_when_the_profile_has_no_email_or_phone(channel, purpose):
    subscribed = Profile()
    subscribed.do(
        t.subscribe,
        [
            (Channel.EMAIL, Purpose.MARKETING),
            (Channel.SMS, Purpose.MARKETING),
            (Channel.WHATSAPP, Purpose.CONVERSATIONAL),
        ],
    )
    # The addresses go away (erased or removed) while consent stays on record.
    bare = Profile(email=None, phone=None)
    bare.state = ProfileState(consents=subscribed.state.consents)

    d = bare.decide(channel, purpose)
    assert d.verdict is Verdict.DENY
    assert Reason.NO_ADDRESS in d.reasons
    assert subscribed.decide(channel, purpose).verdict is Verdict.ALLOW


@pytest.mark.parametrize(
    ("target", "field"),
    [(SMS_MKT, "phone_number"), ((Channel.WHATSAPP, Purpose.MARKETING), "phone_number"), (EMAIL_MKT, "email")],
)
def test_subscribing_without_the_address_raises_missing_address_naming_the_field(target, field):
    p = Profile(email=None, phone=None)
    with pytest.raises(MissingAddress) as err:
        p.do(t.subscribe, [target])
    assert err.value.field == field
    assert err.value.code == "missing_address"


def test_subscribing_several_channels_with_one_missing_address_writes_nothing():
    p = Profile(phone=None)
    with pytest.raises(MissingAddress) as err:
        p.do(t.subscribe, [EMAIL_MKT, SMS_MKT])
    assert err.value.field == "phone_number"
    assert p.events == [] and p.state.consents == {}


def test_suppressing_without_an_email_raises_missing_address():
    p = Profile(email=None)
    with pytest.raises(MissingAddress) as err:
        p.do(t.suppress, SuppressionReason.USER_SUPPRESSED)
    assert err.value.field == "email"


def _setup_member_subscribed(p: Profile) -> None:
    p.do(t.subscribe, [EMAIL_MKT, SMS_MKT], list_id="L1")


def _setup_pending(p: Profile) -> None:
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1", opt_in_process=OptInProcess.DOUBLE)


def _none(p: Profile) -> None:
    pass


REPEATABLE = {
    "subscribe email+sms": (_none, t.subscribe, ([EMAIL_MKT, SMS_MKT],), {}),
    "subscribe to a list": (_none, t.subscribe, ([EMAIL_MKT],), {"list_id": "L1"}),
    "double opt-in request": (
        _none,
        t.subscribe,
        ([EMAIL_MKT],),
        {"list_id": "L1", "opt_in_process": OptInProcess.DOUBLE},
    ),
    "historical import": (
        _none,
        t.subscribe,
        ([EMAIL_MKT],),
        {"historical_import": True, "consented_at": datetime(1980, 1, 1, tzinfo=UTC)},
    ),
    "confirm then subscribe": (_setup_pending, t.subscribe, ([EMAIL_MKT],), {"list_id": "L1"}),
    "cancel double opt-in": (_setup_pending, t.cancel_double_optin, (Channel.EMAIL, Purpose.MARKETING, "L1"), {}),
    "email unsubscribe": (_setup_member_subscribed, t.unsubscribe, (Channel.EMAIL,), {}),
    "sms unsubscribe": (_setup_member_subscribed, t.unsubscribe, (Channel.SMS, Purpose.TRANSACTIONAL), {}),
    "list unsubscribe": (_setup_member_subscribed, t.unsubscribe, (Channel.EMAIL,), {"list_id": "L1"}),
    "list unsubscribe, pending": (_setup_pending, t.unsubscribe, (Channel.EMAIL,), {"list_id": "L1"}),
    **{f"suppress {r.value}": (_setup_member_subscribed, t.suppress, (r,), {}) for r in SuppressionReason},
    "list suppress": (_setup_member_subscribed, t.suppress, (SuppressionReason.USER_SUPPRESSED,), {"list_id": "L1"}),
    "unsuppress": (lambda p: p.do(t.suppress, SuppressionReason.USER_SUPPRESSED), t.unsuppress, (), {}),
    "list unsuppress": (
        lambda p: p.do(t.suppress, SuppressionReason.USER_SUPPRESSED, list_id="L1"),
        t.unsuppress,
        (),
        {"list_id": "L1"},
    ),
    "change phone number": (_setup_member_subscribed, t.change_phone_number, ("+14155550199",), {}),
    "change email": (
        lambda p: p.do(t.suppress, SuppressionReason.HARD_BOUNCE),
        t.change_email,
        ("new@example.com",),
        {},
    ),
}


@pytest.mark.parametrize("name", list(REPEATABLE))
def test_repeating_a_transition_on_the_state_it_produced_emits_no_events(name):
    setup, transition, args, kw = REPEATABLE[name]
    p = Profile()
    setup(p)
    first = p.do(transition, *args, **kw)
    assert first, "the first call should change something"
    before = p.state.projection()

    assert p.do(transition, *args, **kw) == []
    assert p.state.projection() == before


def test_change_email_lifts_hard_bounce_and_invalid_email_but_keeps_unsubscribe():
    p = suppressed_with(SuppressionReason.HARD_BOUNCE, SuppressionReason.INVALID_EMAIL, SuppressionReason.UNSUBSCRIBE)
    events = p.do(t.change_email, "jane.new@example.com")

    assert {e.reason for e in events if e.type is EventType.SUPPRESSION_REMOVED} == {"HARD_BOUNCE", "INVALID_EMAIL"}
    assert set(p.state.suppressions) == {SuppressionReason.UNSUBSCRIBE}
    assert p.state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED
    assert p.state.email == "jane.new@example.com"
    [ident] = [e for e in events if e.type is EventType.IDENTIFIER_CHANGED]
    assert dict(ident.personal) == {"old": EMAIL, "new": "jane.new@example.com"}
    assert p.decide(Channel.EMAIL).reasons == (Reason.SUPPRESSED_UNSUBSCRIBE, Reason.UNSUBSCRIBED)


def test_change_email_makes_a_bounced_subscriber_mailable_again():
    p = suppressed_with(SuppressionReason.HARD_BOUNCE, subscribed=True)
    p.do(t.change_email, "jane.new@example.com")
    assert p.decide(Channel.EMAIL).reasons == (Reason.SUBSCRIBED,)
