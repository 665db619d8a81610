"""The profile resource made as Structs for pages (api.profile_documents) encodes to the very bytes
of the general one (api.resources.profile_resource), on random profiles and consent states: every
channel and purpose, suppressions, list suppressions, pending opt-ins, push devices, missing
addresses, odd text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assent.api import profile_documents
from assent.api.resources import profile_resource
from assent.domain import ProfileState
from assent.services.profiles.views import LOCATION, ProfileRow, ProfileView, profile_view
from tests.domain.test_properties import run, scenarios

_encode = msgspec.json.encode
texts = st.one_of(st.none(), st.text(max_size=12))
times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
properties = st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=6), st.none()), max_size=3)


@st.composite
def views(draw) -> ProfileView:
    state = None
    if draw(st.booleans()):
        state = replace(run(draw(scenarios))[1], push_tokens=draw(st.integers(0, 2)))
    created = draw(times) or datetime(2026, 1, 1, tzinfo=UTC)
    return ProfileView(
        id=draw(st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26)),
        email=state.email if state else draw(texts),
        phone_number=state.phone_number if state else draw(texts),
        external_id=draw(texts), first_name=draw(texts), last_name=draw(texts), organization=draw(texts),
        locale=draw(texts), title=draw(texts), image=draw(texts),
        location={name: draw(texts) for name in LOCATION},
        properties=draw(properties),
        created_at=created,
        updated_at=draw(st.sampled_from([created, created + timedelta(seconds=1)])),  # a page often shares times
        last_event_at=draw(times),
        state=state,
    )  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(views(), min_size=1, max_size=4), st.sampled_from(["http://127.0.0.1:8000", "https://x.example"]))
def test_the_struct_resource_is_the_dict_resource_byte_for_byte(rows, base):
    fast = profile_documents.profile_resources(rows, base)
    assert _encode(fast) == _encode([profile_resource(r, base) for r in rows])
    assert _encode(profile_documents.profile_resource(rows[0], base)) == _encode(profile_resource(rows[0], base))


@st.composite
def sharing(draw) -> list[ProfileView]:
    """Views whose states share their parts (the same mapping objects, as a page read gives
    profiles with the same projection rows) but not their addresses or devices: some with a
    WhatsApp consent, whose block shows each profile's own phone number."""
    base = run(draw(scenarios))[1]
    out = []
    for view in draw(st.lists(views(), min_size=2, max_size=5)):
        state = base.evolve(
            email=draw(st.sampled_from([None, "a@example.com", "b@example.com"])),
            phone_number=draw(st.sampled_from([None, "+14155550101", "+14155550102"])),
            push_tokens=draw(st.integers(0, 1)),
        )
        out.append(msgspec.structs.replace(view, email=state.email, phone_number=state.phone_number, state=state))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sharing())
def test_a_block_made_once_for_states_sharing_parts_is_each_profiles_own(rows):
    fast = profile_documents.profile_resources(rows, "http://127.0.0.1:8000")
    assert _encode(fast) == _encode([profile_resource(r, "http://127.0.0.1:8000") for r in rows])


def test_a_time_is_written_in_its_own_zone_whatever_was_written_before() -> None:
    """The remembered UTC texts are not handed to an equal time in another zone."""
    utc = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    assert profile_documents._iso(utc) == "2026-01-02T03:04:05.600000+00:00"
    other = utc.astimezone(timezone(timedelta(hours=2)))
    assert other == utc and profile_documents._iso(other) == "2026-01-02T05:04:05.600000+02:00"
    assert profile_documents._iso(utc) == "2026-01-02T03:04:05.600000+00:00"


def test_a_location_dict_holds_every_location_field_in_order() -> None:
    from assent.services.profiles.views import _location_dict

    values = tuple(f"v{i}" for i in range(len(LOCATION)))
    assert list(_location_dict(values).items()) == list(zip(LOCATION, values, strict=True))


ids = st.one_of(
    st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=26, max_size=26),
    st.text(min_size=1, max_size=8),  # odd ids: escaped in the links as the encoder escapes
)


@st.composite
def stored(draw) -> tuple[ProfileRow, ProfileState | None]:
    """A stored profile row (properties as stored JSON text) and its state, or none."""
    view = draw(views())
    location = view.location
    values = {**{f: getattr(view, f) for f in ProfileRow._fields if hasattr(view, f)}, **location}
    values.update(id=draw(ids), properties=msgspec.json.encode(view.properties).decode(),
                  last_event_at=view.last_event_at)  # fmt: skip
    return ProfileRow(**values), view.state


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(stored(), min_size=1, max_size=4, unique_by=lambda pair: pair[0].id),  # a page's ids are distinct
    st.sampled_from(["http://127.0.0.1:8000", "https://x.example", 'http://odd"\\host']),
)
def test_the_resource_made_from_stored_rows_is_the_dict_resource_byte_for_byte(pairs, base):
    rows = [row for row, _ in pairs]
    states = {row.id: state for row, state in pairs if state is not None}
    fast = profile_documents.row_resources(rows, states, base)
    assert _encode(fast) == _encode([profile_resource(profile_view(r, states.get(r.id)), base) for r in rows])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sharing())
def test_a_block_made_once_from_stored_rows_is_each_profiles_own(views_):
    views_ = [msgspec.structs.replace(v, id=f"{n:026d}") for n, v in enumerate(views_)]  # a page's ids are distinct
    rows = [
        ProfileRow(**{**{f: getattr(v, f) for f in ProfileRow._fields if hasattr(v, f)}, **v.location,
                      "properties": msgspec.json.encode(v.properties).decode(), "last_event_at": v.last_event_at})
        for v in views_
    ]  # fmt: skip
    states = {r.id: v.state for r, v in zip(rows, views_, strict=True) if v.state is not None}
    fast = profile_documents.row_resources(rows, states, "http://127.0.0.1:8000")
    assert _encode(fast) == _encode([profile_resource(v, "http://127.0.0.1:8000") for v in views_])
