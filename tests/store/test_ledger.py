"""The hash-chained consent ledger: tampering through plain SQL is caught at the first bad seq,
the projection can be checked against (and rebuilt from) a replay, and past states are answered
from the ledger. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import bindparam, text

from assent.api.resources import get_profile_resource
from assent.domain import Channel, Purpose, SuppressionReason
from assent.services.accounts import settings
from assent.services.consent import changes as consent
from assent.services.consent import ledger_checks as ledger
from assent.services.consent.changes import Locator
from assent.services.profiles import reading as profiles
from assent.services.shared.clock import utcnow
from assent.store.ledger import content_hash, link_hash
from assent.store.tables import consent_events

EMAIL_MARKETING = [(Channel.EMAIL, Purpose.MARKETING)]


def _history(engine, account_id: str) -> int:
    """Subscribe, unsubscribe and suppress across several profiles; returns the ledger's last seq."""
    for i in range(4):
        consent.subscribe(engine, account_id, Locator("email", f"p{i}@example.com"), EMAIL_MARKETING)
    consent.subscribe(engine, account_id, Locator("phone_number", "+14155550101"), [(Channel.SMS, Purpose.MARKETING)])
    consent.unsubscribe(engine, account_id, Locator("email", "p1@example.com"), Channel.EMAIL)
    consent.suppress(engine, account_id, Locator("email", "p2@example.com"), SuppressionReason.HARD_BOUNCE)
    consent.suppress(engine, account_id, Locator("email", "p3@example.com"))
    consent.unsuppress(engine, account_id, Locator("email", "p3@example.com"))
    consent.unsubscribe(engine, account_id, Locator("phone_number", "+14155550101"), Channel.SMS)
    return _head_seq(engine, account_id)


def _sql(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def _scalar(engine, statement: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(statement), params).scalar()


def _head_seq(engine, account_id: str) -> int:
    return _scalar(engine, "SELECT ledger_seq FROM accounts WHERE id = :a", a=account_id)


def _row(engine, account_id: str, seq: int):
    with engine.connect() as conn:
        return conn.execute(
            consent_events.select().where(consent_events.c.account_id == account_id, consent_events.c.seq == seq)
        ).one()


def _broken_at(engine, account_id: str) -> int:
    result = ledger.verify(engine, account_id)
    assert not result.ok, "tampering went unnoticed"
    assert result.problem
    return result.first_bad_seq


def _shift_up(engine, account_id: str, from_seq: int) -> None:
    """seq := seq + 1 for seq >= from_seq, in two steps so that no primary key collides midway."""
    _sql(
        engine, "UPDATE consent_events SET seq = -seq - 1 WHERE account_id = :a AND seq >= :s", a=account_id, s=from_seq
    )
    _sql(engine, "UPDATE consent_events SET seq = -seq WHERE account_id = :a AND seq < 0", a=account_id)


def _insert_event(engine, row, seq: int, prev_hash: str, hash_: str) -> None:
    stmt = text(
        "INSERT INTO consent_events (account_id, seq, profile_id, occurred_at, type, metric, payload, personal, "
        "personal_digest, prev_hash, hash) VALUES (:account_id, :seq, :profile_id, :occurred_at, :type, :metric, "
        ":payload, :personal, :personal_digest, :prev_hash, :hash)"
    ).bindparams(bindparam("occurred_at", type_=consent_events.c.occurred_at.type))
    with engine.begin() as conn:
        conn.execute(
            stmt,
            {
                "account_id": row.account_id,
                "seq": seq,
                "profile_id": row.profile_id,
                "occurred_at": row.occurred_at,
                "type": row.type,
                "metric": row.metric,
                "payload": row.payload,
                "personal": None,
                "personal_digest": "",
                "prev_hash": prev_hash,
                "hash": hash_,
            },
        )


def _forged_hash(row, seq: int, prev_hash: str) -> str:
    """What a forger who knows the algorithm computes for a copy of `row` placed at `seq`."""
    content = content_hash(row.account_id, row.profile_id, row.occurred_at, row.type, row.metric, row.payload, "")
    return link_hash(seq, content, prev_hash)


# --- verification --------------------------------------------------------------------------------


def test_verify_passes_after_subscribes_unsubscribes_and_suppressions(engine, account_id):
    last = _history(engine, account_id)
    result = ledger.verify(engine, account_id)
    assert result.ok
    assert result.first_bad_seq is None
    assert result.events == last >= 10


def test_verify_passes_on_an_account_without_events(engine, account_id):
    result = ledger.verify(engine, account_id)
    assert result.ok and result.events == 0


def test_edited_payload_is_caught_at_its_seq(engine, account_id):
    _history(engine, account_id)
    seq = _scalar(
        engine,
        "SELECT min(seq) FROM consent_events WHERE account_id = :a AND payload LIKE '%\"SUBSCRIBED\"%' AND seq > 3",
        a=account_id,
    )
    _sql(
        engine,
        "UPDATE consent_events SET payload = replace(payload, '\"SUBSCRIBED\"', '\"UNSUBSCRIBED\"') "
        "WHERE account_id = :a AND seq = :s",
        a=account_id,
        s=seq,
    )
    assert _broken_at(engine, account_id) == seq


def test_edited_occurred_at_is_caught_at_its_seq(engine, account_id):
    _history(engine, account_id)
    row = _row(engine, account_id, 5)
    stmt = text("UPDATE consent_events SET occurred_at = :t WHERE account_id = :a AND seq = 5").bindparams(
        bindparam("t", type_=consent_events.c.occurred_at.type)
    )
    with engine.begin() as conn:
        conn.execute(stmt, {"t": row.occurred_at.replace(year=row.occurred_at.year - 1), "a": account_id})
    assert _broken_at(engine, account_id) == 5


def test_edited_metric_is_caught_at_its_seq(engine, account_id):
    _history(engine, account_id)
    seq = _scalar(
        engine,
        "SELECT min(seq) FROM consent_events WHERE account_id = :a AND metric = 'Subscribed to Email Marketing' "
        "AND seq > 1",
        a=account_id,
    )
    _sql(
        engine,
        "UPDATE consent_events SET metric = 'Unsubscribed from Email Marketing' WHERE account_id = :a AND seq = :s",
        a=account_id,
        s=seq,
    )
    assert _broken_at(engine, account_id) == seq


def test_deleted_middle_event_is_named_as_missing(engine, account_id):
    _history(engine, account_id)
    _sql(engine, "DELETE FROM consent_events WHERE account_id = :a AND seq = 4", a=account_id)
    result = ledger.verify(engine, account_id)
    assert not result.ok and result.first_bad_seq == 4
    assert "missing" in result.problem


def test_deleted_last_event_is_caught_through_the_account_head(engine, account_id):
    last = _history(engine, account_id)
    _sql(engine, "DELETE FROM consent_events WHERE account_id = :a AND seq = :s", a=account_id, s=last)
    result = ledger.verify(engine, account_id)
    assert not result.ok and result.first_bad_seq == last
    assert "missing" in result.problem


def test_deleted_tail_of_several_events_is_caught(engine, account_id):
    last = _history(engine, account_id)
    _sql(engine, "DELETE FROM consent_events WHERE account_id = :a AND seq > :s", a=account_id, s=last - 3)
    assert _broken_at(engine, account_id) == last - 2


def test_crudely_inserted_middle_event_is_caught_at_its_seq(engine, account_id):
    _history(engine, account_id)
    copy = _row(engine, account_id, 2)
    _shift_up(engine, account_id, 5)
    _insert_event(engine, copy, 5, prev_hash=copy.prev_hash, hash_=copy.hash)
    assert _broken_at(engine, account_id) == 5


def test_carefully_forged_middle_event_breaks_the_link_to_the_next_one(engine, account_id):
    # The forger recomputes the forged row's own hash; the chain then breaks at the event after it.
    _history(engine, account_id)
    copy, before = _row(engine, account_id, 2), _row(engine, account_id, 4)
    _shift_up(engine, account_id, 5)
    _insert_event(engine, copy, 5, prev_hash=before.hash, hash_=_forged_hash(copy, 5, before.hash))
    assert _broken_at(engine, account_id) == 6


def test_forged_event_appended_after_the_head_is_caught(engine, account_id):
    last = _history(engine, account_id)
    copy, tail = _row(engine, account_id, 1), _row(engine, account_id, last)
    _insert_event(engine, copy, last + 1, prev_hash=tail.hash, hash_=_forged_hash(copy, last + 1, tail.hash))
    result = ledger.verify(engine, account_id)
    assert not result.ok and result.first_bad_seq == last + 1


@pytest.mark.parametrize(("a", "b"), [(3, 7), (5, 6)])
def test_reordered_events_are_caught_at_the_earlier_seq(engine, account_id, a, b):
    _history(engine, account_id)
    _sql(engine, "UPDATE consent_events SET seq = -1 WHERE account_id = :a AND seq = :s", a=account_id, s=a)
    _sql(engine, "UPDATE consent_events SET seq = :t WHERE account_id = :a AND seq = :s", a=account_id, s=b, t=a)
    _sql(engine, "UPDATE consent_events SET seq = :t WHERE account_id = :a AND seq = -1", a=account_id, t=b)
    assert _broken_at(engine, account_id) == a


def test_edited_personal_data_fails_its_digest(engine, account_id):
    _history(engine, account_id)
    seq = _scalar(
        engine,
        "SELECT min(seq) FROM consent_events WHERE account_id = :a AND personal LIKE '%p2@example.com%'",
        a=account_id,
    )
    assert seq is not None
    _sql(
        engine,
        "UPDATE consent_events SET personal = replace(personal, 'p2@example.com', 'someone@else.com') "
        "WHERE account_id = :a AND seq = :s",
        a=account_id,
        s=seq,
    )
    result = ledger.verify(engine, account_id)
    assert not result.ok and result.first_bad_seq == seq
    assert "personal" in result.problem


def test_erasing_personal_data_keeps_the_chain_valid(engine, account_id):
    last = _history(engine, account_id)
    assert _scalar(
        engine, "SELECT count(*) FROM consent_events WHERE account_id = :a AND personal IS NOT NULL", a=account_id
    )
    _sql(engine, "UPDATE consent_events SET personal = NULL WHERE account_id = :a", a=account_id)
    result = ledger.verify(engine, account_id)
    assert result.ok and result.events == last
    assert ledger.rebuild(engine, account_id, check=True).differences == []


def test_tampering_in_one_account_leaves_another_accounts_chain_valid(engine, account_id):
    from assent.services.accounts import accounts

    other = accounts.create_account(engine, "Other brand", "US").account.id
    _history(engine, account_id)
    _history(engine, other)
    _sql(engine, "UPDATE consent_events SET metric = 'x' WHERE account_id = :a AND seq = 1", a=account_id)
    assert _broken_at(engine, account_id) == 1
    assert ledger.verify(engine, other).ok


# --- rebuild -------------------------------------------------------------------------------------


def test_rebuild_check_finds_no_difference_after_normal_writes(engine, account_id):
    last = _history(engine, account_id)
    result = ledger.rebuild(engine, account_id, check=True)
    assert result.differences == []
    assert result.events == last
    assert result.profiles == 5
    assert not result.written


def _profile_id(engine, account_id: str, email: str) -> str:
    return _scalar(engine, "SELECT id FROM profiles WHERE account_id = :a AND email = :e", a=account_id, e=email)


@pytest.mark.parametrize("table", ["consents", "suppressions"])
def test_rebuild_check_reports_a_deleted_projection_row_as_missing(engine, account_id, table):
    _history(engine, account_id)
    pid = _profile_id(engine, account_id, "p2@example.com")  # subscribed and hard-bounced
    _sql(engine, f"DELETE FROM {table} WHERE account_id = :a AND profile_id = :p", a=account_id, p=pid)
    result = ledger.rebuild(engine, account_id, check=True)
    assert result.differences
    assert {(d.table, d.side) for d in result.differences} == {(table, "missing")}
    assert all(pid in d.row for d in result.differences)
    assert ledger.verify(engine, account_id).ok  # the ledger itself is untouched


def test_rebuild_check_reports_a_bogus_projection_row_as_extra(engine, account_id):
    _history(engine, account_id)
    pid = _profile_id(engine, account_id, "p0@example.com")
    stmt = text(
        "INSERT INTO consents (account_id, profile_id, channel, purpose, status, consent_timestamp, last_updated) "
        "VALUES (:a, :p, 'push', 'marketing', 'SUBSCRIBED', :t, :t)"
    ).bindparams(bindparam("t", type_=consent_events.c.occurred_at.type))
    with engine.begin() as conn:
        conn.execute(stmt, {"a": account_id, "p": pid, "t": utcnow()})
    differences = ledger.rebuild(engine, account_id, check=True).differences
    assert [(d.table, d.side) for d in differences] == [("consents", "extra")]
    assert "push" in differences[0].row and "SUBSCRIBED" in differences[0].row


def test_rebuild_check_changes_nothing(engine, account_id):
    _history(engine, account_id)
    pid = _profile_id(engine, account_id, "p0@example.com")
    _sql(engine, "DELETE FROM consents WHERE account_id = :a AND profile_id = :p", a=account_id, p=pid)
    first = ledger.rebuild(engine, account_id, check=True)
    assert first.differences
    assert ledger.rebuild(engine, account_id, check=True).differences == first.differences


def test_rebuild_without_check_repairs_the_projection(engine, account_id):
    _history(engine, account_id)
    p0 = _profile_id(engine, account_id, "p0@example.com")
    p2 = _profile_id(engine, account_id, "p2@example.com")
    _sql(engine, "DELETE FROM consents WHERE account_id = :a AND profile_id = :p", a=account_id, p=p0)
    _sql(engine, "DELETE FROM suppressions WHERE account_id = :a AND profile_id = :p", a=account_id, p=p2)
    _sql(
        engine,
        "INSERT INTO list_members (account_id, list_id, profile_id, joined_at) "
        "SELECT account_id, 'bogus', profile_id, created_at FROM suppressions WHERE account_id = :a",
        a=account_id,
    )
    broken = get_profile_resource(engine, account_id, Locator("email", "p0@example.com"))
    assert broken["attributes"]["subscriptions"]["email"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"

    repaired = ledger.rebuild(engine, account_id, check=False)
    assert repaired.written
    assert ledger.rebuild(engine, account_id, check=True).differences == []
    email = get_profile_resource(engine, account_id, Locator("email", "p0@example.com"))["attributes"]
    assert email["subscriptions"]["email"]["marketing"]["consent"] == "SUBSCRIBED"
    bounced = get_profile_resource(engine, account_id, Locator("email", "p2@example.com"))["attributes"]
    assert [s["reason"] for s in bounced["subscriptions"]["email"]["marketing"]["suppression"]] == ["HARD_BOUNCE"]


# --- point in time -------------------------------------------------------------------------------


def _tick() -> None:
    time.sleep(0.01)  # keep the instants we take strictly between the events' own timestamps


def test_profile_as_of_a_past_instant_shows_the_consent_it_had_then(engine, account_id):
    who = Locator("email", "pit@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING, method="FORM")
    _tick()
    subscribed_at = utcnow()
    _tick()
    consent.unsubscribe(engine, account_id, who, Channel.EMAIL)
    _tick()
    after = utcnow()

    then = get_profile_resource(engine, account_id, who, as_of=subscribed_at)["attributes"]["subscriptions"]
    assert then["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert then["email"]["marketing"]["method"] == "FORM"
    assert then["email"]["marketing"]["can_receive_email_marketing"] is True
    assert then["email"]["marketing"]["suppression"] == []

    later = get_profile_resource(engine, account_id, who, as_of=after)["attributes"]["subscriptions"]
    assert later["email"]["marketing"]["consent"] == "UNSUBSCRIBED"
    assert later["email"]["marketing"]["can_receive_email_marketing"] is False
    assert [s["reason"] for s in later["email"]["marketing"]["suppression"]] == ["UNSUBSCRIBE"]

    now = get_profile_resource(engine, account_id, who)["attributes"]["subscriptions"]
    assert now["email"]["marketing"] == later["email"]["marketing"]


def test_profile_as_of_before_any_event_is_never_subscribed(engine, account_id):
    before = utcnow()
    _tick()
    who = Locator("phone_number", "+14155550142")
    consent.subscribe(engine, account_id, who, [(Channel.SMS, Purpose.MARKETING)])
    sms = get_profile_resource(engine, account_id, who, as_of=before)["attributes"]["subscriptions"]["sms"]
    assert sms["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert sms["marketing"]["can_receive_sms_marketing"] is False
    current = get_profile_resource(engine, account_id, who)["attributes"]["subscriptions"]["sms"]
    assert current["marketing"]["consent"] == "SUBSCRIBED"
    assert current["transactional"]["can_receive_sms_transactional"] is True


def test_decision_at_a_past_instant_is_judged_on_the_state_then(engine, account_id):
    # About the ledger's past, not about TCPA quiet hours (which would defer this +1 number at night).
    settings.set_value(engine, account_id, "jurisdictions", "none")
    who = Locator("phone_number", "+14155550143")
    before = utcnow()
    _tick()
    consent.subscribe(engine, account_id, who, [(Channel.SMS, Purpose.MARKETING)])
    _tick()
    subscribed_at = utcnow()
    _tick()
    consent.unsubscribe(engine, account_id, who, Channel.SMS)
    _tick()
    after = utcnow()

    never = profiles.decide_for(engine, account_id, who, Channel.SMS, at=before).decision
    assert never.verdict.value == "DENY" and "NEVER_SUBSCRIBED" in never.reasons
    allowed = profiles.decide_for(engine, account_id, who, Channel.SMS, at=subscribed_at).decision
    assert allowed.verdict.value == "ALLOW" and allowed.reasons == ("SUBSCRIBED",)
    denied = profiles.decide_for(engine, account_id, who, Channel.SMS, at=after).decision
    assert denied.verdict.value == "DENY" and "UNSUBSCRIBED" in denied.reasons
    assert profiles.decide_for(engine, account_id, who, Channel.SMS).decision.verdict.value == "DENY"


def test_email_decision_at_a_past_instant_allows_then_denies(engine, account_id):
    who = Locator("email", "pit-decide@example.com")
    consent.subscribe(engine, account_id, who, EMAIL_MARKETING)
    _tick()
    subscribed_at = utcnow()
    _tick()
    consent.unsubscribe(engine, account_id, who, Channel.EMAIL)
    _tick()
    after = utcnow()
    allowed = profiles.decide_for(engine, account_id, who, Channel.EMAIL, at=subscribed_at).decision
    assert allowed.verdict.value == "ALLOW" and "SUBSCRIBED" in allowed.reasons
    denied = profiles.decide_for(engine, account_id, who, Channel.EMAIL, at=after).decision
    assert denied.verdict.value == "DENY"
    assert set(denied.reasons) == {"UNSUBSCRIBED", "SUPPRESSED_UNSUBSCRIBE"}
