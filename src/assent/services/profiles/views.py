"""A profile as the use cases hand it up: its fields, free-form properties and times, and its
consent state when it was asked for. The interfaces shape it for the wire (the API's profile
resource is built in api/resources.py)."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from typing import Any

import msgspec

from ...domain import ProfileState
from ...store.profile_read import ProfileRow as ProfileRow  # a stored row, as a page of them is handed up
from ...store.rows import AnyRow

LOCATION = ("address1", "address2", "city", "country", "latitude", "longitude", "region", "zip", "timezone", "ip")
_location = attrgetter(*LOCATION)  # a row's LOCATION fields as a tuple, in one call
_decode = msgspec.json.decode


def _location_dict(where: tuple[Any, ...]) -> dict[str, Any]:
    """LOCATION's fields as a dict, in LOCATION's order: a dict display costs a third of zipping
    the names (a page makes a hundred)."""
    address1, address2, city, country, latitude, longitude, region, zip_, timezone, ip = where
    return {"address1": address1, "address2": address2, "city": city, "country": country, "latitude": latitude,
            "longitude": longitude, "region": region, "zip": zip_, "timezone": timezone, "ip": ip}  # fmt: skip


class ProfileView(msgspec.Struct, frozen=True):
    """A Struct, not a dataclass: made positionally, it costs a fraction of a frozen dataclass's
    field-by-field setting, and a page makes a hundred."""

    id: str
    email: str | None
    phone_number: str | None
    external_id: str | None
    first_name: str | None
    last_name: str | None
    organization: str | None
    locale: str | None
    title: str | None
    image: str | None
    location: dict[str, Any]  # LOCATION's fields, in that order
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime | None
    state: ProfileState | None = None  # the consent state, when it was asked for
    joined_at: datetime | None = None  # when the profile joined the list, for a list's members


def profile_view(
    row: AnyRow | ProfileRow, state: ProfileState | None = None, *, joined_at: datetime | None = None
) -> ProfileView:
    """The view of a stored profile row (made positionally: a page makes a hundred)."""
    return ProfileView(
        row.id,
        row.email,
        row.phone_number,
        row.external_id,
        row.first_name,
        row.last_name,
        row.organization,
        row.locale,
        row.title,
        row.image,
        _location_dict(_location(row)),
        _decode(row.properties or "{}"),
        row.created_at,
        row.updated_at,
        row.last_event_at,
        state,
        joined_at,
    )
