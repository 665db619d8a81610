"""domain.slots.maker: instances made slot by slot equal those the dataclass's __init__ makes."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assent.domain import Channel, ConsentEvent, ConsentStatus, ProfileState, Purpose
from assent.domain.events import EventType
from assent.domain.slots import maker
from assent.services.consent.bulk import ConsentItem
from assent.services.profiles.batch import ProfileItem
from assent.services.shared.recorder import Recorded

texts = st.none() | st.text(max_size=8)
events = st.builds(
    ConsentEvent,
    type=st.sampled_from(EventType),
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    metric=texts,
    channel=st.none() | st.sampled_from(Channel),
    purpose=st.none() | st.sampled_from(Purpose),
    status=st.none() | st.sampled_from(ConsentStatus),
    method=texts,
    double_optin=st.none() | st.booleans(),
    timestamp_clamped=st.booleans(),
    context=st.dictionaries(st.text(max_size=4), st.text(max_size=4)).map(MappingProxyType),
    personal=st.dictionaries(st.sampled_from(["email", "phone_number"]), st.text(max_size=6)).map(MappingProxyType),
)


def _values(obj: object) -> list[object]:
    return [getattr(obj, f.name) for f in fields(obj)]  # type: ignore[arg-type]


@given(events)
def test_a_made_consent_event_equals_the_one_its_init_makes(event):
    made = maker(ConsentEvent)(*_values(event))
    assert type(made) is ConsentEvent
    assert made == event and repr(made) == repr(event)
    assert all(a is b for a, b in zip(_values(made), _values(event), strict=True))


@given(st.integers(0, 1000), texts, texts, texts)
def test_made_items_equal_those_their_init_makes(line, email, phone, profile_id):
    item = ProfileItem(line, email, phone, id=profile_id)
    made = maker(ProfileItem)(line, email, phone, None, {}, {}, profile_id)
    assert made == item and repr(made) == repr(item) and astuple(made) == astuple(item)
    targets = ((Channel.EMAIL, Purpose.MARKETING),)
    at = {targets[0]: datetime(2020, 1, 1, tzinfo=UTC)}
    assert maker(ConsentItem)(profile_id, email, phone, targets, at) == ConsentItem(
        profile_id, email, phone, targets, at
    )


@given(events, texts)
def test_a_made_recorded_equals_the_one_its_init_makes(event, profile_id):
    state = ProfileState(email=profile_id)
    assert maker(Recorded)(profile_id, state, [event], None) == Recorded(profile_id, state, [event], None)


def test_a_made_instance_stays_frozen():
    made = maker(ProfileItem)(0, "a@example.com", None, None, {}, {}, None)
    with pytest.raises(AttributeError):
        made.email = "b@example.com"  # type: ignore[misc]


def test_only_slots_dataclasses_without_post_init_are_made():
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            assert self.a > 0

    for cls in (NoSlots, Checked, int):
        with pytest.raises(TypeError):
            maker(cls)
