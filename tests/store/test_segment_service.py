"""Saved segments through the services, over consent written by the recorder, on both backends:
membership is computed on read and plugs into other queries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from assent.domain import Channel, DomainError, Purpose
from assent.services.activity.metrics import builtin_metric_id
from assent.services.consent import changes as consent
from assent.services.lists import segments
from assent.services.profiles.locator import Locator
from assent.services.shared.errors import Conflict
from assent.store.db import read_transaction

EMAIL_SUBSCRIBED = {
    "condition_groups": [
        {
            "conditions": [
                {
                    "type": "profile-marketing-consent",
                    "consent": {
                        "channel": "email",
                        "can_receive_marketing": True,
                        "consent_status": {"subscription": "subscribed"},
                    },
                }
            ]
        }
    ]
}


def _people(engine, account_id):
    ann = consent.subscribe(
        engine, account_id, Locator("email", "ann@example.com"), [(Channel.EMAIL, Purpose.MARKETING)]
    )
    bob = consent.subscribe(
        engine, account_id, Locator("phone_number", "+14155552671"), [(Channel.SMS, Purpose.MARKETING)]
    )
    cat = consent.subscribe(
        engine, account_id, Locator("email", "cat@example.com"), [(Channel.EMAIL, Purpose.MARKETING)]
    )
    consent.unsubscribe(engine, account_id, Locator("email", "cat@example.com"), Channel.EMAIL)
    return ann.profile_id, bob.profile_id, cat.profile_id


def test_a_saved_segment_counts_pages_and_plugs_into_other_queries(engine, account_id):
    ann, bob, cat = _people(engine, account_id)
    made = segments.create_segment(engine, account_id, "Email subscribers", EMAIL_SUBSCRIBED)
    assert segments.count(engine, account_id, made.id) == 1
    assert segments.get_segment(engine, account_id, made.id, with_count=True).profile_count == 1
    page = segments.members(engine, account_id, made.id, [], descending=False, size=10)
    assert page.ids == [ann]
    with read_transaction(engine) as conn:
        ids = segments.membership(conn, account_id, made.id)
        assert conn.execute(select(func.count()).select_from(ids.subquery())).scalar_one() == 1
    assert [s.id for s in segments.profile_segments(engine, account_id, ann)] == [made.id]
    assert segments.profile_segments(engine, account_id, cat) == []
    # Always current: an unsubscribe leaves the segment at once.
    consent.unsubscribe(engine, account_id, Locator("id", ann), Channel.EMAIL)
    assert segments.count(engine, account_id, made.id) == 0


def test_consent_metrics_of_the_ledger_are_metrics_a_segment_counts(engine, account_id):
    ann, bob, cat = _people(engine, account_id)
    metric = builtin_metric_id("Unsubscribed from Email Marketing")
    definition = {
        "condition_groups": [
            {
                "conditions": [
                    {
                        "type": "profile-metric",
                        "metric_id": metric,
                        "measurement": "count",
                        "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
                        "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 1, "unit": "day"},
                    }
                ]
            }
        ]
    }
    made = segments.create_segment(engine, account_id, "Just left", definition)
    page = segments.members(engine, account_id, made.id, [], descending=False, size=10)
    assert page.ids == [cat]


def test_a_metric_count_above_once_is_counted_for_every_profile_at_once(engine, account_id):
    """Counts past "at least once" and "never" are the profiles' totals grouped once: those whose
    total passes, or every profile but those whose total fails when a total of 0 passes."""
    ann, bob, cat = _people(engine, account_id)
    consent.subscribe(engine, account_id, Locator("id", ann), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(engine, account_id, Locator("id", ann), Channel.EMAIL)
    consent.subscribe(engine, account_id, Locator("id", ann), [(Channel.EMAIL, Purpose.MARKETING)])
    consent.unsubscribe(engine, account_id, Locator("id", ann), Channel.EMAIL)
    metric = builtin_metric_id("Unsubscribed from Email Marketing")

    def members(operator: str, value: float) -> set[str]:
        condition = {
            "type": "profile-metric",
            "metric_id": metric,
            "measurement": "count",
            "measurement_filter": {"type": "numeric", "operator": operator, "value": value},
            "timeframe_filter": {"type": "date", "operator": "alltime"},
        }
        made = segments.create_segment(
            engine, account_id, f"{operator} {value}", {"condition_groups": [{"conditions": [condition]}]}
        )
        return set(segments.members(engine, account_id, made.id, [], descending=False, size=10).ids)

    assert members("greater-than-or-equal", 2) == {ann}
    assert members("greater-than", 1.5) == {ann}
    assert members("equals", 1) == {cat}
    assert members("less-than", 2) == {bob, cat}  # bob has no such event: a total of 0
    assert members("not-equals", 2) == {bob, cat}
    assert members("less-than-or-equal", 2) == {ann, bob, cat}


def test_a_segment_names_only_lists_segments_and_metrics_of_its_account(engine, account_id):
    bad = {
        "condition_groups": [
            {"conditions": [{"type": "profile-group-membership", "is_member": True, "group_ids": ["nope"]}]}
        ]
    }
    with pytest.raises(DomainError) as e:
        segments.create_segment(engine, account_id, "Bad", bad)
    assert e.value.field == "definition.condition_groups.0.conditions.0.group_ids.0"


def test_a_segment_another_one_names_cannot_be_deleted(engine, account_id):
    inner = segments.create_segment(engine, account_id, "Inner", EMAIL_SUBSCRIBED)
    outer_def = {
        "condition_groups": [
            {"conditions": [{"type": "profile-group-membership", "is_member": False, "group_ids": [inner.id]}]}
        ]
    }
    outer = segments.create_segment(engine, account_id, "Outer", outer_def)
    _people(engine, account_id)
    assert segments.count(engine, account_id, outer.id) == 2
    with pytest.raises(Conflict):
        segments.delete_segment(engine, account_id, inner.id)
    segments.delete_segment(engine, account_id, outer.id)
    segments.delete_segment(engine, account_id, inner.id)
    assert segments.all_segments(engine, account_id) == []
