"""The ten rules DESIGN.md takes straight from the seeds, one or a few tests each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from assent.domain import (
    ALL_CHANNEL_PURPOSES,
    Channel,
    ConsentStatus,
    DomainError,
    EventType,
    NothingPending,
    OptInProcess,
    Policy,
    Purpose,
    Reason,
    SuppressionReason,
    Verdict,
)
from assent.domain import transitions as t

from .support import EMAIL, PHONE, Profile

NEW_PHONE = "+14155550199"
EMAIL_MKT = (Channel.EMAIL, Purpose.MARKETING)
SMS_MKT = (Channel.SMS, Purpose.MARKETING)
SMS_TXN = (Channel.SMS, Purpose.TRANSACTIONAL)
PUSH_MKT = (Channel.PUSH, Purpose.MARKETING)
WA_MKT = (Channel.WHATSAPP, Purpose.MARKETING)
# The channels that need explicit consent (postal mail, like email, needs none; tested below).
NON_EMAIL = [cp for cp in ALL_CHANNEL_PURPOSES if cp[0] not in (Channel.EMAIL, Channel.POSTAL)]


def metrics(events) -> list[str]:
    return [e.metric for e in events if e.metric]


# --- Rule 1: consent is per channel -------------------------------------------------------------


def test_rule1_consent_is_per_channel_sms_stop_leaves_email():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT, SMS_MKT])
    events = p.do(t.unsubscribe, Channel.SMS, Purpose.MARKETING)

    assert events and all(e.channel is Channel.SMS for e in events)
    assert p.state.status(Channel.SMS) is ConsentStatus.UNSUBSCRIBED
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.suppressions == {}
    assert p.decide(Channel.EMAIL).verdict is Verdict.ALLOW
    assert p.decide(Channel.SMS).reasons == (Reason.UNSUBSCRIBED,)


def test_rule1_consent_is_per_channel_email_unsubscribe_leaves_sms():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT, SMS_MKT, SMS_TXN, PUSH_MKT, WA_MKT])
    events = p.do(t.unsubscribe, Channel.EMAIL)

    assert events and all(e.channel is Channel.EMAIL for e in events)
    assert p.state.status(Channel.EMAIL) is ConsentStatus.UNSUBSCRIBED
    for channel, purpose in [SMS_MKT, SMS_TXN, PUSH_MKT, WA_MKT]:
        assert p.state.status(channel, purpose) is ConsentStatus.SUBSCRIBED
        assert p.decide(channel, purpose).verdict is Verdict.ALLOW
    assert p.decide(Channel.EMAIL).verdict is Verdict.DENY


def test_rule1_consent_is_per_channel_whatsapp_and_push_opt_outs_stay_on_their_channel():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT, SMS_MKT, PUSH_MKT, WA_MKT])
    p.do(t.unsubscribe, Channel.WHATSAPP)
    p.do(t.unsubscribe, Channel.PUSH)

    assert p.state.status(Channel.WHATSAPP) is ConsentStatus.UNSUBSCRIBED
    assert p.state.status(Channel.PUSH) is ConsentStatus.UNSUBSCRIBED
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.status(Channel.SMS) is ConsentStatus.SUBSCRIBED


# --- Rule 2: SMS marketing implies transactional, not the reverse ----------------------------------


def test_rule2_sms_marketing_consent_allows_transactional_sms():
    p = Profile()
    p.do(t.subscribe, [SMS_MKT])

    assert p.state.status(*SMS_TXN) is ConsentStatus.NEVER_SUBSCRIBED
    d = p.decide(Channel.SMS, Purpose.TRANSACTIONAL)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == (Reason.MARKETING_CONSENT_COVERS_TRANSACTIONAL,)


def test_rule2_sms_transactional_consent_does_not_allow_marketing():
    p = Profile()
    p.do(t.subscribe, [SMS_TXN])

    d = p.decide(Channel.SMS, Purpose.MARKETING)
    assert d.verdict is Verdict.DENY
    assert d.reasons == (Reason.TRANSACTIONAL_CONSENT_ONLY,)
    assert p.decide(Channel.SMS, Purpose.TRANSACTIONAL).reasons == (Reason.SUBSCRIBED,)


@pytest.mark.parametrize("named", [Purpose.MARKETING, Purpose.TRANSACTIONAL])
def test_rule2_unsubscribing_either_sms_purpose_unsubscribes_both(named):
    p = Profile()
    p.do(t.subscribe, [SMS_MKT, SMS_TXN])
    events = p.do(t.unsubscribe, Channel.SMS, named)

    assert p.state.status(*SMS_MKT) is ConsentStatus.UNSUBSCRIBED
    assert p.state.status(*SMS_TXN) is ConsentStatus.UNSUBSCRIBED
    assert sorted(metrics(events)) == ["Unsubscribed from SMS Marketing", "Unsubscribed from SMS Transactional"]
    for purpose in (Purpose.MARKETING, Purpose.TRANSACTIONAL):
        assert p.decide(Channel.SMS, purpose).verdict is Verdict.DENY


# --- Rule 3: SMS consent belongs to the phone number -----------------------------------------------


def test_rule3_changing_phone_number_resets_sms_and_whatsapp_consent_to_never_subscribed():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT, SMS_MKT, SMS_TXN, WA_MKT, PUSH_MKT])
    p.do(t.change_phone_number, NEW_PHONE)

    assert p.state.phone_number == NEW_PHONE
    for channel, purpose in [SMS_MKT, SMS_TXN, WA_MKT]:
        assert p.state.status(channel, purpose) is ConsentStatus.NEVER_SUBSCRIBED
        d = p.decide(channel, purpose)
        assert d.verdict is Verdict.DENY and Reason.NEVER_SUBSCRIBED in d.reasons
    # Only the number-bound channels reset.
    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.status(Channel.PUSH) is ConsentStatus.SUBSCRIBED


def test_rule3_changing_phone_number_also_resets_an_sms_opt_out():
    p = Profile()
    p.do(t.subscribe, [SMS_MKT])
    p.do(t.unsubscribe, Channel.SMS)
    p.do(t.change_phone_number, NEW_PHONE)

    assert p.state.status(Channel.SMS) is ConsentStatus.NEVER_SUBSCRIBED
    assert p.state.status(Channel.SMS, Purpose.TRANSACTIONAL) is ConsentStatus.NEVER_SUBSCRIBED


def test_rule3_old_number_history_stays_in_the_ledger():
    p = Profile()
    [subscribed] = p.do(t.subscribe, [SMS_MKT])
    change = p.do(t.change_phone_number, NEW_PHONE)

    # The earlier consent event names the number that consented; nothing rewrote it.
    assert subscribed.personal["phone_number"] == PHONE
    assert p.events[0] is subscribed
    resets = [e for e in change if e.type is EventType.CONSENT_CHANGED]
    assert [e.status for e in resets] == [ConsentStatus.NEVER_SUBSCRIBED]
    # Rule 10: the reset has its own name on the timeline; the person did not unsubscribe.
    assert resets[0].metric == "SMS Marketing Consent Reset by Phone Number Change"
    assert resets[0].personal["phone_number"] == PHONE
    [ident] = [e for e in change if e.type is EventType.IDENTIFIER_CHANGED]
    assert dict(ident.personal) == {"old": PHONE, "new": NEW_PHONE}
    # The new number consents afresh and is recorded as such.
    [again] = p.do(t.subscribe, [SMS_MKT])
    assert again.personal["phone_number"] == NEW_PHONE


def test_rule3_changing_phone_number_closes_a_pending_sms_double_optin():
    p = Profile()
    p.do(t.subscribe, [SMS_MKT], list_id="L1", opt_in_process=OptInProcess.DOUBLE)
    assert p.state.pending
    p.do(t.change_phone_number, NEW_PHONE)

    assert p.state.pending == {}
    with pytest.raises(NothingPending):
        p.do(t.confirm_double_optin, Channel.SMS, Purpose.MARKETING, "L1")


# --- Rule 4: NEVER_SUBSCRIBED email may be sent to; other channels need consent --------------------


@pytest.mark.parametrize("via", ["campaign", "flow"])
def test_rule4_never_subscribed_unsuppressed_email_is_allowed_with_implied_consent_warning(via):
    p = Profile()
    assert p.state.status(Channel.EMAIL) is ConsentStatus.NEVER_SUBSCRIBED
    d = p.decide(Channel.EMAIL, via=via)

    assert d.verdict is Verdict.ALLOW
    assert d.reasons == (Reason.NOT_OPTED_OUT,)
    assert d.warnings == (Reason.IMPLIED_CONSENT,)


def test_rule4_subscribed_email_carries_no_implied_consent_warning():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    d = p.decide(Channel.EMAIL)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == (Reason.SUBSCRIBED,)
    assert d.warnings == ()


@pytest.mark.parametrize("via", ["campaign", "flow"])
@pytest.mark.parametrize(("channel", "purpose"), NON_EMAIL)
def test_rule4_sms_push_whatsapp_never_subscribed_are_denied(channel, purpose, via):
    p = Profile()
    d = p.decide(channel, purpose, via=via)

    assert d.verdict is Verdict.DENY
    assert d.reasons == (Reason.NEVER_SUBSCRIBED,)


@pytest.mark.parametrize(("channel", "purpose"), NON_EMAIL)
def test_rule4_sms_push_whatsapp_are_allowed_after_explicit_consent(channel, purpose):
    p = Profile()
    p.do(t.subscribe, [(channel, purpose)])
    d = p.decide(channel, purpose)

    assert d.verdict is Verdict.ALLOW
    assert d.reasons == (Reason.SUBSCRIBED,)
    assert d.warnings == ()


# --- Rule 5: suppressed profiles get no email marketing; suppression keeps consent ----------------


def test_rule5_subscribed_but_user_suppressed_profile_gets_no_email_marketing():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    p.do(t.suppress, SuppressionReason.USER_SUPPRESSED)

    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    for via in ("campaign", "flow"):
        d = p.decide(Channel.EMAIL, via=via)
        assert d.verdict is Verdict.DENY
        assert d.reasons == (Reason.SUPPRESSED_USER_SUPPRESSED,)


@pytest.mark.parametrize("reason", list(SuppressionReason))
@pytest.mark.parametrize("subscribed", [True, False])
def test_rule5_any_global_suppression_blocks_email_marketing_whatever_the_consent(reason, subscribed):
    p = Profile()
    if subscribed:
        p.do(t.subscribe, [EMAIL_MKT])
    p.do(t.suppress, reason)

    d = p.decide(Channel.EMAIL)
    assert d.verdict is Verdict.DENY
    assert f"SUPPRESSED_{reason.value}" in d.reasons


def test_rule5_suppression_keeps_consent_and_unsuppress_needs_no_reconsent():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], method="FORM", method_detail="footer")
    before = p.state.consent(Channel.EMAIL)
    suppressed = p.do(t.suppress, SuppressionReason.USER_SUPPRESSED)
    unsuppressed = p.do(t.unsuppress)

    assert not [e for e in suppressed + unsuppressed if e.type is EventType.CONSENT_CHANGED]
    after = p.state.consent(Channel.EMAIL)
    assert after.status is ConsentStatus.SUBSCRIBED
    assert after.consent_timestamp == before.consent_timestamp
    assert (after.method, after.method_detail) == ("FORM", "footer")
    assert p.state.suppressions == {}
    assert p.decide(Channel.EMAIL).reasons == (Reason.SUBSCRIBED,)


# --- Rule 6: consent dates before 1990 are clamped ------------------------------------------------


def test_rule6_consent_date_before_1990_is_stored_as_1990_and_flagged_clamped():
    p = Profile()
    [event] = p.do(t.subscribe, [EMAIL_MKT], historical_import=True, consented_at=datetime(1985, 6, 1, tzinfo=UTC))

    assert event.consent_timestamp == datetime(1990, 1, 1, tzinfo=UTC)
    assert event.timestamp_clamped is True
    assert event.payload()["timestamp_clamped"] is True
    assert p.state.consent(Channel.EMAIL).consent_timestamp == datetime(1990, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("when", [datetime(1990, 1, 1, tzinfo=UTC), datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)])
def test_rule6_consent_date_from_1990_on_is_kept_and_not_flagged(when):
    p = Profile()
    [event] = p.do(t.subscribe, [SMS_MKT], historical_import=True, consented_at=when)

    assert event.consent_timestamp == when
    assert event.timestamp_clamped is False
    assert p.state.consent(Channel.SMS).consent_timestamp == when


# --- Rule 7: historical imports --------------------------------------------------------------------


def test_rule7_historical_import_records_the_given_consented_at():
    p = Profile()
    when = datetime.now(UTC) - timedelta(days=800)
    p.do(t.subscribe, [EMAIL_MKT, SMS_MKT], historical_import=True, consented_at=when)

    assert p.state.consent(Channel.EMAIL).consent_timestamp == when
    assert p.state.consent(Channel.SMS).consent_timestamp == when
    assert p.state.consent(Channel.EMAIL).last_updated > when  # recorded now, dated then


def test_rule7_historical_import_skips_double_optin_on_a_double_optin_list():
    p = Profile()
    when = datetime.now(UTC) - timedelta(days=30)
    events = p.do(
        t.subscribe,
        [EMAIL_MKT],
        list_id="L1",
        opt_in_process=OptInProcess.DOUBLE,
        historical_import=True,
        consented_at=when,
    )

    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.pending == {}
    assert "L1" in p.state.lists
    assert not [e for e in events if e.type is EventType.OPTIN_REQUESTED]
    assert p.decide(Channel.EMAIL, list_id="L1").reasons == (Reason.SUBSCRIBED,)


def test_rule7_historical_import_triggers_no_automation():
    p = Profile()
    p.do(t.suppress, SuppressionReason.UNSUBSCRIBE)
    when = datetime.now(UTC) - timedelta(days=30)
    events = p.do(t.subscribe, [EMAIL_MKT, SMS_MKT], list_id="L1", historical_import=True, consented_at=when)

    # Consent, the lifted suppression and the list join are all part of the import.
    assert {e.type for e in events} >= {EventType.CONSENT_CHANGED, EventType.SUPPRESSION_REMOVED, EventType.LIST_JOINED}
    assert all(e.triggers_automation is False and e.historical_import is True for e in events)
    assert all(e.payload()["triggers_automation"] is False for e in events)
    # A live subscription does trigger automation.
    live = Profile().do(t.subscribe, [EMAIL_MKT])
    assert live[0].triggers_automation is True and live[0].historical_import is False


@pytest.mark.parametrize(
    "consented_at",
    [None, datetime.now(UTC) + timedelta(days=1), datetime(2020, 1, 1)],  # missing, future, naive
    ids=["missing", "future", "naive"],
)
def test_rule7_historical_import_needs_a_past_aware_consented_at(consented_at):
    p = Profile()
    with pytest.raises(DomainError) as err:
        p.do(t.subscribe, [EMAIL_MKT], historical_import=True, consented_at=consented_at)
    assert err.value.field == "consented_at"
    assert p.events == []


def test_rule7_consented_at_without_historical_import_is_refused():
    p = Profile()
    with pytest.raises(DomainError) as err:
        p.do(t.subscribe, [EMAIL_MKT], consented_at=datetime.now(UTC) - timedelta(days=3))
    assert err.value.field == "consented_at"


# --- Rule 8: double opt-in -------------------------------------------------------------------------


def test_rule8_double_optin_subscription_stays_pending_and_pending_is_not_consent():
    p = Profile()
    events = p.do(t.subscribe, [EMAIL_MKT], list_id="L1", opt_in_process=OptInProcess.DOUBLE)

    assert [e.type for e in events] == [EventType.OPTIN_REQUESTED]
    assert metrics(events) == []
    assert p.state.status(Channel.EMAIL) is ConsentStatus.NEVER_SUBSCRIBED
    assert (Channel.EMAIL, Purpose.MARKETING, "L1") in p.state.pending
    assert "L1" not in p.state.lists
    list_send = p.decide(Channel.EMAIL, list_id="L1")
    # Every deny code that applies: the request waits, and a pending profile is not a member yet.
    assert list_send.verdict is Verdict.DENY
    assert list_send.reasons == (Reason.DOUBLE_OPTIN_PENDING, Reason.NOT_IN_LIST)
    # Outside the list, an unconfirmed request leaves the profile where it was (as in Klaviyo):
    # reachable like any profile that never opted out, but never as a subscriber.
    plain = p.decide(Channel.EMAIL)
    assert plain.verdict is Verdict.ALLOW and plain.warnings == (Reason.IMPLIED_CONSENT,)
    strict = p.decide(Channel.EMAIL, policy=Policy(email_campaigns_require_explicit_consent=True))
    assert strict.verdict is Verdict.DENY and strict.reasons == (Reason.DOUBLE_OPTIN_PENDING,)


def test_rule8_pending_sms_double_optin_denies_sms_marketing():
    p = Profile()
    p.do(t.subscribe, [SMS_MKT], opt_in_process=OptInProcess.DOUBLE)

    assert p.state.status(Channel.SMS) is ConsentStatus.NEVER_SUBSCRIBED
    assert p.decide(Channel.SMS).reasons == (Reason.DOUBLE_OPTIN_PENDING,)


def test_rule8_confirming_double_optin_grants_consent_and_joins_the_list():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1", opt_in_process=OptInProcess.DOUBLE, method="FORM")
    events = p.do(t.confirm_double_optin, Channel.EMAIL, Purpose.MARKETING, "L1")

    consent = p.state.consent(Channel.EMAIL)
    assert consent.status is ConsentStatus.SUBSCRIBED
    assert consent.double_optin is True
    assert consent.method == "FORM"  # the method of the original request
    assert "L1" in p.state.lists
    assert p.state.pending == {}
    assert "Subscribed to List" in metrics(events)
    assert "Subscribed to Email Marketing" in metrics(events)
    d = p.decide(Channel.EMAIL, list_id="L1")
    assert d.verdict is Verdict.ALLOW and d.reasons == (Reason.SUBSCRIBED,)


def test_rule8_cancelled_double_optin_closes_without_consent():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1", opt_in_process=OptInProcess.DOUBLE)
    events = p.do(t.cancel_double_optin, Channel.EMAIL, Purpose.MARKETING, "L1")

    assert [(e.type, e.outcome) for e in events] == [(EventType.OPTIN_CLOSED, "cancelled")]
    assert p.state.pending == {}
    assert p.state.status(Channel.EMAIL) is ConsentStatus.NEVER_SUBSCRIBED
    assert "L1" not in p.state.lists
    assert p.decide(Channel.EMAIL, list_id="L1").reasons == (Reason.NOT_IN_LIST,)
    with pytest.raises(NothingPending):
        p.do(t.confirm_double_optin, Channel.EMAIL, Purpose.MARKETING, "L1")


def test_rule8_consent_granted_on_a_list_also_settles_a_pending_channel_double_optin():
    # A channel-level (no list) confirmation is pending; the person then opts in on a
    # single-opt-in form for list L1. The channel consent now exists, so nothing waits any more
    # (a later subscribe would not open such a request either).
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], opt_in_process=OptInProcess.DOUBLE)
    events = p.do(t.subscribe, [EMAIL_MKT], list_id="L1")

    assert p.state.status(Channel.EMAIL) is ConsentStatus.SUBSCRIBED
    assert p.state.pending == {}
    assert (EventType.OPTIN_CLOSED, "granted") in [(e.type, e.outcome) for e in events]
    assert p.do(t.subscribe, [EMAIL_MKT], opt_in_process=OptInProcess.DOUBLE) == []


# --- Rule 9: only explicit opt-in counts -----------------------------------------------------------


def test_rule9_profile_created_at_checkout_without_ticking_the_box_is_never_subscribed_everywhere():
    # An order creates the profile and gives it an email and a phone number; no consent is given.
    p = Profile(email=None, phone=None)
    events = p.do(t.change_email, EMAIL) + p.do(t.change_phone_number, PHONE)

    assert events == []
    assert p.events == []
    for channel, purpose in ALL_CHANNEL_PURPOSES:
        assert p.state.status(channel, purpose) is ConsentStatus.NEVER_SUBSCRIBED
    assert p.state.consents == {} and p.state.lists == {} and p.state.pending == {}


def test_rule9_never_subscribed_profile_is_not_treated_as_subscribed():
    p = Profile()
    email = p.decide(Channel.EMAIL)
    assert Reason.SUBSCRIBED not in email.reasons and Reason.IMPLIED_CONSENT in email.warnings
    assert p.decide(Channel.SMS).verdict is Verdict.DENY


def test_rule9_subscribe_needs_at_least_one_named_channel():
    p = Profile()
    with pytest.raises(DomainError) as err:
        p.do(t.subscribe, [])
    assert err.value.field == "channels"


# --- Rule 10: Klaviyo metric names -----------------------------------------------------------------


def test_rule10_email_subscribe_to_list_emits_subscribed_to_email_marketing_and_subscribed_to_list():
    p = Profile()
    events = p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    assert metrics(events) == ["Subscribed to Email Marketing", "Subscribed to List"]


def test_rule10_email_unsubscribe_emits_unsubscribed_from_email_marketing():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    assert metrics(p.do(t.unsubscribe, Channel.EMAIL)) == ["Unsubscribed from Email Marketing"]


def test_rule10_list_unsubscribe_emits_unsubscribed_from_list():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT], list_id="L1")
    assert metrics(p.do(t.unsubscribe, Channel.EMAIL, list_id="L1")) == ["Unsubscribed from List"]


def test_rule10_sms_subscribe_emits_subscribed_to_sms_marketing_and_transactional():
    p = Profile()
    events = p.do(t.subscribe, [SMS_MKT, SMS_TXN])
    assert metrics(events) == ["Subscribed to SMS Marketing", "Subscribed to SMS Transactional"]


def test_rule10_sms_stop_emits_unsubscribed_from_sms_marketing():
    p = Profile()
    p.do(t.subscribe, [SMS_MKT])
    assert metrics(p.do(t.unsubscribe, Channel.SMS)) == [
        "Unsubscribed from SMS Marketing",
        "Unsubscribed from SMS Transactional",
    ]


def test_rule10_manual_suppression_and_unsuppression_metrics():
    p = Profile()
    assert metrics(p.do(t.suppress, SuppressionReason.USER_SUPPRESSED)) == ["Manually Suppressed from Email Marketing"]
    assert metrics(p.do(t.unsuppress)) == ["Manually Unsuppressed from Email Marketing"]


# --- Direct mail: the postal channel needs no opt-in, and an explicit opt-out stops it -------------


def test_postal_never_subscribed_may_receive_direct_mail():
    d = Profile(email=None, phone=None).decide(Channel.POSTAL)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == (Reason.NOT_OPTED_OUT,)
    assert d.warnings == (Reason.IMPLIED_CONSENT,)


def test_postal_opt_out_stops_direct_mail_and_nothing_else():
    p = Profile()
    p.do(t.subscribe, [EMAIL_MKT])
    p.do(t.unsubscribe, Channel.POSTAL)
    assert p.decide(Channel.POSTAL).reasons == (Reason.UNSUBSCRIBED,)
    assert p.decide(Channel.EMAIL).verdict is Verdict.ALLOW
    p.do(t.subscribe, [(Channel.POSTAL, Purpose.MARKETING)])
    assert p.decide(Channel.POSTAL).reasons == (Reason.SUBSCRIBED,)


def test_postal_mail_ignores_email_suppressions_and_unsubscribes():
    p = Profile()
    p.do(t.unsubscribe, Channel.EMAIL)
    p.do(t.suppress, SuppressionReason.SPAM_COMPLAINT)
    assert p.decide(Channel.POSTAL).verdict is Verdict.ALLOW
