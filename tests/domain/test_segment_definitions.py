"""Reading Klaviyo's segment definitions: what is understood, and a refusal naming the member at
fault for anything Assent does not evaluate (never a condition silently dropped)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assent.domain import Channel, DomainError, ProfileState
from assent.domain.segment_conditions import GroupMembership, MarketingConsent, MethodIs, ProfileMetric, Region
from assent.domain.segment_eval import Context, Snapshot, check_references, evaluate, in_sample
from assent.domain.segments import parse_definition

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def one(condition: dict) -> dict:
    return {"condition_groups": [{"conditions": [condition]}]}


def refused(definition: dict) -> DomainError:
    with pytest.raises(DomainError) as e:
        parse_definition(definition)
    return e.value


SMS_SUBSCRIBED = {
    "type": "profile-marketing-consent",
    "consent": {
        "channel": "sms",
        "can_receive_marketing": True,
        "consent_status": {"subscription": "subscribed", "filters": [{"field": "method", "method": "inbound_message"}]},
    },
}


def test_klaviyo_conditions_are_read_into_typed_conditions():
    d = parse_definition(
        {
            "condition_groups": [
                {"conditions": [SMS_SUBSCRIBED]},
                {"conditions": [{"type": "profile-region", "in_region": True, "region": "european_union"}]},
                {
                    "conditions": [
                        {
                            "type": "profile-metric",
                            "metric_id": "M1",
                            "measurement": "count",
                            "measurement_filter": {"type": "numeric", "operator": "greater-than", "value": 0},
                            "timeframe_filter": {
                                "type": "date",
                                "operator": "in-the-last",
                                "quantity": 90,
                                "unit": "day",
                            },
                        },
                        {"type": "profile-group-membership", "is_member": True, "group_ids": ["L1"]},
                    ]
                },
            ]
        }
    )
    consent, region, (metric, group) = d.groups[0][0], d.groups[1][0], d.groups[2]
    assert isinstance(consent, MarketingConsent) and consent.channel is Channel.SMS
    assert consent.filters == (MethodIs(("INBOUND_MESSAGE", "TEXT")),)
    assert isinstance(region, Region) and isinstance(metric, ProfileMetric) and isinstance(group, GroupMembership)


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"type": "profile-postal-code-distance", "country_code": "US"}, "conditions.0.type"),
        ({"type": "profile-predictive-analytics"}, "conditions.0.type"),
        (
            {"type": "profile-property", "property": "email", "filter": {"type": "string", "operator": "regex"}},
            "conditions.0.filter.operator",
        ),
        (
            {
                "type": "profile-metric", "metric_id": "M1", "measurement": "count",
                "measurement_filter": {"type": "numeric", "operator": "equals", "value": 1},
                "timeframe_filter": {"type": "date", "operator": "alltime"},
                "metric_filters": [{"property": "Value", "filter": {"type": "numeric", "operator": "equals"}}],
            },
            "conditions.0.metric_filters",
        ),
        (
            {
                "type": "profile-marketing-consent",
                "consent": {"channel": "sms", "can_receive_marketing": True, "consent_status": {
                    "subscription": "subscribed", "filters": [{"field": "is_rcs_capable", "filter": {
                        "type": "boolean", "operator": "equals", "value": True}}]}},
            },
            "conditions.0.consent.consent_status.filters.0.field",
        ),
        (
            {"type": "profile-property", "property": "created",
             "filter": {"type": "date", "operator": "calendar-month", "value": 3}},
            "conditions.0.filter.operator",
        ),
        ({"type": "profile-region", "in_region": True, "region": "european_union", "radius": 3}, "conditions.0.radius"),
    ],
)  # fmt: skip
def test_an_unsupported_condition_is_refused_naming_it(condition, field):
    e = refused(one(condition))
    assert e.field == f"definition.condition_groups.0.{field}"


def test_a_definition_needs_a_group_and_a_condition():
    assert refused({"condition_groups": []}).field == "definition.condition_groups"
    assert refused({"condition_groups": [{"conditions": []}]}).field == "definition.condition_groups.0.conditions"


def test_references_name_lists_segments_and_metrics_of_the_account():
    d = parse_definition(one({"type": "profile-group-membership", "is_member": True, "group_ids": ["L1", "nope"]}))
    with pytest.raises(DomainError) as e:
        check_references(d, lists={"L1"}, segments={}, metrics=set())
    assert e.value.field == "definition.condition_groups.0.conditions.0.group_ids.1"


def test_a_segment_may_not_refer_back_to_itself():
    a = parse_definition(one({"type": "profile-group-membership", "is_member": True, "group_ids": ["B"]}))
    b = parse_definition(one({"type": "profile-group-membership", "is_member": False, "group_ids": ["A"]}))
    with pytest.raises(DomainError, match="refers back"):
        check_references(a, lists=set(), segments={"B": b}, metrics=set(), own_id="A")


def test_the_random_sample_is_stable_and_nested():
    ids = [f"01J00000000000000000000{a}{b}" for a in "0AZ" for b in "19XZ"]
    assert [i for i in ids if in_sample(i, 10)] == [i for i in ids if in_sample(i, 10)]
    assert {i for i in ids if in_sample(i, 10)} <= {i for i in ids if in_sample(i, 50)}
    assert all(in_sample(i, 100) for i in ids)


def test_region_reads_codes_and_names_of_location_country():
    d = parse_definition(one({"type": "profile-region", "in_region": True, "region": "european_union"}))

    def snap(country):
        return Snapshot("01J", ProfileState(), {"country": country}, {}, NOW, NOW)

    assert [evaluate(d, snap(c), Context(NOW)) for c in ("DE", " germany", "US", None)] == [True, True, False, False]
