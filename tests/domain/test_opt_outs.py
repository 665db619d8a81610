"""domain.opt_outs: what an import row may still subscribe once the profile's opt-outs are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assent.domain import Channel, ProfileState, Purpose, SuppressionReason, replay
from assent.domain import transitions as t
from assent.domain.opt_outs import keep_opt_outs

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
EMAIL = (Channel.EMAIL, Purpose.MARKETING)
SMS = (Channel.SMS, Purpose.MARKETING)
SMS_T = (Channel.SMS, Purpose.TRANSACTIONAL)
BOTH = ProfileState(email="a@example.com", phone_number="+14155550101")


def _after(state: ProfileState, events: list) -> ProfileState:
    return replay(events, state)


def _subscribed(list_id: str | None = None) -> ProfileState:
    return _after(BOTH, t.subscribe(BOTH, [EMAIL, SMS], now=NOW - timedelta(days=9), list_id=list_id))


def test_a_profile_that_never_opted_out_is_given_everything_asked():
    for state in (BOTH, _subscribed("L")):
        assert keep_opt_outs(state, [EMAIL, SMS], "L") == ([EMAIL, SMS], "L", False)


def test_an_sms_opt_out_keeps_sms_marketing_and_transactional_and_nothing_else():
    state = _subscribed()
    state = _after(state, t.unsubscribe(state, Channel.SMS, now=NOW))
    assert keep_opt_outs(state, [EMAIL, SMS, SMS_T], "L") == ([EMAIL], "L", True)


def test_an_email_unsubscribe_or_spam_complaint_keeps_email():
    state = _subscribed()
    for out in (
        t.unsubscribe(state, Channel.EMAIL, now=NOW),
        t.suppress(state, SuppressionReason.SPAM_COMPLAINT, now=NOW),
    ):
        assert keep_opt_outs(_after(state, out), [EMAIL, SMS], None) == ([SMS], None, True)


def test_a_brands_own_suppression_is_not_an_opt_out():
    state = _subscribed()
    state = _after(state, t.suppress(state, SuppressionReason.USER_SUPPRESSED, now=NOW))
    state = _after(state, t.suppress(state, SuppressionReason.USER_SUPPRESSED, now=NOW, list_id="L"))
    assert keep_opt_outs(state, [EMAIL], "L") == ([EMAIL], "L", False)


def test_a_list_unsubscribe_keeps_the_list_and_not_the_channels():
    state = _subscribed("L")
    state = _after(state, t.unsubscribe(state, Channel.EMAIL, now=NOW, list_id="L"))
    assert keep_opt_outs(state, [EMAIL, SMS], "L") == ([EMAIL, SMS], None, True)
    assert keep_opt_outs(state, [], "L") == ([], None, True)
    assert keep_opt_outs(state, [EMAIL], "other") == ([EMAIL], "other", False)


def test_a_consent_dated_after_the_opt_out_is_given_and_one_dated_before_is_not():
    state = _subscribed("L")
    state = _after(state, t.unsubscribe(state, Channel.SMS, now=NOW))
    state = _after(state, t.unsubscribe(state, Channel.EMAIL, now=NOW, list_id="L"))
    later, earlier = NOW + timedelta(seconds=1), NOW - timedelta(days=1)
    assert keep_opt_outs(state, [SMS], "L", later) == ([SMS], "L", False)
    assert keep_opt_outs(state, [SMS], "L", earlier) == ([], None, True)
    assert keep_opt_outs(state, [SMS], "L", NOW) == ([], None, True)  # the same instant is not after it
